//! A structure's vouchers: the view with its code, the list, one voucher,
//! and voiding one. Another structure's voucher is never found.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AppError, AppResult, AppState, StructureCaller};
use crate::clock::rfc3339;
use crate::code::{Format, KeySet, Reference};
use crate::domain::VoucherState;
use crate::domain::minting::{voucher_from_row_id, voucher_row_id};
use crate::storage::{VoucherFilter, VoucherRow};

/// A voucher as the structure sees it, with its code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VoucherView {
    /// Public reference: a code's first 8 symbols (`1EPM-BWHX`), or a PIN's
    /// first 10 digits (`7123456789`).
    pub serial: String,
    /// The lot (issue request) it belongs to.
    pub lot: i64,
    /// The code or PIN itself, as printed: a bearer secret, to print or
    /// hand over.
    pub code: String,
    /// `code` (letters and digits) or `pin` (digits only).
    pub format: Format,
    pub product: String,
    pub resource: String,
    pub amount: i64,
    pub state: VoucherState,
    pub reference: Option<String>,
    pub issued_at: String,
    pub expires_at: String,
    /// Signed record of what this serial was issued as (Ed25519, base64url).
    pub attestation: String,
}

/// Renders a stored voucher, recomputing its code from the key set.
pub fn view(keys: &KeySet, row: &VoucherRow) -> AppResult<VoucherView> {
    let voucher = voucher_from_row_id(row.id).ok_or_else(|| {
        tracing::error!(id = row.id, "voucher row id out of range");
        AppError::Internal("voucher row id out of range")
    })?;
    let code = keys.encode(voucher).ok_or_else(|| {
        tracing::error!(serial = %voucher, "no key for a stored voucher");
        AppError::Internal("no key for a stored voucher")
    })?;
    Ok(VoucherView {
        serial: voucher.to_string(),
        lot: row.lot,
        code,
        format: voucher.format(),
        product: row.product_id.clone(),
        resource: row.resource.clone(),
        amount: row.amount,
        state: row.state,
        reference: row.reference.clone(),
        issued_at: rfc3339(row.issued_at),
        expires_at: rfc3339(row.expires_at),
        attestation: row.attestation.clone(),
    })
}

/// The cursor of the next page: opaque to clients.
pub fn encode_cursor((at, id): (i64, i64)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{at}.{id}"))
}

/// A cursor this service gave out, or nothing.
pub fn decode_cursor(text: &str) -> Option<(i64, i64)> {
    let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
    let (at, id) = std::str::from_utf8(&raw).ok()?.split_once('.')?;
    Some((at.parse().ok()?, id.parse().ok()?))
}

/// Which page of vouchers, as the caller named it (still unchecked).
#[derive(Debug, Default)]
pub struct ListRequest<'a> {
    /// A state's name, or none for every state.
    pub state: Option<&'a str>,
    pub cursor: Option<&'a str>,
    /// Page size, already within the server's limits.
    pub limit: usize,
}

/// One page of vouchers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VoucherList {
    pub vouchers: Vec<VoucherView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The caller's vouchers, newest first.
pub async fn list(
    state: &AppState,
    caller: &StructureCaller,
    request: &ListRequest<'_>,
) -> AppResult<VoucherList> {
    let filter_state = request
        .state
        .map(|s| VoucherState::parse(s).ok_or_else(|| AppError::invalid("state", "unknown state")))
        .transpose()?;
    let after = request
        .cursor
        .map(|c| {
            decode_cursor(c)
                .ok_or_else(|| AppError::invalid("cursor", "not a cursor from this API"))
        })
        .transpose()?;
    let filter = VoucherFilter {
        state: filter_state,
        after,
        limit: request.limit,
    };
    let page = state
        .store
        .list_vouchers(caller.structure_id, &filter, state.now())
        .await?;
    let keys = state.keys.get();
    let vouchers = page
        .vouchers
        .iter()
        .map(|row| view(&keys, row))
        .collect::<AppResult<_>>()?;
    Ok(VoucherList {
        vouchers,
        next_cursor: page.next.map(encode_cursor),
    })
}

/// The row id a serial names; anything unreadable names nothing.
fn serial_row_id(serial: &str) -> AppResult<i64> {
    Reference::parse(serial)
        .map(voucher_row_id)
        .map_err(|_| AppError::NotFound("voucher"))
}

/// One of the caller's vouchers as stored; not found for any other.
pub async fn own_voucher(
    state: &AppState,
    caller: &StructureCaller,
    serial: &str,
) -> AppResult<VoucherRow> {
    let id = serial_row_id(serial)?;
    state
        .store
        .get_voucher(caller.structure_id, id, state.now())
        .await?
        .ok_or(AppError::NotFound("voucher"))
}

/// Most vouchers a search by a structure's own reference lists.
pub const MAX_FOUND: i64 = 50;

/// The serial (public reference) a person typed, or the one of the code or
/// PIN they typed from a slip; `None` for anything else. Nothing is
/// verified: the lookup that follows answers only the caller's own.
pub fn typed_serial(typed: &str) -> Option<String> {
    let typed = typed.trim();
    if let Ok(reference) = Reference::parse(typed) {
        return Some(reference.to_string());
    }
    crate::code::read(typed)
        .ok()
        .map(|code| code.reference().to_string())
}

/// What a search for a voucher found.
pub enum Found {
    One(VoucherRow),
    Several(Vec<VoucherRow>),
    Nothing,
}

/// Finds one of the caller's vouchers by what a person typed: its serial,
/// its code or PIN, or the reference the structure gave it at issue.
pub async fn find(state: &AppState, caller: &StructureCaller, typed: &str) -> AppResult<Found> {
    if let Some(serial) = typed_serial(typed) {
        match own_voucher(state, caller, &serial).await {
            Ok(row) => return Ok(Found::One(row)),
            Err(AppError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let typed = typed.trim();
    if typed.is_empty() || typed.chars().count() > crate::domain::MAX_REFERENCE_CHARS {
        return Ok(Found::Nothing);
    }
    let mut rows = state
        .store
        .vouchers_with_reference(caller.structure_id, typed, MAX_FOUND, state.now())
        .await?;
    Ok(match rows.len() {
        0 => Found::Nothing,
        1 => rows.pop().map_or(Found::Nothing, Found::One),
        _ => Found::Several(rows),
    })
}

/// Any voucher by what the coordinator typed (its serial, its code or
/// PIN), with its history; `None` when no voucher has it.
pub async fn find_anywhere(
    state: &AppState,
    typed: &str,
) -> AppResult<Option<(VoucherRow, Vec<crate::storage::HistoryEntry>)>> {
    let Some(serial) = typed_serial(typed) else {
        return Ok(None);
    };
    let id = serial_row_id(&serial)?;
    let Some(row) = state.store.get_any_voucher(id, state.now()).await? else {
        return Ok(None);
    };
    let history = state.store.voucher_history(row.id).await?;
    Ok(Some((row, history)))
}

/// One of the caller's vouchers, with its code.
pub async fn read(
    state: &AppState,
    caller: &StructureCaller,
    serial: &str,
) -> AppResult<VoucherView> {
    let row = own_voucher(state, caller, serial).await?;
    view(&state.keys.get(), &row)
}

/// What happened to one of the caller's vouchers, and who did it.
pub async fn history(
    state: &AppState,
    caller: &StructureCaller,
    serial: &str,
) -> AppResult<Vec<crate::storage::HistoryEntry>> {
    let row = own_voucher(state, caller, serial).await?;
    Ok(state.store.voucher_history(row.id).await?)
}

/// Records who printed which of the caller's vouchers (their row ids).
pub async fn record_print(
    state: &AppState,
    caller: &StructureCaller,
    ids: &[i64],
) -> AppResult<()> {
    let actor = caller.principal.actor();
    state
        .store
        .record_print(&actor, caller.structure_id, ids, state.now())
        .await?;
    Ok(())
}

/// Voids one of the caller's unredeemed codes; its quota is given back.
pub async fn void(
    state: &AppState,
    caller: &StructureCaller,
    serial: &str,
) -> AppResult<VoucherView> {
    let id = serial_row_id(serial)?;
    let row = state
        .store
        .void_voucher(&caller.principal, caller.structure_id, id, state.now())
        .await?;
    tracing::info!(structure = caller.structure_id, serial = %serial, "voided");
    view(&state.keys.get(), &row)
}
