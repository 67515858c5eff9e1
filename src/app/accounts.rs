//! People's accounts: creating them (with a one-time activation code),
//! listing, disabling and resetting them within the caller's reach,
//! activating with a chosen password, and signing in.
//!
//! Argon2 takes tens of milliseconds of one core: it runs on the blocking
//! pool so that it never stalls the request threads.

use std::sync::Arc;

use super::{AppError, AppResult, AppState, known_devices};
use crate::domain::account::{
    AccountManager, AccountRole, NewAccount, WeakPassword, check_password, normalise_login,
};
use crate::passwords;
use crate::storage::{Account, ActivationSecret, SignInPolicy, Store};

/// An account to create, as asked.
#[derive(Debug, Clone, Copy)]
pub struct AccountOrder<'a> {
    pub role: AccountRole,
    pub login: &'a str,
    pub display_name: &'a str,
    pub structure_id: Option<i64>,
}

/// An account with its activation code, shown once.
#[derive(Debug, Clone)]
pub struct WithCode {
    pub account: Account,
    pub activation_code: String,
}

/// How long new activation codes live, and the time now: what creating
/// or resetting needs besides the store (the command line has no state).
#[derive(Debug, Clone, Copy)]
pub struct CodeTerms {
    pub ttl_secs: i64,
    pub now: i64,
}

impl CodeTerms {
    pub fn of(state: &AppState) -> Self {
        Self {
            ttl_secs: state.limits.desk.activation_ttl_secs,
            now: state.now(),
        }
    }

    fn new_code(self) -> AppResult<(String, ActivationSecret)> {
        let (code, hash) = passwords::activation_code()
            .ok_or(AppError::Internal("the system's random source failed"))?;
        let expires_at = self.now.saturating_add(self.ttl_secs);
        Ok((code, ActivationSecret { hash, expires_at }))
    }
}

/// Creates an account by `actor`, if `manager` may create that role there.
pub async fn create(
    store: &Store,
    terms: CodeTerms,
    manager: AccountManager,
    actor: &str,
    order: AccountOrder<'_>,
) -> AppResult<WithCode> {
    let checked = NewAccount::check(
        order.login,
        order.display_name,
        order.role,
        order.structure_id,
    )?;
    if !manager.may_manage(checked.role, checked.structure_id) {
        return Err(AppError::invalid(
            "role",
            "you may not create an account of this role here",
        ));
    }
    let (code, secret) = terms.new_code()?;
    let account = store
        .create_account(actor, &checked, secret, terms.now)
        .await?;
    tracing::info!(
        account = account.id,
        role = account.role.as_str(),
        "account created"
    );
    Ok(WithCode {
        account,
        activation_code: code,
    })
}

/// The accounts `manager` may see: all for a coordinator, its own
/// structure's for a structure (it manages only the staff among them).
pub async fn list(store: &Store, manager: AccountManager) -> AppResult<Vec<Account>> {
    let scope = match manager {
        AccountManager::Coordinator => None,
        AccountManager::Structure(id) => Some(id),
    };
    Ok(store.list_accounts(scope).await?)
}

/// The account `id`, if `manager` may manage it; another's is not found.
async fn managed(store: &Store, manager: AccountManager, id: i64) -> AppResult<Account> {
    store
        .get_account(id)
        .await?
        .filter(|a| manager.may_manage(a.role, a.structure_id))
        .ok_or(AppError::NotFound("account"))
}

/// Disables an account; its sessions end at once.
pub async fn disable(
    store: &Store,
    now: i64,
    manager: AccountManager,
    actor: &str,
    id: i64,
) -> AppResult<Account> {
    managed(store, manager, id).await?;
    let account = store.disable_account(actor, id, now).await?;
    tracing::info!(account = id, "account disabled");
    Ok(account)
}

/// A new activation code for an account: its password and sessions end.
pub async fn reset(
    store: &Store,
    terms: CodeTerms,
    manager: AccountManager,
    actor: &str,
    id: i64,
) -> AppResult<WithCode> {
    managed(store, manager, id).await?;
    let (code, secret) = terms.new_code()?;
    let account = store.reset_account(actor, id, secret, terms.now).await?;
    tracing::info!(account = id, "account reset");
    Ok(WithCode {
        account,
        activation_code: code,
    })
}

/// Why an activation did not happen.
#[derive(Debug)]
pub enum ActivationRefused {
    /// Unknown, used, expired, or of a disabled account: one answer.
    BadCode,
    /// The password does not meet the rules.
    Weak(WeakPassword),
    Failed(AppError),
}

impl<E: Into<AppError>> From<E> for ActivationRefused {
    fn from(e: E) -> Self {
        Self::Failed(e.into())
    }
}

/// Activates an account (or sets its new password) with a one-time code.
pub async fn activate(
    state: &AppState,
    code: &str,
    password: &str,
) -> Result<Account, ActivationRefused> {
    let hash = passwords::activation_hash(code).ok_or(ActivationRefused::BadCode)?;
    let now = state.now();
    let account = state
        .store
        .account_by_activation(&hash, now)
        .await?
        .ok_or(ActivationRefused::BadCode)?;
    let structure = match account.structure_id {
        Some(id) => state.store.get_structure(id).await?.map(|s| s.name),
        None => None,
    };
    let context: Vec<&str> = structure.as_deref().into_iter().collect();
    check_password(password, &account.login, &account.display_name, &context)
        .map_err(ActivationRefused::Weak)?;
    let stored = hash_blocking(state, password.to_owned()).await?;
    let account = state
        .store
        .activate_account(&hash, &stored, now)
        .await?
        .ok_or(ActivationRefused::BadCode)?;
    tracing::info!(account = account.id, "account activated");
    Ok(account)
}

/// Hashes a new password once a place in the bounded pool is free (an
/// activation waits its turn; the request's time limit bounds the wait).
async fn hash_blocking(state: &AppState, password: String) -> AppResult<String> {
    let place = Arc::clone(&state.password_hashes)
        .acquire_owned()
        .await
        .map_err(|_| AppError::Internal("password pool closed"))?;
    tokio::task::spawn_blocking(move || {
        let _place = place;
        passwords::hash(&password)
    })
    .await
    .ok()
    .flatten()
    .ok_or(AppError::Internal("password hashing failed"))
}

/// A person signed in, and the token their browser keeps as known.
#[derive(Debug)]
pub struct SignedIn {
    pub account: Account,
    pub device: String,
}

/// Why a sign-in did not happen. Every refusal but the lock reads the same
/// to the person; the lock gives a wait but says nothing of the login.
#[derive(Debug)]
pub enum SignInRefused {
    /// Unknown login, wrong password, disabled or not yet activated.
    Refused,
    /// Too many failures for this login: wait this long.
    Locked {
        retry_after_secs: i64,
    },
    /// Every password hash the service allows at once is running: try
    /// again in a moment (nothing was checked or counted).
    Busy,
    Failed(AppError),
}

impl<E: Into<AppError>> From<E> for SignInRefused {
    fn from(e: E) -> Self {
        Self::Failed(e.into())
    }
}

/// Checks a login and password. A locked login is not even tried; an
/// unknown one costs the same hashing work as a wrong password. The hash
/// runs only with a place in the bounded pool (refused at once when it is
/// full), and the attempt is counted against the login *before* hashing —
/// taken back if the password is right — so attempts sent all at once
/// are counted as surely as attempts sent one after another.
///
/// `device` is the token of a browser this login signed in from before
/// ([`known_devices`](super::known_devices)): its attempts are counted,
/// and locked, apart from everyone else's. Signed in, the answer carries
/// the browser's token to keep (the same one, or a new one).
pub async fn sign_in(
    state: &AppState,
    login: &str,
    password: &str,
    device: Option<&str>,
) -> Result<SignedIn, SignInRefused> {
    let desk = &state.limits.desk;
    let policy = SignInPolicy {
        max_failures: desk.sign_in_failures_before_lock,
        window_secs: desk.sign_in_failure_window_secs,
        lock_secs: desk.sign_in_lock_secs,
    };
    let login = normalise_login(login).unwrap_or_else(|_| login.trim().to_lowercase());
    let login_hash = crate::tokens::hash(&login);
    let known = device.and_then(|d| known_devices::nonce_of(state, &login_hash, d));
    let bucket = match &known {
        Some(nonce) => known_devices::failure_bucket(&login_hash, nonce),
        None => login_hash,
    };
    let now = state.now();
    if let Some(until) = state.store.sign_in_locked_until(&bucket, now).await? {
        return Err(SignInRefused::Locked {
            retry_after_secs: until - now,
        });
    }
    let found = if password.chars().count() <= crate::domain::account::MAX_PASSWORD_CHARS {
        state.store.account_for_sign_in(&login).await?
    } else {
        None
    };
    let stored = found
        .as_ref()
        .map_or_else(|| passwords::decoy().to_owned(), |(_, h)| h.clone());
    let Ok(place) = Arc::clone(&state.password_hashes).try_acquire_owned() else {
        state.metrics.rate_limited.inc();
        return Err(SignInRefused::Busy);
    };
    // Charged now, taken back below if the password is right.
    let locked = state
        .store
        .record_sign_in_failure(&bucket, policy, now)
        .await?;
    let typed = password.to_owned();
    let matches = tokio::task::spawn_blocking(move || {
        let _place = place;
        passwords::verify(&typed, &stored)
    })
    .await
    .map_err(|_| AppError::Internal("password check failed"))?;
    match (found, locked) {
        (Some((account, _)), _) if matches => {
            state.store.clear_sign_in_failures(&bucket).await?;
            let nonce = known
                .or_else(known_devices::fresh_nonce)
                .ok_or(AppError::Internal("no random source"))?;
            Ok(SignedIn {
                account,
                device: known_devices::token(state, &login_hash, &nonce),
            })
        }
        (_, Some(until)) => Err(SignInRefused::Locked {
            retry_after_secs: until - now,
        }),
        (_, None) => Err(SignInRefused::Refused),
    }
}
