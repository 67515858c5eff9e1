//! Sign-ins cannot exhaust the server's memory, on SQLite and PostgreSQL:
//! 300 sign-ins sent at once from 300 addresses (each under its address's
//! limit) to the real binary leave its peak resident memory under 512 MiB.
//! Each password check takes 19 MiB (Argon2id); the bounded pool runs at
//! most `--max-concurrent-password-hashes` of them and refuses the rest at
//! once, 429 with `Retry-After`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::{Db, binary};
use reqwest::StatusCode;

const ATTEMPTS: usize = 300;
const PEAK_LIMIT_MIB: u64 = 512;

/// The server's peak resident memory so far, in MiB (`VmHWM`).
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024
}

/// One person's browser, from its own address: the sign-in page's
/// cookie and form token, then the form.
async fn attempt(base: Arc<String>, n: usize, start: Arc<tokio::sync::Barrier>) -> StatusCode {
    let local = IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        1 + u8::try_from(n / 250).unwrap(),
        1 + u8::try_from(n % 250).unwrap(),
    ));
    let client = reqwest::Client::builder()
        .local_address(local)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let page = client
        .get(format!("{base}/desk/sign-in"))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    let (name, value) = cookie.split(';').next().unwrap().split_once('=').unwrap();
    let (name, value) = (name.to_owned(), value.to_owned());
    start.wait().await;
    client
        .post(format!("{base}/desk/sign-in"))
        .header("cookie", format!("{name}={value}"))
        .form(&[
            ("csrf", value.as_str()),
            ("login", &format!("personne.{n}")),
            ("password", "une phrase de passe quelconque"),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

async fn sign_ins_at_once_stay_within_memory(db: Db) {
    let Some(url) = binary::database(db).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = binary::free_port();
    let mut server = binary::serve(dir.path(), port, url.as_deref())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = Arc::new(format!("http://127.0.0.1:{port}"));
    let probe = reqwest::Client::new();
    let mut up = false;
    for _ in 0..600 {
        if probe
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "serve did not start");
    let before = peak_mib(server.id());

    let start = Arc::new(tokio::sync::Barrier::new(ATTEMPTS));
    let tasks: Vec<_> = (0..ATTEMPTS)
        .map(|n| tokio::spawn(attempt(Arc::clone(&base), n, Arc::clone(&start))))
        .collect();
    let mut refused = 0;
    let mut busy = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => busy += 1,
            other => panic!("sign-in answered {other}"),
        }
    }
    let peak = peak_mib(server.id());
    eprintln!(
        "{ATTEMPTS} sign-ins at once: {refused} checked and refused, {busy} told to retry; \
         server peak memory {peak} MiB (before: {before} MiB)"
    );
    assert!(refused > 0, "no password was checked");
    assert!(peak < PEAK_LIMIT_MIB, "peak {peak} MiB");
    let _ = server.kill();
    let _ = server.wait();
}
both!(sign_ins_at_once_stay_within_memory);
