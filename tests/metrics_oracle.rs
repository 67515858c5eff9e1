//! The public `/metrics` tells nothing about a code, on SQLite and
//! PostgreSQL: another network's operator trying a genuine PIN of the
//! first network, and trying a forged one (right check digit, wrong tag),
//! moves every exported counter by the same amounts — the answers are the
//! same `invalid_code`, and no series says which code was genuine.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::collections::BTreeMap;

use common::{Db, TestApp};
use relay_topup::code::{Pin, PinRef};
use reqwest::StatusCode;
use serde_json::json;

const SECOND_NETWORK: i64 = 2;

/// Every exported counter and histogram count, by series. Latency buckets
/// and sums are left out: they measure time, not what was found.
async fn counters(app: &TestApp) -> BTreeMap<String, u64> {
    common::metrics_text(app)
        .await
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let name = series.split('{').next()?;
            (name.ends_with("_total") || name.ends_with("_count"))
                .then(|| Some((series.to_owned(), value.parse::<f64>().ok()? as u64)))?
        })
        .filter(|(series, _)| !series.contains("route=\"/metrics\""))
        .collect()
}

fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, d)| *d > 0)
        .collect()
}

/// What the metrics say about one attempt of `operator` on `code`, by
/// check and by redemption: the answers, and how the counters moved.
async fn tried(app: &TestApp, operator: &str, code: &str, line: &str) -> BTreeMap<String, u64> {
    let before = counters(app).await;
    let check = app
        .post(
            "/v1/redemptions/check",
            operator,
            json!({ "code": code, "msisdn": line }),
        )
        .await;
    assert_eq!(check.code(), Some("invalid_code"), "{check:?}");
    let redeem = app.redeem(operator, code, line).await;
    assert_eq!(
        (redeem.status, redeem.code()),
        (StatusCode::NOT_FOUND, Some("invalid_code")),
        "{redeem:?}"
    );
    delta(&before, &counters(app).await)
}

async fn metrics_do_not_tell_genuine_from_forged(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Centre", 10 * 1024).await;
    let issued = app
        .post(
            "/v1/vouchers",
            &structure,
            json!({ "product": "data-1gb", "count": 1, "format": "pin" }),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{issued:?}");
    let genuine = issued.body["vouchers"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let digits: String = genuine.chars().filter(char::is_ascii_digit).collect();
    let key_id = app.running().state.keys.get().pins.active();
    let serial: u32 = digits[1..10].parse().unwrap();
    let forged = Pin::from_parts(PinRef::new(key_id, serial).unwrap(), 123_456_789).to_string();
    assert_ne!(forged, genuine);
    let other_network = app.network_token(SECOND_NETWORK).await;

    let by_forged = tried(&app, &other_network, &forged, "+33611111111").await;
    let by_genuine = tried(&app, &other_network, &genuine, "+33622222222").await;
    assert!(!by_forged.is_empty(), "the attempts were counted somewhere");
    assert_eq!(
        by_forged, by_genuine,
        "the metrics tell the genuine code apart"
    );
    app.stop().await;
}
both!(metrics_do_not_tell_genuine_from_forged);
