//! The periodic integrity check is incremental: it checks the events since
//! the last verified point and the rows they touch, and finds there what
//! the full check finds (same findings, same keys); it falls back to a full
//! check when the chain after that point does not hold; it stays quiet on a
//! busy, healthy service; and what it does not read (an old row no new
//! event touches) the next full check finds. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Db, TestApp};
use futures::future::join_all;
use relay_topup::audit::verify::{self, Scope};
use relay_topup::clock::ManualClock;
use relay_topup::code::Reference;
use relay_topup::config::Limits;
use relay_topup::domain::minting::{voucher_from_row_id, voucher_row_id};
use relay_topup::integrity::{self, CheckKind, CheckResult, IncrementalState};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// 2027-01-15: the clock only moves when told.
const T0: i64 = 1_800_000_000;
const DAY: i64 = 86_400;
const YEAR_SECS: u64 = 365 * 86_400;

/// The service's own periodic check and sweep run once at start and then
/// keep out of the way: the tests run each check themselves.
fn limits() -> Limits {
    Limits {
        sweep_interval_secs: YEAR_SECS,
        integrity_check_secs: YEAR_SECS,
        operator_rate_per_sec: 1_000_000,
        operator_burst: 1_000_000,
        ..common::test_limits()
    }
}

async fn spawn(db: Db) -> Option<(TestApp, ManualClock)> {
    let clock = ManualClock::new(T0);
    let app = TestApp::spawn_with(db, limits(), Some(clock.clone())).await?;
    Some((app, clock))
}

/// One incremental check, which must not have fallen back to a full one.
async fn incremental(app: &TestApp, periodic: &mut IncrementalState) -> CheckResult {
    let result = integrity::check_incremental(&app.running().state, periodic)
        .await
        .unwrap();
    assert_eq!(result.kind, CheckKind::Incremental, "{result:?}");
    result
}

/// A check that found nothing.
fn clean(result: &CheckResult) {
    assert_eq!(
        (result.new_findings, result.alarm_id),
        (0, None),
        "{result:?}"
    );
}

/// The keys of the open alarm's findings.
async fn alarm_keys(app: &TestApp) -> BTreeSet<String> {
    let alarm = app.running().state.store.open_alarm().await.unwrap();
    let findings: Vec<Value> =
        serde_json::from_str(&alarm.expect("an open alarm").findings).unwrap();
    findings
        .iter()
        .map(|f| f["key"].as_str().unwrap().to_owned())
        .collect()
}

/// The keys of what a full check finds now.
async fn full_keys(app: &TestApp) -> BTreeSet<String> {
    let state = &app.running().state;
    let snapshot = state.store.audit_snapshot().await.unwrap();
    let keys = state.keys.get();
    let scope = Scope {
        attestations: false,
    };
    let outcome = verify::verify(&snapshot, keys.verifying_keys(), scope);
    outcome.findings.iter().map(|f| f.key()).collect()
}

/// Accepts the open alarm, so that the next finding raises a new one.
async fn acknowledge(app: &TestApp) {
    let store = &app.running().state.store;
    assert_eq!(store.acknowledge_alarms("admin:1", T0).await.unwrap(), 1);
    app.running().state.integrity.set(false);
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

/// Issues `n` codes; answers (voucher id, code) pairs.
async fn issue(app: &TestApp, token: &str, product: &str, n: i64) -> Vec<(i64, String)> {
    let pairs = app.issue_pairs(token, product, n).await;
    pairs
        .into_iter()
        .map(|(serial, code)| (voucher_row_id(Reference::parse(&serial).unwrap()), code))
        .collect()
}

/// Redeems (or reserves) a code; answers the redemption id.
async fn redeem(app: &TestApp, operator: &str, code: &str, mode: &str) -> i64 {
    let body = json!({ "code": code, "msisdn": "+33612345678", "mode": mode });
    let a = app.post("/v1/redemptions", operator, body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    a.body["id"].as_i64().unwrap()
}

async fn follow_up(app: &TestApp, operator: &str, id: i64, action: &str) {
    let path = format!("/v1/redemptions/{id}/{action}");
    let a = app.post(&path, operator, json!({})).await;
    assert!(a.status.is_success(), "{action}: {a:?}");
}

async fn sweep(app: &TestApp) {
    relay_topup::server::sweep_once(&app.running().state)
        .await
        .unwrap();
}

/// The chain's head seq.
async fn head(app: &TestApp) -> i64 {
    app.running().state.store.chain_status().await.unwrap().0
}

fn vrow(id: i64) -> String {
    format!("serial {} (id {id})", voucher_from_row_id(id).unwrap())
}

/// Every kind of event, some of them from concurrent writers, between
/// incremental checks: none finds anything, none falls back to a full
/// check, and the state follows the chain's head.
async fn a_busy_healthy_service_raises_nothing(db: Db) {
    let Some((app, clock)) = spawn(db).await else {
        return;
    };
    let admin = app.admin.clone();
    let mut periodic = IncrementalState::new();
    let first = integrity::check_incremental(&app.running().state, &mut periodic)
        .await
        .unwrap();
    assert_eq!(first.kind, CheckKind::Full, "nothing verified yet");
    clean(&first);

    let (_, st1) = app.funded_structure("Centre social", 100 * 1024).await;
    let s2 = app.structure("Ecole").await;
    let ends = relay_topup::clock::rfc3339(T0 + 10 * DAY);
    let path = format!("/v1/structures/{s2}/grants");
    let body =
        json!({ "operator_id": 1, "resource": "data_mb", "amount": 8192, "expires_at": ends });
    assert_eq!(
        app.post(&path, &admin, body).await.status,
        StatusCode::CREATED
    );
    let body =
        json!({ "operator_id": 1, "resource": "voice", "amount": 30, "recurrence": "monthly" });
    assert_eq!(
        app.post(&path, &admin, body).await.status,
        StatusCode::CREATED
    );
    app.grant(s2, "data_mb", 100 * 1024).await;
    let st2 = app.token("structure", Some(s2)).await;
    let op = app.token("operator", None).await;
    clean(&incremental(&app, &mut periodic).await);

    let a = issue(&app, &st1, "data-1gb", 8).await;
    let b = issue(&app, &st2, "data-1gb", 4).await;
    issue(&app, &st2, "voice-7d", 2).await;
    let void = app
        .post(
            &format!("/v1/vouchers/{}/void", vrow_serial(a[0].0)),
            &st1,
            json!({}),
        )
        .await;
    assert_eq!(void.status, StatusCode::OK, "{void:?}");
    redeem(&app, &op, &a[1].1, "redeem").await;
    let reversed = redeem(&app, &op, &a[2].1, "redeem").await;
    follow_up(&app, &op, reversed, "reverse").await;
    let confirmed = redeem(&app, &op, &a[3].1, "reserve").await;
    follow_up(&app, &op, confirmed, "confirm").await;
    let cancelled = redeem(&app, &op, &a[4].1, "reserve").await;
    follow_up(&app, &op, cancelled, "cancel").await;
    redeem(&app, &op, &b[0].1, "reserve").await;
    clean(&incremental(&app, &mut periodic).await);

    // Writers at once (on PostgreSQL, transactions that commit out of the
    // order they wrote their ledger entries in), checks between them.
    let writers = (0..4).map(|i| {
        let (app, st1, st2, op) = (&app, &st1, &st2, &op);
        async move {
            for _ in 0..3 {
                let token = if i % 2 == 0 { st1 } else { st2 };
                let codes = issue(app, token, "data-1gb", 3).await;
                redeem(app, op, &codes[0].1, "redeem").await;
            }
        }
    });
    let checks = async {
        let mut results = Vec::new();
        for _ in 0..6 {
            results.push(incremental(&app, &mut periodic).await);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        results
    };
    let (_, results) = tokio::join!(join_all(writers), checks);
    results.iter().for_each(clean);
    clean(&incremental(&app, &mut periodic).await);

    // Time passes: a hold times out, a grant lapses, codes drawn from it
    // expire, the monthly grant credits again; keys rotate, a token is
    // revoked, a product is saved, a checkpoint is signed.
    clock.advance(DAY);
    sweep(&app).await;
    clock.advance(10 * DAY);
    sweep(&app).await;
    clock.advance(80 * DAY);
    sweep(&app).await;
    let rotated = app.post("/v1/keys/rotate", &admin, json!({})).await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{rotated:?}");
    let (revoked, _) = token_with_id(&app, "auditor").await;
    let gone = app
        .request(
            Method::DELETE,
            &format!("/v1/tokens/{revoked}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{gone:?}");
    let product = json!({
        "id": "data-500mb", "operator_id": 1, "family": "data", "resource": "data_mb", "amount": 500,
        "validity_days": 30, "code_validity_days": 7,
        "label_fr": "500 Mo", "label_en": "500 MB",
    });
    assert_eq!(
        app.post("/v1/products", &admin, product).await.status,
        StatusCode::CREATED
    );
    issue(&app, &st1, "data-500mb", 2).await;
    integrity::checkpoint_once(&app.running().state, true)
        .await
        .unwrap();
    issue(&app, &st1, "data-1gb", 1).await;
    clean(&incremental(&app, &mut periodic).await);
    assert_eq!(periodic.verified_seq(), Some(head(&app).await));
    let kinds = event_kinds(&app).await;
    for kind in [
        "cancel",
        "confirm",
        "credit",
        "expire",
        "grant",
        "hold_timeout",
        "issue",
        "keys_rotated",
        "lapse",
        "product_saved",
        "redeem",
        "reserve",
        "reverse",
        "structure_created",
        "token_created",
        "token_revoked",
        "void",
    ] {
        assert!(kinds.contains(kind), "no {kind} event: {kinds:?}");
    }

    let full = integrity::check_full(&app.running().state, &mut periodic)
        .await
        .unwrap();
    assert_eq!(full.kind, CheckKind::Full);
    clean(&full);
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(a_busy_healthy_service_raises_nothing);

/// The kinds of event in the log.
async fn event_kinds(app: &TestApp) -> BTreeSet<String> {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT DISTINCT kind FROM events")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    rows.iter()
        .map(|r| sqlx::Row::try_get::<String, _>(r, "kind").unwrap())
        .collect()
}

fn vrow_serial(id: i64) -> String {
    voucher_from_row_id(id).unwrap().to_string()
}

async fn token_with_id(app: &TestApp, role: &str) -> (i64, String) {
    let a = app
        .post("/v1/tokens", &app.admin, common::token_body(role, None))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    (
        a.body["id"].as_i64().unwrap(),
        a.body["token"].as_str().unwrap().to_owned(),
    )
}

/// A row changed behind the service's back is found by the first
/// incremental check after a new event touches it, with the findings (and
/// keys) the full check has for it.
async fn a_tampered_row_a_new_event_touches_is_caught(db: Db) {
    let Some((app, _clock)) = spawn(db).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Secours", 100 * 1024).await;
    let op = app.token("operator", None).await;
    let codes = issue(&app, &structure, "data-1gb", 3).await;
    let mut periodic = IncrementalState::new();
    clean(
        &integrity::check_incremental(&app.running().state, &mut periodic)
            .await
            .unwrap(),
    );

    let (v, code) = codes[1].clone();
    tamper(
        &app,
        &format!("UPDATE vouchers SET amount = amount + 1024 WHERE id = {v}"),
    )
    .await;
    redeem(&app, &op, &code, "redeem").await;
    let result = incremental(&app, &mut periodic).await;
    assert!(
        result.new_findings > 0 && result.alarm_id.is_some(),
        "{result:?}"
    );
    assert!(app.running().state.integrity.is_halted());
    let expected = format!("voucher.field vouchers {} 1024", vrow(v));
    let keys = alarm_keys(&app).await;
    assert_eq!(keys, BTreeSet::from([expected]));
    assert_eq!(keys, full_keys(&app).await);
    app.stop().await;
}
both!(a_tampered_row_a_new_event_touches_is_caught);

/// A balance that no longer is the sum of its entries (nor what the events
/// say) is found once an event moves that quota; another structure's
/// activity does not read it. An entry added behind the back at the time
/// of a new operation is counted, and found unexplained.
async fn a_balance_that_disagrees_with_its_entries_is_caught(db: Db) {
    let Some((app, _clock)) = spawn(db).await else {
        return;
    };
    let (a, token_a) = app.funded_structure("A", 100 * 1024).await;
    let (_, token_b) = app.funded_structure("B", 100 * 1024).await;
    let mut periodic = IncrementalState::new();
    clean(
        &integrity::check_incremental(&app.running().state, &mut periodic)
            .await
            .unwrap(),
    );

    tamper(
        &app,
        &format!("UPDATE balances SET issued = issued + 5 WHERE structure_id = {a}"),
    )
    .await;
    issue(&app, &token_b, "data-1gb", 1).await;
    clean(&incremental(&app, &mut periodic).await);
    issue(&app, &token_a, "data-1gb", 1).await;
    let result = incremental(&app, &mut periodic).await;
    assert!(result.alarm_id.is_some(), "{result:?}");
    let keys = alarm_keys(&app).await;
    let balance = format!("structure {a} operator 1 data_mb");
    let expected = BTreeSet::from([
        format!("balance.issued balances {balance} 5"),
        format!("ledger.sum balances {balance} 5"),
    ]);
    assert_eq!(keys, expected);
    assert_eq!(keys, full_keys(&app).await);

    acknowledge(&app).await;
    tamper(
        &app,
        &format!(
            "INSERT INTO ledger (structure_id, operator_id, resource, kind, amount, at) \
             VALUES ({a}, 1, 'data_mb', 'grant', 100, {T0})"
        ),
    )
    .await;
    issue(&app, &token_a, "data-1gb", 1).await;
    let result = incremental(&app, &mut periodic).await;
    assert!(result.alarm_id.is_some(), "{result:?}");
    let keys = alarm_keys(&app).await;
    assert!(
        keys.iter()
            .any(|k| k.starts_with("ledger.unexplained ledger id ")),
        "{keys:?}"
    );
    assert!(
        keys.contains(&format!("ledger.sum balances {balance} -100")),
        "{keys:?}"
    );
    let accepted = BTreeSet::from_iter(expected);
    assert_eq!(keys, &full_keys(&app).await - &accepted);
    app.stop().await;
}
both!(a_balance_that_disagrees_with_its_entries_is_caught);

/// After the last verified point, an event whose link is broken, or one
/// deleted: the incremental check does not go on from there, it runs a
/// full check, which names the broken place.
async fn a_broken_chain_after_the_verified_point_is_caught(db: Db) {
    let Some((app, _clock)) = spawn(db).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Chaine", 100 * 1024).await;
    let mut periodic = IncrementalState::new();
    clean(
        &integrity::check_incremental(&app.running().state, &mut periodic)
            .await
            .unwrap(),
    );

    let verified = head(&app).await;
    issue(&app, &structure, "data-1gb", 3).await;
    let broken = verified + 2;
    let zeros = "0".repeat(64);
    tamper(
        &app,
        &format!("UPDATE events SET prev_hash = '{zeros}' WHERE seq = {broken}"),
    )
    .await;
    let result = integrity::check_incremental(&app.running().state, &mut periodic)
        .await
        .unwrap();
    assert_eq!(result.kind, CheckKind::Full, "fell back to a full check");
    let keys = alarm_keys(&app).await;
    assert!(
        keys.contains(&format!("chain.link events seq {broken} {zeros}")),
        "{keys:?}"
    );
    assert_eq!(keys, full_keys(&app).await);
    // The full check's result is where the next incremental one starts:
    // the broken link is behind it.
    acknowledge(&app).await;
    clean(&incremental(&app, &mut periodic).await);

    let verified = head(&app).await;
    issue(&app, &structure, "data-1gb", 3).await;
    tamper(
        &app,
        &format!("DELETE FROM events WHERE seq = {}", verified + 1),
    )
    .await;
    let result = integrity::check_incremental(&app.running().state, &mut periodic)
        .await
        .unwrap();
    assert_eq!(result.kind, CheckKind::Full, "fell back to a full check");
    let keys = alarm_keys(&app).await;
    assert!(
        keys.contains(&format!("chain.gap events seq {} 1", verified + 2)),
        "{keys:?}"
    );
    app.stop().await;
}
both!(a_broken_chain_after_the_verified_point_is_caught);

/// An old row no new event touches is not read by the incremental check;
/// the next full check finds it, whether run directly or on the server's
/// own slower schedule.
async fn an_old_untouched_row_is_caught_by_the_next_full_check(db: Db) {
    let Some((app, _clock)) = spawn(db).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Ancienne", 100 * 1024).await;
    let codes = issue(&app, &structure, "data-1gb", 3).await;
    let mut periodic = IncrementalState::new();
    clean(
        &integrity::check_incremental(&app.running().state, &mut periodic)
            .await
            .unwrap(),
    );

    let v = codes[0].0;
    tamper(
        &app,
        &format!("UPDATE vouchers SET amount = 1 WHERE id = {v}"),
    )
    .await;
    issue(&app, &structure, "data-1gb", 1).await;
    clean(&incremental(&app, &mut periodic).await);
    let result = integrity::check_full(&app.running().state, &mut periodic)
        .await
        .unwrap();
    assert_eq!(result.kind, CheckKind::Full);
    assert!(result.alarm_id.is_some(), "{result:?}");
    let expected = format!("voucher.field vouchers {} -1023", vrow(v));
    assert_eq!(alarm_keys(&app).await, BTreeSet::from([expected]));
    app.stop().await;

    // The server's own loop: incremental every second, full every three.
    let scheduled = Limits {
        integrity_check_secs: 1,
        full_integrity_check_secs: 3,
        ..limits()
    };
    let Some(app) = TestApp::spawn_with(db, scheduled, None).await else {
        return;
    };
    // A seeded product: no event touches it after the check at start.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tamper(
        &app,
        "UPDATE products SET label_en = 'Other' WHERE id = 'data-20gb'",
    )
    .await;
    for _ in 0..200 {
        if app
            .running()
            .state
            .store
            .open_alarm()
            .await
            .unwrap()
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expected = r#"product.field products id data-20gb "Other""#.to_owned();
    assert_eq!(alarm_keys(&app).await, BTreeSet::from([expected]));
    app.stop().await;
}
both!(an_old_untouched_row_is_caught_by_the_next_full_check);
