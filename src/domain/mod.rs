//! The domain: roles, the voucher lifecycle, quota rules, the catalogue and
//! the validation of what callers ask for. It knows neither HTTP nor SQL;
//! storage applies its rules inside transactions and HTTP explains its
//! errors.

pub mod account;
pub mod catalogue;
pub mod lifecycle;
pub mod lockout;
pub mod minting;
pub mod need;
pub mod operator;
pub mod quota;
pub mod redemption;
pub mod redemption_decisions;
pub mod tree;

use serde::{Deserialize, Serialize};

pub use catalogue::Product;
pub use lifecycle::{Transition, VoucherState};
pub use operator::NewOperator;
pub use quota::{Balance, Recurrence};

/// Who a token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Structure,
    Operator,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Self::Admin, Self::Structure, Self::Operator, Self::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Structure => "structure",
            Self::Operator => "operator",
            Self::Auditor => "auditor",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// What a caller proved who it is with: an API token (machines) or a
/// personal account signed in at the desk (people).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Credential {
    Token(i64),
    Account(i64),
}

/// The caller, once its token or its account is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Principal {
    pub credential: Credential,
    pub role: Role,
    /// Set exactly for structure tokens.
    pub structure_id: Option<i64>,
    /// Set exactly for operator tokens: the network they redeem for.
    pub operator_id: Option<i64>,
}

impl Principal {
    /// The caller behind API token `token_id`.
    pub fn of_token(
        token_id: i64,
        role: Role,
        structure_id: Option<i64>,
        operator_id: Option<i64>,
    ) -> Self {
        Self {
            credential: Credential::Token(token_id),
            role,
            structure_id,
            operator_id,
        }
    }

    /// The token's id, for a caller that came with a token.
    pub fn token_id(&self) -> Option<i64> {
        match self.credential {
            Credential::Token(id) => Some(id),
            Credential::Account(_) => None,
        }
    }

    /// How events name who acted: `admin:3` or `structure:12` for a
    /// token, `account:7` for a person (`cli` and `system` are written
    /// elsewhere).
    pub fn actor(&self) -> String {
        match self.credential {
            Credential::Token(id) => format!("{}:{id}", self.role.as_str()),
            Credential::Account(id) => account_actor(id),
        }
    }
}

/// How events name a person who acted.
pub fn account_actor(account_id: i64) -> String {
    format!("account:{account_id}")
}

/// Why the domain refused a request. No HTTP status here: the HTTP layer
/// maps each variant to its problem `code`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{field}: {reason}")]
    Validation { field: &'static str, reason: String },
    #[error("not enough {resource} quota: {available} available, {requested} requested")]
    QuotaExceeded {
        resource: String,
        available: i64,
        requested: i64,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Nothing new (an account, a token, a grant) goes to a deactivated
    /// structure; its history stays readable.
    #[error("structure_id: this structure is deactivated")]
    StructureDeactivated,
    #[error("the voucher is {}", .0.as_str())]
    WrongState(VoucherState),
    #[error("this Idempotency-Key was used with another request")]
    IdempotencyConflict,
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyInProgress,
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// Unknown key, bad tag or unknown serial: one answer for all.
    #[error("invalid code")]
    InvalidCode,
    /// A genuine code of another operator's network. Never shown as such:
    /// the application answers it as [`Self::InvalidCode`], counts it as
    /// a failure and logs it, so that no network learns of another's codes.
    #[error("a code of another network")]
    WrongNetwork,
    #[error("this beneficiary has reached this month's cap for this kind of top-up")]
    BeneficiaryCapReached,
    #[error("the hold on this code ran out; the code can be redeemed again")]
    HoldExpired,
    #[error("this redemption was cancelled")]
    Cancelled,
    #[error("this redemption was reversed")]
    Reversed,
    #[error("the reversal window of this redemption has closed")]
    ReversalWindowClosed,
    #[error("too many failed attempts; locked out for {retry_after_secs} s")]
    LockedOut { retry_after_secs: i64 },
    /// The caller's token was revoked, or its account disabled, after the
    /// request was authenticated.
    #[error("the token was revoked")]
    TokenRevoked,
    /// A login that another account already has.
    #[error("this login is taken")]
    LoginTaken,
    /// A need is answered once.
    #[error("this need was already {}", .0.as_str())]
    NeedAnswered(need::NeedState),
}

impl DomainError {
    pub fn validation(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Validation {
            field,
            reason: reason.into(),
        }
    }
}

/// Longest free-text reference on a voucher. References are for the
/// structure's own bookkeeping and must not hold personal data.
pub const MAX_REFERENCE_CHARS: usize = 64;
/// Longest structure name.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest external reference or token label.
pub const MAX_LABEL_CHARS: usize = 100;

/// Bidirectional overrides and zero-width characters: they can make a
/// printed reference read differently from what is stored.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Largest amount a grant or a product may carry, in the resource's unit.
pub const MAX_GRANT_AMOUNT: i64 = 1_000_000_000_000;

/// Checks an optional short text: trimmed, bounded, no control characters.
pub fn check_text(
    field: &'static str,
    text: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, DomainError> {
    let Some(text) = text.map(str::trim) else {
        return Ok(None);
    };
    if text.is_empty() {
        return Err(DomainError::validation(field, "must not be empty"));
    }
    if text.chars().count() > max_chars {
        return Err(DomainError::validation(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() || is_invisible_format(c))
    {
        return Err(DomainError::validation(
            field,
            "control and invisible formatting characters are not allowed",
        ));
    }
    Ok(Some(text.to_owned()))
}
