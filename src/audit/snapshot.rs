//! What an auditor checks: the event log, the checkpoints, and the live
//! tables the events are supposed to explain, as plain rows.
//!
//! Storage reads a [`Snapshot`] from a database in one consistent read;
//! `relay-topup audit export` writes the same rows as JSON Lines, one
//! [`Line`] per row, so that `audit verify` runs the same checks on either.

use serde::{Deserialize, Serialize};

/// One row of `events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    /// Write order; not part of the chain.
    pub id: i64,
    /// Place in the chain; `None` only while its transaction is open.
    pub seq: Option<i64>,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub structure_id: Option<i64>,
    pub voucher_id: Option<i64>,
    /// The JSON text exactly as stored: the hash covers these bytes.
    pub data: String,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// One row of `checkpoints`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRow {
    pub seq: i64,
    pub hash: String,
    pub at: i64,
    pub key_id: i64,
    /// Ed25519 signature, base64url without padding.
    pub signature: String,
}

/// One row of `vouchers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherRow {
    pub id: i64,
    /// `code` or `pin`; absent from exports written before PINs existed.
    #[serde(default = "code_format")]
    pub format: String,
    pub key_id: i64,
    pub serial: i64,
    pub structure_id: i64,
    pub product_id: String,
    pub resource: String,
    pub amount: i64,
    pub state: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub issue_entry_id: i64,
    pub attestation: String,
}

/// One row of `balances`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceRow {
    pub structure_id: i64,
    /// Absent from exports written before networks existed: the first
    /// operator's.
    #[serde(default = "first_operator")]
    pub operator_id: i64,
    pub resource: String,
    pub granted: i64,
    pub issued: i64,
    pub returned: i64,
    pub lapsed: i64,
    /// Absent from exports written before associations existed: 0.
    #[serde(default)]
    pub received: i64,
    #[serde(default)]
    pub sent: i64,
}

/// One row of `ledger`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRow {
    pub id: i64,
    pub structure_id: i64,
    /// Absent from exports written before networks existed: the first
    /// operator's.
    #[serde(default = "first_operator")]
    pub operator_id: i64,
    pub resource: String,
    pub kind: String,
    pub amount: i64,
    pub voucher_id: Option<i64>,
    pub bucket_id: Option<i64>,
    pub at: i64,
    /// Set exactly for received and sent entries.
    #[serde(default)]
    pub transfer_id: Option<i64>,
}

/// One row of `quota_buckets`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRow {
    pub id: i64,
    /// The grant that credited it, or none for a bucket a transfer credited.
    pub grant_id: Option<i64>,
    #[serde(default)]
    pub transfer_id: Option<i64>,
    pub structure_id: i64,
    /// Absent from exports written before networks existed: the first
    /// operator's.
    #[serde(default = "first_operator")]
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
    pub remaining: i64,
    pub lapsed_at: Option<i64>,
}

/// One row of `redemptions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedemptionRow {
    pub id: i64,
    pub voucher_id: i64,
    pub operator_token_id: i64,
    /// Absent from exports written before networks existed: the first
    /// operator's.
    #[serde(default = "first_operator")]
    pub operator_id: i64,
    pub state: String,
    pub created_at: i64,
    pub redeemed_at: Option<i64>,
}

/// One row of `operators`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRow {
    pub id: i64,
    pub name: String,
    pub instructions_fr: Option<String>,
    pub instructions_en: Option<String>,
    pub slip_instructions: Option<String>,
}

/// One row of `structures`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructureRow {
    pub id: i64,
    pub name: String,
    pub external_ref: Option<String>,
    /// Its association; absent from exports written before associations
    /// existed.
    #[serde(default)]
    pub parent_id: Option<i64>,
}

/// One row of `products`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRow {
    pub id: String,
    /// Absent from exports written before networks existed: the first
    /// operator's.
    #[serde(default = "first_operator")]
    pub operator_id: i64,
    pub family: String,
    pub resource: String,
    pub amount: i64,
    pub validity_days: i64,
    pub code_validity_days: i64,
    pub label_fr: String,
    pub label_en: String,
    pub active: bool,
    /// Absent from exports written before PINs existed: `code`.
    #[serde(default = "code_format")]
    pub format: String,
}

fn first_operator() -> i64 {
    crate::domain::operator::FIRST_OPERATOR_ID
}

fn code_format() -> String {
    "code".into()
}

/// One row of `tokens` (never the hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: i64,
    pub role: String,
    pub structure_id: Option<i64>,
    /// Set exactly for operator tokens.
    #[serde(default)]
    pub operator_id: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// One row of `grants`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRow {
    pub id: i64,
    pub structure_id: i64,
    /// Absent from exports written before networks existed: the first
    /// operator's.
    #[serde(default = "first_operator")]
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
}

/// A published verification key (as `GET /v1/keys` lists it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    pub kid: u32,
    /// Ed25519 public key, base64url without padding.
    pub public_key: String,
}

/// Everything `audit verify` reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub events: Vec<EventRow>,
    pub checkpoints: Vec<CheckpointRow>,
    pub vouchers: Vec<VoucherRow>,
    pub balances: Vec<BalanceRow>,
    pub ledger: Vec<LedgerRow>,
    pub buckets: Vec<BucketRow>,
    pub redemptions: Vec<RedemptionRow>,
    pub structures: Vec<StructureRow>,
    /// Absent from exports written before networks existed.
    #[serde(default)]
    pub operators: Vec<OperatorRow>,
    pub products: Vec<ProductRow>,
    pub tokens: Vec<TokenRow>,
    pub grants: Vec<GrantRow>,
    /// The keys the export was made with: informative only; `audit verify`
    /// prefers keys published independently.
    pub keys: Vec<KeyRow>,
}

/// One line of an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Event(EventRow),
    Checkpoint(CheckpointRow),
    Voucher(VoucherRow),
    Balance(BalanceRow),
    Ledger(LedgerRow),
    Bucket(BucketRow),
    Redemption(RedemptionRow),
    Structure(StructureRow),
    Operator(OperatorRow),
    Product(ProductRow),
    Token(TokenRow),
    Grant(GrantRow),
    Key(KeyRow),
}

impl Snapshot {
    /// The snapshot as export lines, in a stable order.
    pub fn lines(&self) -> impl Iterator<Item = Line> + '_ {
        let keys = self.keys.iter().cloned().map(Line::Key);
        let structures = self.structures.iter().cloned().map(Line::Structure);
        let operators = self.operators.iter().cloned().map(Line::Operator);
        let products = self.products.iter().cloned().map(Line::Product);
        let tokens = self.tokens.iter().cloned().map(Line::Token);
        let grants = self.grants.iter().cloned().map(Line::Grant);
        let buckets = self.buckets.iter().cloned().map(Line::Bucket);
        let balances = self.balances.iter().cloned().map(Line::Balance);
        let ledger = self.ledger.iter().cloned().map(Line::Ledger);
        let vouchers = self.vouchers.iter().cloned().map(Line::Voucher);
        let redemptions = self.redemptions.iter().cloned().map(Line::Redemption);
        let events = self.events.iter().cloned().map(Line::Event);
        let checkpoints = self.checkpoints.iter().cloned().map(Line::Checkpoint);
        keys.chain(structures)
            .chain(operators)
            .chain(products)
            .chain(tokens)
            .chain(grants)
            .chain(buckets)
            .chain(balances)
            .chain(ledger)
            .chain(vouchers)
            .chain(redemptions)
            .chain(events)
            .chain(checkpoints)
    }

    /// Adds one export line.
    pub fn push(&mut self, line: Line) {
        match line {
            Line::Event(r) => self.events.push(r),
            Line::Checkpoint(r) => self.checkpoints.push(r),
            Line::Voucher(r) => self.vouchers.push(r),
            Line::Balance(r) => self.balances.push(r),
            Line::Ledger(r) => self.ledger.push(r),
            Line::Bucket(r) => self.buckets.push(r),
            Line::Redemption(r) => self.redemptions.push(r),
            Line::Structure(r) => self.structures.push(r),
            Line::Operator(r) => self.operators.push(r),
            Line::Product(r) => self.products.push(r),
            Line::Token(r) => self.tokens.push(r),
            Line::Grant(r) => self.grants.push(r),
            Line::Key(r) => self.keys.push(r),
        }
    }
}
