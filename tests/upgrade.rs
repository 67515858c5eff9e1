//! A database written by release 0.1 (before numeric PINs) upgrades in
//! place, on SQLite and PostgreSQL: today's server starts on it, nothing is
//! lost, the audit is clean before and after new work, old codes redeem as
//! they would have, and the old key file is given a PIN key so that PINs
//! can be issued. The fixtures and how they were made:
//! `tests/fixtures/upgrade/README.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Db, TestApp, cli};
use relay_topup::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

/// When the fixtures were written (their last event), plus a minute: the
/// reserved code is still held, no code has expired.
const FIXTURE_NOW: i64 = 1_796_238_546 + 60;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upgrade")
        .join(name)
}

/// Loads the fixture's dump into `database_url`, as the old release left it.
async fn restore(db: Db, database_url: &str) {
    let (file, mut conn) = match db {
        Db::Sqlite => (
            "v0.1-sqlite.sql",
            sqlx::AnyConnection::connect(database_url).await,
        ),
        Db::Postgres => (
            "v0.1-postgres.sql",
            sqlx::AnyConnection::connect(database_url).await,
        ),
    };
    let dump = std::fs::read_to_string(fixture(file)).unwrap();
    sqlx::raw_sql(&dump)
        .execute(conn.as_mut().unwrap())
        .await
        .unwrap();
    conn.unwrap().close().await.unwrap();
}

async fn an_old_database_upgrades_in_place(db: Db) {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let Some(database_url) = common::database_url(db, dir.path()).await else {
        return;
    };
    let flavour = match db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    };
    restore(db, &database_url).await;
    let key_file = dir.path().join("test.keys");
    std::fs::copy(fixture(&format!("v0.1-{flavour}.keys")), &key_file).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let old_keys = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        !old_keys.contains("pin_keys"),
        "the fixture predates PIN keys"
    );
    let codes: Vec<String> = std::fs::read_to_string(fixture(&format!("v0.1-{flavour}.codes")))
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 5);

    let clock = ManualClock::new(FIXTURE_NOW);
    let limits = common::test_limits();
    let hold_secs = limits.hold_secs;
    let app = TestApp::spawn_at(db, dir, database_url.clone(), limits, Some(clock.clone())).await;
    // Everything the old release wrote is there, and checks out.
    let events = common::assert_books_clean(&app).await;
    assert!(events >= 25, "{events} events");
    let verify = cli(&database_url, &key_file, &["audit", "verify"]);
    assert!(verify.ok(), "{}\n{}", verify.stdout, verify.stderr);

    // The old key file now has a PIN key, and kept every other key.
    let material = relay_topup::keyfile::load(&key_file).unwrap();
    assert_eq!(material.pin_keys.len(), 1);
    assert_eq!(
        (material.code_keys.len(), material.signing_keys.len()),
        (2, 2)
    );

    // Old codes answer as they would have: redeemed, held, voided, issued;
    // once the hold runs out, the held one redeems too.
    let operator = app.token("operator", None).await;
    let a = app.redeem(&operator, &codes[0], "+33612345678").await;
    assert_eq!(a.code(), Some("already_redeemed"), "{a:?}");
    let a = app.redeem(&operator, &codes[1], "+33612345678").await;
    assert_eq!(a.code(), Some("reserved"), "{a:?}");
    let a = app.redeem(&operator, &codes[2], "+33612345678").await;
    assert_eq!(a.code(), Some("voided"), "{a:?}");
    clock.advance(hold_secs);
    for code in [&codes[1], &codes[3], &codes[4]] {
        let a = app.redeem(&operator, code, "+33612345678").await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    }
    // The demo structure's books: five data codes issued, one given back.
    let structure = app.token("structure", Some(1)).await;
    let balance = app.balance(&structure, "data_mb").await;
    assert_eq!(
        (balance["issued"].as_i64(), balance["returned"].as_i64()),
        (Some(5120), Some(1024))
    );
    let listed = app.get("/v1/vouchers?limit=500", &structure).await;
    assert_eq!(
        listed.body["vouchers"].as_array().unwrap().len(),
        7,
        "{listed:?}"
    );

    // New work on the upgraded database: a PIN, then a code.
    let body = json!({ "product": "data-1gb", "count": 1, "format": "pin" });
    let pin = app.post("/v1/vouchers", &structure, body).await;
    assert_eq!(pin.status, StatusCode::CREATED, "{pin:?}");
    let pin = pin.body["vouchers"][0]["code"].as_str().unwrap().to_owned();
    let a = app.redeem(&operator, &pin, "+33612345678").await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    assert_eq!(app.issue_codes(&structure, 1).await.len(), 1);
    common::assert_books_clean(&app).await;
    let verify = cli(&database_url, &key_file, &["audit", "verify"]);
    assert!(verify.ok(), "{}\n{}", verify.stdout, verify.stderr);
    app.stop().await;
}
both!(an_old_database_upgrades_in_place);
