//! Load test against the real server: starts `relay-topup serve` (release
//! build) as a child process on a fresh database, sets up a structure with
//! ample quota over the API, then has N concurrent clients issue codes in
//! batches of 100 for a fixed time, and prints throughput and latencies.
//!
//! ```sh
//! cargo bench --bench load                      # issue: SQLite, 10 s, 8 connections
//! LOAD_SECONDS=30 LOAD_CONNECTIONS=16 cargo bench --bench load
//! LOAD_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench load
//! cargo bench --bench load -- redeem            # redemption: raw limit, then 8 and 64 connections
//! LOAD_FORMAT=pin cargo bench --bench load        # the same with numeric PINs (default: code)
//! ```
//!
//! `redeem` first measures the raw limit: the same single redemption
//! transaction in a loop, straight on a database of the same kind through
//! the library (one redemption per commit). Then it redeems over HTTP with
//! 8 and 64 connections and prints both figures and their ratio.
//!
//! With `LOAD_DATABASE_URL` pointing at PostgreSQL, a fresh database is
//! created on that server for the run. The loop is bounded in time and only
//! talks to 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark that cannot set up should stop loudly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
    admin: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `code` or `pin`, from `LOAD_FORMAT`: what is issued and redeemed.
fn load_format() -> String {
    let format = std::env::var("LOAD_FORMAT").unwrap_or_else(|_| "code".into());
    assert!(
        format == "code" || format == "pin",
        "LOAD_FORMAT is code or pin"
    );
    format
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh database for one use (`purpose` keeps the names apart).
async fn database_url(dir: &std::path::Path, purpose: &str) -> String {
    match std::env::var("LOAD_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let name = format!("rt_load_{purpose}_{}", std::process::id());
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            sqlx::Executor::execute(
                &mut conn,
                format!("DROP DATABASE IF EXISTS {name}").as_str(),
            )
            .await
            .unwrap();
            sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            format!("{}/{name}", url.rsplit_once('/').unwrap().0)
        }
        Ok(url) => url,
        Err(_) => format!(
            "sqlite://{}?mode=rwc",
            dir.join(format!("{purpose}.sqlite")).display()
        ),
    }
}

async fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "server").await;
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_relay-topup"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &url])
        .args([
            "--key-file",
            &dir.path().join("load.keys").display().to_string(),
        ])
        .args([
            "--issue-rate-codes-per-hour",
            "4000000000",
            "--issue-burst-codes",
            "1000000",
        ])
        .args([
            "--operator-rate-per-sec",
            "1000000",
            "--operator-burst",
            "1000000",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let admin = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("first admin token (shown once): ")
                .map(str::to_owned)
        })
        .unwrap();
    println!(
        "server: relay-topup serve on 127.0.0.1:{port}, database {}",
        url.split('?').next().unwrap()
    );
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        admin,
        _dir: dir,
    }
}

async fn call(client: &reqwest::Client, base: &str, token: &str, path: &str, body: Value) -> Value {
    let r = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn issue_load(server: &Server, seconds: u64, connections: usize) {
    let client = reqwest::Client::new();
    let base = &server.base;
    // One structure per connection: the per-structure rate limiter and the
    // quota rows are then not a single point of contention.
    let mut tokens = Vec::new();
    for i in 0..connections {
        let s = call(
            &client,
            base,
            &server.admin,
            "/v1/structures",
            json!({ "name": format!("load {i}") }),
        )
        .await;
        let id = s["id"].as_i64().unwrap();
        call(
            &client,
            base,
            &server.admin,
            &format!("/v1/structures/{id}/grants"),
            json!({ "operator_id": 1, "resource": "data_mb", "amount": 1_000_000_000_000i64 }),
        )
        .await;
        let t = call(
            &client,
            base,
            &server.admin,
            "/v1/tokens",
            json!({ "role": "structure", "structure_id": id }),
        )
        .await;
        tokens.push(t["token"].as_str().unwrap().to_owned());
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let client = client.clone();
            let url = format!("{base}/v1/vouchers");
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut codes = 0u64;
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({ "product": "data-1gb", "count": 100, "format": load_format() }))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().as_u16() == 201 => {
                            let _ = r.bytes().await;
                            codes += 100;
                            latencies.push(t0.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (codes, errors, latencies)
            })
        })
        .collect();
    let mut codes = 0;
    let mut errors = 0;
    let mut latencies = Vec::new();
    for t in tasks {
        let (c, e, l) = t.await.unwrap();
        codes += c;
        errors += e;
        latencies.extend(l);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "issue: {connections} connections, {seconds} s, batches of 100: {:.0} codes/s ({} requests, {errors} errors), \
         latency p50 {:.1} ms, p99 {:.1} ms",
        codes as f64 / elapsed,
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    );
}

/// Codes for the redemption runs: issued over the API in batches of 100.
async fn issue_codes(server: &Server, n: usize) -> (Vec<String>, String) {
    let client = reqwest::Client::new();
    let base = &server.base;
    let s = call(
        &client,
        base,
        &server.admin,
        "/v1/structures",
        json!({ "name": "redeem load" }),
    )
    .await;
    let id = s["id"].as_i64().unwrap();
    call(
        &client,
        base,
        &server.admin,
        &format!("/v1/structures/{id}/grants"),
        json!({ "operator_id": 1, "resource": "data_mb", "amount": 1_000_000_000_000i64 }),
    )
    .await;
    let t = call(
        &client,
        base,
        &server.admin,
        "/v1/tokens",
        json!({ "role": "structure", "structure_id": id }),
    )
    .await;
    let token = t["token"].as_str().unwrap().to_owned();
    let mut codes = Vec::with_capacity(n);
    while codes.len() < n {
        let v = call(
            &client,
            base,
            &token,
            "/v1/vouchers",
            json!({ "product": "data-1gb", "count": 100, "format": load_format() }),
        )
        .await;
        codes.extend(
            v["vouchers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["code"].as_str().unwrap().to_owned()),
        );
    }
    let op = call(
        &client,
        base,
        &server.admin,
        "/v1/tokens",
        json!({ "role": "operator", "operator_id": 1 }),
    )
    .await;
    (codes, op["token"].as_str().unwrap().to_owned())
}

/// The raw limit: one redemption per transaction, in a loop, through the
/// library's write path on a fresh database of the same kind.
async fn raw_redemption_limit(seconds: u64) -> f64 {
    use relay_topup::domain::{Principal, Role};
    use relay_topup::storage::{
        IssueRequest, NewGrant, PoolSettings, RedeemInput, RedeemMode, Store, TokenScope, write,
    };
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "raw").await;
    let store = Store::open(&url, &PoolSettings::default()).await.unwrap();
    let keys = relay_topup::code::KeySet::from_material(&relay_topup::keyfile::generate().unwrap())
        .unwrap();
    let now = 1_800_000_000;
    let network = relay_topup::domain::NewOperator {
        name: "bench".into(),
        instructions_fr: None,
        instructions_en: None,
        slip_instructions: None,
    };
    let network = store
        .create_operator("bench", &network, now)
        .await
        .unwrap()
        .id;
    let product = relay_topup::domain::catalogue::seed_catalogue(network, (network, "x")).remove(0);
    store.upsert_product("bench", &product, now).await.unwrap();
    let s = store
        .create_structure("bench", "raw", None, None, now)
        .await
        .unwrap();
    let grant = NewGrant {
        structure_id: s.id,
        operator_id: network,
        resource: "data_mb".into(),
        amount: 1 << 50,
        starts_at: now,
        ends_at: None,
        recurrence: None,
    };
    store.create_grant("bench", &grant, now).await.unwrap();
    let structure_token = store
        .create_token(
            "bench",
            &relay_topup::tokens::hash("bench structure"),
            Role::Structure,
            TokenScope {
                structure_id: Some(s.id),
                operator_id: None,
            },
            None,
            now,
        )
        .await
        .unwrap();
    let principal = Principal::of_token(structure_token, Role::Structure, Some(s.id), None);
    let hash = relay_topup::tokens::hash("bench operator");
    let operator = store
        .create_token(
            "bench",
            &hash,
            Role::Operator,
            TokenScope {
                structure_id: None,
                operator_id: Some(network),
            },
            None,
            now,
        )
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..100 {
        let req = IssueRequest {
            principal,
            structure_id: s.id,
            product: &product,
            format: relay_topup::code::Format::parse(&load_format()).unwrap(),
            count: 100,
            reference: None,
            idempotency: None,
        };
        let out = store.issue(&keys, &req, now).await.unwrap();
        ids.extend(out.vouchers.iter().map(|v| v.id));
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut done = 0;
    for id in ids {
        if Instant::now() >= deadline {
            break;
        }
        let input = RedeemInput {
            operator_token_id: operator,
            operator_id: network,
            voucher_id: id,
            msisdn_hash: [1; 32],
            operator_ref: None,
            mode: RedeemMode::Redeem,
            hold_secs: 300,
            caps: Vec::new(),
            idempotency: None,
            line: None,
        };
        store.submit(write::Redeem(input), now).await.unwrap();
        done += 1;
    }
    done as f64 / started.elapsed().as_secs_f64()
}

/// Redeems distinct codes over HTTP with `connections` concurrent clients.
async fn http_redemptions(
    server: &Server,
    operator: &str,
    codes: Vec<String>,
    seconds: u64,
    connections: usize,
) -> (f64, Duration, Duration, u64) {
    let client = reqwest::Client::new();
    let codes = std::sync::Arc::new(std::sync::Mutex::new(codes));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let (client, codes, operator) = (client.clone(), codes.clone(), operator.to_owned());
            let url = format!("{}/v1/redemptions", server.base);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let Some(code) = codes.lock().unwrap().pop() else {
                        break;
                    };
                    let msisdn = format!("+336{:08}", i);
                    let t0 = Instant::now();
                    let r = client
                        .post(&url)
                        .bearer_auth(&operator)
                        .json(&json!({ "code": code, "msisdn": msisdn }))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().as_u16() == 201 => {
                            let _ = r.bytes().await;
                            latencies.push(t0.elapsed());
                        }
                        Ok(r) => {
                            if errors == 0 {
                                let status = r.status();
                                eprintln!(
                                    "redeem: first error: {status} {}",
                                    r.text().await.unwrap_or_default()
                                );
                            }
                            errors += 1;
                        }
                        Err(e) => {
                            if errors == 0 {
                                eprintln!("redeem: first error: {e}");
                            }
                            errors += 1;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    (
        rate,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        errors,
    )
}

async fn redeem_load(server: &Server, seconds: u64) {
    let raw = raw_redemption_limit(seconds).await;
    println!(
        "redeem: raw limit (one redemption per transaction, in a loop): {raw:.0} redemptions/s"
    );
    for connections in [8, 64] {
        // Enough codes that the run never starves: 5,000 a second at most.
        let (codes, operator) = issue_codes(server, 5_000 * seconds as usize).await;
        let (rate, p50, p99, errors) =
            http_redemptions(server, &operator, codes, seconds, connections).await;
        println!(
            "redeem: HTTP, {connections} connections, {seconds} s: {rate:.0} redemptions/s ({errors} errors), \
             p50 {:.1} ms, p99 {:.1} ms; {:.2}x the raw limit",
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0,
            rate / raw
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the only argument we read is the mode.
    let mode = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "issue".into());
    let seconds = env_or("LOAD_SECONDS", 10);
    let connections = env_or("LOAD_CONNECTIONS", 8);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = start_server().await;
        match mode.as_str() {
            "issue" => issue_load(&server, seconds, connections).await,
            "redeem" => redeem_load(&server, seconds).await,
            other => panic!("unknown mode {other:?}; try `issue` or `redeem`"),
        }
    });
}
