//! Black-box tests of redemption, on SQLite and PostgreSQL: exactly once
//! under concurrency (and across two server processes on PostgreSQL),
//! forgery, lock-outs, beneficiary caps, idempotency and statements.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::collections::HashMap;

use common::{Db, TestApp};
use futures::future::join_all;
use relay_topup::code::{self, CodeError, CodeKey, CodeKeyRing, KeyId};
use relay_topup::config::Limits;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::busy_limits;

fn redeem_body(code: &str) -> Value {
    json!({ "code": code, "msisdn": "+33612345678" })
}

async fn redeem_check_statement_and_attestation(db: Db) {
    let Some(app) = TestApp::spawn_with(db, busy_limits(), None).await else {
        return;
    };
    let (_, structure) = app.funded_structure("CCAS", 10 * 1024).await;
    let operator = app.token("operator", None).await;
    let code = app.issue_codes(&structure, 1).await.remove(0);

    let checked = app
        .post(
            "/v1/redemptions/check",
            &operator,
            json!({ "code": code.to_lowercase() }),
        )
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{checked:?}");
    assert_eq!(
        (
            checked.body["redeemable"].as_bool(),
            checked.body["amount"].as_i64()
        ),
        (Some(true), Some(1024))
    );
    assert_eq!(checked.body["validity_days"], 30);

    let redeemed = app
        .post(
            "/v1/redemptions",
            &operator,
            json!({ "code": code, "msisdn": "+33612345678", "operator_ref": "TX-1" }),
        )
        .await;
    assert_eq!(redeemed.status, StatusCode::CREATED, "{redeemed:?}");
    assert_eq!(redeemed.body["state"], "redeemed");
    assert_eq!(
        (
            redeemed.body["product"].as_str(),
            redeemed.body["resource"].as_str()
        ),
        (Some("data-1gb"), Some("data_mb"))
    );
    assert_eq!(redeemed.body["serial"], &code[..9]);
    assert!(redeemed.body["redeemed_at"].is_string());

    let again = app
        .post("/v1/redemptions", &operator, redeem_body(&code))
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, Some("already_redeemed"))
    );
    let checked = app
        .post("/v1/redemptions/check", &operator, json!({ "code": code }))
        .await;
    assert_eq!(
        (
            checked.body["redeemable"].as_bool(),
            checked.body["state"].as_str()
        ),
        (Some(false), Some("redeemed"))
    );

    // The statement, in JSON and CSV.
    let range = "from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z";
    let statement = app
        .get(&format!("/v1/redemptions?{range}"), &operator)
        .await;
    let rows = statement.body["redemptions"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], redeemed.body["id"]);
    let csv = app
        .client
        .get(format!("{}/v1/redemptions?{range}", app.base))
        .bearer_auth(&operator)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        relay_topup::http::redemptions::STATEMENT_CSV_HEADER
    );
    assert!(lines[1].starts_with(&format!(
        "{},{},data-1gb,data_mb,1024,30,redeemed,",
        redeemed.body["id"],
        &code[..9]
    )));
    assert!(lines[1].ends_with(",TX-1"));

    // Another token of the same operator sees it (a statement covers the
    // operator); another network's operator sees none of it.
    let same = app.token("operator", None).await;
    let listed = app.get(&format!("/v1/redemptions?{range}"), &same).await;
    assert_eq!(listed.body["redemptions"].as_array().map(Vec::len), Some(1));
    let other = app.network_token(common::SECOND_NETWORK).await;
    assert_eq!(
        app.get(&format!("/v1/redemptions?{range}"), &other)
            .await
            .body["redemptions"],
        json!([])
    );
    let id = redeemed.body["id"].as_i64().unwrap();
    let stolen = app
        .post(&format!("/v1/redemptions/{id}/reverse"), &other, json!({}))
        .await;
    assert_eq!(
        (stolen.status, stolen.code()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    // The published keys verify the attestation offline.
    let keys = app.request(Method::GET, "/v1/keys", None, None).await;
    let voucher = app
        .get(&format!("/v1/vouchers/{}", &code[..9]), &structure)
        .await;
    let mut verifying = relay_topup::code::VerifyingKeys::default();
    use base64::Engine;
    for k in keys.body["keys"].as_array().unwrap() {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(k["public_key"].as_str().unwrap())
            .unwrap();
        verifying.insert(k["kid"].as_u64().unwrap() as u32, raw.try_into().unwrap());
    }
    let attested = verifying
        .verify(voucher.body["attestation"].as_str().unwrap())
        .unwrap();
    assert_eq!(attested.record.voucher.to_string(), &code[..9]);
    assert_eq!(voucher.body["state"], "redeemed");
    app.stop().await;
}
both!(redeem_check_statement_and_attestation);

async fn redemption_statement_ids(app: &TestApp, operator: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let a = app
            .get(&format!("/v1/redemptions?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&limit=500{cursor}"), operator)
            .await;
        for r in a.body["redemptions"].as_array().unwrap() {
            out.push((
                r["serial"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
            ));
        }
        match a.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

async fn double_redemption_race(db: Db) {
    let Some(app) = TestApp::spawn_with(db, busy_limits(), None).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Emmaüs", 200 * 1024).await;
    let operator = app.token("operator", None).await;
    let codes = app.issue_codes(&structure, 200).await;
    common::race_codes(
        &app.client,
        std::slice::from_ref(&app.base),
        &operator,
        &codes,
    )
    .await;
    let statement = redemption_statement_ids(&app, &operator).await;
    assert_eq!(statement.len(), 200, "exactly one redemption row per code");
    app.stop().await;
}
both!(double_redemption_race);

/// Two server processes on one PostgreSQL database, requests split
/// between them: still exactly one redemption per code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_redemption_race_across_two_servers_on_postgres() {
    let Some(app) = TestApp::spawn_with(Db::Postgres, busy_limits(), None).await else {
        return;
    };
    let second = app.second_server(busy_limits()).await;
    let (_, structure) = app.funded_structure("Secours", 200 * 1024).await;
    let operator = app.token("operator", None).await;
    let codes = app.issue_codes(&structure, 200).await;
    let bases = [app.base.clone(), format!("http://{}", second.addr)];
    common::race_codes(&app.client, &bases, &operator, &codes).await;
    assert_eq!(redemption_statement_ids(&app, &operator).await.len(), 200);
    second.shutdown().await.unwrap();
    app.stop().await;
}

/// Every single-symbol change, transposition and truncation of real codes,
/// and codes made with other keys: 100,000 in all, none accepted. Changes
/// that keep the check symbol valid are made on purpose, so the tag itself
/// is what refuses them.
#[test]
fn one_hundred_thousand_forgeries_are_refused() {
    let ring = CodeKeyRing::new(KeyId::new(3).unwrap(), CodeKey::new(&[42; 32]));
    let genuine: Vec<String> = (0..100u64)
        .map(|i| {
            let v = code::VoucherRef {
                key_id: ring.active(),
                serial: code::Serial::new(i * 7_919 + 13).unwrap(),
            };
            ring.encode(v).unwrap().compact().to_owned()
        })
        .collect();
    let alphabet = code::alphabet::ALPHABET;
    let mut tried = 0usize;
    let mut tag_refusals = 0usize;
    let mut try_one = |candidate: &str| {
        tried += 1;
        match code::parse_and_verify(&ring, candidate) {
            Ok(v) => panic!("forgery accepted: serial {v}"),
            Err(CodeError::Invalid(_)) => tag_refusals += 1,
            Err(_) => {}
        }
    };
    for (n, g) in genuine.iter().enumerate() {
        let body: Vec<u8> = g.bytes().take(19).collect();
        for pos in 0..19 {
            for &s in alphabet.iter().filter(|&&s| s != body[pos]) {
                let mut forged = body.clone();
                forged[pos] = s;
                // Re-seal the check symbol so the tag must catch it.
                let values: Vec<u8> = forged
                    .iter()
                    .map(|b| alphabet.iter().position(|a| a == b).unwrap() as u8)
                    .collect();
                let check = code::check::check_value(&values.clone().try_into().unwrap());
                forged.push(alphabet[check as usize]);
                try_one(std::str::from_utf8(&forged).unwrap());
            }
        }
        for pos in 0..19 {
            let mut swapped = g.clone().into_bytes();
            swapped.swap(pos, pos + 1);
            if swapped != g.as_bytes() {
                try_one(std::str::from_utf8(&swapped).unwrap());
            }
        }
        for len in 0..20 {
            try_one(&g[..len]);
        }
        // The same voucher minted under other keys.
        for k in 0..400u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&(k + 1000 * n as u32).to_be_bytes());
            let other = CodeKeyRing::new(KeyId::new(3).unwrap(), CodeKey::new(&key));
            let parsed = code::parse(g).unwrap();
            try_one(&other.encode(parsed.voucher).unwrap().to_string());
        }
    }
    assert!(tried >= 100_000, "only {tried} forgeries tried");
    assert!(
        tag_refusals >= 90_000,
        "only {tag_refusals} reached the tag check"
    );
}

/// Forged codes sent to the server are refused with one opaque answer and
/// never redeem anything.
/// `code` with its first symbol replaced by the next one of the alphabet.
fn mistype_first_symbol(code: &str) -> String {
    const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let first = code.chars().next().unwrap();
    let at = ALPHABET.find(first).unwrap();
    let other = ALPHABET.chars().nth((at + 1) % ALPHABET.len()).unwrap();
    format!("{other}{}", &code[1..])
}

async fn forged_codes_over_http_are_invalid(db: Db) {
    let limits = Limits {
        failures_per_source: 1_000_000,
        failures_global: 1_000_000,
        ..busy_limits()
    };
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let (_, structure) = app
        .funded_structure("Maison France services", 10 * 1024)
        .await;
    let operator = app.token("operator", None).await;
    let genuine = app.issue_codes(&structure, 5).await;
    let other_ring = CodeKeyRing::new(KeyId::new(0).unwrap(), CodeKey::new(&[9; 32]));
    let mut bodies = Vec::new();
    for g in &genuine {
        let parsed = code::parse(g).unwrap();
        // Right serial, wrong key: passes the checksum, fails the tag.
        bodies.push(other_ring.encode(parsed.voucher).unwrap().to_string());
        // Unknown serial with a genuine-looking tag.
        let unknown = code::VoucherRef {
            key_id: parsed.voucher.key_id,
            serial: code::Serial::new(parsed.voucher.serial.get() ^ 1).unwrap(),
        };
        bodies.push(
            app.running()
                .state
                .keys
                .get()
                .codes
                .encode(unknown)
                .unwrap()
                .to_string(),
        );
    }
    let answers = join_all(
        bodies
            .iter()
            .map(|c| app.post("/v1/redemptions", &operator, redeem_body(c))),
    )
    .await;
    let first = &answers[0];
    for a in &answers {
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::NOT_FOUND, Some("invalid_code")),
            "{a:?}"
        );
        // No oracle: unknown key, bad tag and unknown serial read the same.
        assert_eq!(a.text, first.text);
    }
    let typo = app
        .post(
            "/v1/redemptions",
            &operator,
            // One symbol mistyped: the check symbol catches every such typo.
            redeem_body(&mistype_first_symbol(&genuine[0])),
        )
        .await;
    assert_eq!(
        (typo.status, typo.code()),
        (StatusCode::BAD_REQUEST, Some("checksum_mismatch")),
        "{typo:?}"
    );
    let bad = app
        .post(
            "/v1/redemptions",
            &operator,
            redeem_body("1EPM-BWUX-WG4M-WKBV-9E7D"),
        )
        .await;
    assert_eq!(
        (bad.status, bad.code(), bad.body["position"].as_i64()),
        (StatusCode::BAD_REQUEST, Some("malformed_code"), Some(7))
    );
    assert_eq!(redemption_statement_ids(&app, &operator).await.len(), 0);
    app.stop().await;
}
both!(forged_codes_over_http_are_invalid);

async fn invalid_code_burst_locks_out_that_operator_only(db: Db) {
    let limits = Limits {
        failures_per_source: 10,
        ..busy_limits()
    };
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Restos", 10 * 1024).await;
    let attacker = app.token("operator", None).await;
    let honest = app.token("operator", None).await;
    let genuine = app.issue_codes(&structure, 2).await;
    let other_ring = CodeKeyRing::new(KeyId::new(0).unwrap(), CodeKey::new(&[7; 32]));
    let mut locked = None;
    for serial in 0..30u64 {
        let v = code::VoucherRef {
            key_id: KeyId::new(0).unwrap(),
            serial: code::Serial::new(serial).unwrap(),
        };
        let a = app
            .post(
                "/v1/redemptions",
                &attacker,
                redeem_body(&other_ring.encode(v).unwrap().to_string()),
            )
            .await;
        match (a.status, a.code()) {
            (StatusCode::NOT_FOUND, Some("invalid_code")) => {}
            (StatusCode::TOO_MANY_REQUESTS, Some("locked_out")) => {
                let retry: i64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!(retry > 0);
                locked = Some(serial);
                break;
            }
            other => panic!("unexpected {other:?}: {a:?}"),
        }
    }
    assert_eq!(locked, Some(10), "locked out after exactly 10 failures");
    // Locked out even with a genuine code.
    let a = app
        .post("/v1/redemptions", &attacker, redeem_body(&genuine[0]))
        .await;
    assert_eq!(a.code(), Some("locked_out"));
    // The honest operator is unaffected.
    let a = app
        .post("/v1/redemptions", &honest, redeem_body(&genuine[0]))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    app.stop().await;
}
both!(invalid_code_burst_locks_out_that_operator_only);

async fn beneficiary_cap_holds_under_concurrency(db: Db) {
    let limits = Limits {
        beneficiary_caps: vec![
            relay_topup::domain::redemption::BeneficiaryCap::parse("data=count:3").unwrap(),
        ],
        ..busy_limits()
    };
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Secours populaire", 40 * 1024).await;
    let operator = app.token("operator", None).await;
    let codes = app.issue_codes(&structure, 20).await;
    let answers = join_all(
        codes
            .iter()
            .map(|c| app.post("/v1/redemptions", &operator, redeem_body(c))),
    )
    .await;
    let ok = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    for a in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::CONFLICT, Some("beneficiary_cap_reached")),
            "{a:?}"
        );
    }
    assert_eq!(ok, 3);
    // Another number is not capped by the first one's usage.
    let other = app
        .post("/v1/redemptions", &operator, json!({ "code": codes.iter().find(|c| !answers.iter().any(|a| a.status == StatusCode::CREATED && a.body["serial"] == c[..9])).unwrap(), "msisdn": "+33700000001" }))
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{other:?}");
    // Bad numbers are refused clearly, and change nothing.
    for bad in ["0612345678", "+33 6 12 34 56 78", "33612345678", ""] {
        let a = app
            .post(
                "/v1/redemptions",
                &operator,
                json!({ "code": codes[19], "msisdn": bad }),
            )
            .await;
        assert_eq!(
            (a.status, a.code(), a.body["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("validation_failed"),
                Some("msisdn")
            ),
            "{bad}"
        );
    }
    app.stop().await;
}
both!(beneficiary_cap_holds_under_concurrency);

async fn idempotent_redemption_has_one_effect(db: Db) {
    let Some(app) = TestApp::spawn_with(db, busy_limits(), None).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Banque alimentaire", 10 * 1024).await;
    let operator = app.token("operator", None).await;
    let codes = app.issue_codes(&structure, 2).await;
    let headers = [("Idempotency-Key", "recharge-7")];
    let mut answers = Vec::new();
    for _ in 0..10 {
        let wave = (0..10).map(|_| {
            app.request_with(
                Method::POST,
                "/v1/redemptions",
                Some(&operator),
                Some(redeem_body(&codes[0])),
                &headers,
            )
        });
        answers.extend(join_all(wave).await);
    }
    for a in &answers {
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
        assert_eq!(a.body, answers[0].body);
    }
    let conflict = app
        .request_with(
            Method::POST,
            "/v1/redemptions",
            Some(&operator),
            Some(redeem_body(&codes[1])),
            &headers,
        )
        .await;
    assert_eq!(
        (conflict.status, conflict.code()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("idempotency_conflict")
        )
    );
    assert_eq!(redemption_statement_ids(&app, &operator).await.len(), 1);
    app.stop().await;
}
both!(idempotent_redemption_has_one_effect);

/// Lock-outs live in the database: an operator failing against two servers
/// in turn is locked out after the deployment-wide count, on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_holds_across_two_servers_on_postgres() {
    let limits = Limits {
        failures_per_source: 10,
        ..busy_limits()
    };
    let Some(app) = TestApp::spawn_with(Db::Postgres, limits.clone(), None).await else {
        return;
    };
    let second = app.second_server(limits).await;
    let attacker = app.token("operator", None).await;
    let bases = [app.base.clone(), format!("http://{}", second.addr)];
    let other_ring = CodeKeyRing::new(KeyId::new(0).unwrap(), CodeKey::new(&[5; 32]));
    let post = |base: &str, code: String| {
        let req = app
            .client
            .post(format!("{base}/v1/redemptions"))
            .bearer_auth(&attacker)
            .json(&redeem_body(&code));
        async move { common::read(req.send().await.unwrap()).await }
    };
    for serial in 0..10u64 {
        let v = code::VoucherRef {
            key_id: KeyId::new(0).unwrap(),
            serial: code::Serial::new(serial).unwrap(),
        };
        let a = post(
            &bases[serial as usize % 2],
            other_ring.encode(v).unwrap().to_string(),
        )
        .await;
        assert_eq!(a.code(), Some("invalid_code"), "attempt {serial}: {a:?}");
    }
    for base in &bases {
        let v = code::VoucherRef {
            key_id: KeyId::new(0).unwrap(),
            serial: code::Serial::new(99).unwrap(),
        };
        let a = post(base, other_ring.encode(v).unwrap().to_string()).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::TOO_MANY_REQUESTS, Some("locked_out")),
            "{base}: {a:?}"
        );
    }
    second.shutdown().await.unwrap();
    app.stop().await;
}

/// The state a code is put in before the burst, and what every request for
/// it must then be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Before {
    /// Redeemable: exactly one request wins.
    Issued,
    /// Its hold ran out, so it is redeemable again: exactly one wins.
    HoldRanOut,
    Redeemed,
    Reserved,
    Voided,
    Expired,
    /// Redeemable, but the beneficiary may have one voice top-up a month:
    /// exactly one request wins across all of these codes.
    Capped,
}

/// Every state a code can be in, redeemed and reserved in one concurrent
/// burst by two operators, some requests with an Idempotency-Key: the
/// writer batches them, the common case set-based and the rest one by one
/// in the same transaction. Each code's answers are exactly what its state
/// allows, and the books replay clean.
async fn mixed_burst_answers_every_state(db: Db) {
    const START: i64 = 1_800_000_000;
    const DAY_SECS: i64 = 86_400;
    let clock = relay_topup::clock::ManualClock::new(START);
    let limits = Limits {
        beneficiary_caps: vec![
            relay_topup::domain::redemption::BeneficiaryCap::parse("voice=count:1").unwrap(),
        ],
        ..busy_limits()
    };
    let Some(app) = TestApp::spawn_with(db, limits, Some(clock.clone())).await else {
        return;
    };
    let (structure_id, structure) = app.funded_structure("Restos du cœur", 200 * 1024).await;
    app.grant(structure_id, "voice", 1_000).await;
    let operators = [
        app.token("operator", None).await,
        app.token("operator", None).await,
    ];
    // Codes last 90 days: these will have expired by the burst.
    let old = app.issue_codes(&structure, 6).await;
    clock.advance(89 * DAY_SECS);
    let young = app.issue_codes(&structure, 40).await;
    let voice = app.issue(&structure, "voice-7d", 5).await;
    let voice: Vec<String> = voice.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap().to_owned())
        .collect();
    clock.advance(2 * DAY_SECS);
    let mut cases: Vec<(String, Before)> = Vec::new();
    cases.extend(old.iter().map(|c| (c.clone(), Before::Expired)));
    cases.extend(voice.iter().map(|c| (c.clone(), Before::Capped)));
    let mode_body =
        |code: &str, mode: &str| json!({ "code": code, "msisdn": "+33612345678", "mode": mode });
    for (i, code) in young.iter().enumerate() {
        let before = match i % 6 {
            0 | 1 => Before::Issued,
            2 => Before::HoldRanOut,
            3 => Before::Redeemed,
            4 => Before::Reserved,
            _ => Before::Voided,
        };
        if before == Before::HoldRanOut {
            let a = app
                .post("/v1/redemptions", &operators[0], mode_body(code, "reserve"))
                .await;
            assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
        }
        cases.push((code.clone(), before));
    }
    clock.advance(301);
    for (code, before) in &cases {
        let a = match before {
            Before::Redeemed => {
                app.post("/v1/redemptions", &operators[1], redeem_body(code))
                    .await
            }
            Before::Reserved => {
                app.post("/v1/redemptions", &operators[1], mode_body(code, "reserve"))
                    .await
            }
            Before::Voided => {
                app.post(
                    &format!("/v1/vouchers/{}/void", &code[..9]),
                    &structure,
                    json!({}),
                )
                .await
            }
            _ => continue,
        };
        assert!(a.status.is_success(), "{before:?}: {a:?}");
    }

    const PER_CODE: usize = 6;
    let requests = cases
        .iter()
        .enumerate()
        .flat_map(|(c, (code, _))| (0..PER_CODE).map(move |k| (c, k, code.clone())));
    let answers = join_all(requests.map(|(c, k, code)| {
        let operator = &operators[k % 2];
        let mode = if k % 3 == 2 { "reserve" } else { "redeem" };
        let app = &app;
        async move {
            let key = format!("burst-{c}-{k}");
            let headers: Vec<(&str, &str)> = if k == 5 {
                vec![("Idempotency-Key", key.as_str())]
            } else {
                Vec::new()
            };
            let a = app
                .request_with(
                    Method::POST,
                    "/v1/redemptions",
                    Some(operator),
                    Some(mode_body(&code, mode)),
                    &headers,
                )
                .await;
            (c, a)
        }
    }))
    .await;

    let mut wins: HashMap<usize, usize> = HashMap::new();
    for (c, a) in &answers {
        let before = cases[*c].1;
        if a.status == StatusCode::CREATED {
            *wins.entry(*c).or_default() += 1;
            continue;
        }
        let allowed: &[(StatusCode, &str)] = match before {
            Before::Issued | Before::HoldRanOut => &[
                (StatusCode::CONFLICT, "already_redeemed"),
                (StatusCode::CONFLICT, "reserved"),
            ],
            Before::Capped => &[
                (StatusCode::CONFLICT, "already_redeemed"),
                (StatusCode::CONFLICT, "reserved"),
                (StatusCode::CONFLICT, "beneficiary_cap_reached"),
            ],
            Before::Redeemed => &[(StatusCode::CONFLICT, "already_redeemed")],
            Before::Reserved => &[(StatusCode::CONFLICT, "reserved")],
            Before::Voided => &[(StatusCode::GONE, "voided")],
            Before::Expired => &[(StatusCode::GONE, "expired")],
        };
        assert!(
            allowed
                .iter()
                .any(|(status, code)| a.status == *status && a.code() == Some(code)),
            "{before:?} code answered {a:?}"
        );
    }
    let mut capped_wins = 0;
    for (c, (_, before)) in cases.iter().enumerate() {
        let won = wins.get(&c).copied().unwrap_or(0);
        match before {
            Before::Issued | Before::HoldRanOut => {
                assert_eq!(won, 1, "{before:?} code {c} won {won} times")
            }
            Before::Capped => capped_wins += won,
            _ => assert_eq!(won, 0, "{before:?} code {c} won {won} times"),
        }
    }
    assert_eq!(
        capped_wins, 1,
        "the beneficiary cap let {capped_wins} through"
    );
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(mixed_burst_answers_every_state);
