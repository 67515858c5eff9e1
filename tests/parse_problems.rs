//! Requests the HTTP parser refuses are answered with problem+json, on
//! SQLite and PostgreSQL: a malformed request line (400), a URI too long
//! (414) and headers over the parser's buffer (431) each get their status,
//! a problem document with a stable `code`, and `Connection: close` — the
//! empty bodies hyper sends on its own never reach the client. A normal
//! request on a fresh connection is answered as before.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::{Db, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends raw bytes on a new connection; answers all the server sent back
/// before it closed.
async fn raw(app: &TestApp, request: Vec<u8>) -> String {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before reading everything: a write
    // error after that is expected.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn problem_of(answer: &str) -> serde_json::Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer:?}"))
}

async fn refused_requests_are_problems(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let long_uri = format!("GET /v1/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\n\r\n",
        "b".repeat(600_000)
    );
    for (request, status, code) in [
        (b"GARBAGE\r\n\r\n".to_vec(), 400, "malformed_request"),
        (
            b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n".to_vec(),
            400,
            "malformed_request",
        ),
        (long_uri.into_bytes(), 414, "uri_too_long"),
        (big_header.into_bytes(), 431, "headers_too_large"),
    ] {
        let answer = raw(&app, request).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{answer:?}"
        );
        let head = answer.split("\r\n\r\n").next().unwrap().to_lowercase();
        assert!(
            head.contains("content-type: application/problem+json"),
            "{answer:?}"
        );
        assert!(head.contains("connection: close"), "{answer:?}");
        let problem = problem_of(&answer);
        assert_eq!(problem["code"], code, "{answer:?}");
        assert_eq!(problem["status"], status, "{answer:?}");
    }
    // A request the parser reads is answered as always.
    let fine = raw(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
    )
    .await;
    assert!(fine.starts_with("HTTP/1.1 200 "), "{fine:?}");
    app.stop().await;
}
both!(refused_requests_are_problems);
