//! The crash suite: the real `relay-topup serve` under mixed concurrent
//! load (issuing with keys, redemption, reserve then confirm, voids, the
//! same code from several clients at once) is killed with SIGKILL at a
//! random moment and started again on the same database. Then:
//!
//! - every unanswered request is sent again, with its `Idempotency-Key`,
//!   until it is answered;
//! - the database's vouchers are exactly those some answer handed out, and
//!   each one's state is the one its answers imply: nothing acknowledged
//!   is lost, and nothing unacknowledged was applied behind the clients'
//!   backs;
//! - no code is redeemed twice, and every redemption on the operator's
//!   statement was answered to someone;
//! - answered issues sent again with their keys return the same codes;
//! - the balance equals what the answers add up to, and
//!   `relay-topup audit verify` is clean.
//!
//! `CRASH_CYCLES` (default 5) sets the kill cycles per backend;
//! `CRASH_SEED` replays a run (each run prints its seed). The long run:
//! `CRASH_CYCLES=200 cargo test --test crash -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod load;
mod model;
mod outage;
mod serve;

use std::time::Duration;

use common::Db;
use load::Shared;
use model::{Model, Rng};
use serde_json::json;
use serve::Serve;

/// Quota for the whole run: never the limit under test here.
const GRANT_MB: i64 = 1_000_000_000;
/// Client tasks sending requests at once.
pub const WORKERS: usize = 8;

both!(crash_cycles);

async fn crash_cycles(db: Db) {
    let dir = crate::serve::workdir(&format!("cycles-{db:?}"));
    let url = match db {
        Db::Sqlite => format!("sqlite://{}", &dir.join("crash.db").display()),
        Db::Postgres => match common::fresh_postgres_url().await {
            Some(url) => url,
            None => return,
        },
    };
    let cycles = env_number("CRASH_CYCLES").unwrap_or(5);
    let seed = env_number("CRASH_SEED").unwrap_or_else(model::time_seed);
    println!("crash {db:?}: {cycles} cycles, CRASH_SEED={seed}");
    let mut rng = Rng(seed);

    let (mut serve, admin) = Serve::first_start(&url, &dir).await;
    let shared = Shared::new(setup(&serve, &admin).await);
    let (mut sent_total, mut retried_total) = (0, 0);
    for cycle in 1..=cycles {
        let load_ms = 150 + rng.below(900);
        let sent = load_then_kill(&mut serve, &shared, load_ms, rng.next()).await;
        serve = Serve::restart(&url, &dir, cycle as usize).await;
        let retried = shared.retry_pending(&serve).await;
        let vouchers = shared.check(&serve, &url, &dir).await;
        sent_total += sent;
        retried_total += retried;
        println!(
            "cycle {cycle}: killed after {load_ms} ms and {sent} requests; {retried} unanswered, \
             retried; {vouchers} vouchers match the answers"
        );
    }
    println!(
        "crash {db:?}: {cycles} kills, {sent_total} requests, {retried_total} unanswered and retried"
    );
    println!("crash {db:?}: failures answered {:?}", shared.failures());
    assert!(
        retried_total > 0 || cycles == 0,
        "no kill ever met a request in flight"
    );
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} is a number")))
}

/// A funded structure, with its token and an operator's.
pub async fn setup(serve: &Serve, admin: &str) -> Model {
    let s = serve
        .post(admin, "/v1/structures", json!({ "name": "Crash" }), None)
        .await;
    assert_eq!(s.status, 201, "{s:?}");
    let id = s.body["id"].as_i64().unwrap();
    let grant =
        json!({ "resource": "data_mb", "amount": GRANT_MB, "operator_id": common::FIRST_NETWORK });
    let g = serve
        .post(admin, &format!("/v1/structures/{id}/grants"), grant, None)
        .await;
    assert_eq!(g.status, 201, "{g:?}");
    let structure = token(
        serve,
        admin,
        json!({ "role": "structure", "structure_id": id }),
    )
    .await;
    let operator = token(serve, admin, common::token_body("operator", None)).await;
    Model::new(structure, operator, GRANT_MB)
}

async fn token(serve: &Serve, admin: &str, body: serde_json::Value) -> String {
    let t = serve.post(admin, "/v1/tokens", body, None).await;
    assert_eq!(t.status, 201, "{t:?}");
    t.body["token"].as_str().unwrap().to_owned()
}

/// Runs the load for `load_ms`, kills the server mid-flight and waits for
/// every client to notice; returns the number of requests sent.
async fn load_then_kill(serve: &mut Serve, shared: &Shared, load_ms: u64, seed: u64) -> usize {
    let workers = shared.start_load(&serve.base, WORKERS, seed);
    tokio::time::sleep(Duration::from_millis(load_ms)).await;
    // No new request from here on; those in flight meet the kill.
    shared.stop_load();
    serve.kill();
    load::requests_sent(workers).await
}
