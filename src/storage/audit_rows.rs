//! The audited rows as the audit reads them: each table's columns, and
//! the mapping of a database row to its [`crate::audit::snapshot`] row.
//! Shared by the whole snapshot (`audit.rs`) and the reads of what changed
//! since a verified point (`audit_changes.rs`).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Result;
use crate::audit::snapshot::{
    BalanceRow, BucketRow, CheckpointRow, EventRow, GrantRow, LedgerRow, OperatorRow, ProductRow,
    RedemptionRow, StructureRow, TokenRow, VoucherRow,
};

pub(super) const EVENT_COLUMNS: &str =
    "id, seq, at, kind, actor, structure_id, voucher_id, data, prev_hash, hash";
// The audited columns of each table, as the mappers below read them.
pub(super) const VOUCHER_COLUMNS: &str = "id, format, key_id, serial, structure_id, product_id, resource, \
    amount, state, issued_at, expires_at, issue_entry_id, attestation";
pub(super) const BALANCE_COLUMNS: &str =
    "structure_id, operator_id, resource, granted, issued, returned, lapsed, received, sent";
pub(super) const LEDGER_COLUMNS: &str =
    "id, structure_id, operator_id, resource, kind, amount, voucher_id, bucket_id, at, transfer_id";
pub(super) const BUCKET_COLUMNS: &str =
    "id, grant_id, transfer_id, structure_id, operator_id, resource, amount, remaining, lapsed_at";
pub(super) const REDEMPTION_COLUMNS: &str =
    "id, voucher_id, operator_token_id, operator_id, state, created_at, redeemed_at";
pub(super) const STRUCTURE_COLUMNS: &str = "id, name, external_ref, parent_id";
pub(super) const TOKEN_COLUMNS: &str = "id, role, structure_id, operator_id, revoked_at";
pub(super) const GRANT_COLUMNS: &str = "id, structure_id, operator_id, resource, amount";
pub(super) const OPERATOR_COLUMNS: &str =
    "id, name, instructions_fr, instructions_en, slip_instructions";
pub(super) const PRODUCT_COLUMNS: &str = "id, operator_id, family, resource, amount, validity_days, \
    code_validity_days, label_fr, label_en, active, format";

pub(super) fn event_from_row(r: &AnyRow) -> Result<EventRow> {
    Ok(EventRow {
        id: r.try_get("id")?,
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        kind: r.try_get("kind")?,
        actor: r.try_get("actor")?,
        structure_id: r.try_get("structure_id")?,
        voucher_id: r.try_get("voucher_id")?,
        data: r.try_get("data")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

pub(super) fn checkpoint_from_row(r: &AnyRow) -> Result<CheckpointRow> {
    Ok(CheckpointRow {
        seq: r.try_get("seq")?,
        hash: r.try_get("hash")?,
        at: r.try_get("at")?,
        key_id: r.try_get("key_id")?,
        signature: r.try_get("signature")?,
    })
}

pub(super) fn voucher(r: &AnyRow) -> Result<VoucherRow> {
    Ok(VoucherRow {
        id: r.try_get("id")?,
        format: r.try_get("format")?,
        key_id: r.try_get("key_id")?,
        serial: r.try_get("serial")?,
        structure_id: r.try_get("structure_id")?,
        product_id: r.try_get("product_id")?,
        resource: r.try_get("resource")?,
        amount: r.try_get("amount")?,
        state: r.try_get("state")?,
        issued_at: r.try_get("issued_at")?,
        expires_at: r.try_get("expires_at")?,
        issue_entry_id: r.try_get("issue_entry_id")?,
        attestation: r.try_get("attestation")?,
    })
}

pub(super) fn balance(r: &AnyRow) -> Result<BalanceRow> {
    Ok(BalanceRow {
        structure_id: r.try_get("structure_id")?,
        operator_id: r.try_get("operator_id")?,
        resource: r.try_get("resource")?,
        granted: r.try_get("granted")?,
        issued: r.try_get("issued")?,
        returned: r.try_get("returned")?,
        lapsed: r.try_get("lapsed")?,
        received: r.try_get("received")?,
        sent: r.try_get("sent")?,
    })
}

pub(super) fn ledger(r: &AnyRow) -> Result<LedgerRow> {
    Ok(LedgerRow {
        id: r.try_get("id")?,
        structure_id: r.try_get("structure_id")?,
        operator_id: r.try_get("operator_id")?,
        resource: r.try_get("resource")?,
        kind: r.try_get("kind")?,
        amount: r.try_get("amount")?,
        voucher_id: r.try_get("voucher_id")?,
        bucket_id: r.try_get("bucket_id")?,
        at: r.try_get("at")?,
        transfer_id: r.try_get("transfer_id")?,
    })
}

pub(super) fn bucket(r: &AnyRow) -> Result<BucketRow> {
    Ok(BucketRow {
        id: r.try_get("id")?,
        grant_id: r.try_get("grant_id")?,
        transfer_id: r.try_get("transfer_id")?,
        structure_id: r.try_get("structure_id")?,
        operator_id: r.try_get("operator_id")?,
        resource: r.try_get("resource")?,
        amount: r.try_get("amount")?,
        remaining: r.try_get("remaining")?,
        lapsed_at: r.try_get("lapsed_at")?,
    })
}

pub(super) fn redemption(r: &AnyRow) -> Result<RedemptionRow> {
    Ok(RedemptionRow {
        id: r.try_get("id")?,
        voucher_id: r.try_get("voucher_id")?,
        operator_token_id: r.try_get("operator_token_id")?,
        operator_id: r.try_get("operator_id")?,
        state: r.try_get("state")?,
        created_at: r.try_get("created_at")?,
        redeemed_at: r.try_get("redeemed_at")?,
    })
}

pub(super) fn operator(r: &AnyRow) -> Result<OperatorRow> {
    Ok(OperatorRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        instructions_fr: r.try_get("instructions_fr")?,
        instructions_en: r.try_get("instructions_en")?,
        slip_instructions: r.try_get("slip_instructions")?,
    })
}

pub(super) fn structure(r: &AnyRow) -> Result<StructureRow> {
    Ok(StructureRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        external_ref: r.try_get("external_ref")?,
        parent_id: r.try_get("parent_id")?,
    })
}

pub(super) fn product(r: &AnyRow) -> Result<ProductRow> {
    Ok(ProductRow {
        id: r.try_get("id")?,
        operator_id: r.try_get("operator_id")?,
        family: r.try_get("family")?,
        resource: r.try_get("resource")?,
        amount: r.try_get("amount")?,
        validity_days: r.try_get("validity_days")?,
        code_validity_days: r.try_get("code_validity_days")?,
        label_fr: r.try_get("label_fr")?,
        label_en: r.try_get("label_en")?,
        active: r.try_get::<i64, _>("active")? != 0,
        format: r.try_get("format")?,
    })
}

pub(super) fn token(r: &AnyRow) -> Result<TokenRow> {
    Ok(TokenRow {
        id: r.try_get("id")?,
        role: r.try_get("role")?,
        structure_id: r.try_get("structure_id")?,
        operator_id: r.try_get("operator_id")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

pub(super) fn grant(r: &AnyRow) -> Result<GrantRow> {
    Ok(GrantRow {
        id: r.try_get("id")?,
        structure_id: r.try_get("structure_id")?,
        operator_id: r.try_get("operator_id")?,
        resource: r.try_get("resource")?,
        amount: r.try_get("amount")?,
    })
}
