//! Test harness: the real server on port 0, with a database of its own
//! (a fresh SQLite file, or a fresh PostgreSQL database), driven over HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Shared by several test crates.

pub mod binary;
pub mod chromium;
pub mod desk;
pub mod forms;
pub mod visit;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::join_all;
use relay_topup::clock::{Clock, ManualClock, SystemClock};
use relay_topup::config::Limits;
use relay_topup::server::{self, Running, ServerConfig};
use relay_topup::storage::PoolSettings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `both!(name)` turns
/// `async fn name(db: Db)` into `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Db::Postgres).await
            }
        }
    };
}

const POSTGRES_URL_VAR: &str = "RELAY_TOPUP_TEST_POSTGRES_URL";
const REQUIRE_POSTGRES_VAR: &str = "RELAY_TOPUP_REQUIRE_POSTGRES";

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "rt_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where `scripts/test` asks skipped tests to say so: a test that returns
/// early passes as far as cargo is concerned, and must not be counted as
/// passed.
const SKIP_LOG_VAR: &str = "RELAY_TOPUP_SKIP_LOG";

/// Says that the running test skips its body (`kind`: what it lacks), on
/// standard error and in the skip log when there is one. The test harness
/// names each test's thread after the test.
pub fn note_skipped(kind: &str, why: &str) {
    eprintln!("skipped: {why}");
    if let Ok(path) = std::env::var(SKIP_LOG_VAR) {
        use std::io::Write;
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(log, "{kind} {name}").unwrap();
    }
}

/// A fresh PostgreSQL database on the test cluster, or `None` (skipped) when
/// no cluster is configured, unless PostgreSQL is required.
pub async fn fresh_postgres_url() -> Option<String> {
    let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
        if std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|v| v == "1") {
            panic!("{REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set");
        }
        note_skipped(
            "postgres",
            &format!("PostgreSQL test (set {POSTGRES_URL_VAR} or run scripts/test)"),
        );
        return None;
    };
    let name = unique_name();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .unwrap();
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

/// A database URL of the given kind in `dir`, or `None` if skipped.
pub async fn database_url(db: Db, dir: &std::path::Path) -> Option<String> {
    match db {
        Db::Sqlite => Some(format!(
            "sqlite://{}?mode=rwc",
            dir.join("test.sqlite").display()
        )),
        Db::Postgres => fresh_postgres_url().await,
    }
}

/// Limits for tests: the defaults, with issuing rate limits out of the way
/// unless a test sets them.
pub fn test_limits() -> Limits {
    let mut limits = Limits {
        issue_rate_codes_per_hour: 10_000_000,
        issue_burst_codes: 1_000_000,
        ..Limits::default()
    };
    // Every test signs people in from 127.0.0.1.
    limits.desk.desk_sign_in_attempts_per_min = 10_000;
    // Every test client connects from 127.0.0.1 too, hundreds at once in
    // the bursts: the per-address cap is tests/connection_fairness.rs's.
    limits.max_connections_per_address = limits.max_client_connections;
    limits
}

/// Limits with the operator's rate limits out of the way, for tests that
/// send many requests from one operator and one line.
pub fn busy_limits() -> Limits {
    Limits {
        operator_rate_per_sec: 1_000_000,
        operator_burst: 1_000_000,
        typos_per_min: 1_000_000,
        // Every request comes from one line: barring it is
        // tests/line_barring.rs's business.
        line_failures: 1_000_000_000,
        ..test_limits()
    }
}

/// The password test accounts choose.
pub const PERSON_PASSWORD: &str = "cheval agrafe pile batterie";

/// A person's activated account.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: i64,
    pub login: String,
    pub password: String,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin: String,
    pub running: Option<Running>,
    pub clock: Option<ManualClock>,
    pub db: Db,
    pub database_url: String,
    pub dir: tempfile::TempDir,
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// The problem `code`, if this is a problem document.
    pub fn code(&self) -> Option<&str> {
        self.body.get("code").and_then(Value::as_str)
    }

    pub fn is_problem(&self) -> bool {
        self.headers
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("application/problem+json"))
    }
}

impl TestApp {
    pub async fn spawn(db: Db) -> Option<Self> {
        Self::spawn_with(db, test_limits(), None).await
    }

    /// Spawns with limits and, optionally, a manual clock.
    pub async fn spawn_with(db: Db, limits: Limits, clock: Option<ManualClock>) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let database_url = database_url(db, dir.path()).await?;
        Some(Self::spawn_at(db, dir, database_url, limits, clock).await)
    }

    /// Spawns on a database that may already hold data, with the key file
    /// `test.keys` in `dir`. A database that has an admin token gets one
    /// more, made with the command line.
    pub async fn spawn_at(
        db: Db,
        dir: tempfile::TempDir,
        database_url: String,
        limits: Limits,
        clock: Option<ManualClock>,
    ) -> Self {
        // Logs only when asked for, e.g. RUST_LOG=relay_topup=debug.
        if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let app_clock: Arc<dyn Clock> = match &clock {
            Some(c) => Arc::new(c.clone()),
            None => Arc::new(SystemClock),
        };
        let key_file = dir.path().join("test.keys");
        let config = ServerConfig {
            database_url: database_url.clone(),
            key_file: key_file.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            limits,
            pool: PoolSettings {
                max_connections: 8,
                ..PoolSettings::default()
            },
            clock: app_clock,
            demo: false,
        };
        let running = server::start(config).await.unwrap();
        let admin = match running.first_start.admin_token.clone() {
            Some(token) => token,
            None => {
                let run = cli(&database_url, &key_file, &["token", "create", "admin"]);
                assert!(run.ok(), "{}", run.stderr);
                run.last_line().to_owned()
            }
        };
        Self {
            base: format!("http://{}", running.addr),
            client: reqwest::Client::new(),
            admin,
            running: Some(running),
            clock,
            db,
            database_url,
            dir,
        }
    }

    /// A second server process on the same database and key file, as a
    /// deployment behind a load balancer runs them, with its own clock
    /// reading the same manual time if this app has one.
    pub async fn second_server(&self, limits: Limits) -> Running {
        let clock: Arc<dyn Clock> = match &self.clock {
            Some(c) => Arc::new(c.clone()),
            None => Arc::new(SystemClock),
        };
        server::start(ServerConfig {
            database_url: self.database_url.clone(),
            key_file: self.dir.path().join("test.keys"),
            listen: "127.0.0.1:0".parse().unwrap(),
            limits,
            pool: PoolSettings::default(),
            clock,
            demo: false,
        })
        .await
        .unwrap()
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.request_with(method, path, token, body, &[]).await
    }

    pub async fn request_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    /// Creates a structure and returns its id.
    pub async fn structure(&self, name: &str) -> i64 {
        let a = self
            .post("/v1/structures", &self.admin, json!({ "name": name }))
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
        a.body["id"].as_i64().unwrap()
    }

    pub async fn grant(&self, structure_id: i64, resource: &str, amount: i64) {
        let a = self
            .post(
                &format!("/v1/structures/{structure_id}/grants"),
                &self.admin,
                json!({ "operator_id": FIRST_NETWORK, "resource": resource, "amount": amount }),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    }

    /// Creates an account through the API with `token` (an admin token
    /// for any role, a structure token for its own staff), under a login
    /// no other test account has.
    pub async fn create_account(
        &self,
        token: &str,
        role: &str,
        structure_id: Option<i64>,
    ) -> Answer {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let login = format!(
            "{}.{}",
            role.replace('_', "-"),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut body = json!({ "role": role, "login": login, "display_name": "Amina B." });
        if let Some(id) = structure_id {
            body["structure_id"] = json!(id);
        }
        self.post("/v1/accounts", token, body).await
    }

    /// Chooses `password` with activation `code` at the desk, as a person
    /// would; answers the page (a redirect to the sign-in page when done).
    pub async fn activate(&self, code: &str, password: &str) -> desk::Page {
        let mut browser = desk::Browser::new(self);
        let form = browser.get("/desk/activate").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.text);
        let csrf = form.field("csrf");
        let fields = [
            ("csrf", csrf.as_str()),
            ("code", code),
            ("password", password),
            ("confirm", password),
        ];
        browser.post("/desk/activate", &fields).await
    }

    /// An activated account of `role`, made with `token`.
    pub async fn person(&self, token: &str, role: &str, structure_id: Option<i64>) -> Person {
        let a = self.create_account(token, role, structure_id).await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
        let password = PERSON_PASSWORD.to_owned();
        let page = self
            .activate(a.body["activation_code"].as_str().unwrap(), &password)
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
        Person {
            id: a.body["id"].as_i64().unwrap(),
            login: a.body["login"].as_str().unwrap().to_owned(),
            password,
        }
    }

    /// Creates a token of `role` and returns its secret.
    pub async fn token(&self, role: &str, structure_id: Option<i64>) -> String {
        let a = self
            .post("/v1/tokens", &self.admin, token_body(role, structure_id))
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
        a.body["token"].as_str().unwrap().to_owned()
    }

    /// An operator token of network `operator_id`.
    pub async fn network_token(&self, operator_id: i64) -> String {
        let body = json!({ "role": "operator", "operator_id": operator_id });
        let a = self.post("/v1/tokens", &self.admin, body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
        a.body["token"].as_str().unwrap().to_owned()
    }

    /// A structure with `data_mb` quota and a token for it.
    pub async fn funded_structure(&self, name: &str, data_mb: i64) -> (i64, String) {
        let id = self.structure(name).await;
        if data_mb > 0 {
            self.grant(id, "data_mb", data_mb).await;
        }
        let token = self.token("structure", Some(id)).await;
        (id, token)
    }

    /// Issues `count` codes of `product` and returns the answer.
    pub async fn issue(&self, token: &str, product: &str, count: i64) -> Answer {
        self.post(
            "/v1/vouchers",
            token,
            json!({ "product": product, "count": count }),
        )
        .await
    }

    /// Issues `count` codes of `product` (in requests of at most 100, each
    /// of which must succeed) and returns their (serial, code) pairs.
    pub async fn issue_pairs(
        &self,
        token: &str,
        product: &str,
        count: i64,
    ) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut left = count;
        while left > 0 {
            let a = self.issue(token, product, left.min(100)).await;
            assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
            pairs.extend(a.body["vouchers"].as_array().unwrap().iter().map(|v| {
                (
                    v["serial"].as_str().unwrap().to_owned(),
                    v["code"].as_str().unwrap().to_owned(),
                )
            }));
            left -= 100;
        }
        pairs
    }

    /// Issues `count` `data-1gb` codes and returns the codes.
    pub async fn issue_codes(&self, token: &str, count: i64) -> Vec<String> {
        let pairs = self.issue_pairs(token, "data-1gb", count).await;
        pairs.into_iter().map(|(_, code)| code).collect()
    }

    /// Redeems `code` for `msisdn` as the operator behind `token`, and
    /// returns the answer (201 with the redemption, or a problem).
    pub async fn redeem(&self, token: &str, code: &str, msisdn: &str) -> Answer {
        let body = json!({ "code": code, "msisdn": msisdn });
        self.post("/v1/redemptions", token, body).await
    }

    /// The `data_mb` balance of the structure behind `token`.
    pub async fn balance(&self, token: &str, resource: &str) -> Value {
        let a = self.get("/v1/balance", token).await;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        a.body["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["resource"] == resource)
            .cloned()
            .unwrap_or_else(
                || json!({ "available": 0, "granted": 0, "issued": 0, "returned": 0, "lapsed": 0 }),
            )
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.unwrap();
        }
    }
}

/// A test that fails before `stop` still stops its server: it stops
/// accepting and its tasks end, rather than serving until the test binary
/// exits.
impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.shutdown_handle().send(true);
        }
    }
}

/// Every check of `audit verify`, attestations included, over the live
/// database: nothing found.
pub async fn assert_books_clean(app: &TestApp) -> usize {
    let state = &app.running().state;
    let snapshot = state.store.audit_snapshot().await.unwrap();
    let keys = state.keys.get();
    let outcome = relay_topup::audit::verify::verify(
        &snapshot,
        keys.verifying_keys(),
        relay_topup::audit::verify::Scope { attestations: true },
    );
    let findings: Vec<String> = outcome.findings.iter().map(ToString::to_string).collect();
    assert!(findings.is_empty(), "{findings:#?}");
    let seqs: Vec<i64> = {
        let mut s: Vec<i64> = snapshot.events.iter().map(|e| e.seq.unwrap()).collect();
        s.sort_unstable();
        s
    };
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "gap-free"
    );
    snapshot.events.len()
}

pub async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

/// One run of the real binary.
#[derive(Debug)]
pub struct CliRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    pub fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }
}

/// Runs `relay-topup` on a database and key file, with nothing taken from
/// the environment.
pub fn cli(database_url: &str, key_file: &std::path::Path, args: &[&str]) -> CliRun {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relay-topup"))
        .arg("--database-url")
        .arg(database_url)
        .arg("--key-file")
        .arg(key_file)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("RELAY_TOPUP_KEY_FILE")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    CliRun {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Fires 64 concurrent redemptions of each code, from 8 client tasks, at
/// `bases` (one or more servers on the same database), and checks exactly
/// one succeeded per code and nothing failed.
pub async fn race_codes(
    client: &reqwest::Client,
    bases: &[String],
    operator: &str,
    codes: &[String],
) {
    const PER_CODE: usize = 64;
    const CLIENTS: usize = 8;
    let work: Vec<(usize, String)> = codes
        .iter()
        .enumerate()
        .flat_map(|(i, c)| std::iter::repeat_n((i, c.clone()), PER_CODE))
        .collect();
    let work = Arc::new(work);
    let tasks = (0..CLIENTS).map(|client_no| {
        let (client, work, bases, operator) = (
            client.clone(),
            Arc::clone(&work),
            bases.to_vec(),
            operator.to_owned(),
        );
        tokio::spawn(async move {
            let mine: Vec<_> = work
                .iter()
                .skip(client_no)
                .step_by(CLIENTS)
                .cloned()
                .collect();
            let mut results = Vec::new();
            // Each client keeps 8 requests in flight: 64 at once in all.
            for chunk in mine.chunks(8) {
                let sends = chunk.iter().enumerate().map(|(k, (i, code))| {
                    let base = &bases[(client_no + k) % bases.len()];
                    let req = client
                        .post(format!("{base}/v1/redemptions"))
                        .bearer_auth(&operator)
                        .json(&json!({ "code": code, "msisdn": "+33612345678" }));
                    async move { (*i, read(req.send().await.unwrap()).await) }
                });
                results.extend(join_all(sends).await);
            }
            results
        })
    });
    let mut wins: HashMap<usize, usize> = HashMap::new();
    for task in join_all(tasks).await {
        for (i, a) in task.unwrap() {
            match a.status {
                StatusCode::CREATED => *wins.entry(i).or_default() += 1,
                StatusCode::CONFLICT => {
                    assert!(
                        matches!(a.code(), Some("already_redeemed" | "reserved")),
                        "{a:?}"
                    )
                }
                other => panic!("unexpected {other}: {a:?}"),
            }
        }
    }
    for i in 0..codes.len() {
        assert_eq!(
            wins.get(&i),
            Some(&1),
            "code {i} redeemed {:?} times",
            wins.get(&i)
        );
    }
}

/// The first seeded network (`SFR`): the catalogue's short ids (`data-1gb`)
/// are its products.
pub const FIRST_NETWORK: i64 = 1;
/// The second seeded network (`Orange`), whose products are `orange-…`.
pub const SECOND_NETWORK: i64 = 2;

/// The body that creates a token of `role`: an operator token is the first
/// network's.
pub fn token_body(role: &str, structure_id: Option<i64>) -> serde_json::Value {
    if role == "operator" {
        json!({ "role": role, "structure_id": structure_id, "operator_id": FIRST_NETWORK })
    } else {
        json!({ "role": role, "structure_id": structure_id })
    }
}

/// The server's `/metrics`, as text.
pub async fn metrics_text(app: &TestApp) -> String {
    app.client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of `metric` on the server's `/metrics`.
pub async fn metric(app: &TestApp, metric: &str) -> u64 {
    let text = metrics_text(app).await;
    text.lines()
        .find_map(|l| l.strip_prefix(metric)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {metric} in {text}"))
}
