//! `relay-topup backup` copies a live SQLite database while codes are being
//! issued and redeemed: each copy verifies clean, and the service starts
//! on it with everything the copy holds.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Db, TestApp, busy_limits, cli};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_database_is_copied_consistently() {
    let Some(app) = TestApp::spawn_with(Db::Sqlite, busy_limits(), None).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 1_000 * 1024).await;
    let operator = app.token("operator", None).await;
    let keys = app.dir.path().join("test.keys");
    let stop = Arc::new(AtomicBool::new(false));
    // Issuing and redeeming all along.
    let load = {
        let (base, token, operator, stop) = (
            app.base.clone(),
            token.clone(),
            operator.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut done = 0;
            while !stop.load(Ordering::Relaxed) {
                let issued: serde_json::Value = http
                    .post(format!("{base}/v1/vouchers"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"product": "data-1gb", "count": 2}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let code = issued["vouchers"][0]["code"].as_str().unwrap().to_owned();
                let r = http
                    .post(format!("{base}/v1/redemptions"))
                    .bearer_auth(&operator)
                    .json(&serde_json::json!({"code": code, "msisdn": "+33612345678"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                done += 1;
            }
            done
        })
    };
    let out = tempfile::tempdir().unwrap();
    let mut copies = Vec::new();
    for i in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let path = out.path().join(format!("copy-{i}.sqlite"));
        let (url, keys, target) = (app.database_url.clone(), keys.clone(), path.clone());
        let run = tokio::task::spawn_blocking(move || {
            cli(
                &url,
                &keys,
                &["backup", "--output", target.to_str().unwrap()],
            )
        })
        .await
        .unwrap();
        assert!(run.ok(), "{run:?}");
        assert_eq!(run.last_line(), path.display().to_string());
        copies.push(path);
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = load.await.unwrap();
    assert!(rounds > 0, "the load ran");

    // Taken again onto an existing file: refused, the file untouched.
    let again = cli(
        &app.database_url,
        &keys,
        &["backup", "--output", copies[0].to_str().unwrap()],
    );
    assert!(!again.ok(), "{again:?}");

    for copy in &copies {
        let url = format!("sqlite://{}", copy.display());
        assert!(copy.exists(), "{}", copy.display());
        let listed = cli(&url, &keys, &["structure", "list"]);
        assert!(listed.stdout.contains("Centre social"), "{listed:?}");
        let verify = cli(&url, &keys, &["audit", "verify"]);
        assert!(
            verify.ok(),
            "{}: {}\n{}",
            copy.display(),
            verify.stdout,
            verify.stderr
        );
    }
    // The service starts on the last copy, its books balanced, and issues.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&keys, dir.path().join("test.keys")).unwrap();
    let last = copies.last().unwrap();
    let restored_url = format!("sqlite://{}", last.display());
    app.stop().await;
    let restored = TestApp::spawn_at(Db::Sqlite, dir, restored_url, busy_limits(), None).await;
    common::assert_books_clean(&restored).await;
    assert_eq!(restored.issue_codes(&token, 1).await.len(), 1);
    restored.stop().await;
}

/// PostgreSQL's copy is pg_dump's: the command says so and writes nothing.
#[tokio::test]
async fn postgresql_is_pointed_to_pg_dump() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(Db::Postgres, dir.path()).await else {
        return;
    };
    let target = dir.path().join("copy");
    let (keys, path) = (dir.path().join("k.keys"), target.clone());
    let run = tokio::task::spawn_blocking(move || {
        cli(&url, &keys, &["backup", "--output", path.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(!run.ok(), "{run:?}");
    assert!(run.stderr.contains("pg_dump"), "{run:?}");
    assert!(!target.exists());
}
