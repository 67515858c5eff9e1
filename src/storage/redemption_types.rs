//! The redemption requests and answers that both redemption paths share:
//! the general one (`redemptions.rs`) and the set-based one
//! (`fast_redeem.rs`), which the general one calls.

use serde::{Deserialize, Serialize};

use super::idempotency::IdempotencyClaim;
use crate::domain::DomainError;
pub use crate::domain::redemption::RedeemMode;
use crate::domain::redemption::{BeneficiaryCap, RedemptionState};

/// A redemption request whose code has been verified.
#[derive(Clone, Debug)]
pub struct RedeemInput {
    pub operator_token_id: i64,
    /// The token's operator: only its network's codes are redeemed.
    pub operator_id: i64,
    pub voucher_id: i64,
    pub msisdn_hash: [u8; 32],
    pub operator_ref: Option<String>,
    pub mode: RedeemMode,
    pub hold_secs: i64,
    /// The cap for the product's family, if any: looked up by the caller.
    pub caps: Vec<BeneficiaryCap>,
    pub idempotency: Option<IdempotencyClaim>,
    /// The subscriber line's failure-counter source: a barred line is
    /// refused `locked_out` inside the transaction, as the counters stand
    /// there, whichever server barred it.
    pub line: Option<String>,
}

/// A redemption as the operator sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedemptionRecord {
    pub id: i64,
    pub state: RedemptionState,
    pub voucher_id: i64,
    pub product: String,
    pub resource: String,
    pub amount: i64,
    pub validity_days: i64,
    pub operator_ref: Option<String>,
    pub created_at: i64,
    pub hold_expires_at: Option<i64>,
    pub redeemed_at: Option<i64>,
    pub ended_at: Option<i64>,
}

/// What an operation did: an answer, or a refusal whose own writes (a hold
/// timed out, a code expired) are still committed.
#[derive(Debug)]
pub enum Outcome {
    Done(RedemptionRecord),
    /// A stored answer for the same Idempotency-Key and request.
    Replay(RedemptionRecord),
    Refused(DomainError),
}
