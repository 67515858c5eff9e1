//! Numeric PINs through the real server, on SQLite and PostgreSQL: issued
//! by a structure (asked for, or the product's format), checked, redeemed,
//! reserved and voided like codes, exactly once under concurrency; forged
//! PINs refused before any voucher is looked up.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::{Db, TestApp};
use futures::future::join_all;
use relay_topup::code::{Pin, PinRef, Reference};
use relay_topup::config::Limits;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Limits with the operator's rate and failure limits out of the way.
fn busy_limits() -> Limits {
    Limits {
        failures_per_source: 1_000_000_000,
        failures_global: 1_000_000_000,
        ..common::busy_limits()
    }
}

/// Issues `count` PINs of `data-1gb`; answers the vouchers.
async fn issue_pins(app: &TestApp, structure: &str, count: i64) -> Vec<Value> {
    let body = json!({ "product": "data-1gb", "count": count, "format": "pin" });
    let a = app.post("/v1/vouchers", structure, body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    a.body["vouchers"].as_array().unwrap().clone()
}

fn is_printed_pin(text: &str) -> bool {
    let groups: Vec<&str> = text.split(' ').collect();
    groups.len() == 5
        && groups
            .iter()
            .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit()))
}

async fn a_pin_lives_like_a_code(db: Db) {
    let Some(app) = TestApp::spawn_with(db, busy_limits(), None).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Relais", 10 * 1024).await;
    let operator = app.token("operator", None).await;
    let pins = issue_pins(&app, &structure, 4).await;
    let keys = app.running().state.keys.get();
    for v in &pins {
        let (pin, serial) = (v["code"].as_str().unwrap(), v["serial"].as_str().unwrap());
        assert!(is_printed_pin(pin), "{pin}");
        assert_eq!(v["format"], "pin");
        assert_eq!(serial, &pin.replace(' ', "")[..10]);
        let attested = keys
            .verifying_keys()
            .verify(v["attestation"].as_str().unwrap())
            .unwrap();
        assert_eq!(attested.record.voucher, Reference::parse(serial).unwrap());
        assert!(matches!(attested.record.voucher, Reference::Pin(_)));
    }
    let pin = |i: usize| pins[i]["code"].as_str().unwrap().to_owned();
    let serial = |i: usize| pins[i]["serial"].as_str().unwrap().to_owned();

    // The structure reads it by its ten-digit reference.
    let read = app
        .get(&format!("/v1/vouchers/{}", serial(0)), &structure)
        .await;
    assert_eq!(
        (read.status, read.body["code"].as_str()),
        (StatusCode::OK, Some(pin(0).as_str()))
    );
    // A check, with the PIN keyed with dashes or without spaces.
    let keyed = pin(0).replace(' ', "-");
    let checked = app
        .post("/v1/redemptions/check", &operator, json!({ "code": keyed }))
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{checked:?}");
    assert_eq!(
        (
            checked.body["redeemable"].as_bool(),
            checked.body["serial"].as_str()
        ),
        (Some(true), Some(serial(0).as_str()))
    );
    // Redeemed once, then already redeemed.
    let first = app
        .redeem(&operator, &pin(0).replace(' ', ""), "+33612345678")
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    assert_eq!(first.body["serial"], serial(0));
    let again = app.redeem(&operator, &pin(0), "+33612345678").await;
    assert_eq!(again.code(), Some("already_redeemed"), "{again:?}");
    // Reserved, then confirmed.
    let body = json!({ "code": pin(1), "msisdn": "+33612345679", "mode": "reserve" });
    let held = app.post("/v1/redemptions", &operator, body).await;
    assert_eq!(held.status, StatusCode::CREATED, "{held:?}");
    let id = held.body["id"].as_i64().unwrap();
    let confirmed = app
        .post(
            &format!("/v1/redemptions/{id}/confirm"),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(confirmed.body["state"], "redeemed", "{confirmed:?}");
    // Voided by its structure, then refused.
    let void = app
        .post(
            &format!("/v1/vouchers/{}/void", serial(2)),
            &structure,
            json!({}),
        )
        .await;
    assert_eq!(void.body["state"], "voided", "{void:?}");
    let late = app.redeem(&operator, &pin(2), "+33612345678").await;
    assert_eq!(late.code(), Some("voided"), "{late:?}");

    // A typo is named as one; a forged tag is one opaque answer.
    let digits: Vec<u8> = pin(3).bytes().filter(u8::is_ascii_digit).collect();
    let mut typo = digits.clone();
    typo[12] = b'0' + (typo[12] - b'0' + 1) % 10;
    let typo = String::from_utf8(typo).unwrap();
    let a = app.redeem(&operator, &typo, "+33612345678").await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, Some("checksum_mismatch"))
    );
    let a = app.redeem(&operator, &pin(3)[..22], "+33612345678").await;
    assert_eq!(a.code(), Some("malformed_code"), "{a:?}");
    let reference = PinRef::new(digits[0] - b'0', serial(3)[1..].parse().unwrap()).unwrap();
    let forged = Pin::from_parts(reference, 123_456_789).to_string();
    assert_ne!(forged, pin(3));
    let a = app.redeem(&operator, &forged, "+33612345678").await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::NOT_FOUND, Some("invalid_code"))
    );

    // The statement names PINs by their reference.
    let statement = app
        .get(
            "/v1/redemptions?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
            &operator,
        )
        .await;
    let serials: Vec<&str> = statement.body["redemptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials.len(), 2, "{statement:?}");
    assert!(serials.contains(&serial(0).as_str()) && serials.contains(&serial(1).as_str()));
    // Quota: four issued, one given back.
    let balance = app.balance(&structure, "data_mb").await;
    assert_eq!(
        (balance["issued"].as_i64(), balance["returned"].as_i64()),
        (Some(4096), Some(1024))
    );
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(a_pin_lives_like_a_code);

/// A product may prefer PINs; a request may still ask for a code.
async fn the_product_chooses_unless_the_request_does(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let product = json!({
        "id": "voice-7d-pin", "operator_id": 1, "family": "voice", "resource": "voice", "amount": 7,
        "validity_days": 7, "code_validity_days": 90, "label_fr": "7 jours d'appels et SMS",
        "label_en": "7 days of calls and texts", "format": "pin"
    });
    let saved = app.post("/v1/products", &app.admin, product).await;
    assert_eq!(saved.status, StatusCode::CREATED, "{saved:?}");
    let listed = app.get("/v1/products", &app.admin).await;
    let formats: Vec<(&str, &str)> = listed.body["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["format"].as_str().unwrap()))
        .collect();
    assert!(formats.contains(&("voice-7d-pin", "pin")), "{formats:?}");
    assert!(formats.contains(&("data-1gb", "code")), "{formats:?}");
    let id = app.structure("Voix").await;
    app.grant(id, "voice", 70).await;
    let structure = app.token("structure", Some(id)).await;
    let by_product = app.issue(&structure, "voice-7d-pin", 1).await;
    assert_eq!(
        by_product.body["vouchers"][0]["format"], "pin",
        "{by_product:?}"
    );
    let body = json!({ "product": "voice-7d-pin", "count": 1, "format": "code" });
    let asked = app.post("/v1/vouchers", &structure, body).await;
    assert_eq!(asked.body["vouchers"][0]["format"], "code", "{asked:?}");
    let code = asked.body["vouchers"][0]["code"].as_str().unwrap();
    assert!(code.bytes().any(|b| b.is_ascii_uppercase()), "{code}");
    let bad = json!({ "product": "data-1gb", "count": 1, "format": "ussd" });
    let refused = app.post("/v1/vouchers", &structure, bad).await;
    assert_eq!(refused.code(), Some("validation_failed"), "{refused:?}");
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(the_product_chooses_unless_the_request_does);

/// 64 concurrent redemptions of each of 200 PINs: exactly one success
/// each, every other answer a conflict, nothing else.
async fn two_hundred_pins_redeemed_exactly_once(db: Db) {
    let Some(app) = TestApp::spawn_with(db, busy_limits(), None).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Course", 200 * 1024).await;
    let operator = app.token("operator", None).await;
    let mut pins = Vec::new();
    for _ in 0..2 {
        pins.extend(issue_pins(&app, &structure, 100).await);
    }
    let pins: Vec<String> = pins
        .iter()
        .map(|v| v["code"].as_str().unwrap().to_owned())
        .collect();
    common::race_codes(
        &app.client,
        std::slice::from_ref(&app.base),
        &operator,
        &pins,
    )
    .await;
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(two_hundred_pins_redeemed_exactly_once);

/// Forged PINs whose check digit is right: 100,000 in all, against live
/// ones, each answered `invalid_code`, and not one voucher looked up.
async fn forged_pins_never_reach_a_voucher(db: Db) {
    const FORGERIES: u32 = 100_000;
    const IN_FLIGHT: usize = 32;
    let Some(app) = TestApp::spawn_with(db, busy_limits(), None).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Faux", 10 * 1024).await;
    let operator = app.token("operator", None).await;
    let real: Vec<String> = issue_pins(&app, &structure, 10)
        .await
        .iter()
        .map(|v| v["code"].as_str().unwrap().to_owned())
        .collect();
    let key_id = app.running().state.keys.get().pins.active();
    // Half on the serials of live PINs (the tag alone refuses them), half
    // on serials spread over the whole space; every tag differs from the
    // real one, which is known here.
    let forgeries: Vec<String> = (0..FORGERIES)
        .map(|i| {
            let live = &real[i as usize % real.len()];
            let digits: String = live.chars().filter(char::is_ascii_digit).collect();
            let serial = if i % 2 == 0 {
                digits[1..10].parse().unwrap()
            } else {
                i.wrapping_mul(2_654_435_761) % 1_000_000_000
            };
            let tag = (i.wrapping_mul(40_503) + 7) % 1_000_000_000;
            Pin::from_parts(PinRef::new(key_id, serial).unwrap(), tag).to_string()
        })
        .filter(|f| !real.contains(f))
        .collect();
    assert!(forgeries.len() as u32 > FORGERIES - 10);
    // Read in the server's process: the counter is not exported.
    let lookups = || app.running().state.metrics.voucher_lookups.get();
    let lookups_before = lookups();
    let mut answered = 0usize;
    for chunk in forgeries.chunks(IN_FLIGHT) {
        let sends = chunk
            .iter()
            .map(|f| app.redeem(&operator, f, "+33612345678"));
        for a in join_all(sends).await {
            assert_eq!(
                (a.status, a.code()),
                (StatusCode::NOT_FOUND, Some("invalid_code")),
                "{a:?}"
            );
            answered += 1;
        }
    }
    assert_eq!(answered, forgeries.len());
    let lookups_after = lookups();
    assert_eq!(
        lookups_after, lookups_before,
        "a forged PIN reached a voucher"
    );
    // The counter counts: one genuine PIN is one lookup.
    let genuine = app.redeem(&operator, &real[0], "+33612345678").await;
    assert_eq!(genuine.status, StatusCode::CREATED, "{genuine:?}");
    assert_eq!(lookups(), lookups_after + 1);
    app.stop().await;
}
both!(forged_pins_never_reach_a_voucher);
