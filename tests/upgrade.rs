//! A database written by release 0.1 (before numeric PINs), by release 0.2
//! (with them) or by release 0.3 (with operator networks, accounts and
//! lots) upgrades in place, on SQLite and PostgreSQL: today's server starts
//! on it, nothing is lost (the ledger and quota buckets SQLite rebuilds keep
//! every row, balances start with nothing received or sent), the audit is
//! clean before and after new work, old codes (and 0.2's and 0.3's PINs)
//! redeem as they would have, and a 0.1 key file is given a PIN key so that
//! PINs can be issued. The fixtures and how they were made:
//! `tests/fixtures/upgrade/README.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Db, TestApp, cli};
use relay_topup::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

/// A release whose databases and key files are fixtures.
struct Release {
    /// The fixtures' prefix: `v0.1` names `v0.1-sqlite.sql` and so on.
    version: &'static str,
    /// When its fixtures were written (their last event, on either
    /// database), plus a minute: the reserved code is still held, no code
    /// has expired.
    fixture_now: i64,
    /// How many events its fixtures hold, at least.
    events: usize,
    /// Whether it had numeric PINs: PIN keys in its key file and three
    /// `data-1gb` PINs in its database, the first redeemed.
    pins: bool,
    /// The operator networks its database holds after the upgrade, by id
    /// from 1: a release before networks gets one from migration 0006, 0.3
    /// seeded two at first start. The first holds the demo's products.
    networks: &'static [&'static str],
    /// The actor of the chain's `operator_created` events: `upgrade` for
    /// migration 0006's network, `system` for those 0.3 seeded.
    networks_created_by: &'static str,
}

/// Release 0.1: schema migrations 0001–0004, before numeric PINs.
const V0_1: Release = Release {
    version: "v0.1",
    fixture_now: 1_796_238_546 + 60,
    events: 25,
    pins: false,
    networks: &["Opérateur d'origine"],
    networks_created_by: "upgrade",
};

/// Release 0.2 (commit 54f77ab): schema migrations 0001–0005, with numeric
/// PINs.
const V0_2: Release = Release {
    version: "v0.2",
    fixture_now: 1_796_250_054 + 60,
    events: 29,
    pins: true,
    networks: &["Opérateur d'origine"],
    networks_created_by: "upgrade",
};

/// Release 0.3 (commit 1dbdf87): schema migrations 0001–0007, with operator
/// networks (two seeded at first start), accounts and lots.
const V0_3: Release = Release {
    version: "v0.3",
    fixture_now: 1_796_628_234 + 60,
    events: 42,
    pins: true,
    networks: &["SFR", "Orange"],
    networks_created_by: "system",
};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upgrade")
        .join(name)
}

/// Loads the fixture's dump into `database_url`, as the old release left it.
async fn restore(release: &Release, db: Db, database_url: &str) {
    let flavour = match db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    };
    let file = format!("{}-{flavour}.sql", release.version);
    let mut conn = sqlx::AnyConnection::connect(database_url).await;
    let dump = std::fs::read_to_string(fixture(&file)).unwrap();
    sqlx::raw_sql(&dump)
        .execute(conn.as_mut().unwrap())
        .await
        .unwrap();
    conn.unwrap().close().await.unwrap();
}

async fn a_0_1_database_upgrades_in_place(db: Db) {
    an_old_database_upgrades_in_place(&V0_1, db).await;
}
both!(a_0_1_database_upgrades_in_place);

async fn a_0_2_database_upgrades_in_place(db: Db) {
    an_old_database_upgrades_in_place(&V0_2, db).await;
}
both!(a_0_2_database_upgrades_in_place);

async fn a_0_3_database_upgrades_in_place(db: Db) {
    an_old_database_upgrades_in_place(&V0_3, db).await;
}
both!(a_0_3_database_upgrades_in_place);

/// A ledger entry's columns every release had (0001's).
type LedgerRow = (i64, i64, String, String, i64, Option<i64>, Option<i64>, i64);
/// A quota bucket's columns every release had (0001's).
type BucketRow = (
    i64,
    Option<i64>,
    i64,
    i64,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);

/// The ledger and the quota buckets, row by row, in id order: on SQLite,
/// today's start rebuilds both tables.
async fn ledger_and_buckets(database_url: &str) -> (Vec<LedgerRow>, Vec<BucketRow>) {
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let ledger = sqlx::query_as(
        "SELECT id, structure_id, resource, kind, amount, voucher_id, bucket_id, at \
         FROM ledger ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let buckets = sqlx::query_as(
        "SELECT id, grant_id, period, structure_id, resource, amount, remaining, \
         credited_at, expires_at, lapsed_at FROM quota_buckets ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    (ledger, buckets)
}

/// Every balance row's `received` and `sent` (migration 0008's), with the
/// row's structure, operator and resource.
async fn received_and_sent(database_url: &str) -> Vec<(i64, i64, String, i64, i64)> {
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let rows = sqlx::query_as(
        "SELECT structure_id, operator_id, resource, received, sent FROM balances \
         ORDER BY structure_id, operator_id, resource",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    rows
}

async fn an_old_database_upgrades_in_place(release: &Release, db: Db) {
    let version = release.version;
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let Some(database_url) = common::database_url(db, dir.path()).await else {
        return;
    };
    let flavour = match db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    };
    restore(release, db, &database_url).await;
    let books_before = ledger_and_buckets(&database_url).await;
    assert!(!books_before.0.is_empty() && !books_before.1.is_empty());
    let key_file = dir.path().join("test.keys");
    std::fs::copy(fixture(&format!("{version}-{flavour}.keys")), &key_file).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let old_keys = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(
        old_keys.contains("pin_keys"),
        release.pins,
        "the fixture has PIN keys if and only if its release had PINs"
    );
    let codes: Vec<String> =
        std::fs::read_to_string(fixture(&format!("{version}-{flavour}.codes")))
            .unwrap()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
    assert_eq!(codes.len(), 5);
    // A PIN is printed with spaces between its groups: one a line.
    let pins: Vec<String> = if release.pins {
        std::fs::read_to_string(fixture(&format!("{version}-{flavour}.pins")))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect()
    } else {
        Vec::new()
    };
    assert_eq!(pins.len(), if release.pins { 3 } else { 0 });

    let clock = ManualClock::new(release.fixture_now);
    let limits = common::test_limits();
    let hold_secs = limits.hold_secs;
    let app = TestApp::spawn_at(db, dir, database_url.clone(), limits, Some(clock.clone())).await;
    // The upgrade kept every ledger entry and quota bucket as it was (on
    // SQLite both tables were rebuilt), and no balance has received or
    // sent anything: there were no associations before.
    assert_eq!(ledger_and_buckets(&database_url).await, books_before);
    let flows = received_and_sent(&database_url).await;
    assert!(!flows.is_empty());
    assert!(
        flows
            .iter()
            .all(|(_, _, _, received, sent)| (received, sent) == (&0, &0)),
        "{flows:?}"
    );
    // Everything the old release wrote is there, and checks out.
    let events = common::assert_books_clean(&app).await;
    assert!(events >= release.events, "{events} events");
    let verify = cli(&database_url, &key_file, &["audit", "verify"]);
    assert!(verify.ok(), "{}\n{}", verify.stdout, verify.stderr);

    // The old release's networks (before 0.3, one that migration 0006 made)
    // hold everything it knew of: its products, its structure's quota, and
    // the chain records their creation.
    let networks = release.networks.len();
    let operators = app.get("/v1/operators", &app.admin).await;
    let expected: Vec<Value> = release
        .networks
        .iter()
        .zip(1..)
        .map(|(name, id)| {
            // The USSD string for PIN slips (migration 0009) starts empty:
            // the coordinator sets it at the desk.
            json!({ "id": id, "name": name, "instructions_fr": null, "instructions_en": null,
                    "slip_instructions": null,
                    "created_at": operators.body["operators"][id - 1]["created_at"] })
        })
        .collect();
    assert_eq!(
        operators.body["operators"],
        json!(expected),
        "{operators:?}"
    );
    let products = app.get("/v1/products", &app.admin).await;
    let products = products.body["products"].as_array().unwrap().clone();
    for id in 1..=networks {
        assert!(
            products.iter().any(|p| p["operator_id"] == id),
            "network {id}: {products:?}"
        );
    }
    assert!(
        products
            .iter()
            .all(|p| (1..=networks as i64).contains(&p["operator_id"].as_i64().unwrap())),
        "{products:?}"
    );
    let auditor = app.token("auditor", None).await;
    let events = app.get("/v1/audit/events?limit=500", &auditor).await;
    let created: Vec<&Value> = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "operator_created")
        .collect();
    assert_eq!(created.len(), networks, "{created:?}");
    assert!(
        created
            .iter()
            .all(|e| e["actor"] == release.networks_created_by),
        "{created:?}"
    );

    // A 0.1 key file now has a PIN key, and kept every other key; a 0.2
    // key file kept its two PIN keys (the rotation turned all three kinds).
    let material = relay_topup::keyfile::load(&key_file).unwrap();
    assert_eq!(material.pin_keys.len(), if release.pins { 2 } else { 1 });
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
    // 0.2's PINs too: the first redeemed, the other two still issued; one
    // of those redeems.
    for (i, pin) in pins.iter().enumerate() {
        let checked = app
            .post("/v1/redemptions/check", &operator, json!({ "code": pin }))
            .await;
        assert_eq!(checked.status, StatusCode::OK, "{checked:?}");
        let expected = if i == 0 { "redeemed" } else { "issued" };
        assert_eq!(
            (
                checked.body["state"].as_str(),
                checked.body["redeemable"].as_bool()
            ),
            (Some(expected), Some(i != 0)),
            "PIN {i}: {checked:?}"
        );
        assert_eq!(checked.body["product"], "data-1gb", "{checked:?}");
    }
    if let [first, second, _] = pins.as_slice() {
        let a = app.redeem(&operator, first, "+33612345680").await;
        assert_eq!(a.code(), Some("already_redeemed"), "{a:?}");
        let a = app.redeem(&operator, second, "+33612345681").await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    }
    clock.advance(hold_secs);
    for code in [&codes[1], &codes[3], &codes[4]] {
        let a = app.redeem(&operator, code, "+33612345678").await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    }
    // The demo structure's books on the first network: five data codes
    // issued (and the three data PINs), one given back.
    let structure = app.token("structure", Some(1)).await;
    let lines = app.get("/v1/balance", &structure).await;
    let lines = lines.body["balances"].as_array().unwrap().clone();
    let balance = lines
        .iter()
        .find(|b| b["resource"] == "data_mb" && b["operator_id"] == 1)
        .unwrap_or_else(|| panic!("{lines:?}"));
    let data_issued = 1024 * (5 + pins.len() as i64);
    assert_eq!(
        (balance["issued"].as_i64(), balance["returned"].as_i64()),
        (Some(data_issued), Some(1024))
    );
    let listed = app.get("/v1/vouchers?limit=500", &structure).await;
    assert_eq!(
        listed.body["vouchers"].as_array().unwrap().len(),
        7 + pins.len(),
        "{listed:?}"
    );

    assert!(
        lines
            .iter()
            .all(|b| (1..=networks as i64).contains(&b["operator_id"].as_i64().unwrap())),
        "{lines:?}"
    );

    // A network registered after the upgrade, and any other network the
    // old release had, cannot reach the first network's codes: a fresh
    // code's answer to them is a forger's.
    let made = app
        .post(
            "/v1/operators",
            &app.admin,
            json!({ "name": "Bouygues Telecom" }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let new_network = made.body["id"].as_i64().unwrap();
    assert_eq!(new_network, networks as i64 + 1, "{made:?}");
    let body = json!({ "product": "data-1gb", "count": 1 });
    let fresh = app.post("/v1/vouchers", &structure, body).await;
    let fresh = fresh.body["vouchers"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in 2..=new_network {
        let other = app.network_token(id).await;
        let a = app.redeem(&other, &fresh, "+33612345699").await;
        assert_eq!(a.code(), Some("invalid_code"), "network {id}: {a:?}");
    }

    // New work on the upgraded database: a PIN, then a code.
    let body = json!({ "product": "data-1gb", "count": 1, "format": "pin" });
    let pin = app.post("/v1/vouchers", &structure, body).await;
    assert_eq!(pin.status, StatusCode::CREATED, "{pin:?}");
    let pin = pin.body["vouchers"][0]["code"].as_str().unwrap().to_owned();
    let a = app.redeem(&operator, &pin, "+33612345678").await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    assert_eq!(app.issue_codes(&structure, 1).await.len(), 1);

    // Codes issued before lots existed have lots: their issue requests.
    let listed = app.get("/v1/vouchers?limit=500", &structure).await;
    let vouchers = listed.body["vouchers"].as_array().unwrap().clone();
    assert!(
        vouchers.iter().all(|v| v["lot"].as_i64() > Some(0)),
        "{vouchers:?}"
    );
    // The first old code's lot holds it, redeemed; voiding that lot
    // changes nothing of what was redeemed or voided before.
    let serial = &codes[0][..9];
    let old = app.get(&format!("/v1/vouchers/{serial}"), &structure).await;
    let lot = old.body["lot"].as_i64().unwrap();
    let read = app.get(&format!("/v1/lots/{lot}"), &structure).await;
    assert!(read.text.contains(serial), "{read:?}");
    let voided = app
        .post(
            &format!("/v1/lots/{lot}/void"),
            &structure,
            json!({ "reason": "feuille perdue" }),
        )
        .await;
    assert_eq!(voided.status, StatusCode::OK, "{voided:?}");
    let after = app.get(&format!("/v1/lots/{lot}"), &structure).await;
    let open = after.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["state"] == "voided")
        .count();
    let before = read.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["state"] == "issued" || v["state"] == "voided")
        .count();
    assert_eq!(open, before, "{after:?}");
    let a = app.redeem(&operator, &codes[0], "+33612345678").await;
    assert_eq!(a.code(), Some("already_redeemed"), "{a:?}");

    // People: the first start made a coordinator; a structure's staff
    // member is created, activates and signs in to the upgraded desk.
    let accounts = app.get("/v1/accounts", &app.admin).await;
    assert!(
        accounts.text.contains("\"login\":\"coordination\""),
        "{accounts:?}"
    );
    let person = app.person(&structure, "structure_staff", None).await;
    let mut desk = common::desk::Browser::sign_in_as(&app, &person).await;
    assert_eq!(desk.get("/desk/").await.status, StatusCode::OK);

    common::assert_books_clean(&app).await;
    let verify = cli(&database_url, &key_file, &["audit", "verify"]);
    assert!(verify.ok(), "{}\n{}", verify.stdout, verify.stderr);
    app.stop().await;
}
