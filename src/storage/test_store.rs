//! For storage unit tests that need a database: a fresh store on SQLite or
//! PostgreSQL (the cluster `RELAY_TOPUP_TEST_POSTGRES_URL` names, as the
//! integration tests use), with a funded structure and an operator.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test that cannot set up should stop loudly.

use super::{IssueRequest, NewGrant, PoolSettings, Store, TokenScope};
use crate::domain::operator::FIRST_OPERATOR_ID;
use crate::domain::{Principal, Role};

/// The time the tests run at.
pub(crate) const NOW: i64 = 1_800_000_000;

pub(crate) struct TestStore {
    pub store: Store,
    pub operator: i64,
    keys: crate::code::KeySet,
    principal: Principal,
    product: crate::domain::Product,
    _dir: tempfile::TempDir,
}

/// A fresh store, or `None` when PostgreSQL is asked for and no test
/// cluster is configured (unless `RELAY_TOPUP_REQUIRE_POSTGRES=1`).
pub(crate) async fn open(postgres: bool) -> Option<TestStore> {
    let dir = tempfile::tempdir().unwrap();
    let url = if postgres {
        fresh_postgres().await?
    } else {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("t.sqlite").display()
        )
    };
    let store = Store::open(&url, &PoolSettings::default()).await.unwrap();
    let keys = crate::code::KeySet::from_material(&crate::keyfile::generate().unwrap()).unwrap();
    let network = crate::domain::NewOperator {
        name: "SFR".into(),
        instructions_fr: None,
        instructions_en: None,
        slip_instructions: None,
    };
    let network = store.create_operator("test", &network, NOW).await.unwrap();
    // The operator the tests' requests name.
    assert_eq!(network.id, FIRST_OPERATOR_ID);
    let product = crate::domain::catalogue::seed_catalogue(network.id, (network.id, "x")).remove(0);
    store.upsert_product("test", &product, NOW).await.unwrap();
    let s = store
        .create_structure("test", "s", None, None, NOW)
        .await
        .unwrap();
    let grant = NewGrant {
        structure_id: s.id,
        operator_id: network.id,
        resource: product.resource.clone(),
        amount: 1 << 40,
        starts_at: NOW,
        ends_at: None,
        recurrence: None,
    };
    store.create_grant("test", &grant, NOW).await.unwrap();
    let hash = crate::tokens::hash("test structure");
    let token = store
        .create_token(
            "test",
            &hash,
            Role::Structure,
            TokenScope {
                structure_id: Some(s.id),
                operator_id: None,
            },
            None,
            NOW,
        )
        .await
        .unwrap();
    let hash = crate::tokens::hash("test operator");
    let operator = store
        .create_token(
            "test",
            &hash,
            Role::Operator,
            TokenScope {
                structure_id: None,
                operator_id: Some(network.id),
            },
            None,
            NOW,
        )
        .await
        .unwrap();
    Some(TestStore {
        store,
        operator,
        keys,
        principal: Principal::of_token(token, Role::Structure, Some(s.id), None),
        product,
        _dir: dir,
    })
}

impl TestStore {
    /// Issues `count` codes; answers their voucher ids.
    pub(crate) async fn issue(&self, count: usize) -> Vec<i64> {
        let req = IssueRequest {
            principal: self.principal,
            structure_id: self.principal.structure_id.unwrap(),
            product: &self.product,
            format: crate::code::Format::Code,
            count,
            reference: None,
            idempotency: None,
        };
        let out = self.store.issue(&self.keys, &req, NOW).await.unwrap();
        out.vouchers.iter().map(|v| v.id).collect()
    }
}

/// Says the running test skipped its body, as the integration tests do
/// (`scripts/test` counts the names in its skip log as skipped).
fn note_skipped() {
    eprintln!("skipped: PostgreSQL test (set RELAY_TOPUP_TEST_POSTGRES_URL or run scripts/test)");
    if let Ok(path) = std::env::var("RELAY_TOPUP_SKIP_LOG") {
        use std::io::Write;
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(log, "postgres {name}").unwrap();
    }
}

async fn fresh_postgres() -> Option<String> {
    let Ok(admin_url) = std::env::var("RELAY_TOPUP_TEST_POSTGRES_URL") else {
        if std::env::var("RELAY_TOPUP_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("RELAY_TOPUP_REQUIRE_POSTGRES=1 but RELAY_TOPUP_TEST_POSTGRES_URL is not set");
        }
        note_skipped();
        return None;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("rt_unit_{}_{}", std::process::id(), nanos % 1_000_000_000);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .unwrap();
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}
