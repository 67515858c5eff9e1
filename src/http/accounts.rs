//! People's accounts over the API: the coordinator's admin tokens manage
//! coordinators, auditors and managers; a structure's tokens manage that
//! structure's staff. Anything else is not found, as for other records.

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem, ProblemBody};
use super::extract::{ApiJson, ApiPath, principal};
use crate::app::AppState;
use crate::app::accounts::{self, AccountOrder, CodeTerms, WithCode};
use crate::clock::rfc3339;
use crate::domain::account::{AccountManager, AccountRole};
use crate::domain::{Principal, Role};
use crate::storage::Account;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account, list_accounts))
        .routes(routes!(disable_account))
        .routes(routes!(reset_account))
}

/// Whose accounts a token reaches: an admin token all of them (the
/// coordinator), a structure token its own staff; an auditor's reads all,
/// as if it were the coordinator's, where `auditors_read`. Any other token
/// is refused (403).
fn reach(principal: &Principal, auditors_read: bool) -> Result<AccountManager, Problem> {
    match (principal.role, principal.structure_id) {
        (Role::Admin, _) => Ok(AccountManager::Coordinator),
        (Role::Auditor, _) if auditors_read => Ok(AccountManager::Coordinator),
        (Role::Structure, Some(id)) => Ok(AccountManager::Structure(id)),
        _ => Err(Problem::forbidden()),
    }
}

/// An admin token (the coordinator) or a structure token (its manager).
#[derive(Debug)]
pub struct Manager {
    principal: Principal,
    manager: AccountManager,
}

impl<S> FromRequestParts<S> for Manager
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = principal(parts, &AppState::from_ref(state)).await?;
        let manager = reach(&principal, false)?;
        Ok(Self { principal, manager })
    }
}

/// Who may read the list: the managers above, and auditors, who read
/// everything but change nothing.
#[derive(Debug)]
pub struct ListReader(AccountManager);

impl<S> FromRequestParts<S> for ListReader
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = principal(parts, &AppState::from_ref(state)).await?;
        Ok(Self(reach(&principal, true)?))
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountBody {
    pub role: AccountRole,
    /// 3 to 64 characters: letters, digits, `.`, `_`, `-`, `@`; compared
    /// in lower case.
    #[schema(min_length = 3, max_length = 64, pattern = r"^[A-Za-z0-9._@-]{3,64}$")]
    pub login: String,
    /// How the person is named in the audit trail ("Amina B."): at most
    /// 100 characters, not blank.
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub display_name: String,
    /// For structure roles; a structure token may leave it out (its own).
    pub structure_id: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub role: AccountRole,
    pub structure_id: Option<i64>,
    /// Whether the person has chosen a password.
    pub active: bool,
    pub created_at: String,
    pub disabled_at: Option<String>,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id,
            login: a.login,
            display_name: a.display_name,
            role: a.role,
            structure_id: a.structure_id,
            active: a.active,
            created_at: rfc3339(a.created_at),
            disabled_at: a.disabled_at.map(rfc3339),
        }
    }
}

/// An account and its one-time activation code, shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountCreated {
    pub id: i64,
    pub login: String,
    pub role: AccountRole,
    pub structure_id: Option<i64>,
    /// Give it to the person: with it they choose their password at
    /// `/desk/activate`. Only its hash is stored; it expires.
    pub activation_code: String,
}

impl From<WithCode> for AccountCreated {
    fn from(w: WithCode) -> Self {
        Self {
            id: w.account.id,
            login: w.account.login,
            role: w.account.role,
            structure_id: w.account.structure_id,
            activation_code: w.activation_code,
        }
    }
}

/// Creates an account; the activation code is in this answer only.
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = AccountBody,
    responses((status = 201, body = AccountCreated),
        (status = 404, body = ProblemBody, description = "no such structure"),
        (status = 409, body = ProblemBody, description = "`conflict`: the login is taken"),
        (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn create_account(
    State(state): State<AppState>,
    caller: Manager,
    body: ApiJson<AccountBody>,
) -> ApiResult<impl IntoResponse> {
    let b = &body.value;
    let structure_id = match caller.manager {
        AccountManager::Structure(own) => b.structure_id.or(Some(own)),
        AccountManager::Coordinator => b.structure_id,
    };
    let order = AccountOrder {
        role: b.role,
        login: &b.login,
        display_name: &b.display_name,
        structure_id,
    };
    let actor = caller.principal.actor();
    let terms = CodeTerms::of(&state);
    let created = accounts::create(&state.store, terms, caller.manager, &actor, order).await?;
    Ok((StatusCode::CREATED, Json(AccountCreated::from(created))))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountView>,
}

/// Lists accounts: all of them for an admin or auditor token, the
/// structure's own for a structure token.
#[utoipa::path(get, path = "/v1/accounts", tag = "accounts",
    responses((status = 200, body = AccountList), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list_accounts(
    State(state): State<AppState>,
    ListReader(scope): ListReader,
) -> ApiResult<Json<AccountList>> {
    let all = accounts::list(&state.store, scope).await?;
    let accounts = all.into_iter().map(AccountView::from).collect();
    Ok(Json(AccountList { accounts }))
}

/// Disables an account: its sessions end at once. Disabling it again
/// changes nothing.
#[utoipa::path(post, path = "/v1/accounts/{id}/disable", tag = "accounts",
    params(("id" = i64, Path)),
    responses((status = 200, body = AccountView), (status = 404, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn disable_account(
    State(state): State<AppState>,
    caller: Manager,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AccountView>> {
    let actor = caller.principal.actor();
    let account = accounts::disable(&state.store, state.now(), caller.manager, &actor, id).await?;
    Ok(Json(account.into()))
}

/// Gives an account a new activation code: its password stops working and
/// its sessions end.
#[utoipa::path(post, path = "/v1/accounts/{id}/reset", tag = "accounts",
    params(("id" = i64, Path)),
    responses((status = 200, body = AccountCreated), (status = 404, body = ProblemBody),
        (status = 422, body = ProblemBody, description = "the account is disabled"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn reset_account(
    State(state): State<AppState>,
    caller: Manager,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AccountCreated>> {
    let actor = caller.principal.actor();
    let terms = CodeTerms::of(&state);
    let reset = accounts::reset(&state.store, terms, caller.manager, &actor, id).await?;
    Ok(Json(reset.into()))
}
