//! The audit follows quota through the tree: each allocation and claw-back
//! must move between a member and its association of the moment, on one
//! network and resource, and both sides' ledger entries must be there with
//! the event's amount, so every unit that left one structure arrived at
//! the other. Needs follow their transition table.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Finding;
use super::replay::{Effect, NeedFacts, Replay, TransferFacts, int, text};
use super::snapshot::{BalanceRow, EventRow, LedgerRow, StructureRow};
use crate::domain::need::{self, NeedAnswer, NeedState};
use crate::domain::tree::MAX_LEVELS;

impl Replay {
    /// A structure's line up to the top, as the events say.
    fn line_of(&self, id: i64) -> Vec<i64> {
        let mut line = vec![id];
        while let Some(Some(parent)) = self.parents.get(line.last().unwrap_or(&id)) {
            if line.contains(parent) || line.len() > MAX_LEVELS {
                break;
            }
            line.push(*parent);
        }
        line
    }

    pub(super) fn moved(&mut self, e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        let id = e.structure_id.ok_or("no structure")?;
        if !self.structures.contains_key(&id) {
            return Err("unknown structure".into());
        }
        let parent = int(data, "parent_id");
        if let Some(p) = parent {
            let line = self.line_of(p);
            if line.contains(&id) || !self.structures.contains_key(&p) {
                return Err(format!("structure {id} cannot go under {p}"));
            }
        }
        self.parents.insert(id, parent);
        Ok(None)
    }

    pub(super) fn transfer(
        &mut self,
        e: &EventRow,
        data: &Value,
    ) -> Result<Option<Effect>, String> {
        let member = e.structure_id.ok_or("no structure")?;
        let id = int(data, "transfer_id").ok_or("no transfer id")?;
        let from = int(data, "from_structure_id").ok_or("no giving structure")?;
        let to = int(data, "to_structure_id").ok_or("no receiving structure")?;
        let association = self.parents.get(&member).copied().flatten();
        let expected = match e.kind.as_str() {
            "allocation" => association.map(|a| (a, member)),
            _ => association.map(|a| (member, a)),
        };
        if expected != Some((from, to)) {
            return Err(format!(
                "structures {from} → {to} are not structure {member} and its association"
            ));
        }
        let facts = TransferFacts {
            from_structure_id: from,
            to_structure_id: to,
            operator_id: int(data, "operator_id").ok_or("no operator")?,
            resource: text(data, "resource").ok_or("no resource")?,
            amount: int(data, "amount").filter(|a| *a > 0).ok_or("no amount")?,
        };
        self.credit_transfer_buckets(id, &facts, data)?;
        if self.transfers.insert(id, facts.clone()).is_some() {
            return Err(format!("transfer {id} was already made"));
        }
        let (op, res, amount) = (facts.operator_id, facts.resource.clone(), facts.amount);
        self.totals(from, op, &res).sent += amount;
        self.totals(to, op, &res).received += amount;
        let side = |structure_id, received, sent| Effect {
            structure_id,
            operator_id: op,
            resource: res.clone(),
            received,
            sent,
            ..Effect::default()
        };
        let mut effect = side(to, amount, 0);
        effect.other_side = Some(Box::new(side(from, 0, amount)));
        Ok(Some(effect))
    }

    /// The receiving side's buckets, which must add up to the transfer.
    fn credit_transfer_buckets(
        &mut self,
        id: i64,
        t: &TransferFacts,
        data: &Value,
    ) -> Result<(), String> {
        let buckets = data
            .get("buckets")
            .and_then(Value::as_array)
            .ok_or("no buckets")?;
        let mut total = 0;
        for b in buckets {
            let bucket_id = int(b, "bucket_id").ok_or("a bucket without id")?;
            let amount = int(b, "amount")
                .filter(|a| *a > 0)
                .ok_or("a bucket without amount")?;
            total += amount;
            let facts = super::replay::BucketFacts {
                grant_id: None,
                transfer_id: Some(id),
                structure_id: t.to_structure_id,
                operator_id: t.operator_id,
                resource: t.resource.clone(),
                amount,
                lapsed: false,
            };
            if self.buckets.insert(bucket_id, facts).is_some() {
                return Err(format!("bucket {bucket_id} was already credited"));
            }
        }
        if total != t.amount {
            return Err(format!("its buckets hold {total}, not {}", t.amount));
        }
        Ok(())
    }

    pub(super) fn need(&mut self, e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        let structure_id = e.structure_id.ok_or("no structure")?;
        let id = int(data, "need_id").ok_or("no need id")?;
        if e.kind == "need_reported" {
            let amount = int(data, "amount").filter(|a| *a > 0).ok_or("no amount")?;
            let facts = NeedFacts {
                structure_id,
                amount,
                state: NeedState::Open,
            };
            if self.needs.insert(id, facts).is_some() {
                return Err(format!("need {id} was already reported"));
            }
            return Ok(None);
        }
        let n = self
            .needs
            .get_mut(&id)
            .ok_or(format!("need {id} was never reported"))?;
        if n.structure_id != structure_id {
            return Err(format!("need {id} belongs to another structure"));
        }
        let answer = if e.kind == "need_approved" {
            let given = int(data, "amount").ok_or("no amount")?;
            need::approved_amount(n.amount, Some(given)).map_err(|e| e.to_string())?;
            NeedAnswer::Approve
        } else {
            NeedAnswer::Decline
        };
        n.state = need::next(n.state, answer).map_err(|e| e.to_string())?;
        Ok(None)
    }
}

impl Replay {
    /// The association a structure belongs to as the events say (itself,
    /// under the coordinator), and whether it is one: a structure with
    /// members.
    pub fn association_of(&self, id: i64) -> i64 {
        crate::domain::tree::top_of(id, |s| self.parents.get(&s).copied().flatten())
    }

    /// The structures with members, as the events say.
    pub fn associations(&self) -> BTreeSet<i64> {
        self.parents
            .values()
            .flatten()
            .map(|&p| self.association_of(p))
            .collect()
    }
}

/// Every transfer has both its ledger entries, each on its side with the
/// event's amount; an entry naming a transfer no event made, or on the
/// wrong structure, is reported by `check_entry` as unexplained.
pub(super) fn check_transfer_entries(
    replay: &Replay,
    ledger: &[LedgerRow],
    out: &mut Vec<Finding>,
) {
    let seen: BTreeSet<(i64, &str)> = ledger
        .iter()
        .filter_map(|l| Some((l.transfer_id?, l.kind.as_str())))
        .collect();
    for id in replay.transfers.keys() {
        for side in ["sent", "received"] {
            if !seen.contains(&(*id, side)) {
                out.push(Finding::new(
                    "ledger.missing_transfer",
                    "ledger",
                    format!("transfer {id}"),
                    format!("the {side} entry of this transfer is missing"),
                ));
            }
        }
    }
}

/// The amount a transfer entry should carry: the event's, when the entry is
/// on the side the event says.
pub(super) fn transfer_entry_amount(replay: &Replay, l: &LedgerRow) -> Option<i64> {
    let t = replay.transfers.get(&l.transfer_id?)?;
    let structure = if l.kind == "sent" {
        t.from_structure_id
    } else {
        t.to_structure_id
    };
    (structure == l.structure_id && t.operator_id == l.operator_id && t.resource == l.resource)
        .then_some(t.amount)
}

/// Transfers create no quota and destroy none: on each network and
/// resource, what all structures received equals what all sent.
pub(super) fn check_conservation(balances: &[BalanceRow], out: &mut Vec<Finding>) {
    let mut moved: BTreeMap<(i64, &str), (i64, i64)> = BTreeMap::new();
    for b in balances {
        let m = moved
            .entry((b.operator_id, b.resource.as_str()))
            .or_default();
        m.0 += b.sent;
        m.1 += b.received;
    }
    for ((operator_id, resource), (sent, received)) in moved {
        if sent != received {
            out.push(
                Finding::new(
                    "tree.conservation",
                    "balances",
                    format!("operator {operator_id} {resource}"),
                    "what the structures received differs from what they passed on".into(),
                )
                .amounts(sent, received),
            );
        }
    }
}

/// Each structure's association as the events say.
pub(super) fn check_parents(replay: &Replay, structures: &[StructureRow], out: &mut Vec<Finding>) {
    for st in structures {
        if let Some(expected) = replay.parents.get(&st.id)
            && *expected != st.parent_id
        {
            out.push(
                Finding::new(
                    "structure.parent",
                    "structures",
                    format!("id {}", st.id),
                    "its association differs from the events".into(),
                )
                .amounts(expected.unwrap_or(0), st.parent_id.unwrap_or(0)),
            );
        }
    }
}
