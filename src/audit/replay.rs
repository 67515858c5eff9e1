//! Replaying the event log: what the tables should say if the events are
//! the whole truth. Every change to quota, vouchers, redemptions, tokens,
//! structures and products is an event, so folding the events in chain
//! order rebuilds them, and anything else in the tables is unexplained.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Finding;
use super::snapshot::EventRow;
use crate::domain::lifecycle::{self, Transition, VoucherState};
use crate::domain::operator::FIRST_OPERATOR_ID;
use crate::domain::redemption::RedemptionState;

/// Whose quota: a structure's resource on one operator's network
/// (structure id, operator id, resource).
pub type QuotaKey = (i64, i64, String);

/// Quota totals of one structure's resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub granted: i64,
    pub issued: i64,
    pub returned: i64,
    pub lapsed: i64,
    /// Arrived from the tree (allocations, claw-backs from members).
    pub received: i64,
    /// Left for the tree.
    pub sent: i64,
}

impl Totals {
    pub fn available(&self) -> i64 {
        self.granted + self.received - self.sent - self.issued + self.returned - self.lapsed
    }
}

/// A voucher as its events describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherFacts {
    pub structure_id: i64,
    /// Its product's network when it was issued.
    pub operator_id: i64,
    pub serial: String,
    pub product: String,
    pub resource: String,
    pub amount: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    pub issue_entry_id: i64,
    pub state: VoucherState,
}

/// A redemption as its events describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedemptionFacts {
    pub voucher_id: i64,
    /// `operator:<token id>`.
    pub actor: String,
    /// The network it was made for.
    pub operator_id: i64,
    pub state: RedemptionState,
    /// When it was made (redeem or reserve).
    pub created_at: i64,
    /// When the code was redeemed (redeem or confirm); kept by a reversal.
    pub redeemed_at: Option<i64>,
}

/// A token as its events describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFacts {
    pub role: String,
    pub structure_id: Option<i64>,
    pub operator_id: Option<i64>,
    pub revoked: bool,
}

/// A grant's credited bucket as its events describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketFacts {
    /// The grant that credited it; none for a transfer's bucket.
    pub grant_id: Option<i64>,
    pub transfer_id: Option<i64>,
    pub structure_id: i64,
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
    pub lapsed: bool,
}

/// What one event did to a structure's resource, for period reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effect {
    pub structure_id: i64,
    pub operator_id: i64,
    pub resource: String,
    pub granted: i64,
    pub lapsed: i64,
    pub issued: i64,
    pub voided: i64,
    pub expired: i64,
    pub redeemed: i64,
    pub reversed: i64,
    /// Quota that arrived from, or left for, the tree.
    pub received: i64,
    pub sent: i64,
    /// A transfer moves two structures' quota: the other side.
    pub other_side: Option<Box<Effect>>,
}

impl Effect {
    /// This effect and, for a transfer, its other side.
    pub fn sides(&self) -> impl Iterator<Item = &Effect> {
        std::iter::once(self).chain(self.other_side.as_deref())
    }
}

/// The state rebuilt from the events so far.
#[derive(Clone, Debug, Default)]
pub struct Replay {
    pub totals: BTreeMap<QuotaKey, Totals>,
    pub vouchers: BTreeMap<i64, VoucherFacts>,
    pub redemptions: BTreeMap<i64, RedemptionFacts>,
    pub structures: BTreeMap<i64, (String, Option<String>)>,
    /// Operator id → its creation event's details.
    pub operators: BTreeMap<i64, Value>,
    pub products: BTreeMap<String, Value>,
    pub tokens: BTreeMap<i64, TokenFacts>,
    /// Account id → whether it has been disabled.
    pub accounts: BTreeMap<i64, bool>,
    /// Grant id → (structure, operator, resource, amount).
    pub grants: BTreeMap<i64, GrantFacts>,
    pub buckets: BTreeMap<i64, BucketFacts>,
    /// Structure id → its association, as creations and moves say.
    pub parents: BTreeMap<i64, Option<i64>>,
    /// Transfer id → what moved, between whom.
    pub transfers: BTreeMap<i64, TransferFacts>,
    /// Need id → what was asked, and where the need is.
    pub needs: BTreeMap<i64, NeedFacts>,
    /// Events that cannot have happened (a redemption of a voided code, an
    /// unknown kind, missing details).
    pub findings: Vec<Finding>,
}

/// A transfer as its event describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferFacts {
    pub from_structure_id: i64,
    pub to_structure_id: i64,
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
}

/// A need as its events describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeedFacts {
    pub structure_id: i64,
    pub amount: i64,
    pub state: crate::domain::need::NeedState,
}

/// A grant as its event describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantFacts {
    pub structure_id: i64,
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
}

/// The operator an event names; events written before networks existed
/// name none, and belong to the operator the upgrade created for them.
fn operator_of(data: &Value) -> i64 {
    int(data, "operator_id").unwrap_or(FIRST_OPERATOR_ID)
}

pub(super) fn int(data: &Value, key: &str) -> Option<i64> {
    data.get(key).and_then(Value::as_i64)
}

pub(super) fn text(data: &Value, key: &str) -> Option<String> {
    data.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Replay {
    /// Applies one event (in chain order) and says what it did to quota.
    pub fn apply(&mut self, e: &EventRow) -> Option<Effect> {
        let data: Value = match serde_json::from_str(&e.data) {
            Ok(v) => v,
            Err(_) => {
                self.bad(e, "its data is not JSON");
                return None;
            }
        };
        if let Err(why) = self.person_may_act(e) {
            self.bad(e, &why);
        }
        let result = match e.kind.as_str() {
            "structure_created" => self.structure(e, &data),
            "structure_renamed" => self.renamed(e, &data),
            "structure_moved" => self.moved(e, &data),
            "allocation" | "clawback" => self.transfer(e, &data),
            "need_reported" | "need_approved" | "need_declined" => self.need(e, &data),
            "structure_deactivated" => e
                .structure_id
                .map(|_| None)
                .ok_or_else(|| "no structure".to_owned()),
            "account_created" | "account_activated" | "account_reset" | "account_disabled" => {
                self.account(e, &data)
            }
            "operator_created" => self.operator(&data),
            "operator_slip_instructions_set" => self.operator_dialling(&data),
            "product_saved" => self.product(e, &data),
            "token_created" => self.token_created(e, &data),
            "token_revoked" => self.token_revoked(&data),
            "grant" => self.grant(e, &data),
            "credit" => self.credit(e, &data),
            "lapse" => self.lapse(e, &data),
            "issue" => self.issue(e, &data),
            "void" | "expire" => self.give_back(e, &data),
            "redeem" | "reserve" | "confirm" | "cancel" | "hold_timeout" | "reverse" => {
                self.redemption(e, &data)
            }
            "keys_rotated" | "integrity_alarm" | "integrity_acknowledged" => Ok(None),
            // A line's bar lives in failure counters, which the audit does
            // not hold: the event names the line by its hash and says why.
            "line_unbarred" => text(&data, "line")
                .and(text(&data, "reason"))
                .map(|_| None)
                .ok_or_else(|| "no line or no reason".to_owned()),
            "print" => self.printed(e),
            _ => Err("its kind is unknown".to_owned()),
        };
        match result {
            Ok(effect) => effect,
            Err(why) => {
                self.bad(e, &why);
                None
            }
        }
    }

    pub(super) fn bad(&mut self, e: &EventRow, why: &str) {
        self.findings.push(Finding::new(
            "event.impossible",
            "events",
            format!("seq {}", e.seq.unwrap_or(0)),
            format!("{} event cannot be replayed: {why}", e.kind),
        ));
    }

    fn structure(&mut self, e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        let id = e.structure_id.ok_or("no structure")?;
        let name = text(data, "name").ok_or("no name")?;
        self.structures
            .insert(id, (name, text(data, "external_ref")));
        self.parents.insert(id, int(data, "parent_id"));
        Ok(None)
    }

    fn renamed(&mut self, e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        let id = e.structure_id.ok_or("no structure")?;
        let name = text(data, "name").ok_or("no name")?;
        let known = self.structures.get_mut(&id).ok_or("unknown structure")?;
        known.0 = name;
        Ok(None)
    }

    fn operator(&mut self, data: &Value) -> Result<Option<Effect>, String> {
        let id = int(data, "operator_id").ok_or("no operator id")?;
        text(data, "name").ok_or("no name")?;
        if self.operators.insert(id, data.clone()).is_some() {
            return Err(format!("operator {id} was already created"));
        }
        Ok(None)
    }

    /// A later change of the USSD string on PIN slips: the operator's
    /// recorded fields take it, so the check compares the row with both.
    fn operator_dialling(&mut self, data: &Value) -> Result<Option<Effect>, String> {
        let id = int(data, "operator_id").ok_or("no operator id")?;
        let pattern = data
            .get("slip_instructions")
            .ok_or("no slip instructions")?;
        let operator = self.operators.get_mut(&id).ok_or("unknown operator")?;
        let fields = operator
            .as_object_mut()
            .ok_or("operator is not an object")?;
        fields.insert("slip_instructions".to_owned(), pattern.clone());
        Ok(None)
    }

    fn product(&mut self, _e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        let id = text(data, "id").ok_or("no product id")?;
        let mut saved = data.clone();
        let operator_id = operator_of(data);
        if let Some(earlier) = self.products.get(&id)
            && int(earlier, "operator_id") != Some(operator_id)
        {
            return Err(format!("product {id} moved to another network"));
        }
        if let Some(fields) = saved.as_object_mut() {
            fields.insert("operator_id".into(), operator_id.into());
        }
        self.products.insert(id, saved);
        Ok(None)
    }

    /// The network of a product, as its last save says.
    fn network_of(&self, product: &str) -> Option<i64> {
        self.products
            .get(product)
            .and_then(|p| int(p, "operator_id"))
    }

    /// A person who acted must have an account, created before and not
    /// disabled since.
    fn person_may_act(&self, e: &EventRow) -> Result<(), String> {
        let Some(id) = e.actor.strip_prefix("account:") else {
            return Ok(());
        };
        let id: i64 = id.parse().map_err(|_| "its actor is not an account id")?;
        match self.accounts.get(&id) {
            None => Err(format!("its actor, account {id}, was never created")),
            Some(true) => Err(format!("its actor, account {id}, was disabled")),
            Some(false) => Ok(()),
        }
    }

    fn account(&mut self, e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        let id = int(data, "account_id").ok_or("no account id")?;
        text(data, "login").ok_or("no login")?;
        let known = self.accounts.get(&id).copied();
        match (e.kind.as_str(), known) {
            ("account_created", None) => {
                self.accounts.insert(id, false);
            }
            ("account_created", Some(_)) => {
                return Err(format!("account {id} was already created"));
            }
            (_, None) => return Err(format!("account {id} was never created")),
            (_, Some(true)) => return Err(format!("account {id} is disabled")),
            ("account_disabled", Some(false)) => {
                self.accounts.insert(id, true);
            }
            _ => {}
        }
        Ok(None)
    }

    /// Printing changes nothing; it must name a voucher of its structure.
    fn printed(&self, e: &EventRow) -> Result<Option<Effect>, String> {
        let id = e.voucher_id.ok_or("no voucher")?;
        let v = self.vouchers.get(&id).ok_or("unknown voucher")?;
        if Some(v.structure_id) != e.structure_id {
            return Err("a voucher of another structure".into());
        }
        Ok(None)
    }

    fn token_created(&mut self, e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        let id = int(data, "token_id").ok_or("no token id")?;
        let role = text(data, "role").ok_or("no role")?;
        let operator_id = (role == "operator").then(|| operator_of(data));
        let facts = TokenFacts {
            role,
            structure_id: e.structure_id,
            operator_id,
            revoked: false,
        };
        if self.tokens.insert(id, facts).is_some() {
            return Err(format!("token {id} was already created"));
        }
        Ok(None)
    }

    fn token_revoked(&mut self, data: &Value) -> Result<Option<Effect>, String> {
        let id = int(data, "token_id").ok_or("no token id")?;
        let token = self.tokens.get_mut(&id).ok_or("unknown token")?;
        token.revoked = true;
        Ok(None)
    }

    fn grant(&mut self, e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        let id = int(data, "grant_id").ok_or("no grant id")?;
        let structure_id = e.structure_id.ok_or("no structure")?;
        let resource = text(data, "resource").ok_or("no resource")?;
        let amount = int(data, "amount").ok_or("no amount")?;
        let facts = GrantFacts {
            structure_id,
            operator_id: operator_of(data),
            resource,
            amount,
        };
        self.grants.insert(id, facts);
        Ok(None)
    }

    pub(super) fn totals(
        &mut self,
        structure_id: i64,
        operator_id: i64,
        resource: &str,
    ) -> &mut Totals {
        self.totals
            .entry((structure_id, operator_id, resource.to_owned()))
            .or_default()
    }

    fn credit(&mut self, e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        let structure_id = e.structure_id.ok_or("no structure")?;
        let resource = text(data, "resource").ok_or("no resource")?;
        let amount = int(data, "amount").filter(|a| *a > 0).ok_or("no amount")?;
        let bucket_id = int(data, "bucket_id").ok_or("no bucket")?;
        let grant_id = int(data, "grant_id").ok_or("no grant")?;
        let operator_id = operator_of(data);
        if self
            .grants
            .get(&grant_id)
            .is_some_and(|g| g.operator_id != operator_id)
        {
            return Err(format!("credit of grant {grant_id} on another network"));
        }
        self.buckets.insert(
            bucket_id,
            BucketFacts {
                grant_id: Some(grant_id),
                transfer_id: None,
                structure_id,
                operator_id,
                resource: resource.clone(),
                amount,
                lapsed: false,
            },
        );
        self.totals(structure_id, operator_id, &resource).granted += amount;
        Ok(Some(Effect {
            structure_id,
            operator_id,
            resource,
            granted: amount,
            ..Effect::default()
        }))
    }

    fn lapse(&mut self, e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        let structure_id = e.structure_id.ok_or("no structure")?;
        let resource = text(data, "resource").ok_or("no resource")?;
        let amount = int(data, "amount").filter(|a| *a >= 0).ok_or("no amount")?;
        let operator_id = operator_of(data);
        if let Some(bucket) = int(data, "bucket_id").and_then(|b| self.buckets.get_mut(&b)) {
            bucket.lapsed = true;
        }
        self.totals(structure_id, operator_id, &resource).lapsed += amount;
        Ok(Some(Effect {
            structure_id,
            operator_id,
            resource,
            lapsed: amount,
            ..Effect::default()
        }))
    }

    fn issue(&mut self, e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        let id = e.voucher_id.ok_or("no voucher")?;
        let structure_id = e.structure_id.ok_or("no structure")?;
        let product = text(data, "product").ok_or("no product")?;
        let operator_id = operator_of(data);
        if self.network_of(&product).is_some_and(|n| n != operator_id) {
            return Err(format!(
                "issued on another network than product {product}'s"
            ));
        }
        let facts = VoucherFacts {
            structure_id,
            operator_id,
            serial: text(data, "serial").ok_or("no serial")?,
            product,
            resource: text(data, "resource").ok_or("no resource")?,
            amount: int(data, "amount").filter(|a| *a > 0).ok_or("no amount")?,
            issued_at: e.at,
            expires_at: int(data, "expires_at").ok_or("no expiry")?,
            issue_entry_id: int(data, "issue_entry_id").ok_or("no issue entry")?,
            state: VoucherState::Issued,
        };
        if self.vouchers.contains_key(&id) {
            return Err(format!("voucher {id} was already issued"));
        }
        let effect = Effect {
            structure_id,
            operator_id,
            resource: facts.resource.clone(),
            issued: facts.amount,
            ..Effect::default()
        };
        self.totals(structure_id, operator_id, &facts.resource)
            .issued += facts.amount;
        self.vouchers.insert(id, facts);
        Ok(Some(effect))
    }

    /// Moves a voucher along the lifecycle's transition table.
    fn transition(&mut self, e: &EventRow, t: Transition) -> Result<VoucherFacts, String> {
        let id = e.voucher_id.ok_or("no voucher")?;
        let v = self
            .vouchers
            .get_mut(&id)
            .ok_or(format!("voucher {id} was never issued"))?;
        if e.structure_id != Some(v.structure_id) {
            return Err(format!("voucher {id} belongs to another structure"));
        }
        v.state = lifecycle::next(v.state, t)
            .map_err(|from| format!("voucher {id} is {} here", from.as_str()))?;
        Ok(v.clone())
    }

    fn give_back(&mut self, e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        let expiry = e.kind == "expire";
        let t = if expiry {
            Transition::Expire
        } else {
            Transition::Void
        };
        let v = self.transition(e, t)?;
        let lapsed = int(data, "lapsed").unwrap_or(0);
        let totals = self.totals(v.structure_id, v.operator_id, &v.resource);
        totals.returned += v.amount;
        totals.lapsed += lapsed;
        let mut effect = Effect {
            structure_id: v.structure_id,
            operator_id: v.operator_id,
            resource: v.resource,
            lapsed,
            ..Effect::default()
        };
        if expiry {
            effect.expired = v.amount;
        } else {
            effect.voided = v.amount;
        }
        Ok(Some(effect))
    }

    fn redemption(&mut self, e: &EventRow, data: &Value) -> Result<Option<Effect>, String> {
        use RedemptionState as R;
        let id = int(data, "redemption_id").ok_or("no redemption id")?;
        let (t, from, to) = match e.kind.as_str() {
            "redeem" => (Transition::Redeem, None, R::Confirmed),
            "reserve" => (Transition::Reserve, None, R::Reserved),
            "confirm" => (Transition::Confirm, Some(R::Reserved), R::Confirmed),
            "cancel" => (Transition::Cancel, Some(R::Reserved), R::Cancelled),
            "hold_timeout" => (Transition::HoldTimeout, Some(R::Reserved), R::TimedOut),
            _ => (Transition::Reverse, Some(R::Confirmed), R::Reversed),
        };
        match (from, self.redemptions.get(&id)) {
            (None, Some(_)) => return Err(format!("redemption {id} already exists")),
            (Some(_), None) => return Err(format!("redemption {id} does not exist")),
            (Some(from), Some(r)) if r.state != from || Some(r.voucher_id) != e.voucher_id => {
                return Err(format!("redemption {id} is {} here", r.state.as_str()));
            }
            _ => {}
        }
        let earlier = self.redemptions.get(&id);
        let operator_id = earlier.map_or_else(|| self.redeemer(e, data), |r| r.operator_id);
        let network = e
            .voucher_id
            .and_then(|v| self.vouchers.get(&v))
            .map(|v| v.operator_id);
        if network.is_some_and(|n| n != operator_id) {
            return Err(format!("redemption {id} by another network"));
        }
        let v = self.transition(e, t)?;
        let voucher_id = e.voucher_id.unwrap_or_default();
        let earlier = self.redemptions.get(&id);
        let redeemed_at = match e.kind.as_str() {
            "redeem" | "confirm" => Some(e.at),
            _ => earlier.and_then(|r| r.redeemed_at),
        };
        let facts = RedemptionFacts {
            voucher_id,
            actor: earlier.map_or_else(|| e.actor.clone(), |r| r.actor.clone()),
            operator_id,
            state: to,
            created_at: earlier.map_or(e.at, |r| r.created_at),
            redeemed_at,
        };
        self.redemptions.insert(id, facts);
        let mut effect = Effect {
            structure_id: v.structure_id,
            operator_id: v.operator_id,
            resource: v.resource,
            ..Effect::default()
        };
        match e.kind.as_str() {
            "redeem" | "confirm" => effect.redeemed = v.amount,
            "reverse" => effect.reversed = v.amount,
            _ => {}
        }
        Ok(Some(effect))
    }

    /// The network a new redemption is for: as its event names it, or, for
    /// an event written before networks existed, its token's operator.
    fn redeemer(&self, e: &EventRow, data: &Value) -> i64 {
        int(data, "operator_id").unwrap_or_else(|| {
            e.actor
                .strip_prefix("operator:")
                .and_then(|t| t.parse::<i64>().ok())
                .and_then(|t| self.tokens.get(&t))
                .and_then(|t| t.operator_id)
                .unwrap_or(FIRST_OPERATOR_ID)
        })
    }
}
