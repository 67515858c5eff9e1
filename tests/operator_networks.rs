//! Operator networks: every top-up belongs to one operator's network, an
//! operator acts on its own network's vouchers only, and quota granted for
//! one network never pays for another's. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::collections::BTreeSet;

use common::{Answer, Db, FIRST_NETWORK, SECOND_NETWORK, TestApp, busy_limits, cli, metric};
use futures::future::join_all;
use relay_topup::code::{self, KeySet};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A code or PIN of the same serial and format as `genuine`, signed with
/// keys this deployment never had: well formed, right check digits, wrong
/// tag. What a forger sends.
fn forged(genuine: &str) -> String {
    let keys = KeySet::from_material(&relay_topup::keyfile::generate().unwrap()).unwrap();
    let reference = code::read(genuine).unwrap().reference();
    keys.encode(reference).unwrap()
}

/// What a caller can tell from an answer: its status and its whole body.
fn seen(a: &Answer) -> (StatusCode, Value) {
    (a.status, a.body.clone())
}

/// The operator endpoints the API document lists, as (method, path).
async fn operator_endpoints(app: &TestApp) -> BTreeSet<(String, String)> {
    let doc = app
        .request(Method::GET, "/openapi.json", None, None)
        .await
        .body;
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let tags = op["tags"].as_array().cloned().unwrap_or_default();
            if tags.iter().any(|t| t == "operator") {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

/// Network A's vouchers as network B's operator finds them: for every
/// operator endpoint of the router, B acting on A's genuine code, PIN or
/// redemption gets exactly the answer it gets for a forgery (same status,
/// same body), each counts as a failed attempt like a forgery, and A's
/// vouchers are untouched.
async fn another_network_gets_what_a_forger_gets(db: Db) {
    let Some(app) = TestApp::spawn_with(db, busy_limits(), None).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Secours populaire", 10 * 1024).await;
    let issued = app.issue(&structure, "data-1gb", 3).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{issued:?}");
    let codes: Vec<String> = issued.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap().to_owned())
        .collect();
    let pins = app
        .post(
            "/v1/vouchers",
            &structure,
            json!({ "product": "data-1gb", "count": 1, "format": "pin" }),
        )
        .await;
    assert_eq!(pins.status, StatusCode::CREATED, "{pins:?}");
    let pin = pins.body["vouchers"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = app.token("operator", None).await;
    let b = app.network_token(SECOND_NETWORK).await;
    let redeemed = app.redeem(&a, &codes[0], "+33611111111").await;
    assert_eq!(redeemed.status, StatusCode::CREATED, "{redeemed:?}");
    let reserved = app
        .post(
            "/v1/redemptions",
            &a,
            json!({ "code": codes[1], "msisdn": "+33622222222", "mode": "reserve" }),
        )
        .await;
    assert_eq!(reserved.status, StatusCode::CREATED, "{reserved:?}");
    let issued_code = codes[2].clone();
    // Their ids, and one that was never made.
    let ids = [
        redeemed.body["id"].as_i64().unwrap(),
        reserved.body["id"].as_i64().unwrap(),
    ];
    let never_made = 9_999_999;

    let endpoints = operator_endpoints(&app).await;
    let mut covered = BTreeSet::new();
    let mut leaks = Vec::new();
    let mut compare = |what: String, theirs: &Answer, forgery: &Answer| {
        if seen(theirs) != seen(forgery) {
            leaks.push(format!(
                "{what}:\n  theirs {theirs:?}\n  forged {forgery:?}"
            ));
        }
    };
    let invalid_before = metric(&app, "relay_topup_invalid_codes_total").await;
    let mut failed_attempts = 0;
    for (method, path) in &endpoints {
        covered.insert((method.clone(), path.clone()));
        match (method.as_str(), path.as_str()) {
            ("POST", "/v1/redemptions/check") => {
                for genuine in [&codes[0], &codes[1], &issued_code, &pin] {
                    let body = |c: &str| json!({ "code": c, "msisdn": "+33633333333" });
                    let theirs = app.post(path, &b, body(genuine)).await;
                    let forgery = app.post(path, &b, body(&forged(genuine))).await;
                    compare(format!("check {genuine}"), &theirs, &forgery);
                    failed_attempts += 2;
                }
            }
            ("POST", "/v1/redemptions") => {
                for mode in ["redeem", "reserve"] {
                    for genuine in [&codes[0], &codes[1], &issued_code, &pin] {
                        let body =
                            |c: &str| json!({ "code": c, "msisdn": "+33644444444", "mode": mode });
                        let theirs = app.post(path, &b, body(genuine)).await;
                        let forgery = app.post(path, &b, body(&forged(genuine))).await;
                        compare(format!("{mode} {genuine}"), &theirs, &forgery);
                        failed_attempts += 2;
                    }
                }
            }
            ("POST", follow_up) if follow_up.starts_with("/v1/redemptions/{id}/") => {
                for id in ids {
                    let at = |id: i64| follow_up.replace("{id}", &id.to_string());
                    let theirs = app.request(Method::POST, &at(id), Some(&b), None).await;
                    let forgery = app
                        .request(Method::POST, &at(never_made), Some(&b), None)
                        .await;
                    compare(format!("{follow_up} of {id}"), &theirs, &forgery);
                }
            }
            ("GET", "/v1/redemptions") => {
                // B's statement, with A's redemptions made, is what it was
                // with none: empty.
                for accept in ["application/json", "text/csv"] {
                    let theirs = app
                        .request_with(Method::GET, path, Some(&b), None, &[("accept", accept)])
                        .await;
                    assert_eq!(theirs.status, StatusCode::OK, "{theirs:?}");
                    if accept == "text/csv" {
                        assert_eq!(theirs.text.lines().count(), 1, "{theirs:?}");
                    } else {
                        assert_eq!(theirs.body["redemptions"], json!([]), "{theirs:?}");
                    }
                }
            }
            _ => panic!("operator endpoint {method} {path} is not in this matrix: add it"),
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    assert!(
        covered.len() >= 6,
        "the document lists too few: {covered:?}"
    );
    // Every attempt on A's codes counted as a failure, as a forgery does.
    let invalid_after = metric(&app, "relay_topup_invalid_codes_total").await;
    assert_eq!(invalid_after - invalid_before, failed_attempts);

    // Nothing of A's moved: its codes are as A left them.
    let check = |c: &str| json!({ "code": c });
    let states: Vec<(Value, Value)> = join_all(
        [&codes[0], &codes[1], &issued_code, &pin]
            .map(|c| app.post("/v1/redemptions/check", &a, check(c))),
    )
    .await
    .into_iter()
    .map(|x| (x.body["state"].clone(), x.body["redeemable"].clone()))
    .collect();
    assert_eq!(
        states,
        vec![
            (json!("redeemed"), json!(false)),
            (json!("reserved"), json!(false)),
            (json!("issued"), json!(true)),
            (json!("issued"), json!(true)),
        ]
    );
    let statement = app.get("/v1/redemptions", &a).await;
    assert_eq!(statement.body["redemptions"].as_array().unwrap().len(), 1);
    // A can still finish what it started, and redeem its own PIN.
    let confirmed = app
        .request(
            Method::POST,
            &format!("/v1/redemptions/{}/confirm", ids[1]),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{confirmed:?}");
    let own = app.redeem(&a, &pin, "+33655555555").await;
    assert_eq!(own.status, StatusCode::CREATED, "{own:?}");
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(another_network_gets_what_a_forger_gets);

/// The balance of `resource` on network `operator_id` in `GET /v1/balance`.
async fn balance_of(app: &TestApp, token: &str, operator_id: i64, resource: &str) -> Value {
    let a = app.get("/v1/balance", token).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    a.body["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["operator_id"] == operator_id && b["resource"] == resource)
        .cloned()
        .unwrap_or_else(|| panic!("no {operator_id}/{resource} line in {a:?}"))
}

async fn grant(app: &TestApp, structure_id: i64, operator_id: i64, amount: i64) {
    let a = app
        .post(
            &format!("/v1/structures/{structure_id}/grants"),
            &app.admin,
            json!({ "operator_id": operator_id, "resource": "data_mb", "amount": amount }),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
}

/// Quota is per network: 40 concurrent requests asking for twice each
/// network's quota issue exactly each network's quota, from its own
/// balance, and issuing one network's products never touches the other's.
async fn quota_is_per_network_under_concurrency(db: Db) {
    let Some(app) = TestApp::spawn_with(db, busy_limits(), None).await else {
        return;
    };
    let id = app.structure("Emmaüs Connect").await;
    let token = app.token("structure", Some(id)).await;
    // Ten 1 GB codes' worth on each network.
    grant(&app, id, FIRST_NETWORK, 10 * 1024).await;
    grant(&app, id, SECOND_NETWORK, 10 * 1024).await;

    // First network alone: twice its quota, at once.
    let first = join_all((0..40).map(|_| app.issue(&token, "data-1gb", 1))).await;
    let created = first
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 10);
    for a in first.iter().filter(|a| a.status != StatusCode::CREATED) {
        assert_eq!(a.code(), Some("quota_exceeded"), "{a:?}");
    }
    let untouched = balance_of(&app, &token, SECOND_NETWORK, "data_mb").await;
    assert_eq!(
        (untouched["issued"].clone(), untouched["available"].clone()),
        (json!(0), json!(10 * 1024))
    );

    // Both networks, 20 requests each for one more than nothing left on
    // the first and twice the second's: only the second's issue.
    let mixed = join_all((0..40).map(|i| {
        let product = if i % 2 == 0 {
            "data-1gb"
        } else {
            "orange-data-1gb"
        };
        app.issue(&token, product, 1)
    }))
    .await;
    let by_product = |product: &str| {
        mixed
            .iter()
            .filter(|a| a.status == StatusCode::CREATED)
            .filter(|a| a.body["vouchers"][0]["product"] == product)
            .count()
    };
    assert_eq!(
        (by_product("data-1gb"), by_product("orange-data-1gb")),
        (0, 10),
        "{:?}",
        mixed.iter().find(|a| a.status != StatusCode::CREATED)
    );
    for (network, product) in [
        (FIRST_NETWORK, "data-1gb"),
        (SECOND_NETWORK, "orange-data-1gb"),
    ] {
        let b = balance_of(&app, &token, network, "data_mb").await;
        assert_eq!(
            (
                b["granted"].clone(),
                b["issued"].clone(),
                b["available"].clone()
            ),
            (json!(10 * 1024), json!(10 * 1024), json!(0)),
            "{product}: {b}"
        );
    }
    // A second network's code is redeemed by its own operator only.
    let code = mixed
        .iter()
        .find(|a| a.status == StatusCode::CREATED)
        .map(|a| a.body["vouchers"][0]["code"].as_str().unwrap().to_owned())
        .unwrap();
    let first_operator = app.token("operator", None).await;
    let wrong = app.redeem(&first_operator, &code, "+33666666666").await;
    assert_eq!(wrong.code(), Some("invalid_code"), "{wrong:?}");
    let second_operator = app.network_token(SECOND_NETWORK).await;
    let right = app.redeem(&second_operator, &code, "+33666666666").await;
    assert_eq!(right.status, StatusCode::CREATED, "{right:?}");
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(quota_is_per_network_under_concurrency);

/// Operators are registered by the coordinator, through the API or the
/// command line; an operator holds several tokens, revoking one leaves the
/// others, and its statement covers them all.
async fn operators_their_tokens_and_their_statements(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let listed = app.get("/v1/operators", &app.admin).await;
    let names: Vec<&str> = listed.body["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["SFR", "Orange"]);
    let body = json!({
        "name": "Bouygues Telecom",
        "instructions_fr": "Composez le 611 et donnez le code.",
        "instructions_en": "Dial 611 and give the code."
    });
    let made = app.post("/v1/operators", &app.admin, body.clone()).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    assert_eq!(made.body["instructions_fr"], body["instructions_fr"]);
    let again = app.post("/v1/operators", &app.admin, body).await;
    assert_eq!(again.code(), Some("already_exists"), "{again:?}");
    for (bad, field) in [
        (json!({ "name": "  " }), "name"),
        (
            json!({ "name": "X", "instructions_fr": "y".repeat(201) }),
            "instructions_fr",
        ),
        (json!({ "name": "X", "colour": "red" }), "colour"),
    ] {
        let a = app.post("/v1/operators", &app.admin, bad).await;
        assert_eq!(a.code(), Some("validation_failed"), "{a:?}");
        assert_eq!(a.body["field"], field, "{a:?}");
    }
    let structure_token = app.funded_structure("Croix-Rouge", 4 * 1024).await.1;
    for caller in [&structure_token, &app.token("operator", None).await] {
        let a = app.get("/v1/operators", caller).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{a:?}");
    }
    // A product keeps its network; quota goes to an existing network.
    let products = app.get("/v1/products", &app.admin).await;
    let mut moved = products.body["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "data-1gb")
        .cloned()
        .unwrap();
    moved["operator_id"] = json!(SECOND_NETWORK);
    let refused = app.post("/v1/products", &app.admin, moved).await;
    assert_eq!(refused.code(), Some("validation_failed"), "{refused:?}");
    assert_eq!(refused.body["field"], "operator_id", "{refused:?}");
    let nowhere = app
        .post(
            "/v1/structures/1/grants",
            &app.admin,
            json!({ "operator_id": 99, "resource": "data_mb", "amount": 1 }),
        )
        .await;
    assert_eq!(nowhere.body["field"], "operator_id", "{nowhere:?}");
    // An operator token must name an existing operator.
    let orphan = app
        .post("/v1/tokens", &app.admin, json!({ "role": "operator" }))
        .await;
    assert_eq!(orphan.body["field"], "operator_id", "{orphan:?}");
    let unknown = app
        .post(
            "/v1/tokens",
            &app.admin,
            json!({ "role": "operator", "operator_id": 99 }),
        )
        .await;
    assert_eq!(unknown.body["field"], "operator_id", "{unknown:?}");
    // Two platforms of one operator; the first is revoked after a
    // redemption, the second still redeems and sees both in its statement.
    let codes = app.issue_codes(&structure_token, 2).await;
    let revoked = app
        .post(
            "/v1/tokens",
            &app.admin,
            json!({ "role": "operator", "operator_id": FIRST_NETWORK }),
        )
        .await;
    let first = revoked.body["token"].as_str().unwrap().to_owned();
    let second = app.token("operator", None).await;
    assert_eq!(
        app.redeem(&first, &codes[0], "+33677777777").await.status,
        StatusCode::CREATED
    );
    let gone = app
        .request(
            Method::DELETE,
            &format!("/v1/tokens/{}", revoked.body["id"]),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{gone:?}");
    assert_eq!(
        app.redeem(&first, &codes[1], "+33677777777").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.redeem(&second, &codes[1], "+33677777777").await.status,
        StatusCode::CREATED
    );
    let statement = app.get("/v1/redemptions", &second).await;
    assert_eq!(statement.body["redemptions"].as_array().unwrap().len(), 2);

    // The command line registers and lists them too.
    let key_file = app.dir.path().join("test.keys");
    let key_file = key_file.as_path();
    let added = cli(
        &app.database_url,
        key_file,
        &[
            "operator",
            "add",
            "Free Mobile",
            "--instructions-fr",
            "Appelez le 3244.",
        ],
    );
    assert!(added.ok(), "{added:?}");
    let id: i64 = added.last_line().parse().unwrap();
    let list = cli(&app.database_url, key_file, &["operator", "list"]);
    assert!(
        list.stdout.contains(&format!("{id}\tFree Mobile")),
        "{list:?}"
    );
    let grant = cli(
        &app.database_url,
        key_file,
        &[
            "grant",
            "1",
            "data_mb",
            "1024",
            "--operator-id",
            &id.to_string(),
        ],
    );
    assert!(grant.ok(), "{grant:?}");
    let token = cli(
        &app.database_url,
        key_file,
        &[
            "token",
            "create",
            "operator",
            "--operator-id",
            &id.to_string(),
        ],
    );
    assert!(token.ok(), "{token:?}");
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(operators_their_tokens_and_their_statements);

/// What a network's PIN slips say to dial: the seeded networks have their
/// own; the coordinator changes it through the API, the desk and the
/// command line; a string no phone can dial is refused and changes
/// nothing; every change is on the audit chain.
async fn what_to_dial_is_the_coordinators(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let listed = app.get("/v1/operators", &app.admin).await;
    let seeded: Vec<&str> = listed.body["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slip_instructions"].as_str().unwrap())
        .collect();
    assert_eq!(seeded, ["*144*PIN#", "#124*PIN#"]);
    let path = format!("/v1/operators/{SECOND_NETWORK}/slip-instructions");
    let put = |token: String, body: Value| {
        let (app, path) = (&app, path.clone());
        async move {
            app.request(Method::PUT, &path, Some(&token), Some(body))
                .await
        }
    };
    let set = put(
        app.admin.clone(),
        json!({ "slip_instructions": "#123*PIN#" }),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{set:?}");
    assert_eq!(set.body["slip_instructions"], "#123*PIN#");
    for bad in [
        "#123*",
        "PIN#",
        "appelez le 950",
        "*144*PIN",
        "*144*PIN#PIN#",
        " *1*PIN#",
        "*1*pin#",
    ] {
        let a = put(app.admin.clone(), json!({ "slip_instructions": bad })).await;
        assert_eq!(a.code(), Some("validation_failed"), "{bad}: {a:?}");
        assert_eq!(a.body["field"], "slip_instructions", "{a:?}");
    }
    let a = put(
        app.admin.clone(),
        json!({ "slip_instructions": "*1*PIN#", "x": 1 }),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{a:?}");
    let listed = app.get("/v1/operators", &app.admin).await;
    assert_eq!(
        listed.body["operators"][1]["slip_instructions"],
        "#123*PIN#"
    );
    let structure_token = app.funded_structure("Secours", 0).await.1;
    let refused = put(
        structure_token.clone(),
        json!({ "slip_instructions": "*1*PIN#" }),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    let missing = app
        .request(
            Method::PUT,
            "/v1/operators/999/slip-instructions",
            Some(&app.admin),
            Some(json!({ "slip_instructions": "*1*PIN#" })),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{missing:?}");
    let cleared = put(app.admin.clone(), json!({ "slip_instructions": null })).await;
    assert_eq!(
        cleared.body["slip_instructions"],
        Value::Null,
        "{cleared:?}"
    );

    // The command line sets it too, and refuses what no phone can dial.
    let key_file = app.dir.path().join("test.keys");
    let network = SECOND_NETWORK.to_string();
    let run = cli(
        &app.database_url,
        &key_file,
        &["operator", "slip-instructions", &network, "#125* pin #"],
    );
    assert!(run.ok(), "{run:?}");
    assert_eq!(run.last_line(), format!("{SECOND_NETWORK}\t#125*PIN#"));
    let run = cli(
        &app.database_url,
        &key_file,
        &["operator", "slip-instructions", &network, "125"],
    );
    assert!(!run.ok(), "{run:?}");
    let listed = app.get("/v1/operators", &app.admin).await;
    assert_eq!(
        listed.body["operators"][1]["slip_instructions"],
        "#125*PIN#"
    );
    let auditor = app.token("auditor", None).await;
    let events = app.get("/v1/audit/events?limit=500", &auditor).await;
    let changes = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "operator_slip_instructions_set")
        .count();
    assert_eq!(changes, 3, "{events:?}");
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(what_to_dial_is_the_coordinators);
