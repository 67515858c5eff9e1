//! Connection limits, request time-outs and metric labels: what a client
//! that misbehaves on purpose cannot do to the service. Each test talks raw
//! TCP to the real server, so nothing between them hides a slow or odd
//! request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Db, TestApp, test_limits};
use relay_topup::config::Limits;
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Long enough that only a hung server reaches it; the assertions are
/// about what the server does, never about how fast.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn short_deadlines() -> Limits {
    Limits {
        header_read_timeout_secs: 1,
        idle_timeout_secs: 2,
        request_timeout_secs: 1,
        ..test_limits()
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.running().addr).await.unwrap()
}

/// Reads until the server closes the connection; what it sent meanwhile.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(HANG_GUARD, stream.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open; it sent {seen:?}"),
            Ok(Ok(0) | Err(_)) => return String::from_utf8_lossy(&seen).into_owned(),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_are_closed() {
    let app = TestApp::spawn_with(Db::Sqlite, short_deadlines(), None)
        .await
        .unwrap();
    let mut idle = connect(&app).await;
    let mut half_sent = connect(&app).await;
    half_sent
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut kept_alive = connect(&app).await;
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let idle_saw = read_until_closed(&mut idle).await;
    assert!(!idle_saw.contains("200"), "{idle_saw}");
    let half_saw = read_until_closed(&mut half_sent).await;
    assert!(!half_saw.contains("200 OK"), "{half_saw}");
    // Answered once, then closed while waiting for a second request.
    let kept_saw = read_until_closed(&mut kept_alive).await;
    assert_eq!(kept_saw.matches("HTTP/1.1 200").count(), 1, "{kept_saw}");
    // The service itself is fine.
    let health = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_wait_for_a_free_one() {
    let limits = Limits {
        max_client_connections: 2,
        header_read_timeout_secs: 600,
        idle_timeout_secs: 600,
        ..test_limits()
    };
    let app = TestApp::spawn_with(Db::Sqlite, limits, None).await.unwrap();
    let first = connect(&app).await;
    let _second = connect(&app).await;
    // Let the server take both before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = connect(&app).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(early.is_err(), "answered over the connection limit");
    drop(first);
    let answer = read_until_closed(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_its_time_limit_is_answered_503_problem() {
    let app = TestApp::spawn_with(Db::Sqlite, short_deadlines(), None)
        .await
        .unwrap();
    let (_, token) = app.funded_structure("Lente", 10_000).await;
    let mut slow = connect(&app).await;
    // Headers complete, body promised but never sent: the handler waits on
    // it until the request's time limit answers for it.
    let head = format!(
        "POST /v1/vouchers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after:"),
        "{answer}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_page_over_its_time_limit_is_answered_with_a_page() {
    let app = TestApp::spawn_with(Db::Sqlite, short_deadlines(), None)
        .await
        .unwrap();
    let mut slow = connect(&app).await;
    slow.write_all(
        b"POST /desk/sign-in HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ncsrf=",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("text/html"), "{answer}");
    assert!(answer.contains("trop de temps"), "{answer}");
    app.stop().await;
}

fn request_series(metrics: &str) -> Vec<&str> {
    metrics
        .lines()
        .filter(|l| l.starts_with("relay_topup_http_requests_total{"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_methods_and_paths_do_not_grow_the_metrics() {
    let app = TestApp::spawn(Db::Sqlite).await.unwrap();
    // One request of each kind the flood will send, so their series exist.
    let client = &app.client;
    let odd = |i: usize| Method::from_bytes(format!("M{i:0>150}").as_bytes()).unwrap();
    for (method, path) in [
        (odd(0), "/v1/vouchers".to_owned()),
        (Method::GET, "/x0".into()),
    ] {
        client
            .request(method, format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
    }
    let before = app.request(Method::GET, "/metrics", None, None).await.text;
    for i in 1..300 {
        for (method, path) in [
            (odd(i), "/v1/vouchers".to_owned()),
            (odd(i), format!("/nowhere/{i}")),
            (Method::GET, format!("/x{i}")),
        ] {
            let status = client
                .request(method, format!("{}{path}", app.base))
                .send()
                .await
                .unwrap()
                .status();
            assert!(status.is_client_error(), "{status}");
        }
    }
    let after = app.request(Method::GET, "/metrics", None, None).await.text;
    assert!(!after.contains("M0000"), "a client's method became a label");
    assert!(
        !after.contains("/nowhere"),
        "a client's path became a label"
    );
    // The only new series: `other` on an unmatched route, and the scrape.
    let grown = request_series(&after).len() - request_series(&before).len();
    assert!(grown <= 2, "{grown} new series:\n{after}");
    app.stop().await;
}
