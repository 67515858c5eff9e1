//! The service's periodic check between two full ones: only what changed
//! since the last verified point of the chain.
//!
//! A full check ([`super::verify`]) replays every event and compares every
//! row, so its cost grows with the history. [`Verified`] keeps what a full
//! check established (the replayed events, the ledger's running sums, the
//! chain's head) and carries it forward: the new events must continue the
//! chain from the verified head; they are applied to the replay; then only
//! the rows they touch are compared, by the very checks of the full
//! verification, so a finding has the same check, row and key either way
//! (alarms and acknowledgements go by key).
//!
//! What the carried state cannot vouch for is a [`Doubt`] (the verified
//! head changed, a gap or a broken link after it, an unsealed event, an
//! event the replay refuses): the caller then runs a full check. A row no
//! new event touches is not read here; the next full check reads it.
//!
//! Pure like the rest of the audit: storage reads the events and the rows
//! (`Store::changes_read`), the integrity task keeps the state.

use std::collections::{BTreeMap, BTreeSet};

use super::Finding;
use super::replay::{Effect, QuotaKey, Replay, Totals};
use super::snapshot::{EventRow, Snapshot};
use super::verify::{self, Outcome};
use crate::code::attestation::VerifyingKeys;

/// The books as verified up to a point of the chain.
#[derive(Clone)]
pub struct Verified {
    /// The last verified event (0 before the first), and its hash.
    seq: i64,
    hash: String,
    /// The highest checkpoint verified.
    checkpoint_seq: i64,
    /// Committed events with no seq the full check saw (and reported).
    unsealed: i64,
    replay: Replay,
    ledger: Ledger,
}

/// Short: the replay it holds is as large as the history.
impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("seq", &self.seq)
            .field("checkpoint_seq", &self.checkpoint_seq)
            .field("vouchers", &self.replay.vouchers.len())
            .field("ledger_entries", &self.ledger.counted.len())
            .finish_non_exhaustive()
    }
}

/// The ledger as counted so far.
#[derive(Clone, Debug, Default)]
struct Ledger {
    /// Per structure and resource, the sum of the entries counted.
    sums: BTreeMap<QuotaKey, Totals>,
    /// The entries counted, by id: an entry is counted once.
    counted: BTreeSet<i64>,
    /// What each issue entry should total (its vouchers' amounts).
    issue_entries: BTreeMap<i64, i64>,
    /// Vouchers that have a return entry.
    returned: BTreeSet<i64>,
}

/// Why the carried state cannot vouch for what follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Doubt {
    /// The last verified event changed or is gone.
    HeadChanged,
    /// The events after it do not continue the chain (a gap, a link or a
    /// hash that does not hold): so many findings.
    Chain(usize),
    /// Committed events with no place in the chain, other than those the
    /// full check reported.
    Unsealed(i64),
    /// A new event cannot be replayed.
    Impossible,
}

impl std::fmt::Display for Doubt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::HeadChanged => write!(f, "the last verified event changed"),
            Self::Chain(n) => write!(f, "the new events do not continue the chain ({n} findings)"),
            Self::Unsealed(n) => write!(f, "{n} committed events have no place in the chain"),
            Self::Impossible => write!(f, "a new event cannot be replayed"),
        }
    }
}

/// What the new events touch: the rows to read, by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    pub vouchers: BTreeSet<i64>,
    pub redemptions: BTreeSet<i64>,
    /// Quota moved (structure, resource), with the earliest time of the
    /// events that moved it: an operation writes its ledger entries and its
    /// events with the same time, so the new entries are at or after it.
    pub quotas: BTreeMap<QuotaKey, i64>,
    pub buckets: BTreeSet<i64>,
    pub structures: BTreeSet<i64>,
    pub products: BTreeSet<String>,
    pub tokens: BTreeSet<i64>,
    pub grants: BTreeSet<i64>,
    /// Checkpoints to verify: those after this seq.
    pub checkpoints_after: i64,
}

/// The rows storage read for a [`Touched`], in the same snapshot as the
/// events: `rows` holds no events; every table holds only rows touched
/// (for a quota: its balance, its ledger entries from the earliest time on,
/// its open buckets).
#[derive(Clone, Debug, Default)]
pub struct TouchedRows {
    pub rows: Snapshot,
    /// The chain's stored hash at each new checkpoint's seq, where there is
    /// an event at that seq.
    pub chain_hashes: BTreeMap<i64, String>,
}

impl Verified {
    /// What a full verification of `s` established; `replay` and `outcome`
    /// are its result ([`verify::verify_books`]).
    pub fn after_full(s: &Snapshot, replay: Replay, outcome: &Outcome) -> Self {
        let mut ledger = Ledger {
            issue_entries: verify::issue_entries(&replay),
            ..Ledger::default()
        };
        for l in &s.ledger {
            verify::add_entry(&mut ledger.sums, l);
            ledger.counted.insert(l.id);
            if l.kind == "return" {
                ledger.returned.extend(l.voucher_id);
            }
        }
        let (seq, hash) = outcome.head.clone().unwrap_or_else(|| (0, String::new()));
        let unsealed = s.events.iter().filter(|e| e.seq.is_none()).count();
        Self {
            seq,
            hash,
            checkpoint_seq: s.checkpoints.iter().map(|c| c.seq).max().unwrap_or(0),
            unsealed: i64::try_from(unsealed).unwrap_or(i64::MAX),
            replay,
            ledger,
        }
    }

    /// The last verified event's seq.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// Takes the sealed events from the verified head on (the head itself
    /// first, unless nothing was verified yet), in chain order: checks that
    /// they continue the chain, applies the new ones and says which rows
    /// they touch. `unsealed` counts committed events with no seq.
    pub fn advance(&mut self, events: &[EventRow], unsealed: i64) -> Result<Touched, Doubt> {
        if unsealed != self.unsealed {
            return Err(Doubt::Unsealed(unsealed));
        }
        let new = match events.split_first() {
            _ if self.seq == 0 => events,
            Some((head, rest))
                if head.seq == Some(self.seq) && head.hash.as_deref() == Some(&self.hash) =>
            {
                rest
            }
            _ => return Err(Doubt::HeadChanged),
        };
        let mut broken = Vec::new();
        verify::check_chain_from(new, self.seq + 1, self.hash_or_genesis(), &mut broken);
        if !broken.is_empty() {
            return Err(Doubt::Chain(broken.len()));
        }
        let mut touched = Touched {
            checkpoints_after: self.checkpoint_seq,
            ..Touched::default()
        };
        for e in new {
            let effect = self.replay.apply(e);
            touched.add(e, effect.as_ref());
            self.count_issue(e);
        }
        if !self.replay.findings.is_empty() {
            return Err(Doubt::Impossible);
        }
        if let Some(last) = new.last() {
            self.seq = last.seq.unwrap_or(self.seq);
            self.hash = last.hash.clone().unwrap_or_default();
        }
        Ok(touched)
    }

    fn hash_or_genesis(&self) -> String {
        if self.seq == 0 {
            super::chain::to_hex(&super::chain::GENESIS)
        } else {
            self.hash.clone()
        }
    }

    /// A new voucher adds its amount to what its issue entry should total.
    fn count_issue(&mut self, e: &EventRow) {
        let issued = (e.kind == "issue")
            .then_some(e.voucher_id)
            .flatten()
            .and_then(|id| self.replay.vouchers.get(&id));
        if let Some(v) = issued {
            *self
                .ledger
                .issue_entries
                .entry(v.issue_entry_id)
                .or_default() += v.amount;
        }
    }

    /// Counts the new ledger entries into the running sums, then compares
    /// the touched rows with the replay, by the checks of the full
    /// verification. Answers the findings.
    pub fn compare(
        &mut self,
        touched: &Touched,
        read: &TouchedRows,
        keys: &VerifyingKeys,
    ) -> Vec<Finding> {
        let rows = &read.rows;
        let mut out = Vec::new();
        let hashes: BTreeMap<i64, &str> = read
            .chain_hashes
            .iter()
            .map(|(seq, hash)| (*seq, hash.as_str()))
            .collect();
        verify::check_checkpoints(&hashes, &rows.checkpoints, keys, &mut out);
        let last_checkpoint = rows.checkpoints.iter().map(|c| c.seq).max();
        self.checkpoint_seq = self.checkpoint_seq.max(last_checkpoint.unwrap_or(0));
        self.count_entries(rows, &mut out);
        let scoped = self.scoped(touched, rows);
        verify::check_vouchers(&scoped, &rows.vouchers, &mut out);
        verify::check_balances(&scoped, &rows.balances, &mut out);
        verify::check_returns(&scoped.vouchers, &self.ledger.returned, &mut out);
        let sums: BTreeMap<QuotaKey, Totals> = scoped
            .totals
            .keys()
            .filter_map(|k| Some((k.clone(), *self.ledger.sums.get(k)?)))
            .collect();
        verify::check_ledger_sums(&sums, &scoped, &rows.balances, &mut out);
        verify::check_buckets(&scoped, &rows.buckets, &mut out);
        verify::check_redemptions(&scoped, &rows.redemptions, &rows.vouchers, &mut out);
        verify::check_registry(&scoped, rows, &mut out);
        out
    }

    /// Entries not counted yet join the sums, each checked against the
    /// events as the full verification checks it.
    fn count_entries(&mut self, rows: &Snapshot, out: &mut Vec<Finding>) {
        let ledger = &mut self.ledger;
        for l in &rows.ledger {
            if ledger.counted.insert(l.id) {
                verify::add_entry(&mut ledger.sums, l);
                verify::check_entry(
                    &self.replay,
                    &ledger.issue_entries,
                    &mut ledger.returned,
                    l,
                    out,
                );
            }
        }
    }

    /// The part of the replay the touched rows answer to: each check of the
    /// full verification, given it, looks at those rows and no others.
    fn scoped(&self, touched: &Touched, rows: &Snapshot) -> Replay {
        let r = &self.replay;
        let quotas = touched.quotas.keys().cloned().chain(
            rows.balances
                .iter()
                .map(|b| (b.structure_id, b.operator_id, b.resource.clone())),
        );
        let vouchers = touched.vouchers.iter().copied();
        let redemptions = touched.redemptions.iter().copied();
        let structures = touched.structures.iter().copied();
        let products = touched.products.iter().cloned();
        let tokens = touched.tokens.iter().copied();
        let grants = touched.grants.iter().copied();
        let buckets = touched.buckets.iter().copied();
        Replay {
            totals: pick(&r.totals, quotas),
            vouchers: pick(
                &r.vouchers,
                vouchers.chain(rows.vouchers.iter().map(|v| v.id)),
            ),
            redemptions: pick(
                &r.redemptions,
                redemptions.chain(rows.redemptions.iter().map(|x| x.id)),
            ),
            structures: pick(
                &r.structures,
                structures.chain(rows.structures.iter().map(|x| x.id)),
            ),
            products: pick(
                &r.products,
                products.chain(rows.products.iter().map(|x| x.id.clone())),
            ),
            tokens: pick(&r.tokens, tokens.chain(rows.tokens.iter().map(|x| x.id))),
            // Few and small: every event's actor may need any of them.
            accounts: r.accounts.clone(),
            grants: pick(&r.grants, grants.chain(rows.grants.iter().map(|x| x.id))),
            buckets: pick(&r.buckets, buckets.chain(rows.buckets.iter().map(|x| x.id))),
            // All of them: every product names one.
            operators: r.operators.clone(),
            parents: pick(
                &r.parents,
                touched
                    .structures
                    .iter()
                    .copied()
                    .chain(rows.structures.iter().map(|x| x.id)),
            ),
            // Checked as their events are replayed and their entries counted.
            transfers: BTreeMap::new(),
            needs: BTreeMap::new(),
            findings: Vec::new(),
        }
    }
}

/// The entries of `map` under `keys` (those it has).
fn pick<K: Ord + Clone, V: Clone>(
    map: &BTreeMap<K, V>,
    keys: impl Iterator<Item = K>,
) -> BTreeMap<K, V> {
    keys.filter_map(|k| Some((k.clone(), map.get(&k)?.clone())))
        .collect()
}

impl Touched {
    /// Notes what one new event touches (`effect`: what its replay did).
    fn add(&mut self, e: &EventRow, effect: Option<&Effect>) {
        let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
        let id = |key: &str| data.get(key).and_then(serde_json::Value::as_i64);
        self.vouchers.extend(e.voucher_id);
        match e.kind.as_str() {
            "credit" | "lapse" => self.buckets.extend(id("bucket_id")),
            "redeem" | "reserve" | "confirm" | "cancel" | "hold_timeout" | "reverse" => {
                self.redemptions.extend(id("redemption_id"));
            }
            "structure_created" | "structure_renamed" | "structure_moved" => {
                self.structures.extend(e.structure_id);
            }
            "allocation" | "clawback" => self.buckets.extend(
                data.get("buckets")
                    .and_then(serde_json::Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|b| b.get("bucket_id").and_then(serde_json::Value::as_i64)),
            ),
            "token_created" | "token_revoked" => self.tokens.extend(id("token_id")),
            "grant" => self.grants.extend(id("grant_id")),
            "product_saved" => self.products.extend(
                data.get("id")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned),
            ),
            _ => {}
        }
        // Only these move quota (and write ledger entries).
        let moves_quota = matches!(
            e.kind.as_str(),
            "credit" | "lapse" | "issue" | "void" | "expire" | "allocation" | "clawback"
        );
        for side in effect
            .filter(|_| moves_quota)
            .into_iter()
            .flat_map(Effect::sides)
        {
            self.quotas
                .entry((side.structure_id, side.operator_id, side.resource.clone()))
                .and_modify(|at| *at = (*at).min(e.at))
                .or_insert(e.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{self, EventFields};

    /// A chain of `n` structure creations.
    fn chain_of(n: i64) -> Vec<EventRow> {
        let mut prev = chain::GENESIS;
        (1..=n)
            .map(|seq| {
                let data = format!(r#"{{"name":"S{seq}","external_ref":null}}"#);
                let fields = EventFields {
                    seq,
                    at: 1_800_000_000 + seq,
                    kind: "structure_created",
                    actor: "admin:1",
                    structure_id: Some(seq),
                    voucher_id: None,
                    data: &data,
                };
                let hash = chain::event_hash(&fields, &prev);
                let row = EventRow {
                    id: seq,
                    seq: Some(seq),
                    at: fields.at,
                    kind: fields.kind.into(),
                    actor: fields.actor.into(),
                    structure_id: Some(seq),
                    voucher_id: None,
                    data: data.clone(),
                    prev_hash: Some(chain::to_hex(&prev)),
                    hash: Some(chain::to_hex(&hash)),
                };
                prev = hash;
                row
            })
            .collect()
    }

    fn verified_up_to(events: &[EventRow]) -> Verified {
        let mut v =
            Verified::after_full(&Snapshot::default(), Replay::default(), &Outcome::default());
        v.advance(events, 0).unwrap();
        v
    }

    #[test]
    fn continues_from_the_verified_head() {
        let events = chain_of(5);
        let mut v = verified_up_to(&events[..3]);
        assert_eq!(v.seq(), 3);
        let touched = v.advance(&events[2..], 0).unwrap();
        assert_eq!(touched.structures, BTreeSet::from([4, 5]));
        assert_eq!(v.seq(), 5);
        // Nothing new: nothing touched, still at the head.
        assert_eq!(v.advance(&events[4..], 0), Ok(Touched::default()));
    }

    #[test]
    fn anything_the_state_cannot_vouch_for_is_a_doubt() {
        let events = chain_of(6);
        let v = verified_up_to(&events[..3]);
        let mut changed_head = events[2..].to_vec();
        changed_head[0].hash = Some("0".repeat(64));
        assert_eq!(v.clone().advance(&changed_head, 0), Err(Doubt::HeadChanged));
        assert_eq!(v.clone().advance(&events[3..], 0), Err(Doubt::HeadChanged));
        let mut gap = events[2..].to_vec();
        gap.remove(2);
        assert_eq!(v.clone().advance(&gap, 0), Err(Doubt::Chain(2)));
        let mut edited = events[2..].to_vec();
        edited[2].data = edited[2].data.replace("S5", "S50");
        assert_eq!(v.clone().advance(&edited, 0), Err(Doubt::Chain(1)));
        assert_eq!(v.clone().advance(&events[2..], 1), Err(Doubt::Unsealed(1)));
        let mut again = events[2..].to_vec();
        again[1].kind = "token_revoked".into();
        // Rehashed, so that the chain holds: only the replay objects.
        let mut prev = chain::from_hex(again[0].hash.as_deref().unwrap()).unwrap();
        for e in &mut again[1..] {
            let fields = EventFields {
                seq: e.seq.unwrap(),
                at: e.at,
                kind: &e.kind,
                actor: &e.actor,
                structure_id: e.structure_id,
                voucher_id: e.voucher_id,
                data: &e.data,
            };
            let hash = chain::event_hash(&fields, &prev);
            e.prev_hash = Some(chain::to_hex(&prev));
            e.hash = Some(chain::to_hex(&hash));
            prev = hash;
        }
        assert_eq!(v.clone().advance(&again, 0), Err(Doubt::Impossible));
    }
}
