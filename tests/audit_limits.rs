//! Heavy audit work is bounded: past `max_concurrent_audits` running at
//! once, reports and reconciliations are answered 503 `busy` with
//! `Retry-After` (without reading their bodies), and operators are served
//! meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Db, TestApp, test_limits};
use relay_topup::config::Limits;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const PERIOD: &str = "from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z";

async fn audits_past_the_limit_are_refused_busy(db: Db) {
    let limits = Limits {
        max_concurrent_audits: 1,
        ..test_limits()
    };
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let auditor = app.token("auditor", None).await;
    let operator = app.token("operator", None).await;
    let (_, structure) = app.funded_structure("Audits", 4096).await;
    let issued = app.issue(&structure, "data-1gb", 2).await;
    let codes: Vec<String> = issued.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap().to_owned())
        .collect();

    // A reconciliation that holds the only place: its statement is still on
    // its way.
    let mut held = TcpStream::connect(app.running().addr).await.unwrap();
    let head = format!(
        "POST /v1/audit/reconcile?{PERIOD} HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {auditor}\r\nContent-Type: text/csv\r\n\
         Content-Length: 1000000\r\n\r\nredemption_id"
    );
    held.write_all(head.as_bytes()).await.unwrap();

    // Until the server has taken it, a report may still get the place.
    let mut busy = None;
    for _ in 0..200 {
        let a = app
            .get(&format!("/v1/audit/report?{PERIOD}"), &auditor)
            .await;
        if a.status == StatusCode::SERVICE_UNAVAILABLE {
            busy = Some(a);
            break;
        }
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let busy = busy.expect("a report while the only place is held");
    assert!(busy.is_problem(), "{busy:?}");
    assert_eq!(busy.code(), Some("busy"));
    assert!(busy.headers.get("retry-after").is_some(), "{busy:?}");
    let csv = app
        .client
        .post(format!("{}/v1/audit/reconcile?{PERIOD}", app.base))
        .bearer_auth(&auditor)
        .header("content-type", "text/csv")
        .body("x".repeat(4096))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Operators are not kept waiting by the audit.
    let check = app
        .post(
            "/v1/redemptions/check",
            &operator,
            json!({ "code": codes[0] }),
        )
        .await;
    assert_eq!(check.status, StatusCode::OK, "{check:?}");
    let redeemed = app
        .post(
            "/v1/redemptions",
            &operator,
            json!({ "code": codes[1], "msisdn": "+33612345678" }),
        )
        .await;
    assert_eq!(redeemed.status, StatusCode::CREATED, "{redeemed:?}");

    // The held request gives its place back once it ends.
    drop(held);
    let mut freed = false;
    for _ in 0..200 {
        let a = app
            .request(
                Method::GET,
                &format!("/v1/audit/report?{PERIOD}"),
                Some(&auditor),
                None,
            )
            .await;
        if a.status == StatusCode::OK {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(freed, "the place was never given back");
    app.stop().await;
}
both!(audits_past_the_limit_are_refused_busy);
