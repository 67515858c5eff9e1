//! Callers of the tree's routes: who reaches which part of it. The
//! coordinator's token reaches all of it, a structure's token its own
//! subtree, the auditor's reads all of it; operators reach none.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use super::error::Problem;
use super::extract::principal;
use crate::app::AppState;
use crate::app::associations::reach_of;
use crate::domain::tree::Reach;
use crate::domain::{Principal, Role};

/// A caller who changes part of the tree: the coordinator's token all of
/// it, a structure's token its own subtree; any other role is refused
/// (403) before anything else is read.
#[derive(Debug)]
pub struct TreeCaller {
    pub principal: Principal,
    pub reach: Reach,
}

/// A caller who reads part of the tree: as [`TreeCaller`], and the
/// auditor's token all of it.
#[derive(Debug)]
pub struct TreeReader {
    pub reach: Reach,
}

async fn tree_principal(
    parts: &Parts,
    state: &AppState,
    auditors: bool,
) -> Result<(Principal, Reach), Problem> {
    let principal = principal(parts, state).await?;
    if principal.role == Role::Auditor && !auditors {
        return Err(Problem::forbidden());
    }
    let reach = reach_of(&principal).ok_or_else(Problem::forbidden)?;
    Ok((principal, reach))
}

impl<S> FromRequestParts<S> for TreeCaller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (principal, reach) = tree_principal(parts, &AppState::from_ref(state), false).await?;
        Ok(Self { principal, reach })
    }
}

impl<S> FromRequestParts<S> for TreeReader
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (_, reach) = tree_principal(parts, &AppState::from_ref(state), true).await?;
        Ok(Self { reach })
    }
}

/// A path id that is not a number names nothing.
pub(super) fn path_id(raw: &str, what: &'static str) -> Result<i64, Problem> {
    raw.parse().map_err(|_| Problem::not_found(what))
}
