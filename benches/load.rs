//! Load test against the real server: starts `relay-topup serve` (release
//! build) as a child process on a fresh database, sets up a structure with
//! ample quota over the API, then has N concurrent clients issue codes in
//! batches of 100 for a fixed time, and prints throughput and latencies.
//!
//! ```sh
//! cargo bench --bench load                      # SQLite, 10 s, 8 connections
//! LOAD_SECONDS=30 LOAD_CONNECTIONS=16 cargo bench --bench load
//! LOAD_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench load
//! ```
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn database_url(dir: &std::path::Path) -> String {
    match std::env::var("LOAD_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let name = format!("rt_load_{}", std::process::id());
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
        Err(_) => format!("sqlite://{}?mode=rwc", dir.join("load.sqlite").display()),
    }
}

async fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path()).await;
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
            json!({ "resource": "data_mb", "amount": 1_000_000_000_000i64 }),
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
                        .json(&json!({ "product": "data-1gb", "count": 100 }))
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
            other => panic!("unknown mode {other:?}; try `issue`"),
        }
    });
}
