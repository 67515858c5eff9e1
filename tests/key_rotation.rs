//! Key rotation under concurrency: rotations through the API and the command
//! line at once, with codes issued in between, lose no key; every code
//! still redeems, and the key file on disk agrees with what was used.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{Db, TestApp, cli};
use relay_topup::code::KeySet;
use reqwest::StatusCode;
use serde_json::json;

// Nine rotations: every PIN key id (0 to 9) ends up in use.
const API_ROTATIONS: usize = 6;
const CLI_ROTATIONS: usize = 3;
const ISSUES: usize = 12;

async fn rotations_in_parallel_lose_no_key(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let app = Arc::new(app);
    let (_, structure) = app.funded_structure("Rotations", 1024 * 100).await;
    let operator = app.token("operator", None).await;
    let key_file = app.dir.path().join("test.keys");

    let mut tasks = Vec::new();
    for _ in 0..API_ROTATIONS {
        let app = Arc::clone(&app);
        tasks.push(tokio::spawn(async move {
            let a = app.post("/v1/keys/rotate", &app.admin, json!({})).await;
            assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
            Vec::new()
        }));
    }
    for _ in 0..CLI_ROTATIONS {
        let (url, file) = (app.database_url.clone(), key_file.clone());
        tasks.push(tokio::spawn(async move {
            let run = tokio::task::spawn_blocking(move || cli(&url, &file, &["keys", "rotate"]))
                .await
                .unwrap();
            assert!(run.ok(), "{}", run.stderr);
            Vec::new()
        }));
    }
    // Codes and PINs, in turn.
    for i in 0..ISSUES {
        let (app, structure) = (Arc::clone(&app), structure.clone());
        let format = if i % 2 == 0 { "code" } else { "pin" };
        tasks.push(tokio::spawn(async move {
            let body = json!({ "product": "data-1gb", "count": 1, "format": format });
            let a = app.post("/v1/vouchers", &structure, body).await;
            assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
            vec![a.body["vouchers"][0]["code"].as_str().unwrap().to_owned()]
        }));
    }
    let mut codes = Vec::new();
    for task in tasks {
        codes.extend(task.await.unwrap());
    }
    assert_eq!(codes.len(), ISSUES);

    // Every rotation added its own key id: none overwrote another's.
    let material = relay_topup::keyfile::load(&key_file).unwrap();
    let ids: BTreeSet<u8> = material.code_keys.iter().map(|k| k.key_id).collect();
    let expected: BTreeSet<u8> = (0..=(API_ROTATIONS + CLI_ROTATIONS) as u8).collect();
    assert_eq!(ids, expected);
    let pin_ids: BTreeSet<u8> = material.pin_keys.iter().map(|k| k.key_id).collect();
    assert_eq!(pin_ids, expected);

    // The file, as a restarted server would read it, verifies every code…
    let from_disk = KeySet::from_material(&material).unwrap();
    for code in &codes {
        let parsed = relay_topup::code::read(code).unwrap();
        assert!(
            from_disk.verify(&parsed).is_ok(),
            "code {} does not verify under the key file",
            &code[..9]
        );
    }
    // …and the running server redeems every one of them.
    for code in &codes {
        let a = app.redeem(&operator, code, "+33612345678").await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    }
    common::assert_books_clean(&app).await;
    Arc::into_inner(app).unwrap().stop().await;
}
both!(rotations_in_parallel_lose_no_key);

async fn the_last_key_id_answers_409(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    // PIN key ids 0 to 9: the first keys and 9 rotations. Code key ids
    // would last to 31, but the formats rotate together.
    for _ in 0..9 {
        let a = app.post("/v1/keys/rotate", &app.admin, json!({})).await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    }
    let refused = app.post("/v1/keys/rotate", &app.admin, json!({})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{refused:?}");
    assert!(refused.is_problem());
    assert_eq!(refused.code(), Some("key_ids_exhausted"));
    // Nothing changed: the key file still has 10 keys of each kind, the
    // last active.
    let material = relay_topup::keyfile::load(&app.dir.path().join("test.keys")).unwrap();
    assert_eq!(material.code_keys.len(), 10);
    assert_eq!(material.pin_keys.len(), 10);
    assert_eq!(material.signing_keys.len(), 10);
    let (_, structure) = app.funded_structure("Après", 2048).await;
    // Codes and PINs are still made, with the last keys (code key id 9 is
    // written `9`; a PIN starts with its key id).
    assert!(app.issue_codes(&structure, 1).await[0].starts_with('9'));
    let body = json!({ "product": "data-1gb", "count": 1, "format": "pin" });
    let pin = app.post("/v1/vouchers", &structure, body).await;
    assert!(
        pin.body["vouchers"][0]["code"]
            .as_str()
            .unwrap()
            .starts_with('9'),
        "{pin:?}"
    );
    app.stop().await;
}
both!(the_last_key_id_answers_409);

/// The command line rotates and records, both or neither: refused before
/// anything changes without the service's database (never creating a new
/// one), and the key file put back when the record fails.
async fn a_command_line_rotation_is_whole_or_nothing(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(db, dir.path()).await else {
        return;
    };
    let keys = dir.path().join("test.keys");
    assert!(cli(&url, &keys, &["keys", "generate"]).ok());
    assert!(cli(&url, &keys, &["structure", "list"]).ok());
    let original = std::fs::read(&keys).unwrap();

    // No database where the command looks (the default URL in an empty
    // folder, as when --database-url is forgotten): refused, none created.
    let elsewhere = dir.path().join("forgot");
    std::fs::create_dir(&elsewhere).unwrap();
    let missing = format!(
        "sqlite://{}?mode=rwc",
        elsewhere.join("relay-topup.sqlite").display()
    );
    let refused = cli(&missing, &keys, &["keys", "rotate"]);
    assert!(!refused.ok(), "{refused:?}");
    assert!(refused.stderr.contains("no database at"), "{refused:?}");
    assert!(
        std::fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "a database was created"
    );
    assert_eq!(std::fs::read(&keys).unwrap(), original);

    // The database refuses the record: the key file is as it was.
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let refuse = match db {
        Db::Sqlite => vec![
            "CREATE TRIGGER refuse_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'refused'); END",
        ],
        Db::Postgres => vec![
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_events BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse()",
        ],
    };
    for sql in refuse {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    let failed = cli(&url, &keys, &["keys", "rotate"]);
    assert!(!failed.ok(), "{failed:?}");
    assert!(
        failed.stderr.contains("the key file is as it was"),
        "{failed:?}"
    );
    assert_eq!(
        std::fs::read(&keys).unwrap(),
        original,
        "the key file changed"
    );

    // Once the database takes records again, the rotation goes through.
    let drop = match db {
        Db::Sqlite => "DROP TRIGGER refuse_events",
        Db::Postgres => "DROP TRIGGER refuse_events ON events",
    };
    sqlx::query(drop).execute(&mut conn).await.unwrap();
    let rotated = cli(&url, &keys, &["keys", "rotate"]);
    assert!(rotated.ok(), "{rotated:?}");
    assert_ne!(std::fs::read(&keys).unwrap(), original);
}
both!(a_command_line_rotation_is_whole_or_nothing);

/// Two servers on one database: a rotation on the first is used by the
/// second without a restart — a code under the new key redeems there, and
/// it issues under the new key after its sweep — and codes under a key no
/// server knows are refused without barring the line.
async fn a_rotation_reaches_every_server(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let other = app.second_server(common::test_limits()).await;
    let other_base = format!("http://{}", other.addr);
    let (_, structure) = app.funded_structure("Centre", 20 * 1024).await;
    let rotated = app.post("/v1/keys/rotate", &app.admin, json!({})).await;
    assert!(rotated.status.is_success(), "{rotated:?}");
    let new_code = app.issue_codes(&structure, 1).await.remove(0);
    let new_key = KeySet::from_material(
        &relay_topup::keyfile::load(&app.dir.path().join("test.keys")).unwrap(),
    )
    .unwrap()
    .codes
    .active()
    .get();
    assert_ne!(
        other.state.keys.get().codes.active().get(),
        new_key,
        "not reloaded yet"
    );
    let operator = app.token("operator", None).await;
    let redeem = |code: String, line: &'static str| {
        let client = app.client.clone();
        let (base, operator) = (other_base.clone(), operator.clone());
        async move {
            common::read(
                client
                    .post(format!("{base}/v1/redemptions"))
                    .bearer_auth(&operator)
                    .json(&json!({ "code": code, "msisdn": line }))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let redeemed = redeem(new_code, "+33611111111").await;
    assert_eq!(redeemed.status, StatusCode::CREATED, "{redeemed:?}");

    // A key id no server holds: ten tries on one line, never barred.
    let unknown = relay_topup::code::Pin::from_parts(
        relay_topup::code::PinRef::new(9, 123_456_789).unwrap(),
        987_654_321,
    )
    .to_string();
    for _ in 0..10 {
        let refused = redeem(unknown.clone(), "+33622222222").await;
        assert_eq!(refused.code(), Some("invalid_code"), "{refused:?}");
    }
    let code = app.issue_codes(&structure, 1).await.remove(0);
    let after = redeem(code, "+33622222222").await;
    assert_eq!(
        after.status,
        StatusCode::CREATED,
        "the line was barred: {after:?}"
    );

    // The second server's sweep reads the file: it issues under the new key.
    relay_topup::server::sweep_once(&other.state).await.unwrap();
    assert_eq!(other.state.keys.get().codes.active().get(), new_key);
    other.shutdown().await.unwrap();
    app.stop().await;
}
both!(a_rotation_reaches_every_server);
