//! Associations and needs, black box, on SQLite and PostgreSQL: the tree of
//! structures (at most three levels under the coordinator), quota passed
//! down it and taken back up, and the needs members report to their
//! association.
//!
//! What it proves:
//! - an association's quota is never overdrawn by concurrent allocations,
//!   and a member's never by issuing while its association claws back:
//!   every unit ends up in exactly one place;
//! - nobody reaches outside their own subtree: for every route of the tree,
//!   every caller and every structure, the answer follows from the rule
//!   (only a structure's direct parent moves its quota; a subtree's root
//!   reads it), and what lies outside answers exactly what a structure
//!   that does not exist answers; the same holds for needs;
//! - a need is approved in full or in part with its allocation in the same
//!   transaction (or a grant, for a structure under the coordinator),
//!   declined with a reason its structure reads, and answered once;
//! - the tree's rules (depth, no cycles) hold for the API and the command
//!   line, and every move is in the audit trail.
//!
//! Every test ends with `audit verify` over the live database.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Answer, Db, FIRST_NETWORK, TestApp, assert_books_clean, cli, read};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One GB of the `data_mb` resource: what a `data-1gb` code issues.
const GB: i64 = 1024;
const DATA: &str = "data_mb";
/// A structure id no test makes.
const NEVER_MADE: i64 = 999_999;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// `POST /v1/structures` by the coordinator, under `parent` if given.
async fn create_structure(app: &TestApp, name: &str, parent: Option<i64>) -> Answer {
    app.post(
        "/v1/structures",
        &app.admin,
        json!({ "name": name, "parent_id": parent }),
    )
    .await
}

/// A structure made by the coordinator under `parent`; its id.
async fn structure_under(app: &TestApp, name: &str, parent: Option<i64>) -> i64 {
    let a = create_structure(app, name, parent).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    assert_eq!(a.body["name"], name, "{a:?}");
    assert_eq!(a.body["parent_id"], json!(parent), "{a:?}");
    a.body["id"].as_i64().unwrap()
}

/// A structure's `data_mb` balance on the first network, every counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Quota {
    granted: i64,
    issued: i64,
    returned: i64,
    lapsed: i64,
    received: i64,
    sent: i64,
    available: i64,
}

impl Quota {
    /// The row of a balance answer (zeros when nothing ever moved there),
    /// checked against the balance identity.
    fn of(body: &Value) -> Self {
        let row = body["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["operator_id"] == FIRST_NETWORK && b["resource"] == DATA);
        let Some(row) = row else {
            return Self::default();
        };
        let n = |k: &str| row[k].as_i64().unwrap_or_else(|| panic!("no {k} in {row}"));
        let q = Self {
            granted: n("granted"),
            issued: n("issued"),
            returned: n("returned"),
            lapsed: n("lapsed"),
            received: n("received"),
            sent: n("sent"),
            available: n("available"),
        };
        assert_eq!(
            q.available,
            q.granted - q.issued + q.returned - q.lapsed + q.received - q.sent,
            "balance identity: {row}"
        );
        q
    }
}

/// Structure `id`'s balance read with `token` over `client` (usable from a
/// spawned task).
async fn quota_at(client: &reqwest::Client, base: &str, token: &str, id: i64) -> Quota {
    let response = client
        .get(format!("{base}/v1/structures/{id}/balance"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let a = read(response).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.body["structure_id"], id, "{a:?}");
    Quota::of(&a.body)
}

/// Structure `id`'s balance as the coordinator reads it.
async fn quota(app: &TestApp, id: i64) -> Quota {
    quota_at(&app.client, &app.base, &app.admin, id).await
}

fn transfer_body(amount: i64) -> Value {
    json!({ "operator_id": FIRST_NETWORK, "resource": DATA, "amount": amount })
}

async fn allocate(app: &TestApp, token: &str, member: i64, amount: i64) -> Answer {
    let path = format!("/v1/structures/{member}/allocations");
    app.post(&path, token, transfer_body(amount)).await
}

async fn claw_back(app: &TestApp, token: &str, member: i64, amount: i64) -> Answer {
    let path = format!("/v1/structures/{member}/clawbacks");
    app.post(&path, token, transfer_body(amount)).await
}

/// A POST sent from a spawned task, so that many are in flight at once.
async fn post_from_task(
    client: reqwest::Client,
    url: String,
    token: String,
    body: Value,
) -> Answer {
    read(
        client
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Asserts a problem document with `status` and `code`.
fn assert_problem(a: &Answer, status: StatusCode, code: &str) {
    assert_eq!(a.status, status, "{a:?}");
    assert!(a.is_problem(), "not a problem document: {a:?}");
    assert_eq!(a.code(), Some(code), "{a:?}");
}

/// Asserts a 422 `validation_failed` on `field`.
fn assert_invalid(a: &Answer, field: &str) {
    assert_problem(a, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(a.body["field"], field, "{a:?}");
}

/// Asserts a 201 transfer of `kind` from `from` to `to`; its id.
fn assert_transfer(a: &Answer, kind: &str, from: i64, to: i64, amount: i64) -> i64 {
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    assert_eq!(a.body["kind"], kind, "{a:?}");
    assert_eq!(a.body["from_structure_id"], from, "{a:?}");
    assert_eq!(a.body["to_structure_id"], to, "{a:?}");
    assert_eq!(a.body["operator_id"], FIRST_NETWORK, "{a:?}");
    assert_eq!(a.body["resource"], DATA, "{a:?}");
    assert_eq!(a.body["amount"], amount, "{a:?}");
    a.body["id"].as_i64().unwrap()
}

/// What a reach matrix found: answers outside the caller's reach that
/// were not exactly a missing structure's 404 (leaks), and other answers
/// that differ from the rule.
#[derive(Default)]
struct Findings {
    leaks: Vec<String>,
    wrong: Vec<String>,
    /// Answers checked.
    checked: usize,
}

impl Findings {
    /// Checks `a` against the rule's `want` (and problem `code`, for a
    /// problem); a 404 must be `nowhere`'s very answer.
    fn check(&mut self, case: &str, a: &Answer, want: StatusCode, code: &str, nowhere: &Answer) {
        self.checked += 1;
        let seen = format!("{case}: {} {}", a.status, a.text);
        if want == StatusCode::NOT_FOUND {
            if a.status != want || a.body != nowhere.body {
                self.leaks.push(seen);
            }
        } else if a.status != want || a.code() != Some(code) {
            self.wrong.push(format!("{seen} (expected {want} {code})"));
        }
    }

    fn assert_none(&self) {
        let (leaks, wrong) = (&self.leaks, &self.wrong);
        assert!(
            leaks.is_empty(),
            "{} leaks:\n{}",
            leaks.len(),
            leaks.join("\n")
        );
        assert!(
            wrong.is_empty(),
            "{} wrong:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }
}

/// `POST /v1/structures/{id}/move` with `token`.
async fn move_structure(app: &TestApp, token: &str, id: i64, parent: Option<i64>) -> Answer {
    let path = format!("/v1/structures/{id}/move");
    app.post(&path, token, json!({ "parent_id": parent })).await
}

/// Reports a need of `amount` MB with the structure token `token`.
async fn report_need(app: &TestApp, token: &str, amount: i64, reason: &str) -> Answer {
    let body = json!({ "operator_id": FIRST_NETWORK, "resource": DATA, "amount": amount, "reason": reason });
    app.post("/v1/needs", token, body).await
}

/// Reports a need that must be accepted; the need as answered.
async fn need(app: &TestApp, token: &str, amount: i64, reason: &str) -> Value {
    let a = report_need(app, token, amount, reason).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    assert_eq!(a.body["state"], "open", "{a:?}");
    a.body
}

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

async fn approve(app: &TestApp, token: &str, need: i64, amount: Option<i64>) -> Answer {
    let body = amount.map_or_else(|| json!({}), |a| json!({ "amount": a }));
    app.post(&format!("/v1/needs/{need}/approve"), token, body)
        .await
}

async fn decline(app: &TestApp, token: &str, need: i64, reason: &str) -> Answer {
    let body = json!({ "reason": reason });
    app.post(&format!("/v1/needs/{need}/decline"), token, body)
        .await
}

/// The needs `token` lists with `query` (e.g. `?state=open`), in the order
/// answered.
async fn needs_listed(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let a = app.get(&format!("/v1/needs{query}"), token).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    a.body["needs"].as_array().unwrap().clone()
}

async fn need_ids(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    needs_listed(app, token, query)
        .await
        .iter()
        .map(id_of)
        .collect()
}

/// Every audit event, read page by page with the auditor's token.
async fn audit_events(app: &TestApp, auditor: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .get(
                &format!("/v1/audit/events?after={after}&limit=500"),
                auditor,
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        all.extend(page.body["events"].as_array().unwrap().iter().cloned());
        match page.body["next_after"].as_i64() {
            Some(next) => after = next,
            None => return all,
        }
    }
}

/// An event's data: the JSON text the chain hashes, parsed.
fn data_of(event: &Value) -> Value {
    serde_json::from_str(event["data"].as_str().unwrap()).unwrap()
}

fn events_of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

// ---------------------------------------------------------------------------
// A tree for the reach tests
// ---------------------------------------------------------------------------

/// The coordinator → A (members A1, A2; A1 has member A1a) and B (member
/// B1): each row is a name and its parent's row.
const TREE: [(&str, Option<usize>); 6] = [
    ("A", None),
    ("A1", Some(0)),
    ("A2", Some(0)),
    ("A1a", Some(1)),
    ("B", None),
    ("B1", Some(4)),
];

/// The tree as made, with a structure token per structure.
struct Tree {
    ids: Vec<i64>,
    tokens: Vec<String>,
}

impl Tree {
    /// Makes [`TREE`], funds both associations with 10 GB and A1 with 2 GB
    /// from A (so that every association in it has something to pass on).
    async fn build(app: &TestApp) -> Self {
        let mut ids: Vec<i64> = Vec::new();
        let mut tokens = Vec::new();
        for (name, parent) in TREE {
            let id = structure_under(app, name, parent.map(|p| ids[p])).await;
            ids.push(id);
            tokens.push(app.token("structure", Some(id)).await);
        }
        for root in Self::rows().filter(|&i| Self::parent(i).is_none()) {
            app.grant(ids[root], DATA, 10 * GB).await;
        }
        let a = allocate(app, &tokens[0], ids[1], 2 * GB).await;
        assert_transfer(&a, "allocation", ids[0], ids[1], 2 * GB);
        Self { ids, tokens }
    }

    fn rows() -> std::ops::Range<usize> {
        0..TREE.len()
    }

    fn name(i: usize) -> &'static str {
        TREE[i].0
    }

    fn parent(i: usize) -> Option<usize> {
        TREE[i].1
    }

    /// Whether `i` is within `root`'s subtree (itself included).
    fn within(root: usize, i: usize) -> bool {
        let mut at = Some(i);
        while let Some(s) = at {
            if s == root {
                return true;
            }
            at = Self::parent(s);
        }
        false
    }

    /// The ids of `i`'s direct members.
    fn members(&self, i: usize) -> BTreeSet<i64> {
        Self::rows()
            .filter(|&m| Self::parent(m) == Some(i))
            .map(|m| self.ids[m])
            .collect()
    }

    /// Every structure's balance, in row order.
    async fn quotas(&self, app: &TestApp) -> Vec<Quota> {
        let mut all = Vec::new();
        for &id in &self.ids {
            all.push(quota(app, id).await);
        }
        all
    }
}

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Admin,
    Auditor,
    Operator,
    /// The token of [`TREE`]'s row.
    Structure(usize),
}

impl Who {
    fn label(self) -> String {
        match self {
            Self::Structure(i) => Tree::name(i).to_owned(),
            other => format!("{other:?}"),
        }
    }
}

/// Every caller of the reach tests, with its token.
async fn callers(app: &TestApp, tree: &Tree) -> Vec<(Who, String)> {
    let mut all = vec![
        (Who::Admin, app.admin.clone()),
        (Who::Auditor, app.token("auditor", None).await),
        (Who::Operator, app.token("operator", None).await),
    ];
    for i in Tree::rows() {
        all.push((Who::Structure(i), tree.tokens[i].clone()));
    }
    all
}

/// The tree's routes on one structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Route {
    // In the order the matrix runs them: reads first, then allocations,
    // then claw-backs (each target then has what is clawed back).
    Balance,
    Members,
    Allocate,
    ClawBack,
}

impl Route {
    /// The route an API document entry is, or `None` if this test does not
    /// know it.
    fn of(method: &str, path: &str) -> Option<Self> {
        match (method, path) {
            ("GET", "/v1/structures/{id}/balance") => Some(Self::Balance),
            ("GET", "/v1/structures/{id}/members") => Some(Self::Members),
            ("POST", "/v1/structures/{id}/allocations") => Some(Self::Allocate),
            ("POST", "/v1/structures/{id}/clawbacks") => Some(Self::ClawBack),
            _ => None,
        }
    }

    fn moves_quota(self) -> bool {
        matches!(self, Self::Allocate | Self::ClawBack)
    }

    /// Sends it on structure `id` with `token` (transfers of 1 MB).
    async fn send(self, app: &TestApp, token: &str, id: i64) -> Answer {
        match self {
            Self::Balance => {
                app.get(&format!("/v1/structures/{id}/balance"), token)
                    .await
            }
            Self::Members => {
                app.get(&format!("/v1/structures/{id}/members"), token)
                    .await
            }
            Self::Allocate => allocate(app, token, id, 1).await,
            Self::ClawBack => claw_back(app, token, id, 1).await,
        }
    }

    /// The answer the rule gives to `who` on `target` (`None`: a structure
    /// that does not exist). Moving quota: only the target's direct parent
    /// (or the coordinator, for a structure that has a parent). Reading: a
    /// structure whose subtree holds the target, the coordinator, the
    /// auditor. Operators reach nothing.
    fn expected(self, who: Who, target: Option<usize>) -> StatusCode {
        match (who, target) {
            (Who::Operator, _) => StatusCode::FORBIDDEN,
            (Who::Auditor, _) if self.moves_quota() => StatusCode::FORBIDDEN,
            (_, None) => StatusCode::NOT_FOUND,
            (Who::Auditor, Some(_)) => StatusCode::OK,
            (Who::Admin, Some(t)) if self.moves_quota() => match Tree::parent(t) {
                Some(_) => StatusCode::CREATED,
                // A structure under the coordinator gets grants instead.
                None => StatusCode::UNPROCESSABLE_ENTITY,
            },
            (Who::Admin, Some(_)) => StatusCode::OK,
            (Who::Structure(c), Some(t)) if self.moves_quota() => {
                if Tree::parent(t) == Some(c) {
                    StatusCode::CREATED
                } else {
                    StatusCode::NOT_FOUND
                }
            }
            (Who::Structure(c), Some(t)) => {
                if Tree::within(c, t) {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                }
            }
        }
    }
}

/// The tree's routes on one structure, as the API document lists them:
/// every one must be known to [`Route`], so a new route cannot escape the
/// matrix.
async fn tree_routes(app: &TestApp) -> Vec<Route> {
    let doc = app
        .request(Method::GET, "/openapi.json", None, None)
        .await
        .body;
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/structures/{id}/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let tags = op["tags"].as_array().cloned().unwrap_or_default();
            if !tags.iter().any(|t| t == "associations") {
                continue;
            }
            let method = method.to_uppercase();
            let route = Route::of(&method, path)
                .unwrap_or_else(|| panic!("{method} {path}: add it to Route and its rule"));
            found.insert(route);
        }
    }
    let found: Vec<Route> = found.into_iter().collect();
    assert_eq!(
        found,
        [
            Route::Balance,
            Route::Members,
            Route::Allocate,
            Route::ClawBack
        ],
        "the API document's tree routes"
    );
    found
}

// ---------------------------------------------------------------------------
// 1. Concurrent allocations never overdraw the association
// ---------------------------------------------------------------------------

/// 100 GB, 20 concurrent allocations of 10 GB to four members: exactly ten
/// win, ten are refused with `quota_exceeded`, the association is left with
/// nothing and its members hold the whole 100 GB between them.
async fn concurrent_allocations_share_out_exactly_the_quota(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let association = structure_under(&app, "Fédération des épiceries", None).await;
    app.grant(association, DATA, 100 * GB).await;
    let token = app.token("structure", Some(association)).await;
    let mut members = Vec::new();
    for i in 0..4 {
        members.push(structure_under(&app, &format!("Épicerie {i}"), Some(association)).await);
    }

    // Twenty requests, five per member, all in flight at once.
    let sends = (0..20).map(|i| {
        let url = format!("{}/v1/structures/{}/allocations", app.base, members[i % 4]);
        tokio::spawn(post_from_task(
            app.client.clone(),
            url,
            token.clone(),
            transfer_body(10 * GB),
        ))
    });
    let answers: Vec<Answer> = join_all(sends)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let mut won: BTreeMap<i64, i64> = BTreeMap::new();
    let mut transfer_ids = BTreeSet::new();
    let mut refused = 0;
    for a in &answers {
        match a.status {
            StatusCode::CREATED => {
                let to = a.body["to_structure_id"].as_i64().unwrap();
                transfer_ids.insert(assert_transfer(a, "allocation", association, to, 10 * GB));
                *won.entry(to).or_default() += 1;
            }
            StatusCode::CONFLICT => {
                assert_problem(a, StatusCode::CONFLICT, "quota_exceeded");
                refused += 1;
            }
            other => panic!("unexpected {other}: {a:?}"),
        }
    }
    assert_eq!(transfer_ids.len(), 10, "ten allocations made: {answers:#?}");
    assert_eq!(refused, 10, "ten refused");

    assert_eq!(
        quota(&app, association).await,
        Quota {
            granted: 100 * GB,
            sent: 100 * GB,
            ..Quota::default()
        }
    );
    let mut held = 0;
    for m in &members {
        let wins = won.get(m).copied().unwrap_or(0);
        let q = quota(&app, *m).await;
        assert_eq!(
            q,
            Quota {
                received: wins * 10 * GB,
                available: wins * 10 * GB,
                ..Quota::default()
            },
            "member {m}"
        );
        held += q.available;
    }
    assert_eq!(held, 100 * GB);
    // Nothing is left to pass on.
    let more = allocate(&app, &token, members[0], 1).await;
    assert_problem(&more, StatusCode::CONFLICT, "quota_exceeded");
    assert_eq!(quota(&app, association).await.available, 0);

    assert_books_clean(&app).await;
    app.stop().await;
}
both!(concurrent_allocations_share_out_exactly_the_quota);

// ---------------------------------------------------------------------------
// 2. Issuing while the association claws back
// ---------------------------------------------------------------------------

/// A member holding 20 GB issues 1 GB codes (30 requests) while its
/// association claws back 1 GB at a time (10 requests), all at once, with
/// the balance read all the while: every unit goes to exactly one of them
/// (codes × 1 GB + clawed back + available = 20 GB at every read and at the
/// end), the member's available is never negative, and every request is
/// 201 or 409.
async fn issuing_races_claw_backs_without_losing_a_unit(db: Db) {
    const ISSUES: usize = 30;
    const CLAW_BACKS: usize = 10;
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let association = structure_under(&app, "Restos du quartier", None).await;
    app.grant(association, DATA, 40 * GB).await;
    let association_token = app.token("structure", Some(association)).await;
    let member = structure_under(&app, "Antenne Belleville", Some(association)).await;
    let member_token = app.token("structure", Some(member)).await;
    let a = allocate(&app, &association_token, member, 20 * GB).await;
    assert_transfer(&a, "allocation", association, member, 20 * GB);

    // Reads the member's balance until the race is over.
    let over = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (client, base, admin, over) = (
            app.client.clone(),
            app.base.clone(),
            app.admin.clone(),
            Arc::clone(&over),
        );
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !over.load(Ordering::SeqCst) {
                seen.push(quota_at(&client, &base, &admin, member).await);
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            seen
        })
    };

    // Issues and claw-backs interleaved (one claw-back in four requests),
    // all in flight together, request i sent after i ms: a claw-back is
    // answered faster than an issue, and sent all at once the claw-backs
    // would all be done before the first code is issued; spread out, they
    // land between the issues. Claw-backs alone cannot take more than
    // 10 GB.
    let is_issue = |i: usize| i % 4 != 3;
    let sends = (0..ISSUES + CLAW_BACKS).map(|i| {
        let (url, token, body) = if is_issue(i) {
            (
                format!("{}/v1/vouchers", app.base),
                member_token.clone(),
                json!({ "product": "data-1gb", "count": 1 }),
            )
        } else {
            (
                format!("{}/v1/structures/{member}/clawbacks", app.base),
                association_token.clone(),
                transfer_body(GB),
            )
        };
        let client = app.client.clone();
        let task = tokio::spawn(async move {
            let delay = std::time::Duration::from_millis(u64::try_from(i).unwrap());
            tokio::time::sleep(delay).await;
            post_from_task(client, url, token, body).await
        });
        async move { (is_issue(i), task.await.unwrap()) }
    });
    let answers = join_all(sends).await;
    assert_eq!(answers.iter().filter(|(issue, _)| *issue).count(), ISSUES);
    over.store(true, Ordering::SeqCst);
    let seen = watcher.await.unwrap();

    let mut serials = BTreeSet::new();
    let mut clawed = 0;
    for (issue, a) in &answers {
        match a.status {
            StatusCode::CREATED if *issue => {
                let vouchers = a.body["vouchers"].as_array().unwrap();
                assert_eq!(vouchers.len(), 1, "{a:?}");
                serials.insert(vouchers[0]["serial"].as_str().unwrap().to_owned());
            }
            StatusCode::CREATED => {
                assert_transfer(a, "clawback", member, association, GB);
                clawed += GB;
            }
            StatusCode::CONFLICT => assert_problem(a, StatusCode::CONFLICT, "quota_exceeded"),
            other => panic!("unexpected {other}: {a:?}"),
        }
    }
    let issued = i64::try_from(serials.len()).unwrap() * GB;

    // Each request takes 1 GB and 40 GB were asked for: all 20 GB went
    // (a request is refused only once nothing is left), at least half of it
    // to codes, and both sides got some of it.
    assert_eq!(
        issued + clawed,
        20 * GB,
        "codes {issued} MB, clawed {clawed} MB"
    );
    assert!(issued >= 10 * GB, "issued {issued}");
    assert!(clawed > 0, "nothing clawed back: no race");
    let end = quota(&app, member).await;
    assert_eq!(
        end,
        Quota {
            issued,
            received: 20 * GB,
            sent: clawed,
            available: 0,
            ..Quota::default()
        }
    );
    assert_eq!(issued + clawed + end.available, 20 * GB);
    assert!(!seen.is_empty());
    for q in &seen {
        assert!(q.available >= 0, "{q:?}");
        assert_eq!(q.issued + q.sent + q.available, 20 * GB, "{q:?}");
    }
    // The association got back exactly what was clawed back.
    assert_eq!(
        quota(&app, association).await,
        Quota {
            granted: 40 * GB,
            sent: 20 * GB,
            received: clawed,
            available: 20 * GB + clawed,
            ..Quota::default()
        }
    );
    // The member's own view agrees.
    assert_eq!(app.balance(&member_token, DATA).await["available"], 0);

    assert_books_clean(&app).await;
    app.stop().await;
}
both!(issuing_races_claw_backs_without_losing_a_unit);

// ---------------------------------------------------------------------------
// 3. Nobody reaches outside their subtree
// ---------------------------------------------------------------------------

/// Every tree route × every caller (each structure's token, the
/// coordinator, the auditor, an operator) × every structure and one that
/// does not exist: the answer is the rule's, a 404 is the very answer a
/// structure that does not exist gets, and the transfers the rule allows
/// (1 MB down, then 1 MB back) leave every balance where it was.
async fn the_tree_routes_answer_within_reach_only(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let tree = Tree::build(&app).await;
    let callers = callers(&app, &tree).await;
    let routes = tree_routes(&app).await;
    let before = tree.quotas(&app).await;
    let targets: Vec<Option<usize>> = Tree::rows().map(Some).chain([None]).collect();

    let mut found = Findings::default();
    let mut checked = 0;
    for &route in &routes {
        // What a structure that does not exist answers on this route.
        let nowhere = route.send(&app, &tree.tokens[0], NEVER_MADE).await;
        assert_problem(&nowhere, StatusCode::NOT_FOUND, "not_found");
        for (who, token) in &callers {
            for &target in &targets {
                let id = target.map_or(NEVER_MADE, |t| tree.ids[t]);
                let want = route.expected(*who, target);
                let a = route.send(&app, token, id).await;
                checked += 1;
                let case = format!(
                    "{route:?} by {} on {}: {} {}",
                    who.label(),
                    target.map_or("nothing", Tree::name),
                    a.status,
                    a.text
                );
                if want == StatusCode::NOT_FOUND {
                    // Outside reach looks exactly like nothing at all.
                    if a.status != StatusCode::NOT_FOUND || a.body != nowhere.body {
                        found.leaks.push(case);
                    }
                    continue;
                }
                if a.status != want {
                    found.wrong.push(format!("{case} (expected {want})"));
                    continue;
                }
                let t = target.unwrap_or(usize::MAX);
                let right = match (route, a.status) {
                    (Route::Balance, StatusCode::OK) => a.body["structure_id"] == id,
                    (Route::Members, StatusCode::OK) => {
                        let listed: BTreeSet<i64> = a.body["structures"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(id_of)
                            .collect();
                        listed == tree.members(t)
                    }
                    (Route::Allocate, StatusCode::CREATED) => {
                        let parent = tree.ids[Tree::parent(t).unwrap()];
                        assert_transfer(&a, "allocation", parent, id, 1) > 0
                    }
                    (Route::ClawBack, StatusCode::CREATED) => {
                        let parent = tree.ids[Tree::parent(t).unwrap()];
                        assert_transfer(&a, "clawback", id, parent, 1) > 0
                    }
                    (_, StatusCode::UNPROCESSABLE_ENTITY) => {
                        a.code() == Some("validation_failed") && a.body["field"] == "structure_id"
                    }
                    (_, StatusCode::FORBIDDEN) => a.code() == Some("forbidden"),
                    _ => false,
                };
                if !right {
                    found.wrong.push(format!("{case} (wrong body)"));
                }
            }
        }
    }
    assert_eq!(checked, routes.len() * callers.len() * targets.len());
    assert_eq!(checked, 4 * 9 * 7);
    found.assert_none();

    // Each structure with a parent got 1 MB from it and from the
    // coordinator (drawn from the parent), and gave both back; each parent
    // passed on and got back 2 MB per member. Nothing else moved.
    let after = tree.quotas(&app).await;
    for i in Tree::rows() {
        let moves = 2
            * (i64::from(Tree::parent(i).is_some())
                + i64::try_from(tree.members(i).len()).unwrap());
        let expected = Quota {
            received: before[i].received + moves,
            sent: before[i].sent + moves,
            ..before[i]
        };
        assert_eq!(after[i], expected, "{}", Tree::name(i));
    }

    assert_books_clean(&app).await;
    app.stop().await;
}
both!(the_tree_routes_answer_within_reach_only);

/// Whether `who` answers the needs of structure `of`: its direct parent,
/// or the coordinator (anyone's).
fn answers_needs_of(who: Who, of: usize) -> bool {
    match who {
        Who::Admin => true,
        Who::Structure(c) => Tree::parent(of) == Some(c),
        Who::Auditor | Who::Operator => false,
    }
}

/// Needs within reach only: every structure of the tree has an open need
/// and a declined one; each caller lists exactly the needs of its subtree,
/// and for every caller × need, answering is possible only for the need's
/// structure's direct parent (or the coordinator): everyone else gets 404,
/// and their real attempts change nothing.
async fn needs_are_answered_within_reach_only(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let tree = Tree::build(&app).await;
    let callers = callers(&app, &tree).await;
    // Per structure: an open need and one its answerer declined.
    let mut open = Vec::new();
    let mut answered = Vec::new();
    for i in Tree::rows() {
        let token = &tree.tokens[i];
        open.push(id_of(
            &need(&app, token, 100, &format!("Ouvert {}", Tree::name(i))).await,
        ));
        let done = id_of(&need(&app, token, 100, &format!("Refusé {}", Tree::name(i))).await);
        let answerer = Tree::parent(i).map_or(&app.admin, |p| &tree.tokens[p]);
        let d = decline(&app, answerer, done, "Pas ce mois-ci").await;
        assert_eq!(d.status, StatusCode::OK, "{d:?}");
        answered.push(done);
    }
    let before = tree.quotas(&app).await;
    let nowhere = approve(&app, &tree.tokens[0], NEVER_MADE, None).await;
    assert_problem(&nowhere, StatusCode::NOT_FOUND, "not_found");

    let mut found = Findings::default();
    let mut all: Vec<i64> = open.iter().chain(&answered).copied().collect();
    all.sort_unstable();
    for (who, token) in &callers {
        // Listing: exactly the subtree's needs, oldest first.
        let wanted: Vec<i64> = match who {
            Who::Admin | Who::Auditor => all.clone(),
            Who::Operator => {
                let a = app.get("/v1/needs", token).await;
                assert_problem(&a, StatusCode::FORBIDDEN, "forbidden");
                Vec::new()
            }
            Who::Structure(c) => all
                .iter()
                .copied()
                .filter(|n| {
                    Tree::rows().any(|i| Tree::within(*c, i) && [open[i], answered[i]].contains(n))
                })
                .collect(),
        };
        if *who != Who::Operator {
            for query in ["?limit=500", "?state=open", "?state=declined"] {
                let listed = need_ids(&app, token, query).await;
                let expected: Vec<i64> = wanted
                    .iter()
                    .copied()
                    .filter(|n| match query {
                        "?state=open" => open.contains(n),
                        "?state=declined" => answered.contains(n),
                        _ => true,
                    })
                    .collect();
                if listed != expected {
                    let case = format!("needs{query} listed by {}: {listed:?}", who.label());
                    if listed.iter().any(|n| !expected.contains(n)) {
                        found.leaks.push(case);
                    } else {
                        found.wrong.push(format!("{case} (expected {expected:?})"));
                    }
                }
            }
        }

        // Answering: probes that change nothing even when they are
        // allowed, then, for those not allowed, real answers.
        let (refused, refused_code) = match who {
            Who::Auditor | Who::Operator => (StatusCode::FORBIDDEN, "forbidden"),
            _ => (StatusCode::NOT_FOUND, "not_found"),
        };
        for i in Tree::rows() {
            let mine = answers_needs_of(*who, i);
            let case =
                |what: &str| format!("{what} by {} of {}'s need", who.label(), Tree::name(i));
            let (want, code) = if mine {
                (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            } else {
                (refused, refused_code)
            };
            let a = approve(&app, token, open[i], Some(101)).await;
            found.check(&case("approving more than asked"), &a, want, code, &nowhere);
            let (want, code) = if mine {
                (StatusCode::CONFLICT, "need_answered")
            } else {
                (refused, refused_code)
            };
            let a = approve(&app, token, answered[i], None).await;
            found.check(
                &case("approving an answered need"),
                &a,
                want,
                code,
                &nowhere,
            );
            let a = decline(&app, token, answered[i], "Non").await;
            found.check(
                &case("declining an answered need"),
                &a,
                want,
                code,
                &nowhere,
            );
            if !mine {
                let a = approve(&app, token, open[i], None).await;
                found.check(&case("approving"), &a, refused, refused_code, &nowhere);
                let a = decline(&app, token, open[i], "Non").await;
                found.check(&case("declining"), &a, refused, refused_code, &nowhere);
            }
        }
    }
    // 9 callers × 6 structures × 3 probes, and 2 real answers for each of
    // the 44 pairs where the caller does not answer (the coordinator
    // answers all 6 structures, A for A1 and A2, A1 for A1a, B for B1).
    assert_eq!(found.checked, 9 * 6 * 3 + (9 * 6 - 10) * 2);
    found.assert_none();

    // None of it answered a need or moved quota.
    assert_eq!(need_ids(&app, &app.admin, "?state=open").await, open);
    assert_eq!(
        need_ids(&app, &app.admin, "?state=declined").await,
        answered
    );
    assert!(
        need_ids(&app, &app.admin, "?state=approved")
            .await
            .is_empty()
    );
    assert_eq!(tree.quotas(&app).await, before);

    assert_books_clean(&app).await;
    app.stop().await;
}
both!(needs_are_answered_within_reach_only);

// ---------------------------------------------------------------------------
// 4. A need's answers
// ---------------------------------------------------------------------------

/// A member's needs: one approved in part (allocated at once), one declined
/// with a reason the member reads, one approved when the association lacks
/// the quota (refused, nothing changes, still open), none answered twice;
/// the association's own need is the coordinator's to approve, with a
/// grant.
async fn needs_are_approved_in_part_declined_and_answered_once(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let association = structure_under(&app, "Secours de quartier", None).await;
    app.grant(association, DATA, 10 * GB).await;
    let a_token = app.token("structure", Some(association)).await;
    let member = structure_under(&app, "Antenne des Lilas", Some(association)).await;
    let m_token = app.token("structure", Some(member)).await;
    let auditor = app.token("auditor", None).await;

    // Only a structure reports a need, and what it reports is checked.
    let body =
        json!({ "operator_id": FIRST_NETWORK, "resource": DATA, "amount": GB, "reason": "x" });
    for token in [&app.admin, &auditor] {
        let a = app.post("/v1/needs", token, body.clone()).await;
        assert_problem(&a, StatusCode::FORBIDDEN, "forbidden");
    }
    assert_invalid(&report_need(&app, &m_token, 0, "Rien").await, "amount");
    assert_invalid(&report_need(&app, &m_token, GB, "   ").await, "reason");
    let mut zero_people = body.clone();
    zero_people["people"] = json!(0);
    assert_invalid(
        &app.post("/v1/needs", &m_token, zero_people).await,
        "people",
    );

    // Asked 5 GB for twelve people; given 2 GB.
    let mut ask = body.clone();
    ask["amount"] = json!(5 * GB);
    ask["people"] = json!(12);
    ask["reason"] = json!("Familles hébergées à l'hôtel");
    let reported = app.post("/v1/needs", &m_token, ask).await;
    assert_eq!(reported.status, StatusCode::CREATED, "{reported:?}");
    let n = &reported.body;
    assert_eq!(n["structure_id"], member);
    assert_eq!(n["structure_name"], "Antenne des Lilas");
    assert_eq!(n["operator_id"], FIRST_NETWORK);
    assert_eq!(n["resource"], DATA);
    assert_eq!(n["amount"], 5 * GB);
    assert_eq!(n["people"], 12);
    assert_eq!(n["reason"], "Familles hébergées à l'hôtel");
    assert_eq!(n["state"], "open");
    assert_eq!(n["approved_amount"], Value::Null);
    assert_eq!(n["answer"], Value::Null);
    assert_eq!(n["answered_at"], Value::Null);
    assert!(n["created_at"].is_string(), "{n}");
    let partial = id_of(n);
    // A member does not answer its own need.
    let own = approve(&app, &m_token, partial, None).await;
    assert_problem(&own, StatusCode::NOT_FOUND, "not_found");
    // More than asked is refused.
    let more = approve(&app, &a_token, partial, Some(5 * GB + 1)).await;
    assert_invalid(&more, "amount");
    let a = approve(&app, &a_token, partial, Some(2 * GB)).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.body["id"], partial);
    assert_eq!(a.body["state"], "approved");
    assert_eq!(a.body["amount"], 5 * GB);
    assert_eq!(a.body["approved_amount"], 2 * GB);
    assert_eq!(a.body["answer"], Value::Null);
    assert!(a.body["answered_at"].is_string(), "{a:?}");
    assert_eq!(
        quota(&app, member).await,
        Quota {
            received: 2 * GB,
            available: 2 * GB,
            ..Quota::default()
        }
    );
    assert_eq!(
        quota(&app, association).await,
        Quota {
            granted: 10 * GB,
            sent: 2 * GB,
            available: 8 * GB,
            ..Quota::default()
        }
    );

    // Answered once: approving or declining again is refused and gives
    // nothing.
    let again = approve(&app, &a_token, partial, None).await;
    assert_problem(&again, StatusCode::CONFLICT, "need_answered");
    let again = approve(&app, &app.admin, partial, Some(GB)).await;
    assert_problem(&again, StatusCode::CONFLICT, "need_answered");
    let again = decline(&app, &a_token, partial, "Finalement non").await;
    assert_problem(&again, StatusCode::CONFLICT, "need_answered");
    assert_eq!(quota(&app, member).await.received, 2 * GB);
    assert_eq!(quota(&app, association).await.available, 8 * GB);

    // Declined with a reason the member reads.
    let declined = id_of(&need(&app, &m_token, GB, "Atelier numérique").await);
    let why = "Le quota du mois est déjà réparti";
    let d = decline(&app, &a_token, declined, why).await;
    assert_eq!(d.status, StatusCode::OK, "{d:?}");
    assert_eq!(d.body["state"], "declined");
    assert_eq!(d.body["answer"], why);
    assert_eq!(d.body["approved_amount"], Value::Null);
    let again = approve(&app, &a_token, declined, None).await;
    assert_problem(&again, StatusCode::CONFLICT, "need_answered");
    let seen = needs_listed(&app, &m_token, "").await;
    let mine = seen.iter().find(|n| n["id"] == declined).unwrap();
    assert_eq!(mine["state"], "declined");
    assert_eq!(mine["answer"], why);
    assert_eq!(
        need_ids(&app, &m_token, "?state=declined").await,
        [declined]
    );
    assert_eq!(need_ids(&app, &m_token, "?state=approved").await, [partial]);

    // More than the association has: refused, nothing changes, still
    // open, and still answerable.
    let big = id_of(&need(&app, &m_token, 20 * GB, "Distribution d'hiver").await);
    let (a_before, m_before) = (quota(&app, association).await, quota(&app, member).await);
    let short = approve(&app, &a_token, big, None).await;
    assert_problem(&short, StatusCode::CONFLICT, "quota_exceeded");
    let short = approve(&app, &a_token, big, Some(8 * GB + 1)).await;
    assert_problem(&short, StatusCode::CONFLICT, "quota_exceeded");
    assert_eq!(quota(&app, association).await, a_before);
    assert_eq!(quota(&app, member).await, m_before);
    let still = needs_listed(&app, &m_token, "?state=open").await;
    assert_eq!(still.len(), 1, "{still:?}");
    assert_eq!(still[0]["id"], big);
    assert_eq!(still[0]["state"], "open");
    assert_eq!(still[0]["approved_amount"], Value::Null);
    assert_eq!(still[0]["answered_at"], Value::Null);
    // All the association has is given.
    let all_of_it = approve(&app, &a_token, big, Some(8 * GB)).await;
    assert_eq!(all_of_it.status, StatusCode::OK, "{all_of_it:?}");
    assert_eq!(all_of_it.body["approved_amount"], 8 * GB);
    assert_eq!(quota(&app, association).await.available, 0);
    assert_eq!(quota(&app, member).await.available, 10 * GB);

    // The association's own need: the coordinator approves it with a
    // grant; the association cannot approve it itself.
    let root = id_of(&need(&app, &a_token, 3 * GB, "Nouveaux bénévoles").await);
    let own = approve(&app, &a_token, root, None).await;
    assert_problem(&own, StatusCode::NOT_FOUND, "not_found");
    let by_auditor = approve(&app, &auditor, root, None).await;
    assert_problem(&by_auditor, StatusCode::FORBIDDEN, "forbidden");
    let granted = approve(&app, &app.admin, root, None).await;
    assert_eq!(granted.status, StatusCode::OK, "{granted:?}");
    assert_eq!(granted.body["state"], "approved");
    assert_eq!(granted.body["approved_amount"], 3 * GB);
    assert_eq!(
        quota(&app, association).await,
        Quota {
            granted: 13 * GB,
            sent: 10 * GB,
            available: 3 * GB,
            ..Quota::default()
        }
    );
    // The coordinator approving a member's need allocates from its
    // association, and grants nothing.
    let via_admin = id_of(&need(&app, &m_token, GB, "Permanence du samedi").await);
    let a = approve(&app, &app.admin, via_admin, None).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(
        quota(&app, association).await,
        Quota {
            granted: 13 * GB,
            sent: 11 * GB,
            available: 2 * GB,
            ..Quota::default()
        }
    );
    assert_eq!(
        quota(&app, member).await,
        Quota {
            received: 11 * GB,
            available: 11 * GB,
            ..Quota::default()
        }
    );

    // Oldest first, for whoever lists them; the member sees its own only.
    let everything = vec![partial, declined, big, root, via_admin];
    assert_eq!(need_ids(&app, &app.admin, "").await, everything);
    assert_eq!(need_ids(&app, &auditor, "").await, everything);
    assert_eq!(need_ids(&app, &a_token, "").await, everything);
    assert_eq!(
        need_ids(&app, &m_token, "").await,
        [partial, declined, big, via_admin]
    );
    assert_eq!(
        need_ids(&app, &app.admin, "?limit=2").await,
        everything[..2].to_vec()
    );
    assert_invalid(
        &app.get("/v1/needs?state=closed", &app.admin).await,
        "state",
    );
    // Every approval and refusal is in the audit trail.
    let events = audit_events(&app, &auditor).await;
    assert_eq!(events_of(&events, "need_reported").len(), 5);
    assert_eq!(events_of(&events, "need_approved").len(), 4);
    assert_eq!(events_of(&events, "need_declined").len(), 1);

    assert_books_clean(&app).await;
    app.stop().await;
}
both!(needs_are_approved_in_part_declined_and_answered_once);

// ---------------------------------------------------------------------------
// 5. The tree's rules, the audit trail and the command line
// ---------------------------------------------------------------------------

/// At most three levels, no structure under itself or its members, a
/// parent that exists; moves are the coordinator's and are recorded; the
/// command line registers under a parent, allocates and claws back.
async fn the_tree_keeps_its_shape_and_records_its_moves(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let auditor = app.token("auditor", None).await;
    let r = structure_under(&app, "Réseau", None).await;
    let c = structure_under(&app, "Branche", Some(r)).await;
    let g = structure_under(&app, "Partenaire", Some(c)).await;
    let s = structure_under(&app, "Second réseau", None).await;
    let t = structure_under(&app, "Seconde branche", Some(s)).await;
    let r_token = app.token("structure", Some(r)).await;
    let s_token = app.token("structure", Some(s)).await;

    // A fourth level, or a parent that does not exist, is refused.
    assert_invalid(
        &create_structure(&app, "Quatrième", Some(g)).await,
        "parent_id",
    );
    assert_invalid(
        &create_structure(&app, "Orpheline", Some(NEVER_MADE)).await,
        "parent_id",
    );

    let admin = app.admin.as_str();
    // Under itself or one of its members, or too deep: refused.
    for (id, parent, why) in [
        (r, r, "itself"),
        (r, c, "its member"),
        (r, g, "its member's member"),
        (c, g, "its member"),
        (c, t, "two levels under a branch: four"),
        (r, s, "three levels under an association: four"),
    ] {
        let a = move_structure(&app, admin, id, Some(parent)).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {a:?}");
        assert_invalid(&a, "parent_id");
    }
    assert_invalid(
        &move_structure(&app, admin, t, Some(NEVER_MADE)).await,
        "parent_id",
    );
    let nothing = move_structure(&app, admin, NEVER_MADE, None).await;
    assert_problem(&nothing, StatusCode::NOT_FOUND, "not_found");
    // Moves are the coordinator's.
    for token in [&r_token, &s_token, &auditor] {
        let a = move_structure(&app, token, c, Some(s)).await;
        assert_problem(&a, StatusCode::FORBIDDEN, "forbidden");
    }

    // The branch and its partner go to the second network.
    let moved = move_structure(&app, admin, c, Some(s)).await;
    assert_eq!(moved.status, StatusCode::OK, "{moved:?}");
    assert_eq!(moved.body["id"], c);
    assert_eq!(moved.body["name"], "Branche");
    assert_eq!(moved.body["parent_id"], s);
    // Reach follows the move: the partner is now the second network's.
    let path = format!("/v1/structures/{g}/balance");
    assert_eq!(app.get(&path, &s_token).await.status, StatusCode::OK);
    let gone = app.get(&path, &r_token).await;
    assert_problem(&gone, StatusCode::NOT_FOUND, "not_found");
    let members = app
        .get(&format!("/v1/structures/{s}/members"), &s_token)
        .await;
    let ids: BTreeSet<i64> = members.body["structures"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, BTreeSet::from([c, t]));
    // The partner goes up to the coordinator.
    let up = move_structure(&app, admin, g, None).await;
    assert_eq!(up.status, StatusCode::OK, "{up:?}");
    assert_eq!(up.body["parent_id"], Value::Null);

    // Exactly the two moves made are recorded, with where from and to.
    let events = audit_events(&app, &auditor).await;
    let moves: Vec<(Value, Value)> = events_of(&events, "structure_moved")
        .iter()
        .map(|e| (e["structure_id"].clone(), data_of(e)))
        .collect();
    assert_eq!(
        moves,
        [
            (json!(c), json!({ "from_parent_id": r, "parent_id": s })),
            (json!(g), json!({ "from_parent_id": c, "parent_id": null })),
        ]
    );

    // The command line, on the same database and key file.
    let keys = app.dir.path().join("test.keys");
    let run = |args: &[&str]| cli(&app.database_url, &keys, args);
    let added = run(&[
        "structure",
        "add",
        "Antenne en ligne",
        "--parent",
        &s.to_string(),
    ]);
    assert!(added.ok(), "{added:?}");
    let new: i64 = added.last_line().parse().unwrap();
    let listed = app
        .get(&format!("/v1/structures/{s}/members"), &app.admin)
        .await;
    let listed = listed.body["structures"].as_array().unwrap().clone();
    let entry = listed.iter().find(|m| m["id"] == new).unwrap();
    assert_eq!(entry["parent_id"], s);
    assert_eq!(entry["name"], "Antenne en ligne");
    // A fourth level from the command line is refused too.
    let deep = run(&[
        "structure",
        "add",
        "Partenaire en ligne",
        "--parent",
        &c.to_string(),
    ]);
    assert!(deep.ok(), "{deep:?}");
    let deep_id = deep.last_line().to_owned();
    let fourth = run(&["structure", "add", "Quatrième", "--parent", &deep_id]);
    assert!(!fourth.ok(), "{fourth:?}");

    app.grant(s, DATA, 10 * GB).await;
    let network = FIRST_NETWORK.to_string();
    let new_id = new.to_string();
    let given = run(&["allocate", &new_id, "--operator-id", &network, DATA, "3072"]);
    assert!(given.ok(), "{given:?}");
    let allocation: i64 = given.last_line().parse().unwrap();
    let back = run(&["clawback", &new_id, "--operator-id", &network, DATA, "1024"]);
    assert!(back.ok(), "{back:?}");
    let clawback: i64 = back.last_line().parse().unwrap();
    assert_ne!(allocation, clawback);
    let held = Quota {
        received: 3 * GB,
        sent: GB,
        available: 2 * GB,
        ..Quota::default()
    };
    assert_eq!(quota(&app, new).await, held);
    let left = Quota {
        granted: 10 * GB,
        sent: 3 * GB,
        received: GB,
        available: 8 * GB,
        ..Quota::default()
    };
    assert_eq!(quota(&app, s).await, left);
    // More than the member holds, or to a structure without an
    // association: refused, nothing moves.
    let too_much = run(&["clawback", &new_id, "--operator-id", &network, DATA, "4096"]);
    assert!(!too_much.ok(), "{too_much:?}");
    let no_parent = run(&[
        "allocate",
        &s.to_string(),
        "--operator-id",
        &network,
        DATA,
        "1",
    ]);
    assert!(!no_parent.ok(), "{no_parent:?}");
    assert_eq!(quota(&app, new).await, held);
    assert_eq!(quota(&app, s).await, left);
    // The transfers' events name the ids the command line printed.
    let events = audit_events(&app, &auditor).await;
    let transfer_ids = |kind: &str| -> Vec<(Value, Value)> {
        events_of(&events, kind)
            .iter()
            .map(|e| (data_of(e)["transfer_id"].clone(), e["structure_id"].clone()))
            .collect()
    };
    assert_eq!(
        transfer_ids("allocation"),
        [(json!(allocation), json!(new))]
    );
    assert_eq!(transfer_ids("clawback"), [(json!(clawback), json!(new))]);
    // And the command line moves a structure back up to the coordinator.
    let up = run(&["structure", "move", &new_id]);
    assert!(up.ok(), "{up:?}");
    let listed = app
        .get(&format!("/v1/structures/{s}/members"), &app.admin)
        .await;
    assert!(
        !listed.body["structures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == new),
        "{listed:?}"
    );
    let events = audit_events(&app, &auditor).await;
    assert_eq!(events_of(&events, "structure_moved").len(), 3);

    assert_books_clean(&app).await;
    app.stop().await;
}
both!(the_tree_keeps_its_shape_and_records_its_moves);
