//! The tamper suite, in the manner of GNU Taler's auditor tests: a realistic
//! run through the real server over HTTP, then, on a fresh copy of its
//! database each time, one row changed directly in SQL, as someone with
//! write access to the database but not the key file would. The real
//! `relay-topup audit verify` must then fail and name that row, and the
//! delta where an amount is involved. Each case asserts the exact list of
//! findings, and the untouched database must have none.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Db, TestApp, cli};
use relay_topup::audit::chain;
use relay_topup::audit::snapshot::CheckpointRow;
use relay_topup::clock::{Clock, ManualClock, rfc3339};
use relay_topup::code::attestation::{self, SigningKey};
use relay_topup::code::{KeySet, Reference};
use relay_topup::config::Limits;
use relay_topup::domain::minting::{voucher_from_row_id, voucher_row_id};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, Row};

/// 2027-01-15: the run's first instant; the clock only moves when told.
const T0: i64 = 1_800_000_000;
const DAY: i64 = 86_400;
/// The end date of the grant that lapses.
const LAPSING_GRANT_ENDS: i64 = T0 + 10 * DAY;

/// Test limits, with the background sweep out of the way: the test runs
/// each sweep itself, at the clock time it chose.
fn limits() -> Limits {
    Limits {
        sweep_interval_secs: 365 * DAY as u64,
        ..common::test_limits()
    }
}

/// What the realistic run left, by id, for the cases to aim at.
#[derive(Debug)]
struct Facts {
    s1: i64,
    s2: i64,
    /// A member of structure 1, which allocated it 2 GB and clawed 1 GB
    /// back.
    s4: i64,
    /// The received entry of that allocation, at structure 4.
    allocation_received_entry: i64,
    /// The claw-back's transfer id.
    clawback: i64,
    /// The monthly grant of structure 3 (credited twice).
    monthly_grant: i64,
    /// The bucket of structure 1's data grant.
    s1_data_bucket: i64,
    op1: i64,
    /// Revoked during the run.
    op2: i64,
    auditor: i64,
    /// Structure 1's first data-1gb codes: a voided one, a plainly
    /// redeemed one, and one never touched.
    v_voided: i64,
    v_redeemed: i64,
    v_issued: i64,
    /// The confirmed redemption of `v_redeemed`, by `op1`.
    r_redeemed: i64,
    /// The issue entry of the request `v_issued` was part of.
    issue_entry: i64,
    /// Event seqs.
    seq_s1_created: i64,
    seq_lapsing_grant: i64,
    seq_keys_rotated: i64,
    seq_issue_v_issued: i64,
    /// The two checkpoints: one signed before the key rotation (key 1),
    /// one at the end (key 2).
    checkpoints: [i64; 2],
    first_checkpoint_signature: String,
    v_issued_attestation: String,
    max_event_id: i64,
    max_redemption_id: i64,
}

/// A database after a realistic run, its server stopped.
struct Realistic {
    app: TestApp,
    key_file: PathBuf,
    /// `GET /v1/keys` as served at the end of the run.
    keys_json: String,
    facts: Facts,
}

fn vrow(id: i64) -> String {
    format!("serial {} (id {id})", voucher_from_row_id(id).unwrap())
}

fn voucher_id(serial: &str) -> i64 {
    voucher_row_id(Reference::parse(serial).unwrap())
}

async fn created(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let a = app.post(path, token, body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{path}: {a:?}");
    a.body
}

/// Redeems (or reserves) a code; returns the redemption id.
async fn redeem(app: &TestApp, op: &str, code: &str, mode: &str) -> i64 {
    let body = json!({ "code": code, "msisdn": "+33612345678", "mode": mode });
    created(app, "/v1/redemptions", op, body).await["id"]
        .as_i64()
        .unwrap()
}

async fn follow_up(app: &TestApp, op: &str, id: i64, action: &str) {
    let a = app
        .post(&format!("/v1/redemptions/{id}/{action}"), op, json!({}))
        .await;
    assert!(a.status.is_success(), "{action}: {a:?}");
}

async fn sweep(app: &TestApp) {
    relay_topup::server::sweep_once(&app.running().state)
        .await
        .unwrap();
}

/// Signs the chain's head with the key file's active signing key, as a
/// checkpoint task would; returns its seq.
async fn checkpoint(app: &TestApp, key_file: &Path, at: i64) -> i64 {
    let store = &app.running().state.store;
    let (seq, hash, _) = store.chain_status().await.unwrap();
    let keys = KeySet::from_material(&relay_topup::keyfile::load(key_file).unwrap()).unwrap();
    let signed =
        chain::sign_checkpoint(keys.signing_key(), seq, chain::from_hex(&hash).unwrap(), at);
    store
        .add_checkpoint(&CheckpointRow {
            seq,
            hash,
            at,
            key_id: i64::from(signed.key_id),
            signature: URL_SAFE_NO_PAD.encode(signed.signature),
        })
        .await
        .unwrap();
    seq
}

/// The realistic run: three structures, grants (one lapsing, one monthly),
/// an edited product, issues, a void, expiries, every redemption path,
/// tokens created and revoked, a key rotation and two checkpoints.
async fn realistic(db: Db) -> Option<Realistic> {
    let clock = ManualClock::new(T0);
    let mut app = TestApp::spawn_with(db, limits(), Some(clock.clone())).await?;
    let key_file = app.dir.path().join("test.keys");
    let admin = app.admin.clone();

    let s1 = app.structure("Centre social Belleville").await;
    let s2 = app.structure("Ecole Jules Ferry").await;
    let s3 = app.structure("CCAS de Montreuil").await;
    let grant = |id: i64, body: Value| {
        let path = format!("/v1/structures/{id}/grants");
        let app = &app;
        let admin = admin.clone();
        async move {
            created(app, &path, &admin, body).await["id"]
                .as_i64()
                .unwrap()
        }
    };
    let s1_data_grant = grant(
        s1,
        json!({ "operator_id": 1, "resource": "data_mb", "amount": 20480 }),
    )
    .await;
    grant(
        s1,
        json!({ "operator_id": 1, "resource": "voice", "amount": 30 }),
    )
    .await;
    let ends = rfc3339(LAPSING_GRANT_ENDS);
    grant(
        s2,
        json!({ "operator_id": 1, "resource": "data_mb", "amount": 4096, "expires_at": ends }),
    )
    .await;
    let monthly_grant = grant(
        s3,
        json!({ "operator_id": 1, "resource": "voice", "amount": 30, "recurrence": "monthly" }),
    )
    .await;

    // A product added, then edited, through the API; codes made after the
    // edit carry the new amount.
    let mut product = json!({
        "id": "data-500mb", "operator_id": 1, "family": "data", "resource": "data_mb", "amount": 500,
        "validity_days": 30, "code_validity_days": 7,
        "label_fr": "500 Mo de données", "label_en": "500 MB of data",
    });
    created(&app, "/v1/products", &admin, product.clone()).await;
    product["amount"] = json!(512);
    product["label_en"] = json!("Half a gigabyte of data");
    created(&app, "/v1/products", &admin, product).await;

    // The second network's PIN slips say to dial another string.
    let dialling = app
        .request(
            reqwest::Method::PUT,
            "/v1/operators/2/slip-instructions",
            Some(&admin),
            Some(json!({ "slip_instructions": "#123*PIN#" })),
        )
        .await;
    assert_eq!(dialling.status, 200, "{dialling:?}");

    let st1 = app.token("structure", Some(s1)).await;
    let st2 = app.token("structure", Some(s2)).await;
    let st3 = app.token("structure", Some(s3)).await;
    let token_id = |role: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let body = created(app, "/v1/tokens", &admin, common::token_body(role, None)).await;
            (
                body["id"].as_i64().unwrap(),
                body["token"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (op1, op1_secret) = token_id("operator").await;
    let (op2, op2_secret) = token_id("operator").await;
    let (auditor, _) = token_id("auditor").await;

    let a = app.issue_pairs(&st1, "data-1gb", 6).await;
    // Codes of the edited product: valid 7 days, they expire below.
    app.issue_pairs(&st1, "data-500mb", 2).await;
    let c = app.issue_pairs(&st1, "voice-7d", 2).await;
    let d = app.issue_pairs(&st2, "data-1gb", 2).await;
    let e = app.issue_pairs(&st3, "voice-7d", 2).await;
    assert_eq!(
        app.balance(&st1, "data_mb").await["issued"],
        6 * 1024 + 2 * 512
    );

    let void = app
        .post(&format!("/v1/vouchers/{}/void", a[0].0), &st1, json!({}))
        .await;
    assert_eq!(void.status, StatusCode::OK, "{void:?}");
    let r_redeemed = redeem(&app, &op1_secret, &a[1].1, "redeem").await;
    redeem(&app, &op1_secret, &d[0].1, "redeem").await;
    redeem(&app, &op2_secret, &e[0].1, "redeem").await;
    let reversed = redeem(&app, &op1_secret, &a[2].1, "redeem").await;
    follow_up(&app, &op1_secret, reversed, "reverse").await;
    let confirmed = redeem(&app, &op1_secret, &a[3].1, "reserve").await;
    follow_up(&app, &op1_secret, confirmed, "confirm").await;
    let cancelled = redeem(&app, &op1_secret, &a[4].1, "reserve").await;
    follow_up(&app, &op1_secret, cancelled, "cancel").await;
    redeem(&app, &op1_secret, &c[0].1, "reserve").await;
    clock.advance(limits().hold_secs + 60);
    sweep(&app).await; // the hold times out
    let first_checkpoint = checkpoint(&app, &key_file, clock.now_secs()).await;

    let rotated = app.post("/v1/keys/rotate", &admin, json!({})).await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{rotated:?}");
    let f = app.issue_pairs(&st1, "data-1gb", 1).await;
    redeem(&app, &op1_secret, &f[0].1, "redeem").await;
    let revoke = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/tokens/{op2}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{revoke:?}");

    clock.advance(8 * DAY);
    sweep(&app).await; // the two data-500mb codes expire
    clock.advance(3 * DAY);
    sweep(&app).await; // structure 2's grant ends: its remainder lapses
    clock.advance(25 * DAY);
    sweep(&app).await; // structure 3's monthly grant credits again
    let b2 = app.balance(&st2, "data_mb").await;
    assert_eq!(
        (b2["issued"].as_i64(), b2["lapsed"].as_i64()),
        (Some(2048), Some(2048))
    );
    assert_eq!(app.balance(&st3, "voice").await["granted"], 60);
    assert_eq!(
        app.balance(&st1, "data_mb").await["returned"],
        1024 + 2 * 512
    );
    app.issue_pairs(&st3, "voice-7d", 1).await;
    // Structure 1 is an association: it passes 2 GB to a member and takes
    // 1 GB back, with its own token.
    let s4 = created(
        &app,
        "/v1/structures",
        &admin,
        json!({ "name": "Antenne Belleville", "parent_id": s1 }),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let quota = json!({ "operator_id": 1, "resource": "data_mb", "amount": 2048 });
    let allocation = created(
        &app,
        &format!("/v1/structures/{s4}/allocations"),
        &st1,
        quota,
    )
    .await;
    let quota = json!({ "operator_id": 1, "resource": "data_mb", "amount": 1024 });
    let clawback = created(&app, &format!("/v1/structures/{s4}/clawbacks"), &st1, quota).await;
    let last_checkpoint = checkpoint(&app, &key_file, clock.now_secs()).await;

    let keys = app
        .request(reqwest::Method::GET, "/v1/keys", None, None)
        .await;
    assert_eq!(
        keys.body["keys"].as_array().map(Vec::len),
        Some(2),
        "{keys:?}"
    );
    app.running.take().unwrap().shutdown().await.unwrap();

    let v_issued = voucher_id(&a[5].0);
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    let one = async |conn: &mut sqlx::AnyConnection, sql: String| -> i64 {
        sqlx::query(&sql)
            .fetch_one(conn)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    };
    let text = async |conn: &mut sqlx::AnyConnection, sql: String| -> String {
        sqlx::query(&sql)
            .fetch_one(conn)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    };
    let seq_of = |kind: &str, extra: String| {
        format!("SELECT seq FROM events WHERE kind = '{kind}' AND {extra}")
    };
    let facts = Facts {
        s1,
        s2,
        s4,
        allocation_received_entry: one(
            &mut conn,
            format!(
                "SELECT id FROM ledger WHERE kind = 'received' AND transfer_id = {}",
                allocation["id"]
            ),
        )
        .await,
        clawback: clawback["id"].as_i64().unwrap(),
        monthly_grant,
        s1_data_bucket: one(
            &mut conn,
            format!("SELECT id FROM quota_buckets WHERE grant_id = {s1_data_grant}"),
        )
        .await,
        op1,
        op2,
        auditor,
        v_voided: voucher_id(&a[0].0),
        v_redeemed: voucher_id(&a[1].0),
        v_issued,
        r_redeemed,
        issue_entry: one(
            &mut conn,
            format!("SELECT issue_entry_id FROM vouchers WHERE id = {v_issued}"),
        )
        .await,
        seq_s1_created: one(
            &mut conn,
            seq_of("structure_created", format!("structure_id = {s1}")),
        )
        .await,
        seq_lapsing_grant: one(&mut conn, seq_of("grant", format!("structure_id = {s2}"))).await,
        seq_keys_rotated: one(&mut conn, seq_of("keys_rotated", "1 = 1".into())).await,
        seq_issue_v_issued: one(
            &mut conn,
            seq_of("issue", format!("voucher_id = {v_issued}")),
        )
        .await,
        checkpoints: [first_checkpoint, last_checkpoint],
        first_checkpoint_signature: text(
            &mut conn,
            format!("SELECT signature FROM checkpoints WHERE seq = {first_checkpoint}"),
        )
        .await,
        v_issued_attestation: text(
            &mut conn,
            format!("SELECT attestation FROM vouchers WHERE id = {v_issued}"),
        )
        .await,
        max_event_id: one(&mut conn, "SELECT MAX(id) FROM events".into()).await,
        max_redemption_id: one(&mut conn, "SELECT MAX(id) FROM redemptions".into()).await,
    };
    // The run did what it says: every kind of event, as many as expected.
    let kinds: Vec<(String, i64)> =
        sqlx::query("SELECT kind, COUNT(*) AS n FROM events GROUP BY kind ORDER BY kind")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.try_get("kind").unwrap(), r.try_get("n").unwrap()))
            .collect();
    let expected_kinds = [
        ("account_created", 1), // the first start's coordinator
        ("allocation", 1),
        ("cancel", 1),
        ("clawback", 1),
        ("confirm", 1),
        ("credit", 5), // four grants, and the monthly one once more
        ("expire", 2),
        ("grant", 4),
        ("hold_timeout", 1),
        ("issue", 16),
        ("keys_rotated", 1),
        ("lapse", 1),
        ("operator_created", 2),
        ("operator_slip_instructions_set", 1),
        ("product_saved", 11), // the five seeded, and one saved twice
        ("redeem", 5),
        ("reserve", 3),
        ("reverse", 1),
        ("structure_created", 4),
        ("token_created", 7),
        ("token_revoked", 1),
        ("void", 1),
    ];
    let expected_kinds: Vec<(String, i64)> = expected_kinds
        .iter()
        .map(|(k, n)| ((*k).to_owned(), *n))
        .collect();
    assert_eq!(kinds, expected_kinds);
    if db == Db::Sqlite {
        // Everything in the main file, so that copying it copies the database.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    Some(Realistic {
        app,
        key_file,
        keys_json: keys.text,
        facts,
    })
}

/// What a case expects of one finding: check, table, row and delta.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Expect {
    check: String,
    table: String,
    row: String,
    delta: Option<i64>,
}

fn finding(check: &str, table: &str, row: impl Into<String>, delta: Option<i64>) -> Expect {
    Expect {
        check: check.into(),
        table: table.into(),
        row: row.into(),
        delta,
    }
}

/// `audit verify --json` (of the database, or of `extra` args): its exit
/// code and its findings, sorted.
fn verify(database_url: &str, key_file: &Path, extra: &[&str]) -> (Option<i32>, Vec<Expect>) {
    let mut args = vec!["audit", "verify", "--json"];
    args.extend_from_slice(extra);
    let run = cli(database_url, key_file, &args);
    let mut found: Vec<Expect> = run
        .stdout
        .lines()
        .map(|line| {
            let f: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON finding ({e}): {line}\n{}", run.stderr));
            finding(
                f["check"].as_str().unwrap(),
                f["table"].as_str().unwrap(),
                f["row"].as_str().unwrap(),
                f["delta"].as_i64(),
            )
        })
        .collect();
    found.sort();
    (run.code, found)
}

/// One tampering: SQL run on a fresh copy of the database, and the exact
/// findings it must cause.
struct Case {
    name: &'static str,
    sql: Vec<String>,
    /// Recomputes every hash from this seq on after the SQL, as a forger
    /// who can write the database (but has no key file) would.
    rehash_from: Option<i64>,
    expect: Vec<Expect>,
}

fn case(name: &'static str, sql: Vec<String>, expect: Vec<Expect>) -> Case {
    Case {
        name,
        sql,
        rehash_from: None,
        expect,
    }
}

/// The attestation with one bit of its signature flipped.
fn flip_last_bit(base64url: &str) -> String {
    let mut bytes = URL_SAFE_NO_PAD.decode(base64url).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The voucher's attestation with its amount raised by 1024 and signed,
/// well formed, by a key the service never had, under the real key's id.
fn forged_attestation(genuine: &str) -> String {
    let decoded = attestation::decode(genuine).unwrap();
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let key = SigningKey::from_pkcs8(decoded.signing_key_id, pkcs8.as_ref()).unwrap();
    let mut record = decoded.record;
    record.amount += 1024;
    key.sign(&record).unwrap()
}

const REDEMPTION_COLUMNS: &str = "voucher_id, operator_token_id, operator_id, state, msisdn_hash, family, \
    period, operator_ref, created_at, hold_expires_at, redeemed_at, ended_at, counted";
const VOUCHER_COLUMNS: &str = "structure_id, product_id, resource, amount, state, reference, \
    issued_at, expires_at, state_changed_at, attestation, issue_entry_id, bucket_id";

fn cases(f: &Facts) -> Vec<Case> {
    let v = f.v_issued;
    let balance =
        |structure: i64, resource: &str| format!("structure {structure} operator 1 {resource}");
    let extra_redemption = f.max_redemption_id + 1;
    let [c1, c2] = f.checkpoints;
    vec![
        case(
            "allocation moved to another structure",
            vec![format!(
                "UPDATE ledger SET structure_id = {} WHERE id = {}",
                f.s2, f.allocation_received_entry
            )],
            vec![
                finding(
                    "ledger.unexplained",
                    "ledger",
                    format!("id {}", f.allocation_received_entry),
                    None,
                ),
                // What arrived at the member is no longer in its entries,
                // and another structure's entries hold it.
                finding(
                    "ledger.sum",
                    "balances",
                    balance(f.s4, "data_mb"),
                    Some(2048),
                ),
                finding(
                    "ledger.sum",
                    "balances",
                    balance(f.s2, "data_mb"),
                    Some(-2048),
                ),
            ],
        ),
        case(
            "quota made up at a member",
            vec![format!(
                "UPDATE balances SET received = received + 1024 WHERE structure_id = {}",
                f.s4
            )],
            vec![
                finding(
                    "balance.received",
                    "balances",
                    balance(f.s4, "data_mb"),
                    Some(1024),
                ),
                finding(
                    "ledger.sum",
                    "balances",
                    balance(f.s4, "data_mb"),
                    Some(1024),
                ),
                finding(
                    "tree.conservation",
                    "balances",
                    "operator 1 data_mb",
                    Some(1024),
                ),
            ],
        ),
        case(
            "claw-back deleted",
            vec![format!(
                "DELETE FROM ledger WHERE transfer_id = {}",
                f.clawback
            )],
            vec![
                finding(
                    "ledger.missing_transfer",
                    "ledger",
                    format!("transfer {}", f.clawback),
                    None,
                ),
                finding(
                    "ledger.missing_transfer",
                    "ledger",
                    format!("transfer {}", f.clawback),
                    None,
                ),
                finding(
                    "ledger.sum",
                    "balances",
                    balance(f.s4, "data_mb"),
                    Some(1024),
                ),
                finding(
                    "ledger.sum",
                    "balances",
                    balance(f.s1, "data_mb"),
                    Some(1024),
                ),
            ],
        ),
        case(
            "voucher amount raised",
            vec![format!("UPDATE vouchers SET amount = 2048 WHERE id = {v}")],
            vec![
                finding("attestation.mismatch", "vouchers", vrow(v), Some(1024)),
                finding("voucher.field", "vouchers", vrow(v), Some(1024)),
            ],
        ),
        case(
            "product moved to another network",
            vec!["UPDATE products SET operator_id = 2 WHERE id = 'data-1gb'".into()],
            vec![finding("product.field", "products", "id data-1gb", Some(1))],
        ),
        case(
            "what to dial on PIN slips changed behind the log",
            vec!["UPDATE operators SET slip_instructions = '*999*PIN#' WHERE id = 2".into()],
            vec![finding("operator.field", "operators", "id 2", None)],
        ),
        case(
            "grant moved to another network",
            vec![format!(
                "UPDATE grants SET operator_id = 2 WHERE id = {}",
                f.monthly_grant
            )],
            vec![finding(
                "grant.network",
                "grants",
                format!("id {}", f.monthly_grant),
                Some(1),
            )],
        ),
        case(
            "redemption attributed to another operator",
            vec![format!(
                "UPDATE redemptions SET operator_id = 2 WHERE id = {}",
                f.r_redeemed
            )],
            vec![finding(
                "redemption.network",
                "redemptions",
                format!("id {}", f.r_redeemed),
                Some(1),
            )],
        ),
        case(
            "ledger issue entry amount raised",
            vec![format!(
                "UPDATE ledger SET amount = amount + 512 WHERE id = {}",
                f.issue_entry
            )],
            vec![
                finding(
                    "ledger.amount",
                    "ledger",
                    format!("id {}", f.issue_entry),
                    Some(512),
                ),
                // The balance no longer is the sum of its entries.
                finding(
                    "ledger.sum",
                    "balances",
                    balance(f.s1, "data_mb"),
                    Some(-512),
                ),
            ],
        ),
        case(
            "event deleted from the middle of the chain",
            vec![format!(
                "DELETE FROM events WHERE seq = {}",
                f.seq_keys_rotated
            )],
            vec![
                finding(
                    "chain.gap",
                    "events",
                    format!("seq {}", f.seq_keys_rotated + 1),
                    Some(1),
                ),
                finding(
                    "chain.link",
                    "events",
                    format!("seq {}", f.seq_keys_rotated + 1),
                    None,
                ),
            ],
        ),
        case(
            "event data edited",
            vec![format!(
                "UPDATE events SET data = replace(data, 'Belleville', 'Menilmontant') \
                 WHERE seq = {} AND data LIKE '%Belleville%'",
                f.seq_s1_created
            )],
            vec![
                finding(
                    "chain.hash",
                    "events",
                    format!("seq {}", f.seq_s1_created),
                    None,
                ),
                finding(
                    "structure.field",
                    "structures",
                    format!("id {}", f.s1),
                    None,
                ),
            ],
        ),
        Case {
            // The grant no longer ends, and the chain is recomputed so that
            // it holds together: only the signed checkpoints can tell.
            name: "event data edited, chain re-hashed after it",
            sql: vec![format!(
                "UPDATE events SET data = replace(data, '\"ends_at\":{LAPSING_GRANT_ENDS}', '\"ends_at\":null') \
                 WHERE seq = {} AND data LIKE '%\"ends_at\":{LAPSING_GRANT_ENDS}%'",
                f.seq_lapsing_grant
            )],
            rehash_from: Some(f.seq_lapsing_grant),
            expect: vec![
                finding(
                    "checkpoint.mismatch",
                    "checkpoints",
                    format!("seq {c1}"),
                    None,
                ),
                finding(
                    "checkpoint.mismatch",
                    "checkpoints",
                    format!("seq {c2}"),
                    None,
                ),
            ],
        },
        case(
            "confirmed redemption duplicated",
            vec![
                "DROP INDEX redemptions_one_live_per_voucher".into(),
                format!(
                    "INSERT INTO redemptions (id, {REDEMPTION_COLUMNS}) SELECT {extra_redemption}, \
                     {REDEMPTION_COLUMNS} FROM redemptions WHERE id = {}",
                    f.r_redeemed
                ),
            ],
            vec![finding(
                "redemption.unrecorded",
                "redemptions",
                format!("id {extra_redemption}"),
                None,
            )],
        ),
        case(
            "voucher moved to another structure",
            vec![format!(
                "UPDATE vouchers SET structure_id = {} WHERE id = {v}",
                f.s2
            )],
            vec![
                finding(
                    "attestation.mismatch",
                    "vouchers",
                    vrow(v),
                    Some(f.s2 - f.s1),
                ),
                finding("voucher.field", "vouchers", vrow(v), Some(f.s2 - f.s1)),
            ],
        ),
        case(
            "attestation bit flipped",
            vec![format!(
                "UPDATE vouchers SET attestation = '{}' WHERE id = {v}",
                flip_last_bit(&f.v_issued_attestation)
            )],
            vec![finding("attestation.invalid", "vouchers", vrow(v), None)],
        ),
        case(
            "amount raised with an attestation signed by another key",
            vec![format!(
                "UPDATE vouchers SET amount = 2048, attestation = '{}' WHERE id = {v}",
                forged_attestation(&f.v_issued_attestation)
            )],
            vec![
                finding("attestation.invalid", "vouchers", vrow(v), None),
                finding("voucher.field", "vouchers", vrow(v), Some(1024)),
            ],
        ),
        case(
            "voucher issued_at shifted",
            vec![format!(
                "UPDATE vouchers SET issued_at = issued_at - {DAY} WHERE id = {v}"
            )],
            vec![
                finding("attestation.mismatch", "vouchers", vrow(v), Some(-DAY)),
                finding("voucher.field", "vouchers", vrow(v), Some(-DAY)),
            ],
        ),
        case(
            "event time shifted",
            vec![format!(
                "UPDATE events SET at = at - 3600 WHERE seq = {}",
                f.seq_issue_v_issued
            )],
            vec![
                finding(
                    "chain.hash",
                    "events",
                    format!("seq {}", f.seq_issue_v_issued),
                    None,
                ),
                // The issue event dates the voucher: the row is now 1 h late.
                finding("voucher.field", "vouchers", vrow(v), Some(3600)),
            ],
        ),
        case(
            "edited product's amount changed",
            vec!["UPDATE products SET amount = 1000 WHERE id = 'data-500mb'".into()],
            vec![finding(
                "product.field",
                "products",
                "id data-500mb",
                Some(1000 - 512),
            )],
        ),
        case(
            "product's resource changed",
            vec!["UPDATE products SET resource = 'voice' WHERE id = 'data-1gb'".into()],
            vec![finding("product.field", "products", "id data-1gb", None)],
        ),
        case(
            "balance raised without an event",
            vec![format!(
                "UPDATE balances SET granted = granted + 5000 WHERE structure_id = {} AND resource = 'data_mb'",
                f.s1
            )],
            vec![
                finding(
                    "balance.granted",
                    "balances",
                    balance(f.s1, "data_mb"),
                    Some(5000),
                ),
                finding(
                    "ledger.sum",
                    "balances",
                    balance(f.s1, "data_mb"),
                    Some(5000),
                ),
            ],
        ),
        case(
            "confirmed redemption of a voided code",
            vec![format!(
                "INSERT INTO redemptions (id, {REDEMPTION_COLUMNS}) SELECT {extra_redemption}, {}, \
                 operator_token_id, operator_id, 'confirmed', msisdn_hash, family, period, NULL, created_at, NULL, \
                 redeemed_at, NULL, counted FROM redemptions WHERE id = {}",
                f.v_voided, f.r_redeemed
            )],
            vec![finding(
                "redemption.unrecorded",
                "redemptions",
                format!("id {extra_redemption}"),
                None,
            )],
        ),
        case(
            "redeemed voucher set back to issued",
            vec![format!(
                "UPDATE vouchers SET state = 'issued' WHERE id = {}",
                f.v_redeemed
            )],
            vec![
                finding("voucher.state", "vouchers", vrow(f.v_redeemed), None),
                finding(
                    "redemption.voucher_state",
                    "redemptions",
                    format!("id {}", f.r_redeemed),
                    None,
                ),
            ],
        ),
        case(
            "voucher row added",
            vec![format!(
                "INSERT INTO vouchers (id, key_id, serial, {VOUCHER_COLUMNS}) \
                 SELECT id + 1, key_id, serial + 1, {VOUCHER_COLUMNS} FROM vouchers WHERE id = {v}"
            )],
            vec![
                // A copied attestation verifies, but for the serial it names.
                finding("attestation.mismatch", "vouchers", vrow(v + 1), Some(1)),
                finding("voucher.unrecorded", "vouchers", vrow(v + 1), None),
            ],
        ),
        case(
            "operator token made admin",
            vec![format!(
                "UPDATE tokens SET role = 'admin', operator_id = NULL WHERE id = {}",
                f.op1
            )],
            vec![finding(
                "token.role",
                "tokens",
                format!("id {}", f.op1),
                None,
            )],
        ),
        case(
            "revoked token un-revoked",
            vec![format!(
                "UPDATE tokens SET revoked_at = NULL WHERE id = {}",
                f.op2
            )],
            vec![finding(
                "token.revocation",
                "tokens",
                format!("id {}", f.op2),
                None,
            )],
        ),
        case(
            "monthly grant amount raised",
            vec![format!(
                "UPDATE grants SET amount = 300 WHERE id = {}",
                f.monthly_grant
            )],
            vec![finding(
                "grant.field",
                "grants",
                format!("id {}", f.monthly_grant),
                Some(270),
            )],
        ),
        case(
            "bucket remaining lowered",
            vec![format!(
                "UPDATE quota_buckets SET remaining = remaining - 700 WHERE id = {}",
                f.s1_data_bucket
            )],
            vec![finding(
                "bucket.remaining",
                "quota_buckets",
                balance(f.s1, "data_mb"),
                Some(-700),
            )],
        ),
        case(
            "checkpoint signature bit flipped",
            vec![format!(
                "UPDATE checkpoints SET signature = '{}' WHERE seq = {c1}",
                flip_last_bit(&f.first_checkpoint_signature)
            )],
            vec![finding(
                "checkpoint.signature",
                "checkpoints",
                format!("seq {c1}"),
                None,
            )],
        ),
        case(
            "unsealed event inserted",
            vec![format!(
                "INSERT INTO events (id, at, kind, actor, structure_id, voucher_id, data) VALUES \
                 ({}, {T0}, 'grant', 'admin:1', {}, NULL, '{{\"grant_id\":99,\"resource\":\"data_mb\",\"amount\":1000000}}')",
                f.max_event_id + 1,
                f.s1
            )],
            vec![finding(
                "chain.unsealed",
                "events",
                format!("id {}", f.max_event_id + 1),
                None,
            )],
        ),
        case(
            "return entry of a voided code deleted",
            vec![format!(
                "DELETE FROM ledger WHERE kind = 'return' AND voucher_id = {}",
                f.v_voided
            )],
            vec![
                finding(
                    "ledger.missing_return",
                    "ledger",
                    format!("voucher id {}", f.v_voided),
                    None,
                ),
                finding(
                    "ledger.sum",
                    "balances",
                    balance(f.s1, "data_mb"),
                    Some(1024),
                ),
            ],
        ),
        case(
            "lapse entry raised",
            vec![format!(
                "UPDATE ledger SET amount = amount + 100 WHERE kind = 'lapse' AND structure_id = {}",
                f.s2
            )],
            vec![
                finding(
                    "ledger.lapse_total",
                    "ledger",
                    balance(f.s2, "data_mb"),
                    Some(100),
                ),
                finding(
                    "ledger.sum",
                    "balances",
                    balance(f.s2, "data_mb"),
                    Some(-100),
                ),
            ],
        ),
        case(
            "confirmed redemption rewritten as reversed",
            vec![format!(
                "UPDATE redemptions SET state = 'reversed' WHERE id = {}",
                f.r_redeemed
            )],
            vec![finding(
                "redemption.state",
                "redemptions",
                format!("id {}", f.r_redeemed),
                None,
            )],
        ),
        case(
            "voucher row deleted",
            vec![format!("DELETE FROM vouchers WHERE id = {v}")],
            vec![finding("voucher.missing", "vouchers", vrow(v), None)],
        ),
        case(
            "structure renamed",
            vec![format!(
                "UPDATE structures SET name = 'Autre nom' WHERE id = {}",
                f.s2
            )],
            vec![finding(
                "structure.field",
                "structures",
                format!("id {}", f.s2),
                None,
            )],
        ),
    ]
}

/// A fresh copy of the realistic database, for one case; dropped after.
struct Copy {
    url: String,
    /// The PostgreSQL database to drop afterwards.
    pg_name: Option<String>,
}

async fn copy_of(r: &Realistic, n: usize) -> Copy {
    match r.app.db {
        Db::Sqlite => {
            let dir = r.app.dir.path();
            let path = dir.join(format!("case_{n}.sqlite"));
            std::fs::copy(dir.join("test.sqlite"), &path).unwrap();
            // A verify run since may have left a log: it is part of the
            // database.
            let wal = dir.join("test.sqlite-wal");
            if wal.exists() {
                std::fs::copy(wal, dir.join(format!("case_{n}.sqlite-wal"))).unwrap();
            }
            Copy {
                url: format!("sqlite://{}?mode=rw", path.display()),
                pg_name: None,
            }
        }
        Db::Postgres => {
            let (base, template) = r.app.database_url.rsplit_once('/').unwrap();
            let name = format!("{template}_c{n}");
            let mut admin = pg_admin().await;
            let create = format!("CREATE DATABASE {name} TEMPLATE {template}");
            // The template must have no session: a verify process that just
            // exited may still have its backend for a moment.
            let mut attempts = 0;
            while let Err(e) = admin.execute(create.as_str()).await {
                attempts += 1;
                assert!(attempts < 100, "{create}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            admin.close().await.unwrap();
            Copy {
                url: format!("{base}/{name}"),
                pg_name: Some(name),
            }
        }
    }
}

async fn pg_admin() -> sqlx::PgConnection {
    let url = std::env::var("RELAY_TOPUP_TEST_POSTGRES_URL").unwrap();
    sqlx::PgConnection::connect(&url).await.unwrap()
}

async fn drop_copy(copy: Copy) {
    if let Some(name) = copy.pg_name {
        let mut admin = pg_admin().await;
        admin
            .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
    }
}

/// Runs the case's SQL (each statement must touch a row, so a case that
/// silently missed its target fails), then the re-hash if asked.
async fn tamper(url: &str, c: &Case) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    for sql in &c.sql {
        let done = conn
            .execute(sql.as_str())
            .await
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", c.name));
        assert!(
            sql.starts_with("DROP") || done.rows_affected() >= 1,
            "{}: touched no row: {sql}",
            c.name
        );
    }
    if let Some(from) = c.rehash_from {
        rehash(&mut conn, from).await;
    }
    conn.close().await.unwrap();
}

/// Recomputes the chain from `from` to the head with the documented
/// encoding, and moves the head: every link and hash holds again.
async fn rehash(conn: &mut sqlx::AnyConnection, from: i64) {
    let prev: String = sqlx::query("SELECT hash FROM events WHERE seq = $1")
        .bind(from - 1)
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    let mut prev = chain::from_hex(&prev).unwrap();
    let rows = sqlx::query(
        "SELECT seq, at, kind, actor, structure_id, voucher_id, data FROM events \
         WHERE seq >= $1 ORDER BY seq",
    )
    .bind(from)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let mut head = (0, prev);
    for r in &rows {
        let (kind, actor, data): (String, String, String) = (
            r.try_get("kind").unwrap(),
            r.try_get("actor").unwrap(),
            r.try_get("data").unwrap(),
        );
        let fields = chain::EventFields {
            seq: r.try_get("seq").unwrap(),
            at: r.try_get("at").unwrap(),
            kind: &kind,
            actor: &actor,
            structure_id: r.try_get("structure_id").unwrap(),
            voucher_id: r.try_get("voucher_id").unwrap(),
            data: &data,
        };
        let hash = chain::event_hash(&fields, &prev);
        sqlx::query("UPDATE events SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(chain::to_hex(&prev))
            .bind(chain::to_hex(&hash))
            .bind(fields.seq)
            .execute(&mut *conn)
            .await
            .unwrap();
        prev = hash;
        head = (fields.seq, hash);
    }
    sqlx::query("UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(head.0)
        .bind(chain::to_hex(&head.1))
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// Runs each case on its own copy; all mismatches are reported at once.
async fn run_cases(r: &Realistic, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for (n, c) in cases.iter().enumerate() {
        let copy = copy_of(r, n).await;
        tamper(&copy.url, c).await;
        let (code, found) = verify(&copy.url, &r.key_file, &[]);
        let mut expected = c.expect.clone();
        expected.sort();
        if code != Some(1) || found != expected {
            failures.push(format!(
                "{}: exit {code:?}\n  expected {expected:#?}\n  found {found:#?}",
                c.name
            ));
        }
        drop_copy(copy).await;
    }
    failures
}

// ---------------------------------------------------------------------------
// 1. The untouched database verifies, directly and through an export
// ---------------------------------------------------------------------------

async fn realistic_run_verifies_clean(db: Db) {
    let Some(r) = realistic(db).await else {
        return;
    };
    let url = &r.app.database_url;
    let run = cli(url, &r.key_file, &["audit", "verify"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("FAIL"), "{}", run.stdout);
    assert_eq!(verify(url, &r.key_file, &[]), (Some(0), vec![]));

    let export = r.app.dir.path().join("export.jsonl");
    let export_arg = export.to_str().unwrap();
    let run = cli(
        url,
        &r.key_file,
        &["audit", "export", "--output", export_arg],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let text = std::fs::read_to_string(&export).unwrap();
    let count = |kind: &str| {
        text.lines()
            .filter(|l| l.starts_with(&format!("{{\"type\":\"{kind}\"")))
            .count()
    };
    // Every voucher of the run, both checkpoints, both keys.
    assert_eq!(
        (count("voucher"), count("checkpoint"), count("key")),
        (16, 2, 2)
    );
    assert_eq!(
        verify(url, &r.key_file, &["--export", export_arg]),
        (Some(0), vec![])
    );
}
both!(realistic_run_verifies_clean);

// ---------------------------------------------------------------------------
// 2. Single-row tamperings, each named by the row and the delta
// ---------------------------------------------------------------------------

async fn every_tampering_is_named(db: Db) {
    let Some(r) = realistic(db).await else {
        return;
    };
    assert_eq!(
        verify(&r.app.database_url, &r.key_file, &[]),
        (Some(0), vec![])
    );
    let cases = cases(&r.facts);
    assert!(cases.len() >= 20);
    let failures = run_cases(&r, &cases).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
both!(every_tampering_is_named);

// ---------------------------------------------------------------------------
// 3. An export edited after the fact
// ---------------------------------------------------------------------------

async fn edited_export_is_caught(db: Db) {
    let Some(r) = realistic(db).await else {
        return;
    };
    let dir = r.app.dir.path();
    let export = dir.join("export.jsonl");
    let run = cli(
        &r.app.database_url,
        &r.key_file,
        &["audit", "export", "--output", export.to_str().unwrap()],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let keys = dir.join("keys.json");
    std::fs::write(&keys, &r.keys_json).unwrap();
    // An auditor's machine: the published keys, no key file, no database.
    let no_key_file = dir.join("absent.keys");
    let offline = |export: &Path| {
        verify(
            "sqlite://absent.sqlite",
            &no_key_file,
            &[
                "--export",
                export.to_str().unwrap(),
                "--keys",
                keys.to_str().unwrap(),
            ],
        )
    };
    assert_eq!(offline(&export), (Some(0), vec![]));

    // One line changed: the untouched voucher's amount.
    let v = r.facts.v_issued;
    let mut edited = 0;
    let lines: Vec<String> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|line| {
            let mut row: Value = serde_json::from_str(line).unwrap();
            if row["type"] == "voucher" && row["id"] == v {
                row["amount"] = json!(5120);
                edited += 1;
            }
            row.to_string()
        })
        .collect();
    assert_eq!(edited, 1);
    let tampered = dir.join("tampered.jsonl");
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    assert_eq!(
        offline(&tampered),
        (
            Some(1),
            vec![
                finding("attestation.mismatch", "vouchers", vrow(v), Some(4096)),
                finding("voucher.field", "vouchers", vrow(v), Some(4096)),
            ]
        )
    );
}
both!(edited_export_is_caught);

// ---------------------------------------------------------------------------
// 4. Who redeemed and when, deleted registry rows, and the service's own
//    alarms (once gaps of the verifier, now checked)
// ---------------------------------------------------------------------------

/// Tamperings that change who redeemed, or when, or remove a registry row:
/// the events hold the answer, and the verifier compares.
fn undetected_cases(f: &Facts) -> Vec<Case> {
    let r = format!("id {}", f.r_redeemed);
    vec![
        case(
            // Moves a line from one operator's statement to another's; the
            // redeem event's actor still says operator:{op1}.
            "redemption reassigned to another operator",
            vec![format!(
                "UPDATE redemptions SET operator_token_id = {} WHERE id = {}",
                f.op2, f.r_redeemed
            )],
            vec![finding(
                "redemption.operator",
                "redemptions",
                r.clone(),
                None,
            )],
        ),
        case(
            // Moves the redemption out of its statement period; the redeem
            // event's `at` still says when it happened.
            "redemption's redeemed_at moved back 40 days",
            vec![format!(
                "UPDATE redemptions SET redeemed_at = redeemed_at - {} WHERE id = {}",
                40 * DAY,
                f.r_redeemed
            )],
            vec![finding(
                "redemption.time",
                "redemptions",
                r,
                Some(-40 * DAY),
            )],
        ),
        case(
            "auditor token row deleted",
            vec![format!("DELETE FROM tokens WHERE id = {}", f.auditor)],
            vec![finding(
                "token.missing",
                "tokens",
                format!("id {}", f.auditor),
                None,
            )],
        ),
        case(
            "unused product row deleted",
            vec!["DELETE FROM products WHERE id = 'data-20gb'".into()],
            vec![finding("product.missing", "products", "id data-20gb", None)],
        ),
    ]
}

async fn who_and_when_and_deleted_rows_are_named(db: Db) {
    let Some(r) = realistic(db).await else {
        return;
    };
    let failures = run_cases(&r, &undetected_cases(&r.facts)).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
both!(who_and_when_and_deleted_rows_are_named);

/// The service's own integrity alarms are events; an audit of a database
/// where one was raised and acknowledged must still be clean.
async fn integrity_alarm_events_replay(db: Db) {
    let Some(mut app) = TestApp::spawn_with(db, limits(), Some(ManualClock::new(T0))).await else {
        return;
    };
    let store = &app.running().state.store;
    store.raise_alarm("[]", T0).await.unwrap();
    assert_eq!(
        store.acknowledge_alarms("admin:1", T0 + 60).await.unwrap(),
        1
    );
    app.running.take().unwrap().shutdown().await.unwrap();
    let key_file = app.dir.path().join("test.keys");
    assert_eq!(verify(&app.database_url, &key_file, &[]), (Some(0), vec![]));
}
both!(integrity_alarm_events_replay);
