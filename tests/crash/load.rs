//! The clients: mixed requests while the server runs, the retries once it
//! is back, and the checks of what the database then holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::common::{Answer, cli};
use crate::model::{Model, Op, Rng};
use crate::serve::Serve;

/// Attempts per unanswered request once the server is back.
const RETRY_ATTEMPTS: usize = 100;

#[derive(Clone)]
pub struct Shared {
    model: Arc<Mutex<Model>>,
    running: Arc<AtomicBool>,
}

/// Sends `op`; `None` when no answer came back (the server died).
async fn send(client: &reqwest::Client, base: &str, model: &Model, op: &Op) -> Option<Answer> {
    let (token, path, body, key) = match op {
        Op::Issue { key, count } => (
            &model.structure,
            "/v1/vouchers".to_owned(),
            json!({ "product": "data-1gb", "count": count }),
            Some(key),
        ),
        Op::Redeem {
            key,
            code,
            msisdn,
            reserve,
            ..
        } => (
            &model.operator,
            "/v1/redemptions".to_owned(),
            json!({ "code": code, "msisdn": msisdn, "mode": if *reserve { "reserve" } else { "redeem" } }),
            Some(key),
        ),
        Op::Confirm { id, .. } => (
            &model.operator,
            format!("/v1/redemptions/{id}/confirm"),
            json!({}),
            None,
        ),
        Op::Void { serial } => (
            &model.structure,
            format!("/v1/vouchers/{serial}/void"),
            json!({}),
            None,
        ),
    };
    let mut request = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.ok()?;
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.ok()?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Some(Answer {
        status,
        headers,
        body,
        text,
    })
}

impl Shared {
    pub fn new(model: Model) -> Self {
        Self {
            model: Arc::new(Mutex::new(model)),
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Starts `clients` client tasks on `base`, until [`Self::stop_load`].
    pub fn start_load(&self, base: &str, clients: usize, seed: u64) -> Vec<JoinHandle<usize>> {
        self.running.store(true, Ordering::SeqCst);
        (0..clients as u64)
            .map(|w| {
                let (shared, base) = (self.clone(), base.to_owned());
                let rng = Rng((seed ^ (w + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
                tokio::spawn(async move { shared.work(&base, rng).await })
            })
            .collect()
    }

    pub fn stop_load(&self) {
        self.running.store(false, Ordering::SeqCst);
    }

    pub fn failures(&self) -> HashMap<String, usize> {
        self.model().failures.clone()
    }

    fn model(&self) -> std::sync::MutexGuard<'_, Model> {
        // A finding panics with the lock held: the others still get to report.
        self.model
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next requests of one client: usually one, sometimes the same
    /// code from three clients at once.
    fn plan(&self, rng: &mut Rng) -> Vec<Op> {
        let mut m = self.model();
        if !m.to_confirm.is_empty() && rng.below(2) == 0 {
            let i = rng.below(m.to_confirm.len() as u64) as usize;
            return vec![m.to_confirm.swap_remove(i)];
        }
        let roll = rng.below(100);
        if (35..90).contains(&roll) && !m.redeemable.is_empty() {
            let i = rng.below(m.redeemable.len() as u64) as usize;
            let (serial, code) = m.redeemable.swap_remove(i);
            // One in four codes stays on offer: another client will try it.
            if rng.below(4) == 0 {
                m.redeemable.push((serial.clone(), code.clone()));
            }
            let clients = if roll >= 80 { 3 } else { 1 };
            let reserve = (65..80).contains(&roll);
            return (0..clients)
                .map(|_| Op::Redeem {
                    key: m.fresh("crash-redeem"),
                    serial: serial.clone(),
                    code: code.clone(),
                    msisdn: format!("+336{:08}", m.counter % 100_000_000),
                    reserve,
                })
                .collect();
        }
        if roll >= 90 && !m.voidable.is_empty() {
            let i = rng.below(m.voidable.len() as u64) as usize;
            return vec![Op::Void {
                serial: m.voidable.swap_remove(i),
            }];
        }
        vec![Op::Issue {
            key: m.fresh("crash-issue"),
            count: 1 + rng.below(5) as i64,
        }]
    }

    /// One client's loop until the load stops; returns its request count.
    async fn work(&self, base: &str, mut rng: Rng) -> usize {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut sent = 0;
        while self.running.load(Ordering::SeqCst) {
            let ops = self.plan(&mut rng);
            sent += ops.len();
            let answers = {
                let snapshot = self.tokens();
                join_all(ops.iter().map(|op| send(&client, base, &snapshot, op))).await
            };
            let mut m = self.model();
            for (op, answer) in ops.into_iter().zip(answers) {
                m.learn(op, answer, false);
            }
        }
        sent
    }

    /// The tokens, without holding the lock across a request.
    fn tokens(&self) -> Model {
        let m = self.model();
        Model::new(m.structure.clone(), m.operator.clone(), m.granted_mb)
    }

    /// Sends every unanswered request again until it is answered; returns
    /// how many there were.
    pub async fn retry_pending(&self, serve: &Serve) -> usize {
        let tokens = self.tokens();
        let mut pending = std::mem::take(&mut self.model().pending);
        let count = pending.len();
        for _ in 0..RETRY_ATTEMPTS {
            if pending.is_empty() {
                return count;
            }
            for op in std::mem::take(&mut pending) {
                let answer = send(&serve.client, &serve.base, &tokens, &op).await;
                self.model().learn(op, answer, true);
            }
            pending = std::mem::take(&mut self.model().pending);
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("still unanswered after {RETRY_ATTEMPTS} attempts: {pending:?}");
    }

    /// Compares the database with the model; returns the vouchers checked.
    pub async fn check(&self, serve: &Serve, url: &str, dir: &std::path::Path) -> usize {
        let tokens = self.tokens();
        let stored = stored_states(serve, &tokens.structure).await;
        let statement = statement(serve, &tokens.operator).await;
        let balance = serve.get(&tokens.structure, "/v1/balance").await;
        assert_eq!(balance.status, 200, "{balance:?}");
        self.check_replays(serve).await;
        let m = self.model();
        let mut findings = m.state_findings(&stored);
        let mut seen = HashMap::new();
        for (id, serial) in &statement {
            if let Some(other) = seen.insert(serial.clone(), *id) {
                findings.push(format!(
                    "{serial} redeemed twice: redemptions {other} and {id}"
                ));
            }
            if m.redeemed.get(serial) != Some(id) {
                findings.push(format!(
                    "redemption {id} of {serial} was never answered as such"
                ));
            }
        }
        if statement.len() != m.redeemed.len() {
            findings.push(format!(
                "{} redemptions stored, {} answered",
                statement.len(),
                m.redeemed.len()
            ));
        }
        let data = balance.body["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["resource"] == "data_mb")
            .unwrap();
        let (issued, returned) = m.expected_balance();
        let books = (
            data["granted"].as_i64(),
            data["issued"].as_i64(),
            data["returned"].as_i64(),
            data["available"].as_i64(),
        );
        let answered = (
            Some(m.granted_mb),
            Some(issued),
            Some(returned),
            Some(m.granted_mb - issued + returned),
        );
        if books != answered {
            findings.push(format!("balance {books:?}, answers say {answered:?}"));
        }
        let verify = cli(url, &dir.join("crash.keys"), &["audit", "verify"]);
        if !verify.ok() {
            findings.push(format!("audit verify: {}{}", verify.stdout, verify.stderr));
        }
        assert!(
            findings.is_empty(),
            "{} findings (log in {}): {findings:#?}",
            findings.len(),
            dir.display()
        );
        stored.len()
    }

    /// A few answered issues, sent again with their keys: the same codes.
    async fn check_replays(&self, serve: &Serve) {
        let (tokens, sample): (Model, Vec<(String, Vec<String>)>) = {
            let m = self.model();
            let sample = m
                .issued_by_key
                .iter()
                .take(5)
                .map(|(k, s)| (k.clone(), s.clone()))
                .collect();
            (
                Model::new(m.structure.clone(), m.operator.clone(), 0),
                sample,
            )
        };
        for (key, serials) in sample {
            let count = serials.len() as i64;
            let answer = send(
                &serve.client,
                &serve.base,
                &tokens,
                &Op::Issue {
                    key: key.clone(),
                    count,
                },
            )
            .await
            .unwrap();
            assert_eq!(answer.status, 201, "replay of {key}: {answer:?}");
            let again: Vec<&str> = answer.body["vouchers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["serial"].as_str().unwrap())
                .collect();
            assert_eq!(again, serials, "replay of {key} gave other codes");
        }
    }
}

/// Waits for the clients; returns how many requests they sent.
pub async fn requests_sent(clients: Vec<JoinHandle<usize>>) -> usize {
    let mut sent = 0;
    for client in clients {
        sent += client.await.unwrap();
    }
    sent
}

/// Every voucher of the structure: serial → state.
async fn stored_states(serve: &Serve, token: &str) -> HashMap<String, String> {
    let mut states = HashMap::new();
    let mut cursor = String::new();
    loop {
        let page = serve
            .get(token, &format!("/v1/vouchers?limit=500{cursor}"))
            .await;
        assert_eq!(page.status, 200, "{page:?}");
        for v in page.body["vouchers"].as_array().unwrap() {
            states.insert(
                v["serial"].as_str().unwrap().to_owned(),
                v["state"].as_str().unwrap().to_owned(),
            );
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return states,
        }
    }
}

/// The operator's statement since the epoch: (redemption id, serial).
async fn statement(serve: &Serve, token: &str) -> Vec<(i64, String)> {
    let mut lines = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!(
            "/v1/redemptions?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&limit=500{cursor}"
        );
        let page = serve.get(token, &path).await;
        assert_eq!(page.status, 200, "{page:?}");
        for r in page.body["redemptions"].as_array().unwrap() {
            lines.push((
                r["id"].as_i64().unwrap(),
                r["serial"].as_str().unwrap().to_owned(),
            ));
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return lines,
        }
    }
}
