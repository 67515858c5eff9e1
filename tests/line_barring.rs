//! Per-line barring, on SQLite and PostgreSQL: five invalid codes from one
//! subscriber line in 24 hours bar that line (24 h, then twice as long each
//! time), before its codes are even read, while the gateway's token and
//! every other line go on topping up; `check` with a number counts too; a
//! bar recorded by one server holds on another.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::{Answer, Db, TestApp};
use relay_topup::clock::ManualClock;
use relay_topup::code::{Pin, PinRef};
use reqwest::StatusCode;
use serde_json::json;

const DAY: i64 = 86_400;
const START: i64 = 1_900_000_000;
const ATTACKER: &str = "+33611111111";
const NEIGHBOUR: &str = "+33622222222";

/// A PIN with a right check digit and a wrong tag, on the serial of `pin`.
fn forged_from(pin: &str, n: u32) -> String {
    let digits: String = pin.chars().filter(char::is_ascii_digit).collect();
    let key_id = digits[..1].parse().unwrap();
    let serial = digits[1..10].parse().unwrap();
    let real_tag: u32 = digits[10..19].parse().unwrap();
    let tag = (real_tag + 1 + n) % 1_000_000_000;
    Pin::from_parts(PinRef::new(key_id, serial).unwrap(), tag).to_string()
}

fn retry_after(a: &Answer) -> i64 {
    a.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

fn assert_barred(a: &Answer, at_most_secs: i64) {
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::TOO_MANY_REQUESTS, Some("locked_out")),
        "{a:?}"
    );
    let secs = retry_after(a);
    assert!(secs > at_most_secs - 60 && secs <= at_most_secs, "{secs}");
}

async fn issue_pins(app: &TestApp, structure: &str, count: i64) -> Vec<String> {
    let body = json!({ "product": "data-1gb", "count": count, "format": "pin" });
    let a = app.post("/v1/vouchers", structure, body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    a.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap().to_owned())
        .collect()
}

async fn five_failures_bar_the_line_not_the_gateway(db: Db) {
    let clock = ManualClock::new(START);
    let Some(app) = TestApp::spawn_with(db, common::test_limits(), Some(clock.clone())).await
    else {
        return;
    };
    let (_, structure) = app.funded_structure("Relais", 10 * 1024).await;
    let gateway = app.token("operator", None).await;
    let pins = issue_pins(&app, &structure, 4).await;

    // Four forged PINs: each one opaque answer, no bar yet.
    for n in 0..4 {
        let a = app
            .redeem(&gateway, &forged_from(&pins[0], n), ATTACKER)
            .await;
        assert_eq!(a.code(), Some("invalid_code"), "attempt {n}: {a:?}");
    }
    let a = app.redeem(&gateway, &pins[0], ATTACKER).await;
    assert_eq!(a.status, StatusCode::CREATED, "not barred yet: {a:?}");
    // The fifth bars the line; it is itself still answered invalid_code.
    let a = app
        .redeem(&gateway, &forged_from(&pins[1], 4), ATTACKER)
        .await;
    assert_eq!(a.code(), Some("invalid_code"), "{a:?}");

    // From now on the line is refused before its code is read: a genuine
    // PIN, a typo, a malformed code, a check with its number.
    assert_barred(&app.redeem(&gateway, &pins[1], ATTACKER).await, DAY);
    assert_barred(&app.redeem(&gateway, "1234", ATTACKER).await, DAY);
    let check = json!({ "code": pins[1], "msisdn": ATTACKER });
    assert_barred(
        &app.post("/v1/redemptions/check", &gateway, check).await,
        DAY,
    );

    // The gateway and its other lines are not.
    let a = app.redeem(&gateway, &pins[1], NEIGHBOUR).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    let check = json!({ "code": pins[2] });
    let a = app.post("/v1/redemptions/check", &gateway, check).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");

    // A day later the line may top up again; five more failures bar it for
    // two days.
    clock.advance(DAY);
    let a = app.redeem(&gateway, &pins[2], ATTACKER).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    for n in 10..15 {
        let a = app
            .redeem(&gateway, &forged_from(&pins[3], n), ATTACKER)
            .await;
        assert_eq!(a.code(), Some("invalid_code"), "{a:?}");
    }
    assert_barred(&app.redeem(&gateway, &pins[3], ATTACKER).await, 2 * DAY);
    clock.advance(2 * DAY);
    let a = app.redeem(&gateway, &pins[3], ATTACKER).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");

    // Ninety quiet days later the sweeper forgets the line, and its next
    // bar starts again from 24 h.
    assert_eq!(line_counters(&app).await, 1);
    clock.advance(90 * DAY);
    relay_topup::server::sweep_once(&app.running().state)
        .await
        .unwrap();
    assert_eq!(line_counters(&app).await, 0);
    for n in 20..25 {
        let a = app
            .redeem(&gateway, &forged_from(&pins[0], n), ATTACKER)
            .await;
        assert_eq!(a.code(), Some("invalid_code"), "{a:?}");
    }
    assert_barred(&app.redeem(&gateway, &pins[0], ATTACKER).await, DAY);
    common::assert_books_clean(&app).await;
    app.stop().await;
}

/// How many subscriber lines have a failure counter.
async fn line_counters(app: &TestApp) -> i64 {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    let row = sqlx::query("SELECT COUNT(*) AS n FROM failure_counters WHERE source LIKE 'line:%'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    row.try_get("n").unwrap()
}
both!(five_failures_bar_the_line_not_the_gateway);

/// A redemption from the attacker's line with an Idempotency-Key.
async fn send(app: &TestApp, gateway: &str, pin: &str, key: &str) -> Answer {
    let body = json!({ "code": pin, "msisdn": ATTACKER });
    let headers = [("Idempotency-Key", key)];
    let post = reqwest::Method::POST;
    app.request_with(post, "/v1/redemptions", Some(gateway), Some(body), &headers)
        .await
}

/// A redemption answered before its line was barred, retried with the same
/// Idempotency-Key, is answered the same: the operator may not have seen
/// the first answer, nor credited the line. Anything else from the line is
/// refused.
async fn a_retry_from_before_the_bar_is_answered_the_same(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Reprise", 2 * 1024).await;
    let gateway = app.token("operator", None).await;
    let pins = issue_pins(&app, &structure, 2).await;
    let first = send(&app, &gateway, &pins[0], "session-1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    for n in 0..5 {
        let a = app
            .redeem(&gateway, &forged_from(&pins[1], n), ATTACKER)
            .await;
        assert_eq!(a.code(), Some("invalid_code"), "{a:?}");
    }
    let again = send(&app, &gateway, &pins[0], "session-1").await;
    assert_eq!(
        (again.status, &again.body),
        (StatusCode::CREATED, &first.body)
    );
    assert_barred(&send(&app, &gateway, &pins[1], "session-2").await, DAY);
    // The same key for another PIN is a conflict, whatever the line.
    let reused = send(&app, &gateway, &pins[1], "session-1").await;
    assert_eq!(reused.code(), Some("idempotency_conflict"), "{reused:?}");
    app.stop().await;
}
both!(a_retry_from_before_the_bar_is_answered_the_same);

/// A check that names the subscriber's number counts towards its bar; one
/// that names none counts only against the operator.
async fn checks_with_a_number_count_towards_the_bar(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Vérifications", 2 * 1024).await;
    let gateway = app.token("operator", None).await;
    let pins = issue_pins(&app, &structure, 1).await;
    for n in 0..10 {
        let body = json!({ "code": forged_from(&pins[0], n) });
        let a = app.post("/v1/redemptions/check", &gateway, body).await;
        assert_eq!(a.code(), Some("invalid_code"), "{a:?}");
    }
    let a = app.redeem(&gateway, &pins[0], ATTACKER).await;
    assert_eq!(a.status, StatusCode::CREATED, "no number, no bar: {a:?}");
    let pins = issue_pins(&app, &structure, 1).await;
    for n in 0..5 {
        let body = json!({ "code": forged_from(&pins[0], n), "msisdn": NEIGHBOUR });
        let a = app.post("/v1/redemptions/check", &gateway, body).await;
        assert_eq!(a.code(), Some("invalid_code"), "{a:?}");
    }
    assert_barred(&app.redeem(&gateway, &pins[0], NEIGHBOUR).await, DAY);
    // A number that is not E.164 is refused, and counts nothing.
    let body = json!({ "code": pins[0], "msisdn": "0612345678" });
    let a = app.post("/v1/redemptions/check", &gateway, body).await;
    assert_eq!(
        (a.code(), a.body["field"].as_str()),
        (Some("validation_failed"), Some("msisdn"))
    );
    app.stop().await;
}
both!(checks_with_a_number_count_towards_the_bar);

/// Bars live in the database: four failures on one server and the fifth
/// on another bar the line on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bar_on_one_server_holds_on_the_other_on_postgres() {
    let Some(app) = TestApp::spawn(Db::Postgres).await else {
        return;
    };
    let second = app.second_server(common::test_limits()).await;
    let second_base = format!("http://{}", second.addr);
    let (_, structure) = app.funded_structure("Deux serveurs", 2 * 1024).await;
    let gateway = app.token("operator", None).await;
    let pins = issue_pins(&app, &structure, 2).await;
    let redeem_on = |base: String, code: String| {
        let req = app
            .client
            .post(format!("{base}/v1/redemptions"))
            .bearer_auth(&gateway)
            .json(&json!({ "code": code, "msisdn": ATTACKER }));
        async move { common::read(req.send().await.unwrap()).await }
    };
    for n in 0..4 {
        let a = redeem_on(app.base.clone(), forged_from(&pins[0], n)).await;
        assert_eq!(a.code(), Some("invalid_code"), "{a:?}");
    }
    let a = redeem_on(second_base.clone(), forged_from(&pins[0], 4)).await;
    assert_eq!(a.code(), Some("invalid_code"), "{a:?}");
    for base in [app.base.clone(), second_base] {
        assert_barred(&redeem_on(base, pins[1].clone()).await, DAY);
    }
    second.shutdown().await.unwrap();
    app.stop().await;
}

/// A barred line is unbarred by the coordinator, at the desk, through the
/// API and on the command line: at once, with its failures forgotten, on
/// the audit chain with the actor and the reason but never the number; a
/// line never barred changes nothing; only the coordinator may.
async fn the_coordinator_unbars_a_line(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Relais", 10 * 1024).await;
    let gateway = app.token("operator", None).await;
    let pins = issue_pins(&app, &structure, 3).await;
    let bar = |pin: String| {
        let (app, gateway) = (&app, gateway.clone());
        async move {
            for n in 0..5 {
                let a = app.redeem(&gateway, &forged_from(&pin, n), ATTACKER).await;
                assert_eq!(a.code(), Some("invalid_code"), "{a:?}");
            }
        }
    };
    bar(pins[0].clone()).await;
    assert_barred(&app.redeem(&gateway, &pins[0], ATTACKER).await, DAY);

    // At the desk, as a person would type the number.
    let coordinator = app.person(&app.admin, "coordinator", None).await;
    let mut desk = common::desk::Browser::sign_in_as(&app, &coordinator).await;
    let csrf = desk.csrf_on("/desk/coordination/lines").await;
    let refused = desk
        .post(
            "/desk/coordination/lines",
            &[
                ("csrf", &csrf),
                ("msisdn", "06 11 11 11 11"),
                ("reason", "code mal recopié"),
            ],
        )
        .await;
    refused.assert_says(StatusCode::UNPROCESSABLE_ENTITY, "format international");
    assert!(
        refused.text.contains("value=\"code mal recopié\""),
        "{}",
        refused.text
    );
    let done = desk
        .post(
            "/desk/coordination/lines",
            &[
                ("csrf", &csrf),
                ("msisdn", "+33 6 11 11 11 11"),
                ("reason", "code mal recopié"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    desk.get(done.location())
        .await
        .assert_says(StatusCode::OK, "La ligne est débloquée");
    let a = app.redeem(&gateway, &pins[0], ATTACKER).await;
    assert_eq!(a.status, StatusCode::CREATED, "unbarred at once: {a:?}");
    // Its failures are forgotten: four more do not bar it.
    for n in 10..14 {
        let a = app
            .redeem(&gateway, &forged_from(&pins[1], n), ATTACKER)
            .await;
        assert_eq!(a.code(), Some("invalid_code"), "{a:?}");
    }
    let a = app.redeem(&gateway, &pins[1], ATTACKER).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");

    // Through the API: a line never barred changes nothing; a structure's
    // token may not; a number that is not E.164 is refused by name.
    let body = |msisdn: &str| json!({ "msisdn": msisdn, "reason": "vérifié" });
    let never = app
        .post("/v1/lines/unbar", &app.admin, body(NEIGHBOUR))
        .await;
    assert_eq!(never.status, StatusCode::OK, "{never:?}");
    assert_eq!(
        never.body,
        json!({ "unbarred": false, "was_barred": false })
    );
    let refused = app
        .post("/v1/lines/unbar", &structure, body(ATTACKER))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    let bad = app
        .post("/v1/lines/unbar", &app.admin, body("0611111111"))
        .await;
    assert_eq!(bad.body["field"], "msisdn", "{bad:?}");
    let blank = app
        .post(
            "/v1/lines/unbar",
            &app.admin,
            json!({ "msisdn": ATTACKER, "reason": " " }),
        )
        .await;
    assert_eq!(blank.body["field"], "reason", "{blank:?}");
    // The four failures above and a fifth bar the line again, for a day:
    // its earlier bar was forgotten with its failures.
    let a = app
        .redeem(&gateway, &forged_from(&pins[2], 20), ATTACKER)
        .await;
    assert_eq!(a.code(), Some("invalid_code"), "{a:?}");
    assert_barred(&app.redeem(&gateway, &pins[2], ATTACKER).await, DAY);
    let lifted = app
        .post("/v1/lines/unbar", &app.admin, body(ATTACKER))
        .await;
    assert_eq!(
        lifted.body,
        json!({ "unbarred": true, "was_barred": true }),
        "{lifted:?}"
    );

    // On the command line.
    bar(pins[2].clone()).await;
    assert_barred(&app.redeem(&gateway, &pins[2], ATTACKER).await, DAY);
    let key_file = app.dir.path().join("test.keys");
    let run = common::cli(
        &app.database_url,
        &key_file,
        &[
            "line",
            "unbar",
            ATTACKER,
            "--reason",
            "appel de la structure",
        ],
    );
    assert!(run.ok(), "{run:?}");
    assert_eq!(run.last_line(), "unbarred");
    let a = app.redeem(&gateway, &pins[2], ATTACKER).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");

    // The chain says who, why, and which line by its hash only.
    let auditor = app.token("auditor", None).await;
    let events = app.get("/v1/audit/events?limit=500", &auditor).await;
    let unbars: Vec<&serde_json::Value> = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "line_unbarred")
        .collect();
    assert_eq!(unbars.len(), 3, "{events:?}");
    assert_eq!(unbars[0]["actor_name"], "Amina B.", "{:?}", unbars[0]);
    assert_eq!(unbars[2]["actor"], "cli", "{:?}", unbars[2]);
    assert!(!events.text.contains("611111111"), "a number in the chain");
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(the_coordinator_unbars_a_line);
