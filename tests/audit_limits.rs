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
    let codes = app.issue_codes(&structure, 2).await;

    // A reconciliation that holds the only place: its statement is still on
    // its way. The service's own integrity check (run at start) takes the
    // place for a moment too, and may make this request be refused; then it
    // is sent again.
    let head = format!(
        "POST /v1/audit/reconcile?{PERIOD} HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {auditor}\r\nContent-Type: text/csv\r\n\
         Content-Length: 1000000\r\n\r\nredemption_id"
    );
    let mut holding = None;
    for _ in 0..50 {
        let mut held = TcpStream::connect(app.running().addr).await.unwrap();
        held.write_all(head.as_bytes()).await.unwrap();
        let Some(busy) = report_refused(&app, &auditor).await else {
            continue;
        };
        // Refused while the statement was held, and the statement itself
        // not answered: the place is the held request's.
        let mut buf = [0u8; 64];
        match held.try_read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                holding = Some((held, busy));
                break;
            }
            _ => continue,
        }
    }
    let (held, busy) = holding.expect("a report refused while a statement holds the place");
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
    let redeemed = app.redeem(&operator, &codes[1], "+33612345678").await;
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

/// Asks for reports until one is refused `busy` (`None` if none is, over a
/// few seconds: the place was free all along).
async fn report_refused(app: &TestApp, auditor: &str) -> Option<common::Answer> {
    for _ in 0..100 {
        let a = app
            .get(&format!("/v1/audit/report?{PERIOD}"), auditor)
            .await;
        if a.status == StatusCode::SERVICE_UNAVAILABLE {
            return Some(a);
        }
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    None
}
