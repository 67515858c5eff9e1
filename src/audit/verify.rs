//! Every check `relay-topup audit verify` runs, over a [`Snapshot`]:
//!
//! 1. the chain: seq 1, 2, 3, … with no gap, each hash recomputed from its
//!    event, each `prev_hash` the hash before;
//! 2. the checkpoints: signatures under the published keys, and the signed
//!    hash equal to the chain's at that seq;
//! 3. the attestations: each verifies, and says what the voucher row says;
//! 4. the tables against the replayed events: vouchers, balances, ledger,
//!    buckets, redemptions, structures, products, tokens, grants.
//!
//! Each problem is a [`Finding`] naming the row and, for amounts, the delta.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Finding;
use super::chain::{self, EventFields};
use super::replay::{GrantFacts, QuotaKey, Replay, Totals, VoucherFacts};
use super::snapshot::{
    BalanceRow, BucketRow, CheckpointRow, EventRow, LedgerRow, RedemptionRow, Snapshot, VoucherRow,
};
use crate::code::attestation::VerifyingKeys;
use crate::domain::minting::voucher_from_row_id;

/// How much to check.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    /// Verify every voucher's attestation (an Ed25519 verification each:
    /// the offline verifier does; the service's periodic check does not).
    pub attestations: bool,
}

/// What a verification found.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub events: usize,
    pub checkpoints: usize,
    pub vouchers: usize,
    /// The last event's seq and hash.
    pub head: Option<(i64, String)>,
    pub findings: Vec<Finding>,
    /// The people the chain names as actors, and what each did (filled by
    /// [`verify`] only).
    pub people: Vec<super::people::PersonActions>,
}

/// Runs every check over a snapshot.
pub fn verify(s: &Snapshot, keys: &VerifyingKeys, scope: Scope) -> Outcome {
    let mut outcome = verify_books(s, keys, scope).0;
    // Who did what is for people reading the verification, not for the
    // service's periodic check, which runs verify_books alone.
    outcome.people = super::people::who_did_what(&s.events);
    outcome
}

/// Runs every check over a snapshot, and gives back the replayed events
/// too: the service's periodic check carries them forward from there
/// ([`super::incremental`]).
pub fn verify_books(s: &Snapshot, keys: &VerifyingKeys, scope: Scope) -> (Outcome, Replay) {
    let mut findings = Vec::new();
    let chain = check_chain(&s.events, &mut findings);
    check_checkpoints(&chain_hashes(&chain), &s.checkpoints, keys, &mut findings);
    if scope.attestations {
        check_attestations(&s.vouchers, keys, &mut findings);
    }
    let mut replay = Replay::default();
    for e in &chain {
        replay.apply(e);
    }
    findings.append(&mut replay.findings);
    check_vouchers(&replay, &s.vouchers, &mut findings);
    check_balances(&replay, &s.balances, &mut findings);
    super::tree::check_conservation(&s.balances, &mut findings);
    check_ledger(&replay, &s.ledger, &s.balances, &mut findings);
    check_buckets(&replay, &s.buckets, &mut findings);
    check_redemptions(&replay, &s.redemptions, &s.vouchers, &mut findings);
    check_registry(&replay, s, &mut findings);
    let outcome = Outcome {
        events: s.events.len(),
        checkpoints: s.checkpoints.len(),
        vouchers: s.vouchers.len(),
        head: chain
            .last()
            .map(|e| (e.seq.unwrap_or(0), e.hash.clone().unwrap_or_default())),
        findings,
        people: Vec::new(),
    };
    (outcome, replay)
}

fn fields(e: &EventRow) -> EventFields<'_> {
    EventFields {
        seq: e.seq.unwrap_or(0),
        at: e.at,
        kind: &e.kind,
        actor: &e.actor,
        structure_id: e.structure_id,
        voucher_id: e.voucher_id,
        data: &e.data,
    }
}

/// A row under one check, and the fields of it to compare: one finding per
/// field that differs, saying `{field} {why}`.
struct Place {
    check: &'static str,
    table: &'static str,
    row: String,
}

impl Place {
    fn new(check: &'static str, table: &'static str, row: String) -> Self {
        Self { check, table, row }
    }

    fn finding(&self, field: &str, why: &str) -> Finding {
        Finding::new(
            self.check,
            self.table,
            self.row.clone(),
            format!("{field} {why}"),
        )
    }

    /// Amounts: the finding carries the delta.
    fn amounts(&self, out: &mut Vec<Finding>, why: &str, fields: &[(&str, i64, i64)]) {
        for &(field, expected, found) in fields.iter().filter(|(_, e, f)| e != f) {
            out.push(self.finding(field, why).amounts(expected, found));
        }
    }

    fn texts(&self, out: &mut Vec<Finding>, why: &str, fields: &[(&str, &str, &str)]) {
        for &(field, expected, found) in fields.iter().filter(|(_, e, f)| e != f) {
            out.push(self.finding(field, why).values(expected, found));
        }
    }
}

fn seq_row(seq: i64) -> String {
    format!("seq {seq}")
}

/// Checks the chain and returns the sealed events in chain order.
fn check_chain<'a>(events: &'a [EventRow], out: &mut Vec<Finding>) -> Vec<&'a EventRow> {
    check_chain_from(events, 1, chain::to_hex(&chain::GENESIS), out)
}

/// Checks a stretch of the chain that must start at `first_seq`, linked to
/// `prev_hash`, and returns its sealed events in chain order.
pub(super) fn check_chain_from<'a>(
    events: &'a [EventRow],
    first_seq: i64,
    prev_hash: String,
    out: &mut Vec<Finding>,
) -> Vec<&'a EventRow> {
    let mut sealed: Vec<&EventRow> = Vec::with_capacity(events.len());
    for e in events {
        if e.seq.is_some() {
            sealed.push(e);
        } else {
            out.push(Finding::new(
                "chain.unsealed",
                "events",
                format!("id {}", e.id),
                "committed event has no place in the chain".into(),
            ));
        }
    }
    sealed.sort_by_key(|e| e.seq);
    let mut expected_seq = first_seq;
    let mut prev_hash = prev_hash;
    for e in &sealed {
        let seq = e.seq.unwrap_or(0);
        if seq != expected_seq {
            out.push(
                Finding::new(
                    "chain.gap",
                    "events",
                    seq_row(seq),
                    format!("events {expected_seq}..{} are missing", seq - 1),
                )
                .amounts(expected_seq, seq),
            );
        }
        let stored_prev = e.prev_hash.clone().unwrap_or_default();
        if stored_prev != prev_hash {
            out.push(
                Finding::new(
                    "chain.link",
                    "events",
                    seq_row(seq),
                    "prev_hash is not the hash of the event before".into(),
                )
                .values(&prev_hash, &stored_prev),
            );
        }
        let stored = e.hash.clone().unwrap_or_default();
        let computed = chain::from_hex(&stored_prev)
            .map(|prev| chain::to_hex(&chain::event_hash(&fields(e), &prev)));
        if computed.as_deref() != Some(stored.as_str()) {
            out.push(
                Finding::new(
                    "chain.hash",
                    "events",
                    seq_row(seq),
                    format!("{} event does not match its hash: it was changed", e.kind),
                )
                .values(computed.unwrap_or_default(), &stored),
            );
        }
        expected_seq = seq + 1;
        prev_hash = stored;
    }
    sealed
}

/// The chain's hash at each seq.
fn chain_hashes<'a>(chain: &[&'a EventRow]) -> BTreeMap<i64, &'a str> {
    chain
        .iter()
        .filter_map(|e| Some((e.seq?, e.hash.as_deref()?)))
        .collect()
}

/// Each checkpoint's signature, and the hash it signs against `by_seq`,
/// the chain's hash at each seq.
pub(super) fn check_checkpoints(
    by_seq: &BTreeMap<i64, &str>,
    checkpoints: &[CheckpointRow],
    keys: &VerifyingKeys,
    out: &mut Vec<Finding>,
) {
    for c in checkpoints {
        let row = seq_row(c.seq);
        let signature = URL_SAFE_NO_PAD
            .decode(&c.signature)
            .ok()
            .and_then(|s| <[u8; 64]>::try_from(s).ok());
        let parsed = chain::from_hex(&c.hash)
            .zip(signature)
            .zip(u32::try_from(c.key_id).ok());
        let verifies = parsed.is_some_and(|((hash, signature), key_id)| {
            chain::checkpoint_verifies(
                keys,
                &chain::Checkpoint {
                    seq: c.seq,
                    hash,
                    at: c.at,
                    key_id,
                    signature,
                },
            )
        });
        if !verifies {
            out.push(Finding::new(
                "checkpoint.signature",
                "checkpoints",
                row.clone(),
                format!("signature does not verify under published key {}", c.key_id),
            ));
        }
        match by_seq.get(&c.seq) {
            None => out.push(Finding::new(
                "checkpoint.beyond_chain",
                "checkpoints",
                row,
                "signs an event the chain no longer has".into(),
            )),
            Some(hash) if *hash != c.hash => out.push(
                Finding::new(
                    "checkpoint.mismatch",
                    "checkpoints",
                    row,
                    "the chain at this seq is not what was signed: history was rewritten".into(),
                )
                .values(&c.hash, hash),
            ),
            Some(_) => {}
        }
    }
}

/// A field of a `product_saved` event. Events written before products had
/// a format saved none: theirs is `code`.
fn saved_field(saved: &serde_json::Value, field: &str) -> Option<serde_json::Value> {
    match saved.get(field) {
        None if field == "format" => Some(serde_json::Value::from("code")),
        other => other.cloned(),
    }
}

fn voucher_row(v: &VoucherRow) -> String {
    match voucher_from_row_id(v.id) {
        Some(r) => format!("serial {r} (id {})", v.id),
        None => format!("id {}", v.id),
    }
}

/// A voucher row's format, key id and serial must be what its id says:
/// the schema's CHECK, read again.
fn check_identity(v: &VoucherRow, out: &mut Vec<Finding>) {
    let Some(r) = voucher_from_row_id(v.id) else {
        out.push(Finding::new(
            "voucher.identity",
            "vouchers",
            voucher_row(v),
            "the id names no voucher of either format".into(),
        ));
        return;
    };
    let at = Place::new("voucher.identity", "vouchers", voucher_row(v));
    at.texts(
        out,
        "differs from what the id says",
        &[("format", r.format().as_str(), v.format.as_str())],
    );
    at.amounts(
        out,
        "differs from what the id says",
        &[
            ("key_id", i64::from(r.key_id()), v.key_id),
            ("serial", i64::try_from(r.serial()).unwrap_or(-1), v.serial),
        ],
    );
}

fn check_attestations(vouchers: &[VoucherRow], keys: &VerifyingKeys, out: &mut Vec<Finding>) {
    for v in vouchers {
        check_identity(v, out);
        let record = match keys.verify(&v.attestation) {
            Ok(a) => a.record,
            Err(e) => {
                out.push(Finding::new(
                    "attestation.invalid",
                    "vouchers",
                    voucher_row(v),
                    format!("attestation refused: {e}"),
                ));
                continue;
            }
        };
        let attested: [(&str, i64, i64); 6] = [
            ("key_id", i64::from(record.voucher.key_id()), v.key_id),
            (
                "serial",
                i64::try_from(record.voucher.serial()).unwrap_or(-1),
                v.serial,
            ),
            (
                "structure_id",
                i64::try_from(record.structure_id).unwrap_or(-1),
                v.structure_id,
            ),
            (
                "amount",
                i64::try_from(record.amount).unwrap_or(-1),
                v.amount,
            ),
            ("issued_at", record.issued_at, v.issued_at),
            ("expires_at", record.expires_at, v.expires_at),
        ];
        let at = Place::new("attestation.mismatch", "vouchers", voucher_row(v));
        at.amounts(out, "differs from the signed attestation", &attested);
        at.texts(
            out,
            "differs from the signed attestation",
            &[
                (
                    "format",
                    record.voucher.format().as_str(),
                    v.format.as_str(),
                ),
                ("product_id", record.product.as_str(), v.product_id.as_str()),
                ("resource", record.resource.as_str(), v.resource.as_str()),
            ],
        );
    }
}

pub(super) fn check_vouchers(replay: &Replay, vouchers: &[VoucherRow], out: &mut Vec<Finding>) {
    let live: BTreeMap<i64, &VoucherRow> = vouchers.iter().map(|v| (v.id, v)).collect();
    for (id, facts) in &replay.vouchers {
        let Some(v) = live.get(id) else {
            out.push(Finding::new(
                "voucher.missing",
                "vouchers",
                format!("serial {} (id {id})", facts.serial),
                "issued according to the events, but the row is gone".into(),
            ));
            continue;
        };
        let why = "differs from the events";
        let field = Place::new("voucher.field", "vouchers", voucher_row(v));
        field.amounts(
            out,
            why,
            &[
                ("structure_id", facts.structure_id, v.structure_id),
                ("amount", facts.amount, v.amount),
                ("issued_at", facts.issued_at, v.issued_at),
                ("expires_at", facts.expires_at, v.expires_at),
                ("issue_entry_id", facts.issue_entry_id, v.issue_entry_id),
            ],
        );
        field.texts(
            out,
            why,
            &[
                ("product_id", facts.product.as_str(), v.product_id.as_str()),
                ("resource", facts.resource.as_str(), v.resource.as_str()),
            ],
        );
        Place::new("voucher.state", "vouchers", voucher_row(v)).texts(
            out,
            why,
            &[("state", facts.state.as_str(), v.state.as_str())],
        );
    }
    for v in vouchers {
        if !replay.vouchers.contains_key(&v.id) {
            out.push(Finding::new(
                "voucher.unrecorded",
                "vouchers",
                voucher_row(v),
                "no issue event: the row was added behind the service's back".into(),
            ));
        }
    }
}

pub(super) fn balance_key(key: &QuotaKey) -> String {
    let (structure_id, operator_id, resource) = key;
    format!("structure {structure_id} operator {operator_id} {resource}")
}

/// The quota a balance row, a ledger entry or a bucket counts for.
pub(super) fn key_of(structure_id: i64, operator_id: i64, resource: &str) -> QuotaKey {
    (structure_id, operator_id, resource.to_owned())
}

pub(super) fn check_balances(replay: &Replay, balances: &[BalanceRow], out: &mut Vec<Finding>) {
    let live: BTreeMap<QuotaKey, &BalanceRow> = balances
        .iter()
        .map(|b| (key_of(b.structure_id, b.operator_id, &b.resource), b))
        .collect();
    let keys: BTreeSet<&QuotaKey> = live.keys().chain(replay.totals.keys()).collect();
    for key in keys {
        let expected = replay.totals.get(key).copied().unwrap_or_default();
        let found = live.get(key).map_or(Totals::default(), |b| Totals {
            granted: b.granted,
            issued: b.issued,
            returned: b.returned,
            lapsed: b.lapsed,
            received: b.received,
            sent: b.sent,
        });
        let row = balance_key(key);
        for (check, e, f) in [
            ("balance.granted", expected.granted, found.granted),
            ("balance.issued", expected.issued, found.issued),
            ("balance.returned", expected.returned, found.returned),
            ("balance.lapsed", expected.lapsed, found.lapsed),
            ("balance.received", expected.received, found.received),
            ("balance.sent", expected.sent, found.sent),
        ] {
            if e != f {
                out.push(
                    Finding::new(
                        check,
                        "balances",
                        row.clone(),
                        "running total differs from the events".into(),
                    )
                    .amounts(e, f),
                );
            }
        }
        if found.available() < 0 {
            out.push(
                Finding::new(
                    "balance.negative",
                    "balances",
                    row,
                    "available quota is negative".into(),
                )
                .amounts(0, found.available()),
            );
        }
    }
}

pub(super) fn ledger_row(l: &LedgerRow) -> String {
    format!("id {}", l.id)
}

fn check_ledger(
    replay: &Replay,
    ledger: &[LedgerRow],
    balances: &[BalanceRow],
    out: &mut Vec<Finding>,
) {
    let issue_entries = issue_entries(replay);
    let mut returned: BTreeSet<i64> = BTreeSet::new();
    let mut sums: BTreeMap<QuotaKey, Totals> = BTreeMap::new();
    for l in ledger {
        add_entry(&mut sums, l);
        check_entry(replay, &issue_entries, &mut returned, l, out);
    }
    check_returns(&replay.vouchers, &returned, out);
    super::tree::check_transfer_entries(replay, ledger, out);
    check_ledger_sums(&sums, replay, balances, out);
}

/// What each issue entry should total: the vouchers that name it.
pub(super) fn issue_entries(replay: &Replay) -> BTreeMap<i64, i64> {
    let mut totals: BTreeMap<i64, i64> = BTreeMap::new();
    for v in replay.vouchers.values() {
        *totals.entry(v.issue_entry_id).or_default() += v.amount;
    }
    totals
}

/// Adds a ledger entry to the sums of its structure's resource.
pub(super) fn add_entry(sums: &mut BTreeMap<QuotaKey, Totals>, l: &LedgerRow) {
    let sum = sums
        .entry(key_of(l.structure_id, l.operator_id, &l.resource))
        .or_default();
    match l.kind.as_str() {
        "grant" => sum.granted += l.amount,
        "issue" => sum.issued += l.amount,
        "return" => sum.returned += l.amount,
        "received" => sum.received += l.amount,
        "sent" => sum.sent += l.amount,
        _ => sum.lapsed += l.amount,
    }
}

/// One ledger entry against the events; a return entry's voucher joins
/// `returned`.
pub(super) fn check_entry(
    replay: &Replay,
    issue_entries: &BTreeMap<i64, i64>,
    returned: &mut BTreeSet<i64>,
    l: &LedgerRow,
    out: &mut Vec<Finding>,
) {
    let expected = match l.kind.as_str() {
        "issue" => issue_entries.get(&l.id).copied(),
        "grant" => l
            .bucket_id
            .and_then(|b| replay.buckets.get(&b))
            .map(|b| b.amount),
        "return" => l.voucher_id.and_then(|id| {
            returned.insert(id);
            replay
                .vouchers
                .get(&id)
                .filter(|v| !v.state.holds_quota())
                .map(|v| v.amount)
        }),
        "received" | "sent" => super::tree::transfer_entry_amount(replay, l),
        _ => Some(l.amount),
    };
    match expected {
        None => out.push(Finding::new(
            "ledger.unexplained",
            "ledger",
            ledger_row(l),
            format!("{} entry no event accounts for", l.kind),
        )),
        Some(e) if e != l.amount => out.push(
            Finding::new(
                "ledger.amount",
                "ledger",
                ledger_row(l),
                format!("{} entry amount differs from the events", l.kind),
            )
            .amounts(e, l.amount),
        ),
        Some(_) => {}
    }
}

/// Vouchers that gave their quota back (voided, expired) need a return
/// entry.
pub(super) fn check_returns(
    vouchers: &BTreeMap<i64, VoucherFacts>,
    returned: &BTreeSet<i64>,
    out: &mut Vec<Finding>,
) {
    for (id, v) in vouchers {
        if !v.state.holds_quota() && !returned.contains(id) {
            out.push(Finding::new(
                "ledger.missing_return",
                "ledger",
                format!("voucher id {id}"),
                format!("{} voucher has no return entry", v.state.as_str()),
            ));
        }
    }
}

/// The sum of the entries is the balance (`docs/contract.md`, "Quotas"), and
/// lapses (which have no per-row event) total what the events say.
pub(super) fn check_ledger_sums(
    sums: &BTreeMap<QuotaKey, Totals>,
    replay: &Replay,
    balances: &[BalanceRow],
    out: &mut Vec<Finding>,
) {
    for b in balances {
        let sum = sums
            .get(&key_of(b.structure_id, b.operator_id, &b.resource))
            .copied()
            .unwrap_or_default();
        Place::new(
            "ledger.sum",
            "balances",
            balance_key(&key_of(b.structure_id, b.operator_id, &b.resource)),
        )
        .amounts(
            out,
            "is not the sum of its ledger entries",
            &[
                ("granted", sum.granted, b.granted),
                ("issued", sum.issued, b.issued),
                ("returned", sum.returned, b.returned),
                ("lapsed", sum.lapsed, b.lapsed),
                ("received", sum.received, b.received),
                ("sent", sum.sent, b.sent),
            ],
        );
    }
    for (key, sum) in sums {
        let expected = replay.totals.get(key).map_or(0, |t| t.lapsed);
        if sum.lapsed != expected {
            out.push(
                Finding::new(
                    "ledger.lapse_total",
                    "ledger",
                    balance_key(key),
                    "lapse entries differ from the lapses the events record".into(),
                )
                .amounts(expected, sum.lapsed),
            );
        }
    }
}

pub(super) fn check_buckets(replay: &Replay, buckets: &[BucketRow], out: &mut Vec<Finding>) {
    let mut open: BTreeMap<QuotaKey, i64> = BTreeMap::new();
    for b in buckets {
        let row = format!("id {}", b.id);
        match replay.buckets.get(&b.id) {
            None => out.push(Finding::new(
                "bucket.unrecorded",
                "quota_buckets",
                row,
                "no credit event".into(),
            )),
            Some(f)
                if f.amount != b.amount
                    || f.structure_id != b.structure_id
                    || f.operator_id != b.operator_id
                    || f.grant_id != b.grant_id
                    || f.transfer_id != b.transfer_id =>
            {
                out.push(
                    Finding::new(
                        "bucket.amount",
                        "quota_buckets",
                        row,
                        "credited amount, structure, network, grant or transfer differs from the events"
                            .into(),
                    )
                    .amounts(f.amount, b.amount),
                )
            }
            Some(_) => {}
        }
        if b.lapsed_at.is_none() {
            *open
                .entry(key_of(b.structure_id, b.operator_id, &b.resource))
                .or_default() += b.remaining;
        }
    }
    for (key, totals) in &replay.totals {
        let found = open.get(key).copied().unwrap_or(0);
        if found != totals.available() {
            out.push(
                Finding::new(
                    "bucket.remaining",
                    "quota_buckets",
                    balance_key(key),
                    "open buckets do not hold the available quota".into(),
                )
                .amounts(totals.available(), found),
            );
        }
    }
}

pub(super) fn check_redemptions(
    replay: &Replay,
    redemptions: &[RedemptionRow],
    vouchers: &[VoucherRow],
    out: &mut Vec<Finding>,
) {
    let states: BTreeMap<i64, &str> = vouchers.iter().map(|v| (v.id, v.state.as_str())).collect();
    let live: BTreeSet<i64> = redemptions.iter().map(|r| r.id).collect();
    for r in redemptions {
        let row = format!("id {}", r.id);
        let Some(facts) = replay.redemptions.get(&r.id) else {
            out.push(Finding::new(
                "redemption.unrecorded",
                "redemptions",
                row,
                format!(
                    "no event records this redemption of voucher {}",
                    r.voucher_id
                ),
            ));
            continue;
        };
        if facts.voucher_id != r.voucher_id {
            out.push(
                Finding::new(
                    "redemption.voucher",
                    "redemptions",
                    row.clone(),
                    "redeemed voucher differs from the events".into(),
                )
                .amounts(facts.voucher_id, r.voucher_id),
            );
        }
        let operator = format!("operator:{}", r.operator_token_id);
        if facts.actor != operator {
            out.push(
                Finding::new(
                    "redemption.operator",
                    "redemptions",
                    row.clone(),
                    "operator differs from the one the events record".into(),
                )
                .values(&facts.actor, operator),
            );
        }
        if facts.operator_id != r.operator_id {
            out.push(
                Finding::new(
                    "redemption.network",
                    "redemptions",
                    row.clone(),
                    "attributed to another operator than the events record".into(),
                )
                .amounts(facts.operator_id, r.operator_id),
            );
        }
        if facts.created_at != r.created_at {
            out.push(
                Finding::new(
                    "redemption.time",
                    "redemptions",
                    row.clone(),
                    "created_at differs from the events".into(),
                )
                .amounts(facts.created_at, r.created_at),
            );
        }
        if facts.redeemed_at != r.redeemed_at {
            let finding = Finding::new(
                "redemption.time",
                "redemptions",
                row.clone(),
                "redeemed_at differs from the events".into(),
            );
            out.push(match (facts.redeemed_at, r.redeemed_at) {
                (Some(e), Some(f)) => finding.amounts(e, f),
                (e, f) => finding.values(format!("{e:?}"), format!("{f:?}")),
            });
        }
        if facts.state.as_str() != r.state {
            out.push(
                Finding::new(
                    "redemption.state",
                    "redemptions",
                    row.clone(),
                    "state differs from the events".into(),
                )
                .values(facts.state.as_str(), &r.state),
            );
        }
        let expected_voucher = match r.state.as_str() {
            "confirmed" => Some("redeemed"),
            "reserved" => Some("reserved"),
            _ => None,
        };
        let voucher_state = states.get(&r.voucher_id).copied().unwrap_or("missing");
        if let Some(expected) = expected_voucher.filter(|e| *e != voucher_state) {
            out.push(
                Finding::new(
                    "redemption.voucher_state",
                    "redemptions",
                    row,
                    format!(
                        "{} redemption of a voucher that is {voucher_state}",
                        r.state
                    ),
                )
                .values(expected, voucher_state),
            );
        }
    }
    for id in replay.redemptions.keys() {
        if !live.contains(id) {
            out.push(Finding::new(
                "redemption.missing",
                "redemptions",
                format!("id {id}"),
                "recorded by events, but the row is gone".into(),
            ));
        }
    }
}

/// Rows the events created that are no longer in their table.
fn check_registry_missing(replay: &Replay, s: &Snapshot, out: &mut Vec<Finding>) {
    let structures: BTreeSet<i64> = s.structures.iter().map(|r| r.id).collect();
    let products: BTreeSet<&str> = s.products.iter().map(|r| r.id.as_str()).collect();
    let tokens: BTreeSet<i64> = s.tokens.iter().map(|r| r.id).collect();
    let grants: BTreeSet<i64> = s.grants.iter().map(|r| r.id).collect();
    let mut missing = |check, table, row: String| {
        out.push(Finding::new(
            check,
            table,
            row,
            "created according to the events, but the row is gone".into(),
        ));
    };
    for id in replay
        .structures
        .keys()
        .filter(|id| !structures.contains(id))
    {
        missing("structure.missing", "structures", format!("id {id}"));
    }
    for id in replay
        .products
        .keys()
        .filter(|id| !products.contains(id.as_str()))
    {
        missing("product.missing", "products", format!("id {id}"));
    }
    for id in replay.tokens.keys().filter(|id| !tokens.contains(id)) {
        missing("token.missing", "tokens", format!("id {id}"));
    }
    for id in replay.grants.keys().filter(|id| !grants.contains(id)) {
        missing("grant.missing", "grants", format!("id {id}"));
    }
}

pub(super) fn check_registry(replay: &Replay, s: &Snapshot, out: &mut Vec<Finding>) {
    check_registry_missing(replay, s, out);
    super::tree::check_parents(replay, &s.structures, out);
    super::networks::check_operators(replay, &s.operators, out);
    for st in &s.structures {
        let row = format!("id {}", st.id);
        match replay.structures.get(&st.id) {
            None => out.push(Finding::new(
                "structure.unrecorded",
                "structures",
                row,
                "no creation event".into(),
            )),
            Some((name, external_ref)) if *name != st.name || *external_ref != st.external_ref => {
                out.push(
                    Finding::new(
                        "structure.field",
                        "structures",
                        row,
                        "name or reference differs from the events".into(),
                    )
                    .values(name, &st.name),
                )
            }
            Some(_) => {}
        }
    }
    for p in &s.products {
        let row = format!("id {}", p.id);
        let live = serde_json::to_value(p).unwrap_or_default();
        match replay.products.get(&p.id) {
            None => out.push(Finding::new(
                "product.unrecorded",
                "products",
                row,
                "no event saved this product".into(),
            )),
            Some(saved) => {
                for field in [
                    "operator_id",
                    "family",
                    "resource",
                    "amount",
                    "validity_days",
                    "code_validity_days",
                    "label_fr",
                    "label_en",
                    "active",
                    "format",
                ] {
                    let (e, f) = (saved_field(saved, field), live.get(field).cloned());
                    let (e, f) = (e.as_ref(), f.as_ref());
                    if e != f {
                        let mut finding = Finding::new(
                            "product.field",
                            "products",
                            row.clone(),
                            format!("{field} differs from the last save"),
                        );
                        finding = match (e.and_then(|v| v.as_i64()), f.and_then(|v| v.as_i64())) {
                            (Some(e), Some(f)) => finding.amounts(e, f),
                            _ => finding.values(
                                e.map(ToString::to_string).unwrap_or_default(),
                                f.map(ToString::to_string).unwrap_or_default(),
                            ),
                        };
                        out.push(finding);
                    }
                }
            }
        }
    }
    for t in &s.tokens {
        let row = format!("id {}", t.id);
        match replay.tokens.get(&t.id) {
            None => out.push(Finding::new(
                "token.unrecorded",
                "tokens",
                row,
                "no event created this token".into(),
            )),
            Some(f) => {
                if f.role != t.role
                    || f.structure_id != t.structure_id
                    || f.operator_id != t.operator_id
                {
                    out.push(
                        Finding::new(
                            "token.role",
                            "tokens",
                            row.clone(),
                            "role, structure or operator differs from its creation".into(),
                        )
                        .values(
                            format!("{} {:?} {:?}", f.role, f.structure_id, f.operator_id),
                            format!("{} {:?} {:?}", t.role, t.structure_id, t.operator_id),
                        ),
                    );
                }
                if f.revoked != t.revoked_at.is_some() {
                    out.push(
                        Finding::new(
                            "token.revocation",
                            "tokens",
                            row,
                            "revocation differs from the events".into(),
                        )
                        .values(f.revoked, t.revoked_at.is_some()),
                    );
                }
            }
        }
    }
    for g in &s.grants {
        let row = format!("id {}", g.id);
        match replay.grants.get(&g.id) {
            None => out.push(Finding::new(
                "grant.unrecorded",
                "grants",
                row,
                "no grant event".into(),
            )),
            Some(f)
                if f.structure_id != g.structure_id
                    || f.resource != g.resource
                    || f.amount != g.amount =>
            {
                out.push(
                    Finding::new(
                        "grant.field",
                        "grants",
                        row,
                        "structure, resource or amount differs from the grant event".into(),
                    )
                    .amounts(f.amount, g.amount),
                )
            }
            Some(GrantFacts { operator_id, .. }) if *operator_id != g.operator_id => out.push(
                Finding::new(
                    "grant.network",
                    "grants",
                    row,
                    "the grant event gave this quota to another network".into(),
                )
                .amounts(*operator_id, g.operator_id),
            ),
            Some(_) => {}
        }
    }
}
