//! The donor report on a scripted history with a manual clock: known
//! answers per month and structure, its CSV, its agreement with the audit
//! report, its defaults and who may read it. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::{Db, FIRST_NETWORK, SECOND_NETWORK, TestApp, busy_limits};
use relay_topup::clock::{ManualClock, rfc3339};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// 2031-03-01T01:00:00Z.
const T0: i64 = 1_930_093_200;
const DAY: i64 = 86_400;
/// The period: March and April 2031.
const FROM: &str = "2031-03-01T00:00:00Z";
const TO: &str = "2031-05-01T00:00:00Z";

struct History {
    app: TestApp,
    clock: ManualClock,
    alpha: i64,
    beta: i64,
}

async fn grant(app: &TestApp, structure: i64, operator: i64, resource: &str, amount: i64) {
    grant_until(app, structure, operator, resource, amount, None).await;
}

async fn grant_until(
    app: &TestApp,
    structure: i64,
    operator: i64,
    resource: &str,
    amount: i64,
    expires_at: Option<i64>,
) {
    let mut body = json!({ "operator_id": operator, "resource": resource, "amount": amount });
    if let Some(t) = expires_at {
        body["expires_at"] = json!(rfc3339(t));
    }
    let a = app
        .post(
            &format!("/v1/structures/{structure}/grants"),
            &app.admin,
            body,
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
}

/// Issues `count` of `product`; answers their codes.
async fn issue(app: &TestApp, token: &str, product: &str, count: i64) -> Vec<String> {
    let a = app.issue(token, product, count).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    a.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap().to_owned())
        .collect()
}

async fn post_ok(app: &TestApp, path: &str, token: &str, body: Option<Value>) -> Value {
    let a = app.request(Method::POST, path, Some(token), body).await;
    assert!(a.status.is_success(), "{path}: {a:?}");
    a.body
}

/// The scripted history (figures in the comments are what the report must
/// say):
/// - Alpha: 10 GB of data and 14 days of voice on SFR, 5 GB on Orange.
///   Issues five 1 GB codes, one short-lived 1 GB code and one 7-day voice
///   code on SFR, and one 1 GB code on Orange, on day 0.
///   Day 2 redeems code 1, day 4 code 2 (reversed an hour later), day 5
///   voids code 3, day 6 reserves code 4 and confirms it a minute later,
///   day 8 redeems the voice code; the short code expires on day 10; day 35
///   (April) redeems code 5. Orange redeems its code on day 3.
/// - Beta: 4 GB on SFR until day 20, issues one 1 GB code on day 0; the
///   remaining 3 GB lapse.
async fn history(db: Db) -> Option<History> {
    let clock = ManualClock::new(T0);
    let app = TestApp::spawn_with(db, busy_limits(), Some(clock.clone())).await?;
    let short = json!({
        "id": "data-1gb-10d", "operator_id": FIRST_NETWORK, "family": "data",
        "resource": "data_mb", "amount": 1024, "validity_days": 30, "code_validity_days": 10,
        "label_fr": "1 Go, code valable 10 jours", "label_en": "1 GB, code valid 10 days"
    });
    post_ok(&app, "/v1/products", &app.admin, Some(short)).await;
    let alpha = app.structure("Alpha, accueil de jour").await;
    let beta = app.structure("=Beta").await;
    grant(&app, alpha, FIRST_NETWORK, "data_mb", 10 * 1024).await;
    grant(&app, alpha, FIRST_NETWORK, "voice", 14).await;
    grant(&app, alpha, SECOND_NETWORK, "data_mb", 5 * 1024).await;
    grant_until(
        &app,
        beta,
        FIRST_NETWORK,
        "data_mb",
        4 * 1024,
        Some(T0 + 20 * DAY),
    )
    .await;
    let a = app.token("structure", Some(alpha)).await;
    let b = app.token("structure", Some(beta)).await;
    let data = issue(&app, &a, "data-1gb", 5).await;
    let short = issue(&app, &a, "data-1gb-10d", 1).await;
    let voice = issue(&app, &a, "voice-7d", 1).await;
    let orange = issue(&app, &a, "orange-data-1gb", 1).await;
    issue(&app, &b, "data-1gb", 1).await;
    let sfr = app.token("operator", None).await;
    let orange_op = app.network_token(SECOND_NETWORK).await;
    let redeem = |token: String, code: String| {
        let app = &app;
        async move {
            let body = json!({ "code": code, "msisdn": "+33612345678" });
            post_ok(app, "/v1/redemptions", &token, Some(body)).await
        }
    };

    clock.set(T0 + 2 * DAY);
    redeem(sfr.clone(), data[0].clone()).await;
    clock.set(T0 + 3 * DAY);
    redeem(orange_op.clone(), orange[0].clone()).await;
    clock.set(T0 + 4 * DAY);
    let second = redeem(sfr.clone(), data[1].clone()).await;
    clock.set(T0 + 4 * DAY + 3_600);
    post_ok(
        &app,
        &format!("/v1/redemptions/{}/reverse", second["id"]),
        &sfr,
        None,
    )
    .await;
    clock.set(T0 + 5 * DAY);
    let serial = &data[2][..9];
    post_ok(&app, &format!("/v1/vouchers/{serial}/void"), &a, None).await;
    clock.set(T0 + 6 * DAY);
    let body = json!({ "code": data[3], "msisdn": "+33612345678", "mode": "reserve" });
    let held = post_ok(&app, "/v1/redemptions", &sfr, Some(body)).await;
    clock.set(T0 + 6 * DAY + 60);
    post_ok(
        &app,
        &format!("/v1/redemptions/{}/confirm", held["id"]),
        &sfr,
        None,
    )
    .await;
    clock.set(T0 + 8 * DAY);
    redeem(sfr.clone(), voice[0].clone()).await;
    // Day 21: the short code has expired (day 10), Beta's grant ended
    // (day 20).
    clock.set(T0 + 21 * DAY);
    relay_topup::server::sweep_once(&app.running().state)
        .await
        .unwrap();
    assert_eq!(short.len(), 1);
    clock.set(T0 + 35 * DAY);
    redeem(sfr.clone(), data[4].clone()).await;
    Some(History {
        app,
        clock,
        alpha,
        beta,
    })
}

async fn donor(app: &TestApp, token: &str, query: &str) -> Value {
    let a = app.get(&format!("/v1/reports/donor?{query}"), token).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    a.body
}

/// The figures of a row or a total, without its place.
fn figures(line: &Value) -> Value {
    let mut f = line.clone();
    for key in ["month", "structure_id", "structure_name", "resource"] {
        f.as_object_mut().unwrap().remove(key);
    }
    f
}

#[allow(clippy::too_many_arguments)] // One row's worth of columns.
fn row(
    granted: i64,
    issued: i64,
    redeemed: (i64, i64),
    voided: i64,
    expired: i64,
    lapsed: i64,
    rate: Option<f64>,
    median_days: Option<f64>,
) -> Value {
    json!({
        "granted": granted, "issued": issued, "redeemed_count": redeemed.0,
        "redeemed_amount": redeemed.1, "voided": voided, "expired": expired, "lapsed": lapsed,
        "redemption_rate": rate, "median_days_to_redemption": median_days,
    })
}

async fn known_answers_per_month_and_structure(db: Db) {
    let Some(h) = history(db).await else {
        return;
    };
    let (app, alpha, beta) = (&h.app, h.alpha, h.beta);
    let auditor = app.token("auditor", None).await;
    let report = donor(app, &auditor, &format!("operator_id=1&from={FROM}&to={TO}")).await;
    assert_eq!(report["operator_name"], "SFR");
    assert_eq!(
        (report["from"].as_str(), report["to"].as_str()),
        (Some(FROM), Some(TO))
    );
    let places: Vec<(String, i64, String)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["month"].as_str().unwrap().to_owned(),
                r["structure_id"].as_i64().unwrap(),
                r["resource"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        places,
        vec![
            ("2031-03".into(), alpha, "data_mb".into()),
            ("2031-03".into(), alpha, "voice".into()),
            ("2031-03".into(), beta, "data_mb".into()),
            ("2031-04".into(), alpha, "data_mb".into()),
        ]
    );
    let rows: Vec<Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(figures)
        .collect();
    // Alpha's March data: 3 redemptions (2, 4 and 6 days after issue), one
    // reversed: 2 GB net of the 6 GB issued; the median delay is 4 days.
    assert_eq!(
        rows[0],
        row(
            10240,
            6144,
            (2, 2048),
            1024,
            1024,
            0,
            Some(0.3333),
            Some(4.0)
        )
    );
    assert_eq!(rows[1], row(14, 7, (1, 7), 0, 0, 0, Some(1.0), Some(8.0)));
    assert_eq!(
        rows[2],
        row(4096, 1024, (0, 0), 0, 0, 3072, Some(0.0), None)
    );
    assert_eq!(rows[3], row(0, 0, (1, 1024), 0, 0, 0, None, Some(35.0)));
    assert_eq!(report["rows"][2]["structure_name"], "=Beta");
    // Totals per resource; the data median is over all four delays
    // (2, 4, 6 and 35 days: 5 days and 30 seconds).
    let totals: Vec<(String, Value)> = report["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["resource"].as_str().unwrap().to_owned(), figures(t)))
        .collect();
    assert_eq!(
        totals,
        vec![
            (
                "data_mb".into(),
                row(
                    14336,
                    7168,
                    (3, 3072),
                    1024,
                    1024,
                    3072,
                    Some(0.4286),
                    Some(5.0)
                )
            ),
            (
                "voice".into(),
                row(14, 7, (1, 7), 0, 0, 0, Some(1.0), Some(8.0))
            ),
        ]
    );
    // The other network's donor sees only its own: Alpha's Orange code.
    let orange = donor(
        app,
        &app.admin,
        &format!("operator_id=2&from={FROM}&to={TO}"),
    )
    .await;
    assert_eq!(orange["operator_name"], "Orange");
    assert_eq!(orange["rows"].as_array().unwrap().len(), 1, "{orange}");
    assert_eq!(orange["rows"][0]["structure_id"], alpha);
    assert_eq!(
        figures(&orange["rows"][0]),
        row(5120, 1024, (1, 1024), 0, 0, 0, Some(1.0), Some(3.0))
    );
    h.app.stop().await;
}
both!(known_answers_per_month_and_structure);

/// Over the same period, the donor rows of a network add up to the audit
/// report's rows for that network, structure by structure.
async fn the_donor_report_agrees_with_the_audit_report(db: Db) {
    let Some(h) = history(db).await else {
        return;
    };
    let app = &h.app;
    let auditor = app.token("auditor", None).await;
    let audit = app
        .get(&format!("/v1/audit/report?from={FROM}&to={TO}"), &auditor)
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{audit:?}");
    for operator in [FIRST_NETWORK, SECOND_NETWORK] {
        let report = donor(
            app,
            &auditor,
            &format!("operator_id={operator}&from={FROM}&to={TO}"),
        )
        .await;
        let mut checked = 0;
        for a in audit.body["rows"].as_array().unwrap() {
            if a["operator_id"] != operator {
                continue;
            }
            let mine: Vec<&Value> = report["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| {
                    r["structure_id"] == a["structure_id"] && r["resource"] == a["resource"]
                })
                .collect();
            let sum = |key: &str| mine.iter().map(|r| r[key].as_i64().unwrap()).sum::<i64>();
            let what = format!("operator {operator}: {a} against {mine:?}");
            assert_eq!(sum("granted"), a["granted"].as_i64().unwrap(), "{what}");
            assert_eq!(sum("issued"), a["issued"].as_i64().unwrap(), "{what}");
            assert_eq!(sum("voided"), a["voided"].as_i64().unwrap(), "{what}");
            assert_eq!(sum("expired"), a["expired"].as_i64().unwrap(), "{what}");
            assert_eq!(sum("lapsed"), a["lapsed"].as_i64().unwrap(), "{what}");
            let net = a["redeemed"].as_i64().unwrap() - a["reversed"].as_i64().unwrap();
            assert_eq!(sum("redeemed_amount"), net, "{what}");
            checked += 1;
        }
        assert!(checked >= 1, "no audit row for operator {operator}");
        // And no donor row the audit report does not have.
        for r in report["rows"].as_array().unwrap() {
            let known = audit.body["rows"].as_array().unwrap().iter().any(|a| {
                a["operator_id"] == operator
                    && a["structure_id"] == r["structure_id"]
                    && a["resource"] == r["resource"]
            });
            assert!(known, "{r}");
        }
    }
    h.app.stop().await;
}
both!(the_donor_report_agrees_with_the_audit_report);

/// The CSV's header and rows, byte for byte; the periods' defaults; who
/// may read it.
async fn csv_defaults_and_access(db: Db) {
    let Some(h) = history(db).await else {
        return;
    };
    let app = &h.app;
    let csv = app
        .request_with(
            Method::GET,
            &format!("/v1/reports/donor?operator_id=1&from={FROM}&to={TO}"),
            Some(&app.admin),
            None,
            &[("accept", "text/csv")],
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK, "{csv:?}");
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let (alpha, beta) = (h.alpha, h.beta);
    let expected = format!(
        "{}\n\
         2031-03,{alpha},\"Alpha, accueil de jour\",data_mb,10240,6144,2,2048,1024,1024,0,0.3333,4\n\
         2031-03,{alpha},\"Alpha, accueil de jour\",voice,14,7,1,7,0,0,0,1,8\n\
         2031-03,{beta},'=Beta,data_mb,4096,1024,0,0,0,0,3072,0,\n\
         2031-04,{alpha},\"Alpha, accueil de jour\",data_mb,0,0,1,1024,0,0,0,,35\n\
         total,,,data_mb,14336,7168,3,3072,1024,1024,3072,0.4286,5\n\
         total,,,voice,14,7,1,7,0,0,0,1,8\n",
        relay_topup::http::donor::DONOR_CSV_HEADER
    );
    assert_eq!(csv.text, expected);
    assert_eq!(
        relay_topup::http::donor::DONOR_CSV_HEADER,
        "month,structure_id,structure_name,resource,granted,issued,redeemed_count,\
         redeemed_amount,voided,expired,lapsed,redemption_rate,median_days_to_redemption"
    );

    // Without a period: the current calendar month, April here.
    let april = donor(app, &app.admin, "operator_id=1").await;
    assert_eq!(
        (april["from"].as_str(), april["to"].as_str()),
        (Some("2031-04-01T00:00:00Z"), Some("2031-05-01T00:00:00Z"))
    );
    assert_eq!(april["rows"].as_array().unwrap().len(), 1, "{april}");
    assert_eq!(april["rows"][0]["month"], "2031-04");
    // Back in March, the default follows the clock.
    h.clock.set(T0 + 10 * DAY);
    let march = donor(app, &app.admin, "operator_id=1&to=2031-03-02T00:00:00Z").await;
    assert_eq!(march["from"], "2031-03-01T00:00:00Z");
    assert_eq!(march["rows"].as_array().unwrap().len(), 3, "{march}");

    // Refusals: no such operator, a bad period, another role.
    let a = app
        .get("/v1/reports/donor?operator_id=99", &app.admin)
        .await;
    assert_eq!(a.code(), Some("not_found"), "{a:?}");
    let a = app
        .get(
            &format!("/v1/reports/donor?operator_id=1&from={TO}&to={FROM}"),
            &app.admin,
        )
        .await;
    assert_eq!(a.code(), Some("validation_failed"), "{a:?}");
    let a = app.get("/v1/reports/donor", &app.admin).await;
    assert_eq!(a.code(), Some("validation_failed"), "{a:?}");
    let structure = app.token("structure", Some(h.alpha)).await;
    let operator = app.token("operator", None).await;
    for token in [&structure, &operator] {
        let a = app.get("/v1/reports/donor?operator_id=1", token).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{a:?}");
    }
    h.app.stop().await;
}
both!(csv_defaults_and_access);

// ---------------------------------------------------------------------------
// Roll-ups per association
// ---------------------------------------------------------------------------

/// A structure under `parent`, through the API.
async fn member_of(app: &TestApp, name: &str, parent: i64) -> i64 {
    let body = json!({ "name": name, "parent_id": parent });
    post_ok(app, "/v1/structures", &app.admin, Some(body)).await["id"]
        .as_i64()
        .unwrap()
}

/// An association with two members: the coordinator grants it 10 GB, it
/// passes 4 GB to one member and 2 GB to the other, takes 1 GB back from
/// the second; the first issues two 1 GB codes, the association one. A
/// structure outside any association issues one. Both reports add each
/// association up (its own row and its members'), and nothing else: what
/// moved inside the tree cancels out, what left it (issue) does not.
async fn reports_roll_up_per_association(db: Db) {
    let clock = ManualClock::new(T0);
    let Some(app) = TestApp::spawn_with(db, busy_limits(), Some(clock.clone())).await else {
        return;
    };
    let association = app.structure("Secours de quartier").await;
    let first = member_of(&app, "Antenne Nord", association).await;
    let second = member_of(&app, "Antenne Sud", association).await;
    let alone = app.structure("Centre isolé").await;
    grant(&app, association, FIRST_NETWORK, "data_mb", 10 * 1024).await;
    grant(&app, alone, FIRST_NETWORK, "data_mb", 2 * 1024).await;
    let a_token = app.token("structure", Some(association)).await;
    let quota = |gb: i64| json!({ "operator_id": FIRST_NETWORK, "resource": "data_mb", "amount": gb * 1024 });
    for (member, kind, gb) in [
        (first, "allocations", 4),
        (second, "allocations", 2),
        (second, "clawbacks", 1),
    ] {
        let path = format!("/v1/structures/{member}/{kind}");
        post_ok(&app, &path, &a_token, Some(quota(gb))).await;
    }
    let first_token = app.token("structure", Some(first)).await;
    issue(&app, &first_token, "data-1gb", 2).await;
    issue(&app, &a_token, "data-1gb", 1).await;
    let alone_token = app.token("structure", Some(alone)).await;
    issue(&app, &alone_token, "data-1gb", 1).await;

    let auditor = app.token("auditor", None).await;
    let audit = app
        .get(&format!("/v1/audit/report?from={FROM}&to={TO}"), &auditor)
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{audit:?}");
    let rolled = audit.body["associations"].as_array().unwrap();
    assert_eq!(rolled.len(), 1, "only the association rolls up: {rolled:?}");
    let r = &rolled[0];
    assert_eq!(r["structure_id"], association);
    let numbers: Vec<i64> = ["granted", "received", "sent", "issued", "closing"]
        .iter()
        .map(|k| r[*k].as_i64().unwrap())
        .collect();
    // Inside the tree 4 + 2 + 1 GB were received and as much sent.
    assert_eq!(numbers, [10240, 7168, 7168, 3072, 7168], "{r}");
    assert_eq!(r["adds_up"], true, "{r}");
    // Each member's own row says what moved through it.
    let row_of = |id: i64| {
        audit.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["structure_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (
            row_of(second)["received"].as_i64(),
            row_of(second)["sent"].as_i64()
        ),
        (Some(2048), Some(1024))
    );

    let report = donor(
        &app,
        &auditor,
        &format!("operator_id={FIRST_NETWORK}&from={FROM}&to={TO}"),
    )
    .await;
    let lines = report["associations"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["structure_id"], association);
    assert_eq!(lines[0]["structure_name"], "Secours de quartier");
    assert_eq!(
        figures(&lines[0]),
        row(10240, 3072, (0, 0), 0, 0, 0, Some(0.0), None)
    );
    let csv = app
        .request_with(
            Method::GET,
            &format!("/v1/reports/donor?operator_id={FIRST_NETWORK}&from={FROM}&to={TO}"),
            Some(&auditor),
            None,
            &[("accept", "text/csv")],
        )
        .await;
    assert!(
        csv.text
            .lines()
            .any(|l| l.starts_with(&format!("association,{association},Secours de quartier,"))),
        "{}",
        csv.text
    );
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(reports_roll_up_per_association);
