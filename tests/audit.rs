//! The audit over the real server, on SQLite and PostgreSQL: the hash chain
//! stays whole under concurrent writers (and two servers on PostgreSQL),
//! checkpoints verify under the published keys, reports add up to known
//! figures, reconciliation finds every difference both ways, and the
//! service fails closed on a breach until an admin acknowledges it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Db, TestApp};
use futures::future::join_all;
use relay_topup::audit::chain;
use relay_topup::audit::verify::{self, Scope};
use relay_topup::clock::{Clock, ManualClock, rfc3339};
use relay_topup::code::attestation::VerifyingKeys;
use relay_topup::config::Limits;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn limits() -> Limits {
    Limits {
        operator_rate_per_sec: 1_000_000,
        operator_burst: 1_000_000,
        typos_per_min: 1_000_000,
        checkpoint_every_events: 25,
        ..common::test_limits()
    }
}

async fn codes(app: &TestApp, token: &str, product: &str, n: i64) -> Vec<Value> {
    let a = app.issue(token, product, n).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    a.body["vouchers"].as_array().unwrap().clone()
}

fn code(v: &Value) -> String {
    v["code"].as_str().unwrap().to_owned()
}

async fn redeem(app: &TestApp, base: &str, operator: &str, code: &str) -> StatusCode {
    let r = app
        .client
        .post(format!("{base}/v1/redemptions"))
        .bearer_auth(operator)
        .json(&json!({ "code": code, "msisdn": "+33612345678" }))
        .send()
        .await
        .unwrap();
    r.status()
}

/// Issues and redeems from many tasks at once (and, on PostgreSQL, through
/// two servers): the chain has no gap and no fork, and replays to the
/// tables exactly.
async fn chain_is_whole_under_concurrent_writers(db: Db) {
    let Some(app) = TestApp::spawn_with(db, limits(), None).await else {
        return;
    };
    let second = match db {
        Db::Postgres => Some(
            relay_topup::server::start(relay_topup::server::ServerConfig {
                database_url: app.database_url.clone(),
                key_file: app.dir.path().join("test.keys"),
                listen: "127.0.0.1:0".parse().unwrap(),
                limits: limits(),
                pool: relay_topup::storage::PoolSettings::default(),
                clock: Arc::new(relay_topup::clock::SystemClock),
                demo: false,
            })
            .await
            .unwrap(),
        ),
        Db::Sqlite => None,
    };
    let mut bases = vec![app.base.clone()];
    if let Some(s) = &second {
        bases.push(format!("http://{}", s.addr));
    }
    let operator = app.token("operator", None).await;
    let mut structures = Vec::new();
    for name in ["A", "B", "C", "D"] {
        structures.push(app.funded_structure(name, 1024 * 1024).await.1);
    }
    // 4 structures × 5 issue requests of 10, racing, on both servers.
    let issues = (0..20).map(|i| {
        let token = structures[i % 4].clone();
        let base = bases[i % bases.len()].clone();
        let client = app.client.clone();
        async move {
            let r = client
                .post(format!("{base}/v1/vouchers"))
                .bearer_auth(&token)
                .json(&json!({ "product": "data-1gb", "count": 10 }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            let body: Value = r.json().await.unwrap();
            body["vouchers"].as_array().unwrap().clone()
        }
    });
    let vouchers: Vec<Value> = join_all(issues).await.into_iter().flatten().collect();
    let redemptions = vouchers.iter().enumerate().map(|(i, v)| {
        let base = bases[i % bases.len()].clone();
        let operator = operator.clone();
        let app = &app;
        async move { redeem(app, &base, &operator, &code(v)).await }
    });
    for status in join_all(redemptions).await {
        assert_eq!(status, StatusCode::CREATED);
    }
    if let Some(s) = second {
        s.shutdown().await.unwrap();
    }
    let events = common::assert_books_clean(&app).await;
    // 4 structures, 4 grants with their credits, 5 tokens, 5 products, 200
    // issues and 200 redemptions at least.
    assert!(events >= 400 + 4 * 3 + 5 + 5, "{events}");
    app.stop().await;
}
both!(chain_is_whole_under_concurrent_writers);

fn published_keys(keys: &Value) -> VerifyingKeys {
    let mut out = VerifyingKeys::default();
    for k in keys["keys"].as_array().unwrap() {
        let bytes = URL_SAFE_NO_PAD
            .decode(k["public_key"].as_str().unwrap())
            .unwrap();
        out.insert(k["kid"].as_u64().unwrap() as u32, bytes.try_into().unwrap());
    }
    out
}

/// Checkpoints are signed every N events, verify under `GET /v1/keys`, and
/// sign exactly the hash the event log shows at their seq; the event log
/// pages link hash to hash.
async fn checkpoints_and_event_pages_verify(db: Db) {
    let Some(app) = TestApp::spawn_with(db, limits(), None).await else {
        return;
    };
    let auditor = app.token("auditor", None).await;
    let (_, structure) = app.funded_structure("Relais", 100 * 1024).await;
    codes(&app, &structure, "data-1gb", 60).await;
    // The checkpoint task looks at the head every second.
    let mut checkpoints = Vec::new();
    for _ in 0..100 {
        let page = app.get("/v1/audit/checkpoints", &auditor).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        checkpoints = page.body["checkpoints"].as_array().unwrap().clone();
        if !checkpoints.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!checkpoints.is_empty(), "no checkpoint was signed");
    let keys = published_keys(&app.request(Method::GET, "/v1/keys", None, None).await.body);
    // Page through the whole log, 7 at a time, checking every link.
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .get(&format!("/v1/audit/events?after={after}&limit=7"), &auditor)
            .await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let events = page.body["events"].as_array().unwrap().clone();
        all.extend(events);
        match page.body["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let mut prev = chain::to_hex(&chain::GENESIS);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"].as_i64().unwrap(), i as i64 + 1);
        assert_eq!(e["prev_hash"].as_str().unwrap(), prev);
        let fields = chain::EventFields {
            seq: e["seq"].as_i64().unwrap(),
            at: e["at_secs"].as_i64().unwrap(),
            kind: e["kind"].as_str().unwrap(),
            actor: e["actor"].as_str().unwrap(),
            structure_id: e["structure_id"].as_i64(),
            voucher_id: e["voucher_id"].as_i64(),
            data: e["data"].as_str().unwrap(),
        };
        let hash = chain::event_hash(&fields, &chain::from_hex(&prev).unwrap());
        assert_eq!(
            e["hash"].as_str().unwrap(),
            chain::to_hex(&hash),
            "seq {}",
            i + 1
        );
        prev = chain::to_hex(&hash);
    }
    for c in &checkpoints {
        let seq = c["seq"].as_i64().unwrap();
        let mut checkpoint = chain::Checkpoint {
            seq,
            hash: chain::from_hex(c["hash"].as_str().unwrap()).unwrap(),
            at: c["at_secs"].as_i64().unwrap(),
            key_id: c["key_id"].as_u64().unwrap() as u32,
            signature: URL_SAFE_NO_PAD
                .decode(c["signature"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap(),
        };
        assert!(chain::checkpoint_verifies(&keys, &checkpoint));
        assert_eq!(
            c["hash"].as_str().unwrap(),
            all[seq as usize - 1]["hash"].as_str().unwrap()
        );
        // The signature covers the seq: moving it breaks the signature.
        checkpoint.seq += 1;
        assert!(!chain::checkpoint_verifies(&keys, &checkpoint));
    }
    // Only auditors read the audit log.
    let (_, other) = app.funded_structure("Autre", 0).await;
    assert_eq!(
        app.get("/v1/audit/events", &other).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/v1/audit/events?limit=0", &auditor).await.code(),
        Some("validation_failed")
    );
    app.stop().await;
}
both!(checkpoints_and_event_pages_verify);

fn row<'a>(report: &'a Value, structure_id: i64, resource: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["structure_id"] == structure_id && r["resource"] == resource)
        .unwrap_or_else(|| panic!("no row for {structure_id} {resource}: {report}"))
}

async fn report(app: &TestApp, auditor: &str, from: i64, to: i64) -> Value {
    let a = app
        .get(
            &format!("/v1/audit/report?from={}&to={}", rfc3339(from), rfc3339(to)),
            auditor,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    for inv in a.body["invariants"].as_array().unwrap() {
        assert_eq!(inv["holds"], true, "{inv}");
    }
    a.body
}

/// Known activity in two periods gives known figures; the second period
/// opens where the first closed.
async fn report_adds_up_to_known_figures(db: Db) {
    let clock = ManualClock::new(1_800_000_000);
    let Some(app) = TestApp::spawn_with(db, limits(), Some(clock.clone())).await else {
        return;
    };
    let t0 = clock.now_secs();
    let auditor = app.token("auditor", None).await;
    let operator = app.token("operator", None).await;
    let (id, structure) = app.funded_structure("Emmaüs", 10 * 1024).await;
    let issued = codes(&app, &structure, "data-1gb", 4).await;
    let void = app
        .post(
            &format!(
                "/v1/vouchers/{}/void",
                issued[0]["serial"].as_str().unwrap()
            ),
            &structure,
            json!({}),
        )
        .await;
    assert_eq!(void.status, StatusCode::OK, "{void:?}");
    assert_eq!(
        redeem(&app, &app.base, &operator, &code(&issued[1])).await,
        StatusCode::CREATED
    );
    clock.advance(3600);
    let t1 = clock.now_secs();
    assert_eq!(
        redeem(&app, &app.base, &operator, &code(&issued[2])).await,
        StatusCode::CREATED
    );
    let statement = app
        .get(
            &format!(
                "/v1/redemptions?from={}&to={}",
                rfc3339(t1),
                rfc3339(t1 + 1)
            ),
            &operator,
        )
        .await;
    let rid = statement.body["redemptions"][0]["id"].as_i64().unwrap();
    let reversed = app
        .post(
            &format!("/v1/redemptions/{rid}/reverse"),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(reversed.status, StatusCode::OK, "{reversed:?}");
    clock.advance(60);
    let t2 = clock.now_secs();

    let first = report(&app, &auditor, t0, t1).await;
    let r = row(&first, id, "data_mb");
    assert_eq!(
        (
            r["opening"].as_i64(),
            r["granted"].as_i64(),
            r["issued"].as_i64()
        ),
        (Some(0), Some(10 * 1024), Some(4 * 1024))
    );
    assert_eq!(
        (
            r["voided"].as_i64(),
            r["redeemed"].as_i64(),
            r["redeemed_count"].as_i64()
        ),
        (Some(1024), Some(1024), Some(1))
    );
    assert_eq!(r["closing"].as_i64(), Some(7 * 1024));
    assert_eq!(r["adds_up"], true);

    let second = report(&app, &auditor, t1, t2).await;
    let r2 = row(&second, id, "data_mb");
    assert_eq!(r2["opening"], r["closing"]);
    assert_eq!(
        (
            r2["granted"].as_i64(),
            r2["issued"].as_i64(),
            r2["redeemed"].as_i64(),
            r2["reversed"].as_i64()
        ),
        (Some(0), Some(0), Some(1024), Some(1024))
    );
    assert_eq!(r2["closing"].as_i64(), Some(7 * 1024));
    // The closing balance is what the structure sees.
    assert_eq!(
        app.balance(&structure, "data_mb").await["available"].as_i64(),
        Some(7 * 1024)
    );
    assert_eq!(
        app.get(
            "/v1/audit/report?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            &auditor
        )
        .await
        .code(),
        Some("validation_failed")
    );
    app.stop().await;
}
both!(report_adds_up_to_known_figures);

async fn reconcile(app: &TestApp, auditor: &str, query: &str, csv: String) -> Value {
    let r = app
        .client
        .post(format!("{}/v1/audit/reconcile?{query}", app.base))
        .bearer_auth(auditor)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    common::read(r).await.body
}

/// The operator's own exported statement reconciles cleanly; a statement
/// with a line missing, an amount changed and a redemption made up gives
/// exactly those three discrepancies.
async fn reconcile_finds_differences_both_ways(db: Db) {
    let Some(app) = TestApp::spawn_with(db, limits(), None).await else {
        return;
    };
    let auditor = app.token("auditor", None).await;
    let operator = app.token("operator", None).await;
    let (_, structure) = app.funded_structure("Croix-Rouge", 100 * 1024).await;
    for v in codes(&app, &structure, "data-1gb", 5).await {
        assert_eq!(
            redeem(&app, &app.base, &operator, &code(&v)).await,
            StatusCode::CREATED
        );
    }
    let (from, to) = ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z");
    let csv = app
        .request_with(
            Method::GET,
            &format!("/v1/redemptions?from={from}&to={to}"),
            Some(&operator),
            None,
            &[("accept", "text/csv")],
        )
        .await
        .text;
    let query = format!("from={from}&to={to}");
    let clean = reconcile(&app, &auditor, &query, csv.clone()).await;
    assert_eq!(clean["discrepancies"], json!([]), "{clean}");
    assert_eq!(clean["matched"], 5);

    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    let dropped: i64 = lines.remove(1).split(',').next().unwrap().parse().unwrap();
    let changed: i64 = lines[1].split(',').next().unwrap().parse().unwrap();
    lines[1] = lines[1].replacen(",1024,", ",2048,", 1);
    lines.push("999999,ZZZZ-ZZZZ,data-1gb,data_mb,1024,30,redeemed,2026-01-01T00:00:00Z,,".into());
    let tampered = reconcile(&app, &auditor, &query, lines.join("\n") + "\n").await;
    let mut found: Vec<(String, i64)> = tampered["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_owned(),
                d["redemption_id"].as_i64().unwrap(),
            )
        })
        .collect();
    found.sort();
    let mut expected = vec![
        ("amount_differs".to_owned(), changed),
        ("missing_from_statement".to_owned(), dropped),
        ("not_redeemed_here".to_owned(), 999_999),
    ];
    expected.sort();
    assert_eq!(found, expected, "{tampered}");

    let bad = reconcile(&app, &auditor, &query, "serial,amount\n1,2\n".into()).await;
    assert_eq!(bad["code"], "validation_failed");
    app.stop().await;
}
both!(reconcile_finds_differences_both_ways);

/// A change made behind the service's back halts issuing and redemption
/// (503 `integrity_hold`) within one check; reads go on; an admin's
/// acknowledgement resumes service; a further change halts it again.
async fn fails_closed_until_acknowledged(db: Db) {
    let limits = Limits {
        integrity_check_secs: 1,
        ..limits()
    };
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let operator = app.token("operator", None).await;
    let (id, structure) = app.funded_structure("Secours populaire", 100 * 1024).await;
    let issued = codes(&app, &structure, "data-1gb", 2).await;
    let status = app.get("/v1/integrity", &app.admin).await;
    assert_eq!(status.body["halted"], false, "{status:?}");

    tamper(
        &app,
        &format!("UPDATE balances SET granted = granted + 7 WHERE structure_id = {id}"),
    )
    .await;
    let halted = wait_for_halt(&app, &structure).await;
    assert_eq!(halted.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(halted.code(), Some("integrity_hold"));
    assert!(halted.is_problem());
    let redeemed = app
        .post(
            "/v1/redemptions",
            &operator,
            json!({ "code": code(&issued[0]), "msisdn": "+33612345678" }),
        )
        .await;
    assert_eq!(redeemed.code(), Some("integrity_hold"), "{redeemed:?}");
    // Reads still work; nothing is issued while halted.
    let before = app.balance(&structure, "data_mb").await;
    assert_eq!(
        app.issue(&structure, "data-1gb", 1).await.code(),
        Some("integrity_hold")
    );
    assert_eq!(app.balance(&structure, "data_mb").await, before);
    let status = app.get("/v1/integrity", &app.admin).await;
    assert_eq!(status.body["halted"], true);
    let findings = status.body["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["check"] == "balance.granted" && f["delta"] == 7),
        "{findings:?}"
    );
    // Only an admin acknowledges.
    let auditor = app.token("auditor", None).await;
    assert_eq!(
        app.post("/v1/integrity/acknowledge", &auditor, json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let ack = app
        .post("/v1/integrity/acknowledge", &app.admin, json!({}))
        .await;
    assert_eq!(ack.status, StatusCode::OK, "{ack:?}");
    assert_eq!(ack.body["halted"], false, "{ack:?}");
    assert_eq!(
        app.issue(&structure, "data-1gb", 1).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        redeem(&app, &app.base, &operator, &code(&issued[0])).await,
        StatusCode::CREATED
    );
    // The same row drifting further is a new breach.
    tamper(
        &app,
        &format!("UPDATE balances SET granted = granted + 1 WHERE structure_id = {id}"),
    )
    .await;
    let halted = wait_for_halt(&app, &structure).await;
    assert_eq!(halted.code(), Some("integrity_hold"));
    app.stop().await;
}
both!(fails_closed_until_acknowledged);

/// Issues one code until the service refuses with 503 (the check runs
/// every second); gives up after a generous number of tries.
async fn wait_for_halt(app: &TestApp, structure: &str) -> common::Answer {
    for _ in 0..300 {
        let a = app.issue(structure, "data-1gb", 1).await;
        if a.status != StatusCode::CREATED {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the service never halted");
}

/// Runs SQL on the test database behind the service's back.
async fn tamper(app: &TestApp, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    <sqlx::AnyConnection as sqlx::Connection>::close(conn)
        .await
        .unwrap();
}

/// A database whose events predate the chain (no seq, no hash) is chained
/// in order when the service next opens it, and then verifies.
async fn events_from_before_the_chain_are_chained_on_open(db: Db) {
    let Some(app) = TestApp::spawn_with(db, limits(), None).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Ancienne", 10 * 1024).await;
    codes(&app, &structure, "data-1gb", 3).await;
    let url = app.database_url.clone();
    let dir = app.dir.path().to_owned();
    let running = {
        let mut app = app;
        let running = app.running.take().unwrap();
        running.shutdown().await.unwrap();
        app
    };
    tamper(&running, "DELETE FROM checkpoints").await;
    tamper(
        &running,
        "UPDATE events SET seq = NULL, prev_hash = NULL, hash = NULL",
    )
    .await;
    tamper(
        &running,
        "UPDATE chain_head SET seq = 0, hash = '0000000000000000000000000000000000000000000000000000000000000000'",
    )
    .await;
    let store =
        relay_topup::storage::Store::open(&url, &relay_topup::storage::PoolSettings::default())
            .await
            .unwrap();
    let snapshot = store.audit_snapshot().await.unwrap();
    let keys = relay_topup::keyfile::load(&dir.join("test.keys")).unwrap();
    let keys = relay_topup::code::KeySet::from_material(&keys).unwrap();
    let outcome = verify::verify(
        &snapshot,
        keys.verifying_keys(),
        Scope { attestations: true },
    );
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    assert!(snapshot.events.iter().all(|e| e.seq.is_some()));
    assert!(snapshot.events.len() > 10);
    store.close().await;
}
both!(events_from_before_the_chain_are_chained_on_open);
