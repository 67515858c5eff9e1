//! Who may call what, and what bad input gets back, on SQLite and PostgreSQL:
//! a role matrix and BOLA checks generated from the served OpenAPI document
//! (so a route added later is covered without editing this file), the
//! document kept in sync with the router, problem documents for bad input
//! with nothing changed afterwards, the token lifecycle, and the command
//! line's contract with scripts.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use common::{Answer, Db, TestApp, cli};
use relay_topup::clock::SystemClock;
use relay_topup::server::{self, ServerConfig};
use relay_topup::storage::PoolSettings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The five role tags; every operation carries exactly one.
/// `reports`: the reports both the coordinator and the auditors read.
/// `accounts`: people's accounts, managed by the coordinator (admin) and,
/// for their own staff, by structures.
/// `associations`: the tree, changed by the coordinator and by each
/// association within its own subtree, read by auditors too.
const ROLES: [&str; 8] = [
    "admin",
    "structure",
    "operator",
    "auditor",
    "reports",
    "accounts",
    "associations",
    "public",
];

/// Whether a token of `role` may call an operation tagged `tag`; auditors
/// read people's accounts, as they read everything, but change none.
fn may_call(tag: &str, method: &Method, role: &str) -> bool {
    role == tag
        || (tag == "reports" && matches!(role, "admin" | "auditor"))
        || (tag == "accounts" && matches!(role, "admin" | "structure"))
        || (tag == "accounts" && role == "auditor" && method == Method::GET)
        || (tag == "associations" && matches!(role, "admin" | "structure"))
        || (tag == "associations" && role == "auditor" && method == Method::GET)
}
/// The roles a token can have.
const TOKEN_ROLES: [&str; 4] = ["admin", "structure", "operator", "auditor"];
const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A request body: JSON, or raw bytes sent as `application/json`.
enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

/// Sends a request with a raw `Authorization` header value (or none).
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<Body>,
) -> Answer {
    let mut req = app.client.request(method, format!("{}{path}", app.base));
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    match body {
        Some(Body::Json(v)) => req = req.json(&v),
        Some(Body::Raw(bytes)) => {
            req = req.header("content-type", "application/json").body(bytes);
        }
        None => {}
    }
    common::read(req.send().await.unwrap()).await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Asserts `a` is an RFC 9457 problem with this status and `code` (and
/// `field`, when given), with every member the contract promises.
#[track_caller]
fn assert_problem(a: &Answer, status: StatusCode, code: &str, field: Option<&str>, what: &str) {
    assert_eq!(a.status, status, "{what}: {a:?}");
    assert!(a.is_problem(), "{what}: not problem+json: {a:?}");
    assert_problem_members(a, what);
    assert_eq!(a.code(), Some(code), "{what}: {a:?}");
    if let Some(field) = field {
        assert_eq!(a.body["field"], field, "{what}: {a:?}");
    }
}

/// The members every problem document has, and `status` equal to the HTTP status.
#[track_caller]
fn assert_problem_members(a: &Answer, what: &str) {
    for member in ["type", "title", "detail", "code"] {
        assert!(
            a.body[member].as_str().is_some_and(|s| !s.is_empty()),
            "{what}: problem member {member} missing: {a:?}"
        );
    }
    assert_eq!(
        a.body["status"].as_u64(),
        Some(u64::from(a.status.as_u16())),
        "{what}: problem status differs from the HTTP status: {a:?}"
    );
}

/// Creates a token through the API; returns its id and secret.
async fn create_token(app: &TestApp, role: &str, structure_id: Option<i64>) -> (i64, String) {
    let a = app
        .post(
            "/v1/tokens",
            &app.admin,
            common::token_body(role, structure_id),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    assert_eq!(a.body["role"], role);
    (
        a.body["id"].as_i64().unwrap(),
        a.body["token"].as_str().unwrap().to_owned(),
    )
}

async fn revoke(app: &TestApp, id: i64) {
    let a = send(
        app,
        Method::DELETE,
        &format!("/v1/tokens/{id}"),
        Some(&bearer(&app.admin)),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{a:?}");
}

/// A well-formed serial that names no voucher: `near` with its last symbol
/// changed, avoiding every serial in `taken`.
fn missing_serial(near: &str, taken: &HashSet<String>) -> String {
    const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let stem = &near[..near.len() - 1];
    ALPHABET
        .chars()
        .map(|c| format!("{stem}{c}"))
        .find(|s| s != near && !taken.contains(s))
        .unwrap()
}

/// All vouchers of the structure behind `token` (one page of 500).
async fn vouchers(app: &TestApp, token: &str) -> Vec<Value> {
    let a = app.get("/v1/vouchers?limit=500", token).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert!(a.body["next_cursor"].is_null(), "{a:?}");
    a.body["vouchers"].as_array().unwrap().clone()
}

async fn balances(app: &TestApp, token: &str) -> Value {
    let a = app.get("/v1/balance", token).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    a.body["balances"].clone()
}

/// What an admin can see of the whole service, to prove nothing changed.
async fn admin_view(app: &TestApp) -> (Value, Value, Value) {
    let structures = app.get("/v1/structures", &app.admin).await;
    assert_eq!(structures.status, StatusCode::OK, "{structures:?}");
    let products = app.get("/v1/products", &app.admin).await;
    assert_eq!(products.status, StatusCode::OK, "{products:?}");
    let keys = send(app, Method::GET, "/v1/keys", None, None).await;
    assert_eq!(keys.status, StatusCode::OK, "{keys:?}");
    (structures.body, products.body, keys.body)
}

/// One operation of the OpenAPI document.
#[derive(Debug, Clone)]
struct Operation {
    method: Method,
    /// The path template, e.g. `/v1/vouchers/{serial}`.
    path: String,
    /// The single role tag.
    role: String,
    has_request_body: bool,
    /// The documented response statuses (`"200"`, `"401"`, …).
    responses: Vec<String>,
    /// The operation's own `security`, if it overrides the document's.
    security: Option<Value>,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn has_params(&self) -> bool {
        self.path.contains('{')
    }
}

/// Every operation in the document. Asserts each has exactly one of the
/// five role tags.
fn operations(doc: &Value) -> Vec<Operation> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    assert!(!paths.is_empty(), "the document lists no path");
    let mut ops = Vec::new();
    for (path, item) in paths {
        let item = item.as_object().unwrap();
        for (method, op) in item {
            if !HTTP_METHODS.contains(&method.as_str()) {
                continue;
            }
            let tags: Vec<&str> = op["tags"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} has no tags"))
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            assert_eq!(
                tags.len(),
                1,
                "{method} {path} must have exactly one tag naming its role, has {tags:?}"
            );
            assert!(
                ROLES.contains(&tags[0]),
                "{method} {path} is tagged {:?}, not one of {ROLES:?}",
                tags[0]
            );
            ops.push(Operation {
                method: Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                path: path.clone(),
                role: tags[0].to_owned(),
                has_request_body: op.get("requestBody").is_some(),
                responses: op["responses"]
                    .as_object()
                    .map(|r| r.keys().cloned().collect())
                    .unwrap_or_default(),
                security: op.get("security").cloned(),
            });
        }
    }
    ops
}

/// Values for path parameters.
struct PathValues {
    serial: String,
    structure_id: i64,
    token_id: i64,
    account_id: i64,
    lot: i64,
}

/// The path with its parameters filled: `{serial}` with a voucher serial,
/// an `{id}` after `tokens` with a token id, any other parameter with a
/// structure id.
fn fill(template: &str, v: &PathValues) -> String {
    let mut previous = "";
    template
        .split('/')
        .map(|segment| {
            let filled = if segment == "{serial}" {
                v.serial.clone()
            } else if segment.starts_with('{') && segment.ends_with('}') {
                if previous == "tokens" {
                    v.token_id.to_string()
                } else if previous == "accounts" {
                    v.account_id.to_string()
                } else if previous == "lots" {
                    v.lot.to_string()
                } else {
                    v.structure_id.to_string()
                }
            } else {
                segment.to_owned()
            };
            previous = segment;
            filled
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A body the operation would accept from the right caller, so that a
/// caller who gets through by mistake would change something (and the
/// "nothing changed" checks would see it). `{}` for operations added later.
fn valid_body(op: &Operation) -> Option<Body> {
    let body = match (op.method.as_str(), op.path.as_str()) {
        ("POST", "/v1/structures") => json!({ "name": "Structure intruse" }),
        ("POST", "/v1/structures/{id}/grants") => {
            json!({ "operator_id": 1, "resource": "data_mb", "amount": 999 })
        }
        ("POST", "/v1/tokens") => json!({ "role": "admin", "label": "intrus" }),
        ("POST", "/v1/products") => json!({
            "id": "data-intrus", "operator_id": 1, "family": "data", "resource": "data_mb", "amount": 1,
            "validity_days": 30, "code_validity_days": 90,
            "label_fr": "Intrus", "label_en": "Intruder"
        }),
        ("POST", "/v1/vouchers") => json!({ "product": "data-1gb", "count": 1 }),
        ("POST", "/v1/structures/{id}/allocations" | "/v1/structures/{id}/clawbacks") => {
            json!({ "operator_id": 1, "resource": "data_mb", "amount": 999 })
        }
        ("POST", "/v1/needs") => json!({
            "operator_id": 1, "resource": "data_mb", "amount": 999, "reason": "intrusion"
        }),
        ("POST", "/v1/lots/{lot}/void") => json!({ "reason": "intrusion" }),
        ("POST", "/v1/accounts") => json!({
            "role": "structure_staff", "login": "intrus", "display_name": "Intrus", "structure_id": 2
        }),
        _ if op.has_request_body => json!({}),
        _ => return None,
    };
    Some(Body::Json(body))
}

async fn fetch_doc(app: &TestApp) -> Value {
    let a = send(app, Method::GET, "/openapi.json", None, None).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{a:?}"
    );
    let doc: Value = serde_json::from_str(&a.text).expect("/openapi.json is valid JSON");
    doc
}

// ---------------------------------------------------------------------------
// 1. Role matrix and BOLA, generated from the document
// ---------------------------------------------------------------------------

/// Counts what the matrix checked.
#[derive(Default, Debug)]
struct Tally {
    operations: usize,
    requests: usize,
    per_kind: BTreeMap<&'static str, usize>,
}

impl Tally {
    fn case(&mut self, kind: &'static str) {
        self.requests += 1;
        *self.per_kind.entry(kind).or_default() += 1;
    }
}

async fn role_matrix_and_bola_from_the_document(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let doc = fetch_doc(&app).await;
    // The served document is the router's own.
    let (_, built) = relay_topup::http::api();
    let built = relay_topup::http::contract::with_limits(&built, &common::test_limits());
    assert_eq!(doc, built);
    let ops = operations(&doc);

    // Two structures with codes; one token per role; one revoked token per role.
    let (a_id, a_token) = app.funded_structure("Structure A", 10 * 1024).await;
    let b_id = app.structure("Structure B").await;
    app.grant(b_id, "data_mb", 10 * 1024).await;
    let (b_token_id, b_token) = create_token(&app, "structure", Some(b_id)).await;
    let a_serials = app.issue_pairs(&a_token, "data-1gb", 2).await;
    let b_vouchers = app.issue_pairs(&b_token, "data-1gb", 3).await;
    let b_serials: Vec<String> = b_vouchers.iter().map(|v| v.0.clone()).collect();
    let (_, operator) = create_token(&app, "operator", None).await;
    let (_, auditor) = create_token(&app, "auditor", None).await;
    let tokens: BTreeMap<&str, String> = [
        ("admin", app.admin.clone()),
        ("structure", a_token.clone()),
        ("operator", operator),
        ("auditor", auditor),
    ]
    .into();
    let mut revoked = Vec::new();
    for role in TOKEN_ROLES {
        let structure_id = (role == "structure").then_some(a_id);
        let (id, secret) = create_token(&app, role, structure_id).await;
        revoke(&app, id).await;
        revoked.push((role, secret));
    }
    let taken: HashSet<String> = a_serials
        .iter()
        .map(|v| v.0.clone())
        .chain(b_serials.iter().cloned())
        .collect();
    let nowhere = missing_serial(&b_serials[0], &taken);

    let b_balance_before = balances(&app, &b_token).await;
    let a_balance_before = balances(&app, &a_token).await;
    let b_list_before = vouchers(&app, &b_token).await;
    assert_eq!(b_list_before.len(), 3);
    let admin_before = admin_view(&app).await;

    // B's objects are the targets everywhere.
    let b_staff = app.create_account(&b_token, "structure_staff", None).await;
    assert_eq!(b_staff.status, StatusCode::CREATED, "{b_staff:?}");
    let b_staff_login = b_staff.body["login"].as_str().unwrap().to_owned();
    let accounts_before = app.get("/v1/accounts", &app.admin).await.body;
    let targets = PathValues {
        serial: b_serials[0].clone(),
        structure_id: b_id,
        token_id: b_token_id,
        account_id: b_staff.body["id"].as_i64().unwrap(),
        lot: app
            .get(&format!("/v1/vouchers/{}", b_serials[0]), &b_token)
            .await
            .body["lot"]
            .as_i64()
            .unwrap(),
    };
    let garbled: Vec<String> = vec![
        "Bearer rtk_garbage".into(),
        "Bearer".into(),
        "Bearer ".into(),
        "Basic xyz".into(),
        "Basic YWRtaW46YWRtaW4=".into(),
        format!("Token {}", app.admin),
        app.admin.clone(),
        format!("Bearer {}x", app.admin),
        format!("Bearer {}", &app.admin[..app.admin.len() - 1]),
        format!("Bearer rtk_{}", "A".repeat(300)),
        "Bearer garbage".into(),
    ];

    let mut tally = Tally::default();
    for op in &ops {
        let what = op.name();
        let url = fill(&op.path, &targets);
        tally.operations += 1;

        // No token.
        let a = send(&app, op.method.clone(), &url, None, valid_body(op)).await;
        tally.case("no token");
        if op.role == "public" {
            assert_ne!(
                a.status,
                StatusCode::UNAUTHORIZED,
                "{what} is public: {a:?}"
            );
            assert!(a.status.is_success(), "{what} is public: {a:?}");
        } else {
            assert_problem(&a, StatusCode::UNAUTHORIZED, "unauthorized", None, &what);
        }

        // Garbled and revoked tokens.
        let bad = garbled
            .iter()
            .map(|h| ("garbled token", h.clone()))
            .chain(revoked.iter().map(|(_, t)| ("revoked token", bearer(t))));
        for (kind, header) in bad {
            let a = send(&app, op.method.clone(), &url, Some(&header), valid_body(op)).await;
            tally.case(kind);
            let what = format!("{what} with {kind} {header:?}");
            if op.role == "public" {
                assert!(a.status.is_success(), "{what}: {a:?}");
            } else {
                assert_problem(&a, StatusCode::UNAUTHORIZED, "unauthorized", None, &what);
            }
        }

        // Tokens of every other role.
        for (role, token) in &tokens {
            if may_call(&op.role, &op.method, role) {
                continue;
            }
            let a = send(
                &app,
                op.method.clone(),
                &url,
                Some(&bearer(token)),
                valid_body(op),
            )
            .await;
            tally.case("other role");
            let what = format!("{what} with a {role} token");
            if op.role == "public" {
                assert!(a.status.is_success(), "{what}: {a:?}");
            } else {
                assert_problem(&a, StatusCode::FORBIDDEN, "forbidden", None, &what);
            }
        }

        // Structure A on structure B's people: not found, or refused, and
        // never listed.
        if op.role == "accounts" {
            let a_auth = bearer(&a_token);
            let a = send(&app, op.method.clone(), &url, Some(&a_auth), valid_body(op)).await;
            tally.case("other structure's account");
            let what = format!("{what}: A on B's account");
            match (op.method.as_str(), op.path.contains("{id}")) {
                ("GET", _) => {
                    assert_eq!(a.status, StatusCode::OK, "{what}: {a:?}");
                    assert!(!a.text.contains(&b_staff_login), "{what}: {}", a.text);
                }
                (_, true) => assert_problem(&a, StatusCode::NOT_FOUND, "not_found", None, &what),
                // A staff account in B's structure (`valid_body` names it).
                _ => assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {a:?}"),
            }
        }

        // Structure A on structure B's objects.
        if op.role == "structure" {
            let a_auth = bearer(&a_token);
            if op.path.contains("{lot}") {
                let a = send(&app, op.method.clone(), &url, Some(&a_auth), valid_body(op)).await;
                tally.case("other structure's lot");
                assert_problem(
                    &a,
                    StatusCode::NOT_FOUND,
                    "not_found",
                    None,
                    &format!("{what}: A on B's lot"),
                );
            } else if op.path.contains("{serial}") {
                let missing = fill(
                    &op.path,
                    &PathValues {
                        serial: nowhere.clone(),
                        ..targets
                    },
                );
                let baseline = send(&app, op.method.clone(), &missing, Some(&a_auth), None).await;
                assert_problem(&baseline, StatusCode::NOT_FOUND, "not_found", None, &what);
                let spellings = b_serials
                    .iter()
                    .flat_map(|s| [s.clone(), s.replace('-', "").to_lowercase()]);
                for serial in spellings {
                    let url = fill(
                        &op.path,
                        &PathValues {
                            serial: serial.clone(),
                            ..targets
                        },
                    );
                    let a = send(&app, op.method.clone(), &url, Some(&a_auth), None).await;
                    tally.case("other structure's serial");
                    let what = format!("{what}: A on B's {serial}");
                    assert_problem(&a, StatusCode::NOT_FOUND, "not_found", None, &what);
                    assert_eq!(
                        a.text, baseline.text,
                        "{what}: differs from the 404 for a serial that does not exist"
                    );
                    assert_eq!(
                        a.headers.get("content-type"),
                        baseline.headers.get("content-type"),
                        "{what}"
                    );
                    assert_eq!(
                        a.headers.get("content-length"),
                        baseline.headers.get("content-length"),
                        "{what}"
                    );
                }
            } else if op.method == Method::GET && !op.has_params() {
                // A's own reads show nothing of B's.
                let a = send(&app, Method::GET, &url, Some(&a_auth), None).await;
                tally.case("own read shows nothing of another structure");
                assert!(a.status.is_success(), "{what}: {a:?}");
                for (serial, code) in &b_vouchers {
                    let compact = serial.replace('-', "");
                    assert!(
                        !a.text.contains(serial.as_str())
                            && !a.text.contains(code.as_str())
                            && !a.text.contains(&compact),
                        "{what}: A sees B's voucher {serial}: {}",
                        a.text
                    );
                }
            }
        }
    }

    // Every operation of the document went through the matrix.
    assert!(
        tally.operations >= ops.len() && !ops.is_empty(),
        "{tally:?}"
    );
    let doc_ops: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| HTTP_METHODS.contains(&m.as_str()))
                .count()
        })
        .sum();
    assert_eq!(tally.operations, doc_ops, "{tally:?}");
    let non_public = ops.iter().filter(|o| o.role != "public").count();
    let per_op = 1 + garbled.len() + revoked.len() + (tokens.len() - 1);
    assert!(tally.requests >= ops.len() * per_op, "{tally:?}");
    eprintln!(
        "role matrix: {} operations ({non_public} needing a token), {} requests: {:?}",
        tally.operations, tally.requests, tally.per_kind
    );

    // Nothing changed: B's codes are all still issued, no balance moved, no
    // structure, product, key or token was added or revoked.
    let b_list_after = vouchers(&app, &b_token).await;
    assert_eq!(b_list_after, b_list_before);
    assert!(
        b_list_after.iter().all(|v| v["state"] == "issued"),
        "{b_list_after:?}"
    );
    assert_eq!(balances(&app, &b_token).await, b_balance_before);
    assert_eq!(balances(&app, &a_token).await, a_balance_before);
    assert_eq!(vouchers(&app, &a_token).await.len(), a_serials.len());
    assert_eq!(admin_view(&app).await, admin_before);
    assert_eq!(
        app.get("/v1/accounts", &app.admin).await.body,
        accounts_before
    );
    for (role, token) in &tokens {
        let a = send(&app, Method::GET, "/v1/balance", Some(&bearer(token)), None).await;
        let expected = if *role == "structure" {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(a.status, expected, "{role} token no longer live: {a:?}");
    }
    app.stop().await;
}
both!(role_matrix_and_bola_from_the_document);

/// The same `Idempotency-Key` and body from two structures are two requests:
/// the second structure never gets the first one's codes back.
async fn idempotency_keys_are_per_structure(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, a_token) = app.funded_structure("Structure A", 10 * 1024).await;
    let (_, b_token) = app.funded_structure("Structure B", 10 * 1024).await;
    let body = json!({ "product": "data-1gb", "count": 2 });
    let headers = [("Idempotency-Key", "commande-1")];
    let b = app
        .request_with(
            Method::POST,
            "/v1/vouchers",
            Some(&b_token),
            Some(body.clone()),
            &headers,
        )
        .await;
    assert_eq!(b.status, StatusCode::CREATED, "{b:?}");
    let a = app
        .request_with(
            Method::POST,
            "/v1/vouchers",
            Some(&a_token),
            Some(body),
            &headers,
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    let serials = |x: &Answer| -> HashSet<String> {
        x.body["vouchers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["serial"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(serials(&a).is_disjoint(&serials(&b)), "A got B's codes");
    assert_eq!(
        app.balance(&a_token, "data_mb").await["issued"].as_i64(),
        Some(2048)
    );
    assert_eq!(
        app.balance(&b_token, "data_mb").await["issued"].as_i64(),
        Some(2048)
    );
    let a_list: HashSet<String> = vouchers(&app, &a_token)
        .await
        .iter()
        .map(|v| v["serial"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(a_list, serials(&a));
    app.stop().await;
}
both!(idempotency_keys_are_per_structure);

/// An allocation retried under its Idempotency-Key is answered again and
/// moves nothing more; the same key with another amount is a conflict, and
/// another caller's same key is a key of its own.
async fn allocations_retried_under_a_key_move_once(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (association, a_token) = app.funded_structure("Association", 10 * 1024).await;
    let member = app
        .post(
            "/v1/structures",
            &app.admin,
            json!({ "name": "Antenne", "parent_id": association }),
        )
        .await;
    assert_eq!(member.status, StatusCode::CREATED, "{member:?}");
    let member = member.body["id"].as_i64().unwrap();
    let path = format!("/v1/structures/{member}/allocations");
    let send = async |token: &str, amount: i64, key: &str| {
        app.request_with(
            Method::POST,
            &path,
            Some(token),
            Some(json!({ "operator_id": 1, "resource": "data_mb", "amount": amount })),
            &[("Idempotency-Key", key)],
        )
        .await
    };
    let first = send(&a_token, 1024, "part-1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let again = send(&a_token, 1024, "part-1").await;
    assert_eq!(again.status, StatusCode::CREATED, "{again:?}");
    assert_eq!(again.body, first.body, "the same answer, the same transfer");
    let other = send(&a_token, 2048, "part-1").await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY, "{other:?}");
    assert_eq!(other.code(), Some("idempotency_conflict"));
    // The coordinator's key is not the association's.
    let coordinator = send(&app.admin, 1024, "part-1").await;
    assert_eq!(coordinator.status, StatusCode::CREATED, "{coordinator:?}");
    assert_ne!(coordinator.body["id"], first.body["id"]);
    let balance = app
        .get(&format!("/v1/structures/{member}/balance"), &a_token)
        .await;
    assert_eq!(balance.body["balances"][0]["received"], 2048, "{balance:?}");
    common::assert_books_clean(&app).await;
}
both!(allocations_retried_under_a_key_move_once);

// ---------------------------------------------------------------------------
// 2. The OpenAPI document and the router agree
// ---------------------------------------------------------------------------

async fn openapi_document_matches_the_router(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let doc = fetch_doc(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "relay-topup");
    let ops = operations(&doc);

    let (s_id, s_token) = app.funded_structure("Centre social", 10 * 1024).await;
    let own = app.issue_pairs(&s_token, "data-1gb", 2).await;
    let (throwaway_id, _) = create_token(&app, "auditor", None).await;
    let (_, operator) = create_token(&app, "operator", None).await;
    let (_, auditor) = create_token(&app, "auditor", None).await;
    let staff = app.create_account(&s_token, "structure_staff", None).await;
    assert_eq!(staff.status, StatusCode::CREATED, "{staff:?}");
    let values = PathValues {
        serial: own[0].0.clone(),
        structure_id: s_id,
        token_id: throwaway_id,
        account_id: staff.body["id"].as_i64().unwrap(),
        lot: app
            .get(&format!("/v1/vouchers/{}", own[0].0), &s_token)
            .await
            .body["lot"]
            .as_i64()
            .unwrap(),
    };
    let token_for = |role: &str| -> Option<String> {
        match role {
            "admin" => Some(app.admin.clone()),
            "structure" => Some(s_token.clone()),
            "operator" => Some(operator.clone()),
            "auditor" | "reports" => Some(auditor.clone()),
            "accounts" | "associations" => Some(app.admin.clone()),
            _ => None,
        }
    };
    let mut answered = 0;
    for op in &ops {
        let url = fill(&op.path, &values);
        let auth = token_for(&op.role).map(|t| bearer(&t));
        let a = send(
            &app,
            op.method.clone(),
            &url,
            auth.as_deref(),
            valid_body(op),
        )
        .await;
        let what = format!("{} as {}: {a:?}", op.name(), op.role);
        assert_ne!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{what}");
        assert!(
            !(a.status == StatusCode::NOT_FOUND && a.body["detail"] == "no such route"),
            "documented but not routed: {what}"
        );
        assert!(!a.status.is_server_error(), "{what}");
        assert_ne!(a.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_ne!(a.status, StatusCode::FORBIDDEN, "{what}");
        answered += 1;
    }
    assert_eq!(answered, ops.len());

    // The document describes the answers the matrix relies on.
    for op in &ops {
        let documents = |status: &str| op.responses.iter().any(|r| r == status);
        let what = format!("{} documents {:?}", op.name(), op.responses);
        if op.role == "public" {
            assert!(!documents("401") && !documents("403"), "{what}");
        } else {
            assert!(documents("401") && documents("403"), "{what}");
        }
        if op.path.contains("{serial}") {
            assert!(documents("404"), "{what}");
        }
        if op.has_request_body {
            assert!(documents("422"), "{what}");
        }
        assert!(
            op.responses.iter().any(|r| r.starts_with('2')),
            "{what}: no success answer"
        );
    }
    assert!(
        answered >= 17,
        "the document lists only {answered} operations"
    );

    // Undocumented paths are 404 problems; a documented path with another
    // method is a 405 problem.
    for path in [
        "/v1/nope",
        "/v2/vouchers",
        "/v1/vouchers/",
        "/v1/structures/1",
        "/admin",
        "/v1/audit/nope",
    ] {
        let a = app.get(path, &app.admin).await;
        assert_problem(&a, StatusCode::NOT_FOUND, "not_found", None, path);
        let documented = doc["paths"].get(path).is_some();
        assert!(!documented, "{path} is documented");
    }
    let a = send(
        &app,
        Method::DELETE,
        "/v1/balance",
        Some(&bearer(&s_token)),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{a:?}");
    assert!(a.is_problem(), "{a:?}");
    assert_problem_members(&a, "DELETE /v1/balance");
    app.stop().await;
}
both!(openapi_document_matches_the_router);

// ---------------------------------------------------------------------------
// 3. Bad input: the right problem, and nothing changed
// ---------------------------------------------------------------------------

async fn bad_issue_requests_change_nothing(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Maison de quartier", 10 * 1024).await;
    let balance_before = balances(&app, &token).await;
    assert!(vouchers(&app, &token).await.is_empty());
    let auth = bearer(&token);

    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let cases: Vec<(&str, Body, StatusCode, &str, Option<&str>)> = vec![
        (
            "unknown product",
            Body::Json(json!({ "product": "data-99tb", "count": 1 })),
            unprocessable,
            "validation_failed",
            Some("product"),
        ),
        (
            "product of the wrong type",
            Body::Json(json!({ "product": 7, "count": 1 })),
            unprocessable,
            "validation_failed",
            Some("product"),
        ),
        (
            "count 0",
            Body::Json(json!({ "product": "data-1gb", "count": 0 })),
            unprocessable,
            "validation_failed",
            Some("count"),
        ),
        (
            "count 101",
            Body::Json(json!({ "product": "data-1gb", "count": 101 })),
            unprocessable,
            "validation_failed",
            Some("count"),
        ),
        (
            "count -1",
            Body::Json(json!({ "product": "data-1gb", "count": -1 })),
            unprocessable,
            "validation_failed",
            Some("count"),
        ),
        (
            "count 1.5",
            Body::Json(json!({ "product": "data-1gb", "count": 1.5 })),
            unprocessable,
            "validation_failed",
            Some("count"),
        ),
        (
            "count \"3\"",
            Body::Json(json!({ "product": "data-1gb", "count": "3" })),
            unprocessable,
            "validation_failed",
            Some("count"),
        ),
        (
            "count null",
            Body::Json(json!({ "product": "data-1gb", "count": null })),
            unprocessable,
            "validation_failed",
            Some("count"),
        ),
        (
            "count huge",
            Body::Raw(br#"{"product":"data-1gb","count":99999999999999999999999}"#.to_vec()),
            unprocessable,
            "validation_failed",
            Some("count"),
        ),
        (
            "count missing",
            Body::Json(json!({ "product": "data-1gb" })),
            unprocessable,
            "validation_failed",
            None,
        ),
        (
            "unknown extra field",
            Body::Json(json!({ "product": "data-1gb", "count": 1, "structure_id": 1 })),
            unprocessable,
            "validation_failed",
            None,
        ),
        (
            "not JSON",
            Body::Raw(b"product=data-1gb&count=1".to_vec()),
            unprocessable,
            "validation_failed",
            None,
        ),
        (
            "truncated JSON",
            Body::Raw(br#"{"product":"data-1gb","count":1"#.to_vec()),
            unprocessable,
            "validation_failed",
            None,
        ),
        (
            "JSON array",
            Body::Json(json!([{ "product": "data-1gb", "count": 1 }])),
            unprocessable,
            "validation_failed",
            None,
        ),
        (
            "empty body",
            Body::Raw(Vec::new()),
            unprocessable,
            "validation_failed",
            None,
        ),
        (
            "body over 16 KiB",
            Body::Json(
                json!({ "product": "data-1gb", "count": 1, "reference": "x".repeat(20 * 1024) }),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            None,
        ),
        (
            "reference of 65 characters",
            Body::Json(json!({ "product": "data-1gb", "count": 1, "reference": "r".repeat(65) })),
            unprocessable,
            "validation_failed",
            Some("reference"),
        ),
        (
            "reference of 65 accented characters",
            Body::Json(json!({ "product": "data-1gb", "count": 1, "reference": "é".repeat(65) })),
            unprocessable,
            "validation_failed",
            Some("reference"),
        ),
        (
            "reference with a bell",
            Body::Json(
                json!({ "product": "data-1gb", "count": 1, "reference": "atelier\u{7}mardi" }),
            ),
            unprocessable,
            "validation_failed",
            Some("reference"),
        ),
        (
            "reference with a newline inside",
            Body::Json(json!({ "product": "data-1gb", "count": 1, "reference": "atelier\nmardi" })),
            unprocessable,
            "validation_failed",
            Some("reference"),
        ),
        (
            "reference with a terminal escape",
            Body::Json(
                json!({ "product": "data-1gb", "count": 1, "reference": "\u{1b}[31mrouge" }),
            ),
            unprocessable,
            "validation_failed",
            Some("reference"),
        ),
        (
            "reference with a NUL",
            Body::Json(json!({ "product": "data-1gb", "count": 1, "reference": "a\u{0}b" })),
            unprocessable,
            "validation_failed",
            Some("reference"),
        ),
        (
            "empty reference",
            Body::Json(json!({ "product": "data-1gb", "count": 1, "reference": "  " })),
            unprocessable,
            "validation_failed",
            Some("reference"),
        ),
    ];
    let n = cases.len();
    for (what, body, status, code, field) in cases {
        let a = send(&app, Method::POST, "/v1/vouchers", Some(&auth), Some(body)).await;
        assert_problem(&a, status, code, field, what);
    }
    assert_eq!(n, 23);

    // A bad Idempotency-Key is refused too: empty, too long, or with a
    // character outside visible ASCII and the space (a tab).
    let long_key = "k".repeat(256);
    for key in ["", long_key.as_str(), "order\t42"] {
        let a = app
            .request_with(
                Method::POST,
                "/v1/vouchers",
                Some(&token),
                Some(json!({ "product": "data-1gb", "count": 1 })),
                &[("Idempotency-Key", key)],
            )
            .await;
        assert_problem(
            &a,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("Idempotency-Key"),
            "bad Idempotency-Key",
        );
    }

    // List parameters.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("state=lost", "state"),
        ("state=ISSUED", "state"),
        ("cursor=garbage", "cursor"),
        ("cursor=MTIz", "cursor"),
    ] {
        let a = app.get(&format!("/v1/vouchers?{query}"), &token).await;
        assert_problem(
            &a,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(field),
            query,
        );
    }
    for query in ["limit=abc", "limit=1.5", "bogus=1"] {
        let a = app.get(&format!("/v1/vouchers?{query}"), &token).await;
        assert_problem(
            &a,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            None,
            query,
        );
    }

    // Nothing changed.
    assert_eq!(balances(&app, &token).await, balance_before);
    assert!(vouchers(&app, &token).await.is_empty());
    // And the same structure can still issue: the refusals were about input.
    assert_eq!(
        app.issue(&token, "data-1gb", 1).await.status,
        StatusCode::CREATED
    );
    app.stop().await;
}
both!(bad_issue_requests_change_nothing);

async fn bad_admin_requests_change_nothing(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let s_id = app.structure("Épicerie solidaire").await;
    let (_, s_token) = create_token(&app, "structure", Some(s_id)).await;
    let balance_before = balances(&app, &s_token).await;
    let admin_before = admin_view(&app).await;
    let admin = bearer(&app.admin);
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;

    // Structures.
    for (what, body, field) in [
        ("empty name", json!({ "name": "" }), Some("name")),
        ("blank name", json!({ "name": "   " }), Some("name")),
        (
            "name too long",
            json!({ "name": "n".repeat(201) }),
            Some("name"),
        ),
        (
            "name with a control character",
            json!({ "name": "a\u{1b}b" }),
            Some("name"),
        ),
        ("missing name", json!({}), None),
        (
            "name of the wrong type",
            json!({ "name": 12 }),
            Some("name"),
        ),
        (
            "external_ref with a control character",
            json!({ "name": "Ok", "external_ref": "x\u{0}y" }),
            Some("external_ref"),
        ),
        ("unknown field", json!({ "name": "Ok", "id": 1 }), None),
    ] {
        let a = send(
            &app,
            Method::POST,
            "/v1/structures",
            Some(&admin),
            Some(Body::Json(body)),
        )
        .await;
        assert_problem(&a, unprocessable, "validation_failed", field, what);
    }

    // Grants.
    let grants = format!("/v1/structures/{s_id}/grants");
    let past = relay_topup::clock::rfc3339(1_000_000_000);
    for (what, body, field) in [
        (
            "amount 0",
            json!({ "operator_id": 1, "resource": "data_mb", "amount": 0 }),
            "amount",
        ),
        (
            "negative amount",
            json!({ "operator_id": 1, "resource": "data_mb", "amount": -1024 }),
            "amount",
        ),
        (
            "amount of the wrong type",
            json!({ "operator_id": 1, "resource": "data_mb", "amount": "1024" }),
            "amount",
        ),
        (
            "resource Data MB",
            json!({ "operator_id": 1, "resource": "Data MB", "amount": 1024 }),
            "resource",
        ),
        (
            "empty resource",
            json!({ "operator_id": 1, "resource": "", "amount": 1024 }),
            "resource",
        ),
        (
            "expires_at in the past",
            json!({ "operator_id": 1, "resource": "data_mb", "amount": 1024, "expires_at": past }),
            "expires_at",
        ),
        (
            "expires_at not RFC 3339",
            json!({ "operator_id": 1, "resource": "data_mb", "amount": 1024, "expires_at": "31/12/2099" }),
            "expires_at",
        ),
        (
            "expires_at as a number",
            json!({ "operator_id": 1, "resource": "data_mb", "amount": 1024, "expires_at": 4_102_444_800_i64 }),
            "expires_at",
        ),
        (
            "unknown recurrence",
            json!({ "operator_id": 1, "resource": "data_mb", "amount": 1024, "recurrence": "weekly" }),
            "recurrence",
        ),
    ] {
        let a = send(
            &app,
            Method::POST,
            &grants,
            Some(&admin),
            Some(Body::Json(body)),
        )
        .await;
        assert_problem(&a, unprocessable, "validation_failed", Some(field), what);
    }
    for missing in [
        format!("{}", s_id + 1000),
        "0".into(),
        "-1".into(),
        "abc".into(),
    ] {
        let a = send(
            &app,
            Method::POST,
            &format!("/v1/structures/{missing}/grants"),
            Some(&admin),
            Some(Body::Json(
                json!({ "operator_id": 1, "resource": "data_mb", "amount": 1024 }),
            )),
        )
        .await;
        assert_problem(&a, StatusCode::NOT_FOUND, "not_found", None, &missing);
    }

    // Tokens.
    for (what, body, status, code, field) in [
        (
            "structure token without structure_id",
            json!({ "role": "structure" }),
            unprocessable,
            "validation_failed",
            Some("structure_id"),
        ),
        (
            "operator token with a structure_id",
            json!({ "role": "operator", "structure_id": s_id }),
            unprocessable,
            "validation_failed",
            Some("structure_id"),
        ),
        (
            "unknown role",
            json!({ "role": "superuser" }),
            unprocessable,
            "validation_failed",
            Some("role"),
        ),
        (
            "role in capitals",
            json!({ "role": "ADMIN" }),
            unprocessable,
            "validation_failed",
            Some("role"),
        ),
        (
            "missing role",
            json!({ "label": "x" }),
            unprocessable,
            "validation_failed",
            None,
        ),
        (
            "label with a control character",
            json!({ "role": "auditor", "label": "a\nb" }),
            unprocessable,
            "validation_failed",
            Some("label"),
        ),
        (
            "structure token for no structure",
            json!({ "role": "structure", "structure_id": s_id + 1000 }),
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
    ] {
        let a = send(
            &app,
            Method::POST,
            "/v1/tokens",
            Some(&admin),
            Some(Body::Json(body)),
        )
        .await;
        assert_problem(&a, status, code, field, what);
        assert!(a.body.get("token").is_none(), "{what}: {a:?}");
    }

    // Products.
    let product = json!({
        "id": "data-test", "operator_id": 1, "family": "data", "resource": "data_mb", "amount": 512,
        "validity_days": 30, "code_validity_days": 90, "label_fr": "Test", "label_en": "Test"
    });
    for (what, change, field) in [
        ("id with a space", json!({ "id": "data test" }), "id"),
        ("amount 0", json!({ "amount": 0 }), "amount"),
        (
            "validity_days 0",
            json!({ "validity_days": 0 }),
            "validity_days",
        ),
        (
            "code_validity_days 3651",
            json!({ "code_validity_days": 3651 }),
            "code_validity_days",
        ),
        ("empty label_fr", json!({ "label_fr": "" }), "label_fr"),
    ] {
        let mut body = product.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let a = send(
            &app,
            Method::POST,
            "/v1/products",
            Some(&admin),
            Some(Body::Json(body)),
        )
        .await;
        assert_problem(&a, unprocessable, "validation_failed", Some(field), what);
    }

    // Revoking what does not exist.
    for id in ["999999", "0", "abc"] {
        let a = send(
            &app,
            Method::DELETE,
            &format!("/v1/tokens/{id}"),
            Some(&admin),
            None,
        )
        .await;
        assert_problem(&a, StatusCode::NOT_FOUND, "not_found", None, id);
    }

    // Nothing changed.
    assert_eq!(balances(&app, &s_token).await, balance_before);
    assert_eq!(admin_view(&app).await, admin_before);
    app.stop().await;
}
both!(bad_admin_requests_change_nothing);

// ---------------------------------------------------------------------------
// 4. Token lifecycle
// ---------------------------------------------------------------------------

async fn token_lifecycle(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let s_id = app.structure("Foyer").await;
    let created = app
        .post(
            "/v1/tokens",
            &app.admin,
            json!({ "role": "structure", "structure_id": s_id, "label": "accueil" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["role"], "structure");
    let id = created.body["id"].as_i64().unwrap();
    let secret = created.body["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("rtk_"), "{secret}");
    assert!(secret.len() >= 4 + 43, "256 bits at least: {secret}");
    let (_, other) = create_token(&app, "structure", Some(s_id)).await;
    assert_ne!(other, secret);

    // It works.
    let a = app.get("/v1/balance", &secret).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");

    // The secret is shown nowhere else.
    for path in ["/v1/structures", "/v1/products"] {
        let a = app.get(path, &app.admin).await;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        assert!(!a.text.contains(&secret), "{path} shows the secret");
        assert!(!a.text.contains(&secret[4..]), "{path} shows the secret");
    }
    for path in ["/metrics", "/openapi.json", "/v1/keys", "/healthz"] {
        let a = send(&app, Method::GET, path, None, None).await;
        assert!(!a.text.contains(&secret[4..]), "{path} shows the secret");
    }
    let a = app.get("/v1/balance", &secret).await;
    assert!(!a.text.contains(&secret[4..]));

    // Revoked: 401 at once; revoking again is 404.
    revoke(&app, id).await;
    let a = app.get("/v1/balance", &secret).await;
    assert_problem(
        &a,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
        "revoked token",
    );
    let a = app.issue(&secret, "data-1gb", 1).await;
    assert_problem(
        &a,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
        "revoked token",
    );
    let again = send(
        &app,
        Method::DELETE,
        &format!("/v1/tokens/{id}"),
        Some(&bearer(&app.admin)),
        None,
    )
    .await;
    assert_problem(
        &again,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
        "second revoke",
    );
    // Only that token: the other one for the same structure still works.
    assert_eq!(app.get("/v1/balance", &other).await.status, StatusCode::OK);

    // A revoked admin token loses its power too.
    let (admin2_id, admin2) = create_token(&app, "admin", None).await;
    assert_eq!(
        app.get("/v1/structures", &admin2).await.status,
        StatusCode::OK
    );
    revoke(&app, admin2_id).await;
    let a = app.get("/v1/structures", &admin2).await;
    assert_problem(
        &a,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
        "revoked admin",
    );
    let a = app
        .post("/v1/tokens", &admin2, json!({ "role": "admin" }))
        .await;
    assert_problem(
        &a,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
        "revoked admin",
    );
    app.stop().await;
}
both!(token_lifecycle);

// ---------------------------------------------------------------------------
// 5. The command line's contract with scripts (SQLite only)
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_scripts_contract() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("x.sqlite").display()
    );
    let key_file = dir.path().join("k.keys");
    let run = |args: &[&str]| cli(&database_url, &key_file, args);

    // keys generate creates the key file, and refuses to overwrite it.
    let generated = run(&["keys", "generate"]);
    assert!(generated.ok(), "{}", generated.stderr);
    let keys_before = std::fs::read(&key_file).unwrap();
    assert!(!keys_before.is_empty());
    let again = run(&["keys", "generate"]);
    assert!(!again.ok(), "keys generate overwrote an existing key file");
    assert!(!again.stderr.is_empty());
    assert_eq!(std::fs::read(&key_file).unwrap(), keys_before);

    // structure add prints only the id, on the last line.
    let added = run(&["structure", "add", "Centre communal d'action sociale"]);
    assert!(added.ok(), "{}", added.stderr);
    let structure_id: i64 = added
        .last_line()
        .parse()
        .unwrap_or_else(|_| panic!("last line is not an id: {:?}", added.stdout));
    assert_eq!(added.last_line(), structure_id.to_string());
    let second = run(&["structure", "add", "Deuxième"]);
    assert!(second.ok(), "{}", second.stderr);
    assert_eq!(second.last_line(), (structure_id + 1).to_string());

    // token create prints the secret alone on the last line.
    let id_text = structure_id.to_string();
    let created = run(&["token", "create", "structure", "--structure-id", &id_text]);
    assert!(created.ok(), "{}", created.stderr);
    let secret = created.last_line().to_owned();
    assert!(
        secret.starts_with("rtk_") && !secret.contains(' '),
        "{:?}",
        created.stdout
    );
    assert!(
        !created.stderr.contains(&secret),
        "the secret went to the logs"
    );
    // Refusals: no structure, an unknown structure, an unknown role.
    for args in [
        vec!["token", "create", "structure"],
        vec!["token", "create", "structure", "--structure-id", "9999"],
        vec!["token", "create", "root"],
    ] {
        let r = run(&args);
        assert!(!r.ok(), "{args:?} succeeded: {}", r.stdout);
        assert!(!r.last_line().starts_with("rtk_"), "{args:?}: {}", r.stdout);
    }

    // The token works against a server on the same database and key file.
    let config = ServerConfig {
        database_url: database_url.clone(),
        key_file: key_file.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        limits: common::test_limits(),
        pool: PoolSettings {
            max_connections: 4,
            ..PoolSettings::default()
        },
        clock: Arc::new(SystemClock),
        demo: false,
    };
    let running = server::start(config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let balance = client
        .get(format!("{base}/v1/balance"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(balance.status(), StatusCode::OK);
    let admin = running.first_start.admin_token.clone().unwrap();
    let structures = common::read(
        client
            .get(format!("{base}/v1/structures"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(structures.status, StatusCode::OK, "{structures:?}");
    assert_eq!(structures.body["structures"][0]["id"], structure_id);
    assert_eq!(
        structures.body["structures"][0]["name"],
        "Centre communal d'action sociale"
    );
    // The server used the generated key file as it was.
    assert_eq!(std::fs::read(&key_file).unwrap(), keys_before);
    running.shutdown().await.unwrap();

    // code check: well formed prints the serial; a typo names its position.
    let good = run(&["code", "check", "1EPM-BWHX-WG4M-WKBV-9E7D"]);
    assert!(good.ok(), "{}", good.stderr);
    assert_eq!(good.last_line(), "1EPM-BWHX");
    let typo = run(&["code", "check", "1EPM-BWUX-WG4M-WKBV-9E7D"]);
    assert!(!typo.ok(), "a code with U passed: {}", typo.stdout);
    assert!(typo.stderr.contains("7"), "{}", typo.stderr);
    assert!(
        typo.stderr.contains("character 7") || typo.stderr.contains("position 7"),
        "{}",
        typo.stderr
    );
    assert!(!typo.stdout.contains("1EPM"), "{}", typo.stdout);
    let checksum = run(&["code", "check", "1EPM-BWHX-WG4M-WKBV-9E7E"]);
    assert!(!checksum.ok(), "a code with a wrong check symbol passed");
    // A PIN (a vector of docs/pin-format.md) is read as a PIN: its
    // reference, or its typo.
    let pin = run(&["code", "check", "9000 0004 7898 8274 1936"]);
    assert!(pin.ok(), "{}", pin.stderr);
    assert_eq!(pin.last_line(), "9000000478");
    let pin_typo = run(&["code", "check", "9000 0004 7898 8274 1937"]);
    assert!(!pin_typo.ok(), "a PIN with a wrong check digit passed");
    assert!(pin_typo.stderr.contains("typo"), "{}", pin_typo.stderr);
}

// ---------------------------------------------------------------------------
// Regressions: each of these was a bug once.
// ---------------------------------------------------------------------------

/// A body that is a JSON value followed by anything else is not JSON
/// (RFC 8259) and must be refused like any other non-JSON body, with
/// nothing issued or created.
async fn json_followed_by_trailing_content_is_refused(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 10 * 1024).await;
    let balance_before = balances(&app, &token).await;
    let admin_before = admin_view(&app).await;
    for raw in [
        r#"{"product":"data-1gb","count":1} garbage"#,
        r#"{"product":"data-1gb","count":1}{"product":"data-1gb","count":100}"#,
        r#"{"product":"data-1gb","count":1},"#,
    ] {
        let a = send(
            &app,
            Method::POST,
            "/v1/vouchers",
            Some(&bearer(&token)),
            Some(Body::Raw(raw.as_bytes().to_vec())),
        )
        .await;
        assert_problem(
            &a,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("body"),
            raw,
        );
    }
    let raw = r#"{"name":"Structure"} trailing"#;
    let a = send(
        &app,
        Method::POST,
        "/v1/structures",
        Some(&bearer(&app.admin)),
        Some(Body::Raw(raw.as_bytes().to_vec())),
    )
    .await;
    assert_problem(
        &a,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("body"),
        raw,
    );
    assert_eq!(balances(&app, &token).await, balance_before);
    assert!(vouchers(&app, &token).await.is_empty());
    assert_eq!(admin_view(&app).await, admin_before);
    app.stop().await;
}
both!(json_followed_by_trailing_content_is_refused);

/// `validation_failed` names the field at fault (`docs/contract.md`,
/// "Errors"), also when the field is missing from the body or is a query
/// parameter of the wrong type.
async fn validation_names_missing_fields_and_query_parameters(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Foyer", 10 * 1024).await;
    let a = app
        .post("/v1/vouchers", &token, json!({ "product": "data-1gb" }))
        .await;
    assert_problem(
        &a,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("count"),
        "missing count",
    );
    let a = app.get("/v1/vouchers?limit=abc", &token).await;
    assert_problem(
        &a,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("limit"),
        "limit=abc",
    );
    app.stop().await;
}
both!(validation_names_missing_fields_and_query_parameters);

/// Public operations need no token, and the document says so: they override
/// the document-wide bearer requirement with an empty one.
async fn openapi_marks_public_operations_as_needing_no_token(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let doc = fetch_doc(&app).await;
    let global = doc.get("security").cloned().unwrap_or(Value::Null);
    for op in operations(&doc) {
        let effective = op.security.clone().unwrap_or_else(|| global.clone());
        let anonymous_allowed = effective.is_null()
            || effective
                .as_array()
                .is_some_and(|reqs| reqs.is_empty() || reqs.iter().any(|r| r == &json!({})));
        if op.role == "public" {
            assert!(
                anonymous_allowed,
                "{} is public but documented as needing {effective}",
                op.name()
            );
        } else {
            assert!(
                !anonymous_allowed,
                "{} needs a token but is documented as open: {effective}",
                op.name()
            );
        }
    }
    app.stop().await;
}
both!(openapi_marks_public_operations_as_needing_no_token);

/// A token revoked behind this server's back (by the command line, as by
/// another server) while this server trusts its cached lookup: every write
/// is refused at once, because writes check the token in their own
/// transaction; reads stop within the cache's time to live.
async fn tokens_revoked_elsewhere_can_no_longer_write(db: Db) {
    let limits = relay_topup::config::Limits {
        token_cache_secs: 3600,
        operator_rate_per_sec: 1_000_000,
        operator_burst: 1_000_000,
        ..common::test_limits()
    };
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let (s_id, _) = app.funded_structure("Point d'accueil", 10 * 1024).await;
    let (structure_id, structure) = create_token(&app, "structure", Some(s_id)).await;
    let (operator_id, operator) = create_token(&app, "operator", None).await;
    let issued = app.issue_pairs(&structure, "data-1gb", 3).await;
    // Both lookups are now cached.
    assert_eq!(vouchers(&app, &structure).await.len(), 3);
    let redeem = |code: &str| json!({ "code": code, "msisdn": "+33612345678" });
    let a = app
        .post("/v1/redemptions", &operator, redeem(&issued[0].1))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    let reserved = app
        .post(
            "/v1/redemptions",
            &operator,
            json!({ "code": issued[1].1, "msisdn": "+33612345678", "mode": "reserve" }),
        )
        .await;
    assert_eq!(reserved.status, StatusCode::CREATED, "{reserved:?}");
    let (_, viewer) = create_token(&app, "structure", Some(s_id)).await;
    let before = app.balance(&viewer, "data_mb").await;
    let key_file = app.dir.path().join("test.keys");
    for id in [structure_id, operator_id] {
        let run = common::cli(
            &app.database_url,
            &key_file,
            &["token", "revoke", &id.to_string()],
        );
        assert!(run.ok(), "{}", run.stderr);
    }
    let refusals = [
        app.post(
            "/v1/vouchers",
            &structure,
            json!({ "product": "data-1gb", "count": 1 }),
        )
        .await,
        app.post(
            &format!("/v1/vouchers/{}/void", issued[2].0),
            &structure,
            json!({}),
        )
        .await,
        app.post("/v1/redemptions", &operator, redeem(&issued[2].1))
            .await,
        app.post(
            &format!("/v1/redemptions/{}/confirm", reserved.body["id"]),
            &operator,
            json!({}),
        )
        .await,
    ];
    for a in &refusals {
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "{a:?}"
        );
    }
    assert_eq!(
        app.balance(&viewer, "data_mb").await,
        before,
        "nothing was issued or given back"
    );
    let states: Vec<Value> = vouchers(&app, &viewer)
        .await
        .iter()
        .map(|v| v["state"].clone())
        .collect();
    assert_eq!(states.len(), 3);
    assert_eq!(
        states.iter().filter(|s| *s == "issued").count(),
        1,
        "the code the revoked operator tried is still issued: {states:?}"
    );
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(tokens_revoked_elsewhere_can_no_longer_write);
