//! The periodic integrity check against the size of the history: builds a
//! database of N stored events through the storage API (issues of 5,000
//! codes per transaction, spread over 20 structures), runs a full check,
//! then adds 1,000 events (8 issues of 100 codes, 200 voids of old codes)
//! and times one incremental check, three times over; then one more full
//! check. The incremental check's cost should follow the 1,000 new events,
//! not N; the full check's grows with N.
//!
//! ```sh
//! cargo bench --bench integrity                          # N = 10^4 and 10^6, SQLite
//! INTEGRITY_BENCH_SIZES=10000,300000 cargo bench --bench integrity
//! INTEGRITY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench integrity
//! ```
//!
//! With a PostgreSQL URL, a fresh database is created on that server for
//! each size. CPU seconds are this process's (on PostgreSQL the server's
//! own work is not in them).
#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark that cannot set up should stop loudly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use relay_topup::app::AppState;
use relay_topup::clock::ManualClock;
use relay_topup::config::Limits;
use relay_topup::domain::{Principal, Role};
use relay_topup::integrity::{self, CheckKind, CheckResult, IncrementalState};
use relay_topup::server::{self, Running, ServerConfig};
use relay_topup::storage::{IssueRequest, NewGrant, PoolSettings, StorageError, TokenScope};

/// 2027-01-15: the clock starts there and moves only when told (a second
/// per transaction while the history is built, a minute between checks),
/// so that no code expires meanwhile.
const T0: i64 = 1_800_000_000;
const STRUCTURES: usize = 20;
const CODES_PER_ISSUE: usize = 5_000;
/// The new events between two checks: issues of 100 codes, and voids.
const NEW_ISSUES: usize = 8;
const NEW_VOIDS: usize = 200;
const ROUNDS: usize = 3;

/// One structure able to issue: its id and its token.
struct Issuer {
    structure_id: i64,
    principal: Principal,
}

/// A fresh database for one size.
async fn database_url(dir: &std::path::Path, size: u64) -> String {
    match std::env::var("INTEGRITY_BENCH_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let name = format!("rt_integrity_{size}_{}", std::process::id());
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            for sql in [
                format!("DROP DATABASE IF EXISTS {name}"),
                format!("CREATE DATABASE {name}"),
            ] {
                sqlx::Executor::execute(&mut conn, sql.as_str())
                    .await
                    .unwrap();
            }
            format!("{}/{name}", url.rsplit_once('/').unwrap().0)
        }
        Ok(url) => panic!("INTEGRITY_BENCH_DATABASE_URL must be postgres://…, not {url}"),
        Err(_) => format!("sqlite://{}?mode=rwc", dir.join("bench.sqlite").display()),
    }
}

/// The service on a fresh database, its own checks and sweeps out of the
/// way: the benchmark runs each check itself.
async fn start(dir: &std::path::Path, size: u64, clock: &ManualClock) -> Running {
    let year_secs = 365 * 86_400;
    let limits = Limits {
        integrity_check_secs: year_secs,
        full_integrity_check_secs: year_secs,
        sweep_interval_secs: year_secs,
        checkpoint_every_events: i64::MAX,
        checkpoint_interval_secs: year_secs,
        ..Limits::default()
    };
    server::start(ServerConfig {
        database_url: database_url(dir, size).await,
        key_file: dir.join("bench.keys"),
        listen: "127.0.0.1:0".parse().unwrap(),
        limits,
        pool: PoolSettings::default(),
        clock: Arc::new(clock.clone()),
        demo: false,
    })
    .await
    .unwrap()
}

async fn issuers(state: &AppState) -> Vec<Issuer> {
    let store = &state.store;
    let mut out = Vec::new();
    for i in 0..STRUCTURES {
        let name = format!("Structure {i}");
        let structure_id = store
            .create_structure("bench", &name, None, None, T0)
            .await
            .unwrap()
            .id;
        let grant = NewGrant {
            structure_id,
            // The first seeded network, whose catalogue has `data-1gb`.
            operator_id: 1,
            resource: "data_mb".into(),
            amount: 1 << 40,
            starts_at: T0,
            ends_at: None,
            recurrence: None,
        };
        store.create_grant("bench", &grant, T0).await.unwrap();
        let (_, hash) = relay_topup::tokens::generate().unwrap();
        let token_id = store
            .create_token(
                "bench",
                &hash,
                Role::Structure,
                TokenScope {
                    structure_id: Some(structure_id),
                    operator_id: None,
                },
                None,
                T0,
            )
            .await
            .unwrap();
        let principal = Principal::of_token(token_id, Role::Structure, Some(structure_id), None);
        out.push(Issuer {
            structure_id,
            principal,
        });
    }
    out
}

/// Issues `count` codes for the `i`th issuer; answers their ids.
async fn issue(state: &AppState, issuers: &[Issuer], i: usize, count: usize) -> Vec<i64> {
    let product = state.store.get_product("data-1gb").await.unwrap().unwrap();
    let issuer = &issuers[i % issuers.len()];
    let request = IssueRequest {
        principal: issuer.principal,
        structure_id: issuer.structure_id,
        product: &product,
        format: relay_topup::code::Format::Code,
        count,
        reference: None,
        idempotency: None,
    };
    let keys = state.keys.get();
    let outcome = state
        .store
        .issue(&keys, &request, state.now())
        .await
        .unwrap();
    outcome.vouchers.iter().map(|v| v.id).collect()
}

/// Issues codes until the log holds `size` events; answers some of the
/// codes (one per transaction) with their issuer, to void later.
async fn build_history(
    state: &AppState,
    clock: &ManualClock,
    issuers: &[Issuer],
    size: u64,
) -> Vec<(usize, i64)> {
    let mut voidable = Vec::new();
    let mut i = 0;
    loop {
        let stored = u64::try_from(state.store.chain_status().await.unwrap().0).unwrap();
        if stored >= size {
            return voidable;
        }
        let count = usize::try_from(size - stored).unwrap().min(CODES_PER_ISSUE);
        clock.advance(1);
        let ids = issue(state, issuers, i, count).await;
        let step = (ids.len() / (NEW_VOIDS * ROUNDS)).max(1);
        voidable.extend(ids.iter().step_by(step).map(|id| (i % issuers.len(), *id)));
        i += 1;
    }
}

/// 1,000 new events: issues of 100 codes, and voids of old codes.
async fn new_events(state: &AppState, issuers: &[Issuer], voidable: &mut Vec<(usize, i64)>) {
    for i in 0..NEW_ISSUES {
        issue(state, issuers, i, 100).await;
    }
    for _ in 0..NEW_VOIDS {
        let (i, id) = voidable.pop().expect("enough codes to void");
        let issuer = &issuers[i];
        let store = &state.store;
        store
            .void_voucher(&issuer.principal, issuer.structure_id, id, state.now())
            .await
            .unwrap();
    }
}

/// This process's CPU time (user and system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line (11 and 12 here),
    // in clock ticks of 1/100 s on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// The resident memory of this process, in MiB.
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

/// Runs one check and says how long it took, in wall-clock and CPU time.
async fn timed(
    what: &str,
    check: impl std::future::Future<Output = Result<CheckResult, StorageError>>,
    kind: CheckKind,
) -> Duration {
    let (wall, cpu) = (Instant::now(), cpu_time());
    let result = check.await.unwrap();
    let (wall, cpu) = (wall.elapsed(), cpu_time() - cpu);
    assert_eq!(result.kind, kind, "{what}: {result:?}");
    assert_eq!(result.new_findings, 0, "{what}: {result:?}");
    println!(
        "  {what:<34} {:>9.1} ms wall  {:>9.1} ms CPU",
        wall.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3
    );
    wall
}

async fn run(size: u64) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let running = start(dir.path(), size, &clock).await;
    let state = running.state.clone();
    let issuers = issuers(&state).await;
    let built = Instant::now();
    let mut voidable = build_history(&state, &clock, &issuers, size).await;
    let events = state.store.chain_status().await.unwrap().0;
    println!(
        "N = {events} events (built in {:.0} s)",
        built.elapsed().as_secs_f64()
    );
    // The oldest codes are voided first.
    voidable.reverse();
    let mut periodic = IncrementalState::new();
    let full = integrity::check_full(&state, &mut periodic);
    timed("full check", full, CheckKind::Full).await;
    println!("  memory after it: {} MiB resident", rss_mib());
    let mut incremental = Vec::new();
    for round in 1..=ROUNDS {
        clock.advance(60);
        new_events(&state, &issuers, &mut voidable).await;
        let check = integrity::check_incremental(&state, &mut periodic);
        let what = format!("incremental check, +1,000 ({round})");
        incremental.push(timed(&what, check, CheckKind::Incremental).await);
    }
    incremental.sort();
    let full = integrity::check_full(&state, &mut periodic);
    timed("full check again", full, CheckKind::Full).await;
    println!(
        "  incremental median {:.1} ms; memory {} MiB resident",
        incremental[ROUNDS / 2].as_secs_f64() * 1e3,
        rss_mib()
    );
    running.shutdown().await.unwrap();
}

fn main() {
    let sizes: Vec<u64> = std::env::var("INTEGRITY_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("sizes: numbers, comma-separated"))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for size in sizes {
        runtime.block_on(run(size));
    }
}
