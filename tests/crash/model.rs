//! What the clients were told, and what the database must therefore hold.
//! Every answer is learnt here; an answer that no correct server could give
//! (a second redemption of one code, a state that skips its request) is a
//! finding at once, and [`Model::state_findings`] compares the database
//! with everything learnt.

use std::collections::{HashMap, HashSet};

use crate::common::Answer;

/// One request a client sends, kept as it was sent so that it can be sent
/// again, byte for byte, after a crash.
#[derive(Clone, Debug)]
pub enum Op {
    Issue {
        key: String,
        count: i64,
    },
    Redeem {
        key: String,
        serial: String,
        code: String,
        msisdn: String,
        reserve: bool,
    },
    Confirm {
        id: i64,
        serial: String,
    },
    Void {
        serial: String,
    },
}

/// A tiny xorshift generator: the run is replayable from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub fn time_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (nanos as u64) | 1
}

#[derive(Default)]
pub struct Model {
    pub structure: String,
    pub operator: String,
    pub granted_mb: i64,
    /// Every voucher an answer handed out: serial → (code, amount in MB).
    pub vouchers: HashMap<String, (String, i64)>,
    /// Codes a redemption may still be tried on, and serials kept for voids
    /// (apart, so that a void never meets a redemption of its own code).
    pub redeemable: Vec<(String, String)>,
    pub voidable: Vec<String>,
    /// Serial → the redemption id that was answered as redeemed.
    pub redeemed: HashMap<String, i64>,
    /// Serial → the reservation answered and not yet confirmed.
    pub reserved: HashMap<String, i64>,
    pub voided: HashSet<String>,
    /// Reservations waiting for their confirmation.
    pub to_confirm: Vec<Op>,
    /// Answered issues: key → serials, sent again later to check replay.
    pub issued_by_key: HashMap<String, Vec<String>>,
    /// Requests that met the crash (or a 5xx) and must be sent again.
    pub pending: Vec<Op>,
    pub counter: u64,
    /// Server-side failures answered (5xx), by problem code: retried like
    /// unanswered requests, and reported.
    pub failures: HashMap<String, usize>,
}

impl Model {
    pub fn new(structure: String, operator: String, granted_mb: i64) -> Self {
        Self {
            structure,
            operator,
            granted_mb,
            ..Self::default()
        }
    }

    pub fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{}", self.counter)
    }

    pub fn learn_voucher(&mut self, serial: &str, code: &str, amount_mb: i64) {
        let earlier = self
            .vouchers
            .insert(serial.to_owned(), (code.to_owned(), amount_mb));
        assert!(earlier.is_none(), "serial {serial} handed out twice");
        if self.vouchers.len().is_multiple_of(5) {
            self.voidable.push(serial.to_owned());
        } else {
            self.redeemable.push((serial.to_owned(), code.to_owned()));
        }
    }

    /// Learns `answer` to `op`; `None` (no answer at all) or a 5xx keeps
    /// the request pending. `retry` is true when `op` met a crash before.
    pub fn learn(&mut self, op: Op, answer: Option<Answer>, retry: bool) {
        let Some(a) = answer else {
            self.pending.push(op);
            return;
        };
        if a.status.as_u16() >= 500 {
            let code = a.code().unwrap_or("(no problem code)");
            let retry = if a.headers.contains_key("retry-after") {
                "with"
            } else {
                "without"
            };
            let failure = format!("{} {code} {retry} Retry-After", a.status.as_u16());
            *self.failures.entry(failure).or_default() += 1;
            self.pending.push(op);
            return;
        }
        let refused = |what: &str| panic!("{what} {op:?} (retry: {retry}) answered {a:?}");
        match &op {
            Op::Issue { key, .. } => match a.status.as_u16() {
                201 => {
                    let mut serials = Vec::new();
                    for v in a.body["vouchers"].as_array().unwrap() {
                        let serial = v["serial"].as_str().unwrap();
                        self.learn_voucher(
                            serial,
                            v["code"].as_str().unwrap(),
                            v["amount"].as_i64().unwrap(),
                        );
                        serials.push(serial.to_owned());
                    }
                    self.issued_by_key.insert(key.clone(), serials);
                }
                409 if a.code() == Some("idempotency_in_progress") => self.pending.push(op),
                _ => refused("issue"),
            },
            Op::Redeem {
                serial, reserve, ..
            } => match a.status.as_u16() {
                201 => {
                    let id = a.body["id"].as_i64().unwrap();
                    assert_eq!(a.body["serial"], serial.as_str(), "{a:?}");
                    if *reserve {
                        self.note_reserved(serial, id);
                    } else {
                        self.note_redeemed(serial, id);
                    }
                }
                409 if a.code() == Some("idempotency_in_progress") => self.pending.push(op),
                409 if matches!(a.code(), Some("already_redeemed" | "reserved")) => {}
                _ => refused("redemption"),
            },
            Op::Confirm { id, serial } => match (a.status.as_u16(), a.code()) {
                (200, _) => self.note_redeemed(serial, *id),
                // Confirmed before the crash, so confirmed already.
                (409, Some("already_redeemed")) if retry => self.note_redeemed(serial, *id),
                _ => refused("confirmation"),
            },
            Op::Void { serial } => match (a.status.as_u16(), a.code()) {
                (200, _) => _ = self.voided.insert(serial.clone()),
                // Nobody else voids this code: the request before the crash did.
                (410, Some("voided")) if retry => _ = self.voided.insert(serial.clone()),
                _ => refused("void"),
            },
        }
    }

    fn note_reserved(&mut self, serial: &str, id: i64) {
        assert!(
            !self.redeemed.contains_key(serial),
            "{serial} reserved after its redemption"
        );
        let earlier = self.reserved.insert(serial.to_owned(), id);
        assert!(
            earlier.is_none(),
            "{serial} reserved twice: {earlier:?} and {id}"
        );
        self.to_confirm.push(Op::Confirm {
            id,
            serial: serial.to_owned(),
        });
    }

    fn note_redeemed(&mut self, serial: &str, id: i64) {
        if let Some(held) = self.reserved.remove(serial) {
            assert_eq!(held, id, "{serial} confirmed under another redemption");
        }
        let earlier = self.redeemed.insert(serial.to_owned(), id);
        assert!(
            earlier.is_none_or(|e| e == id),
            "{serial} redeemed twice: redemptions {earlier:?} and {id}"
        );
    }

    /// The state each voucher must have, from what was answered.
    fn expected(&self, serial: &str) -> &'static str {
        if self.voided.contains(serial) {
            "voided"
        } else if self.redeemed.contains_key(serial) {
            "redeemed"
        } else if self.reserved.contains_key(serial) {
            "reserved"
        } else {
            "issued"
        }
    }

    /// Differences between the database's vouchers (serial → state) and
    /// the model: missing, unknown, or in another state.
    pub fn state_findings(&self, stored: &HashMap<String, String>) -> Vec<String> {
        let mut findings = Vec::new();
        for serial in self.vouchers.keys() {
            match stored.get(serial) {
                None => findings.push(format!("{serial} was answered as issued but is missing")),
                Some(state) if state != self.expected(serial) => findings.push(format!(
                    "{serial} is {state}, answers say {}",
                    self.expected(serial)
                )),
                Some(_) => {}
            }
        }
        for serial in stored.keys().filter(|s| !self.vouchers.contains_key(*s)) {
            findings.push(format!("{serial} is stored but no answer handed it out"));
        }
        findings
    }

    /// The balance the answers imply: issued and returned (voids), in MB.
    pub fn expected_balance(&self) -> (i64, i64) {
        let issued = self.vouchers.values().map(|(_, mb)| mb).sum();
        let returned = self.voided.iter().map(|s| self.vouchers[s].1).sum();
        (issued, returned)
    }
}

#[test]
fn a_voucher_nobody_was_answered_about_must_be_issued() {
    // The check's own logic can fail: a redeemed voucher that no answer
    // redeemed is a finding, and so is a stored voucher nobody was handed.
    let mut model = Model::new(String::new(), String::new(), 10);
    model.learn_voucher("AAAA-AAAA", "code", 1);
    let stored = |state: &str| HashMap::from([("AAAA-AAAA".to_owned(), state.to_owned())]);
    assert_eq!(model.state_findings(&stored("redeemed")).len(), 1);
    assert!(model.state_findings(&stored("issued")).is_empty());
    let mut extra = stored("issued");
    extra.insert("BBBB-BBBB".into(), "issued".into());
    assert_eq!(model.state_findings(&extra).len(), 1);
}
