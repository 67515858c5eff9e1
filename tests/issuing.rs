//! Black-box tests of issuing, on SQLite and PostgreSQL: the real server on
//! port 0, a fresh database each, driven over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::collections::HashSet;

use common::{Db, TestApp};
use futures::future::join_all;
use relay_topup::code;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn issue_list_read_void_balance(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 10 * 1024).await;

    let issued = app
        .post(
            "/v1/vouchers",
            &token,
            json!({ "product": "data-1gb", "count": 3, "reference": "atelier mardi" }),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{issued:?}");
    let vouchers = issued.body["vouchers"].as_array().unwrap();
    assert_eq!(vouchers.len(), 3);
    let keys = app.running().state.keys.get();
    for v in vouchers {
        let typed = v["code"].as_str().unwrap();
        let voucher = code::parse_and_verify(&keys.codes, typed).unwrap();
        assert_eq!(v["serial"], voucher.to_string());
        assert_eq!(v["state"], "issued");
        assert_eq!(v["amount"], 1024);
        assert_eq!(v["reference"], "atelier mardi");
        let attested = keys
            .verifying_keys()
            .verify(v["attestation"].as_str().unwrap())
            .unwrap();
        assert_eq!(attested.record.voucher, code::Reference::Code(voucher));
        assert_eq!(attested.record.amount, 1024);
    }
    let b = app.balance(&token, "data_mb").await;
    assert_eq!(
        (
            b["granted"].as_i64(),
            b["issued"].as_i64(),
            b["available"].as_i64()
        ),
        (Some(10240), Some(3072), Some(7168))
    );

    let serial = vouchers[0]["serial"].as_str().unwrap();
    let one = app.get(&format!("/v1/vouchers/{serial}"), &token).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["code"], vouchers[0]["code"]);
    let no_dash = serial.replace('-', "").to_lowercase();
    assert_eq!(
        app.get(&format!("/v1/vouchers/{no_dash}"), &token)
            .await
            .status,
        StatusCode::OK
    );

    let qr = app
        .client
        .get(format!("{}/v1/vouchers/{serial}/qr.svg", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(qr.status(), StatusCode::OK);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    assert!(qr.text().await.unwrap().contains("<svg"));

    let voided = app
        .post(&format!("/v1/vouchers/{serial}/void"), &token, json!({}))
        .await;
    assert_eq!(voided.status, StatusCode::OK, "{voided:?}");
    assert_eq!(voided.body["state"], "voided");
    let again = app
        .post(&format!("/v1/vouchers/{serial}/void"), &token, json!({}))
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::GONE, Some("voided"))
    );
    let b = app.balance(&token, "data_mb").await;
    assert_eq!(
        (b["returned"].as_i64(), b["available"].as_i64()),
        (Some(1024), Some(8192))
    );

    let listed = app.get("/v1/vouchers?state=issued", &token).await;
    assert_eq!(listed.body["vouchers"].as_array().unwrap().len(), 2);
    let listed = app.get("/v1/vouchers?state=voided", &token).await;
    assert_eq!(listed.body["vouchers"].as_array().unwrap().len(), 1);
    app.stop().await;
}
both!(issue_list_read_void_balance);

async fn pagination_walks_every_voucher_once_newest_first(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Mairie", 100 * 1024).await;
    for _ in 0..3 {
        assert_eq!(
            app.issue(&token, "data-1gb", 7).await.status,
            StatusCode::CREATED
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/vouchers?limit=4&cursor={c}"),
            None => "/v1/vouchers?limit=4".into(),
        };
        let page = app.get(&path, &token).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        for v in page.body["vouchers"].as_array().unwrap() {
            seen.push((
                v["issued_at"].as_str().unwrap().to_owned(),
                v["serial"].as_str().unwrap().to_owned(),
            ));
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 21);
    assert_eq!(seen.iter().map(|s| &s.1).collect::<HashSet<_>>().len(), 21);
    assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "newest first");
    app.stop().await;
}
both!(pagination_walks_every_voucher_once_newest_first);

/// Concurrent issue requests asking for twice the quota: exactly the quota
/// is issued, the rest is refused, nothing fails, no balance goes negative.
async fn quota_race_never_overdraws(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let quota_mb = 40 * 1024;
    let (_, token) = app.funded_structure("Épicerie solidaire", quota_mb).await;
    // 40 requests of 2 codes of 1 GB: 80 GB asked for, 40 GB granted.
    let requests = (0..40).map(|_| app.issue(&token, "data-1gb", 2));
    let answers = join_all(requests).await;
    let mut accepted = 0;
    for a in &answers {
        match a.status {
            StatusCode::CREATED => accepted += a.body["vouchers"].as_array().unwrap().len() as i64,
            StatusCode::CONFLICT => assert_eq!(a.code(), Some("quota_exceeded"), "{a:?}"),
            other => panic!("unexpected {other}: {a:?}"),
        }
    }
    assert_eq!(accepted * 1024, quota_mb);
    let b = app.balance(&token, "data_mb").await;
    assert_eq!(b["available"], 0);
    assert_eq!(b["issued"].as_i64(), Some(quota_mb));
    let listed = app.get("/v1/vouchers?limit=500", &token).await;
    assert_eq!(
        listed.body["vouchers"].as_array().unwrap().len() as i64,
        accepted
    );
    app.stop().await;
}
both!(quota_race_never_overdraws);

/// The same request replayed 100 times, 10 at once: one effect, identical
/// answers; the same key with another body is a conflict.
async fn idempotent_issue_has_one_effect(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Foyer", 100 * 1024).await;
    let body = json!({ "product": "data-1gb", "count": 5 });
    let headers = [("Idempotency-Key", "order-42")];
    let mut answers = Vec::new();
    for _ in 0..10 {
        let wave = (0..10).map(|_| {
            app.request_with(
                Method::POST,
                "/v1/vouchers",
                Some(&token),
                Some(body.clone()),
                &headers,
            )
        });
        answers.extend(join_all(wave).await);
    }
    let first = &answers[0];
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    for a in &answers {
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
        assert_eq!(a.body, first.body);
    }
    let b = app.balance(&token, "data_mb").await;
    assert_eq!(b["issued"].as_i64(), Some(5 * 1024));
    let other = json!({ "product": "data-1gb", "count": 6 });
    let conflict = app
        .request_with(
            Method::POST,
            "/v1/vouchers",
            Some(&token),
            Some(other),
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
    assert_eq!(
        app.balance(&token, "data_mb").await["issued"].as_i64(),
        Some(5 * 1024)
    );
    app.stop().await;
}
both!(idempotent_issue_has_one_effect);

async fn expired_codes_are_expired_before_and_after_the_sweeper(db: Db) {
    let clock = relay_topup::clock::ManualClock::new(1_800_000_000);
    let Some(app) = TestApp::spawn_with(db, common::test_limits(), Some(clock.clone())).await
    else {
        return;
    };
    let (_, token) = app.funded_structure("École", 4 * 1024).await;
    let issued = app.issue(&token, "data-1gb", 2).await;
    let serial = issued.body["vouchers"][0]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance(91 * 86_400);
    // Not yet swept: the code already reads as expired and cannot be voided.
    let one = app.get(&format!("/v1/vouchers/{serial}"), &token).await;
    assert_eq!(one.body["state"], "expired");
    let void = app
        .post(&format!("/v1/vouchers/{serial}/void"), &token, json!({}))
        .await;
    assert_eq!(
        (void.status, void.code()),
        (StatusCode::GONE, Some("expired"))
    );
    relay_topup::server::sweep_once(&app.running().state)
        .await
        .unwrap();
    let b = app.balance(&token, "data_mb").await;
    assert_eq!(
        (b["returned"].as_i64(), b["available"].as_i64()),
        (Some(2048), Some(4096))
    );
    let listed = app.get("/v1/vouchers?state=expired", &token).await;
    assert_eq!(listed.body["vouchers"].as_array().unwrap().len(), 2);
    app.stop().await;
}
both!(expired_codes_are_expired_before_and_after_the_sweeper);

async fn grants_lapse_and_recur(db: Db) {
    let start = 1_800_000_000; // 2027-01-15
    let clock = relay_topup::clock::ManualClock::new(start);
    let Some(app) = TestApp::spawn_with(db, common::test_limits(), Some(clock.clone())).await
    else {
        return;
    };
    let id = app.structure("Association").await;
    let token = app.token("structure", Some(id)).await;
    let ends = relay_topup::clock::rfc3339(start + 10 * 86_400);
    let lapsing = app
        .post(
            &format!("/v1/structures/{id}/grants"),
            &app.admin,
            json!({ "operator_id": 1, "resource": "data_mb", "amount": 3072, "expires_at": ends }),
        )
        .await;
    assert_eq!(lapsing.status, StatusCode::CREATED, "{lapsing:?}");
    let monthly = app
        .post(
            &format!("/v1/structures/{id}/grants"),
            &app.admin,
            json!({ "operator_id": 1, "resource": "voice", "amount": 30, "recurrence": "monthly" }),
        )
        .await;
    assert_eq!(monthly.status, StatusCode::CREATED, "{monthly:?}");
    assert_eq!(
        app.issue(&token, "data-1gb", 1).await.status,
        StatusCode::CREATED
    );
    clock.advance(11 * 86_400);
    // The unused 2 GB lapse at the end date, sweeper or not.
    let b = app.balance(&token, "data_mb").await;
    assert_eq!(
        (b["lapsed"].as_i64(), b["available"].as_i64()),
        (Some(2048), Some(0))
    );
    relay_topup::server::sweep_once(&app.running().state)
        .await
        .unwrap();
    let b = app.balance(&token, "data_mb").await;
    assert_eq!(
        (b["lapsed"].as_i64(), b["available"].as_i64()),
        (Some(2048), Some(0))
    );
    assert_eq!(
        app.balance(&token, "voice").await["granted"].as_i64(),
        Some(30)
    );
    clock.advance(60 * 86_400);
    // Two more monthly credits are due: balance reads credit them.
    assert_eq!(
        app.balance(&token, "voice").await["granted"].as_i64(),
        Some(90)
    );
    app.stop().await;
}
both!(grants_lapse_and_recur);

async fn issuing_rate_limit_answers_429_with_retry_after(db: Db) {
    let limits = relay_topup::config::Limits {
        issue_rate_codes_per_hour: 10,
        issue_burst_codes: 100,
        ..common::test_limits()
    };
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let (_, token) = app
        .funded_structure("Maison de quartier", 1000 * 1024)
        .await;
    let (_, other) = app.funded_structure("Autre structure", 1000 * 1024).await;
    assert_eq!(
        app.issue(&token, "data-1gb", 100).await.status,
        StatusCode::CREATED
    );
    let limited = app.issue(&token, "data-1gb", 1).await;
    assert_eq!(
        (limited.status, limited.code()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    // Per structure: another structure is unaffected.
    assert_eq!(
        app.issue(&other, "data-1gb", 1).await.status,
        StatusCode::CREATED
    );
    app.stop().await;
}
both!(issuing_rate_limit_answers_429_with_retry_after);

/// The value of the counter `name` on `/metrics`.
async fn counter(app: &TestApp, name: &str) -> u64 {
    let metrics = app.request(Method::GET, "/metrics", None, None).await.text;
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&format!("relay_topup_{name}")))
        .unwrap_or_else(|| panic!("no {name} in {metrics}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// A refused issue costs no issuing rate: requests the quota cannot cover
/// are all answered `quota_exceeded`, however many more codes they ask for
/// than the burst allows, and once quota is granted the structure issues
/// at once.
async fn refused_issues_do_not_spend_the_rate_limit(db: Db) {
    let limits = relay_topup::config::Limits {
        issue_rate_codes_per_hour: 1000,
        issue_burst_codes: 200,
        ..common::test_limits()
    };
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let (id, token) = app.funded_structure("Maison de quartier", 50 * 1024).await;
    // Four requests of 100 codes: twice the burst of 200 codes.
    for _ in 0..4 {
        let refused = app.issue(&token, "data-1gb", 100).await;
        assert_eq!(
            (refused.status, refused.code()),
            (StatusCode::CONFLICT, Some("quota_exceeded")),
            "{refused:?}"
        );
    }
    assert_eq!(counter(&app, "quota_exceeded").await, 4);
    assert_eq!(counter(&app, "rate_limited").await, 0);
    assert_eq!(app.balance(&token, "data_mb").await["available"], 50 * 1024);
    app.grant(id, "data_mb", 100 * 1024).await;
    let issued = app.issue(&token, "data-1gb", 100).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{issued:?}");
    assert_eq!(issued.body["vouchers"].as_array().unwrap().len(), 100);
    app.stop().await;
}
both!(refused_issues_do_not_spend_the_rate_limit);

/// Stopping the server lets the requests in flight finish, and every code it
/// acknowledged is in the database when it starts again.
async fn graceful_shutdown_loses_nothing_acknowledged(db: Db) {
    let Some(mut app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Relais numérique", 1000 * 1024).await;
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let req = app
                .client
                .post(format!("{}/v1/vouchers", app.base))
                .bearer_auth(&token)
                .json(&json!({ "product": "data-1gb", "count": 10 }));
            tokio::spawn(async move {
                let response = req.send().await.ok()?;
                let status = response.status();
                let body: serde_json::Value = response.json().await.ok()?;
                Some((status, body))
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    app.running.take().unwrap().shutdown().await.unwrap();
    let mut acknowledged = HashSet::new();
    for r in requests {
        if let Some((StatusCode::CREATED, body)) = r.await.unwrap() {
            for v in body["vouchers"].as_array().unwrap() {
                acknowledged.insert(v["serial"].as_str().unwrap().to_owned());
            }
        }
    }
    let again = relay_topup::server::start(relay_topup::server::ServerConfig {
        database_url: app.database_url.clone(),
        key_file: app.dir.path().join("test.keys"),
        listen: "127.0.0.1:0".parse().unwrap(),
        limits: common::test_limits(),
        pool: relay_topup::storage::PoolSettings::default(),
        clock: std::sync::Arc::new(relay_topup::clock::SystemClock),
        demo: false,
    })
    .await
    .unwrap();
    let listed = common::read(
        app.client
            .get(format!("http://{}/v1/vouchers?limit=500", again.addr))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let stored: HashSet<String> = listed.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["serial"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "no request was in flight at shutdown"
    );
    assert!(
        acknowledged.is_subset(&stored),
        "an acknowledged code was lost"
    );
    // Nothing was stored that was not answered either (all or nothing per request).
    assert_eq!(stored.len() % 10, 0);
    again.shutdown().await.unwrap();
}
both!(graceful_shutdown_loses_nothing_acknowledged);
