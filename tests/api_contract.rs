//! The wire contract beyond the happy path, on SQLite and PostgreSQL: every
//! error under `/v1` is a problem (path parameters, media types), the desk
//! answers its own pages even for requests refused before a handler runs,
//! and the OpenAPI document says what the server really does.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::{Answer, Db, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Sends `body` with this `Content-Type` (or none).
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Answer {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.base))
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    common::read(req.send().await.unwrap()).await
}

#[track_caller]
fn assert_problem(a: &Answer, status: StatusCode, code: &str, what: &str) {
    assert_eq!(a.status, status, "{what}: {a:?}");
    assert!(a.is_problem(), "{what}: not problem+json: {a:?}");
    assert_eq!(a.code(), Some(code), "{what}: {a:?}");
    assert_eq!(a.body["status"], status.as_u16(), "{what}: {a:?}");
}

async fn path_parameters_that_do_not_decode_are_problems(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (s_id, structure) = app.funded_structure("Centre", 1024).await;
    let operator = app.token("operator", None).await;
    let cases = [
        (Method::GET, "/v1/vouchers/%FF", &structure, "serial"),
        (
            Method::GET,
            "/v1/vouchers/%FF%FE/qr.svg",
            &structure,
            "serial",
        ),
        (Method::POST, "/v1/vouchers/%C3/void", &structure, "serial"),
        (Method::POST, "/v1/redemptions/%FF/confirm", &operator, "id"),
        (Method::POST, "/v1/redemptions/%FF/cancel", &operator, "id"),
        (Method::POST, "/v1/redemptions/%FF/reverse", &operator, "id"),
        (Method::DELETE, "/v1/tokens/%FF", &app.admin, "id"),
    ];
    for (method, path, token, field) in cases {
        let a = app.request(method.clone(), path, Some(token), None).await;
        let what = format!("{method} {path}");
        assert_problem(
            &a,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            &what,
        );
        assert_eq!(a.body["field"], field, "{what}: {a:?}");
    }
    let a = app
        .post(
            "/v1/structures/%FF/grants",
            &app.admin,
            json!({ "operator_id": 1, "resource": "data_mb", "amount": 1 }),
        )
        .await;
    assert_problem(
        &a,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "grant",
    );
    assert_eq!(a.body["field"], "id", "{a:?}");
    // Nothing was granted by the refused request.
    assert_eq!(app.balance(&structure, "data_mb").await["granted"], 1024);
    let _ = s_id;
    app.stop().await;
}
both!(path_parameters_that_do_not_decode_are_problems);

async fn json_bodies_need_a_json_media_type(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let body = json!({ "name": "Refusée" }).to_string();
    for content_type in [
        Some("text/plain"),
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
        Some("application/+json"),
    ] {
        let a = send_raw(
            &app,
            Method::POST,
            "/v1/structures",
            Some(&app.admin),
            content_type,
            body.clone(),
        )
        .await;
        let what = format!("sent as {content_type:?}");
        assert_problem(
            &a,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            &what,
        );
    }
    let listed = app.get("/v1/structures", &app.admin).await;
    assert_eq!(listed.body["structures"], json!([]), "{listed:?}");
    for content_type in [
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/vnd.example+json",
    ] {
        let a = send_raw(
            &app,
            Method::POST,
            "/v1/structures",
            Some(&app.admin),
            Some(content_type),
            json!({ "name": content_type }).to_string(),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{content_type}: {a:?}");
    }
    app.stop().await;
}
both!(json_bodies_need_a_json_media_type);

async fn reconciliation_reads_csv_only(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let auditor = app.token("auditor", None).await;
    let path = "/v1/audit/reconcile?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z";
    let csv = format!("{}\n", relay_topup::http::redemptions::STATEMENT_CSV_HEADER);
    for content_type in [Some("application/json"), Some("text/plain"), None] {
        let a = send_raw(
            &app,
            Method::POST,
            path,
            Some(&auditor),
            content_type,
            csv.clone(),
        )
        .await;
        let what = format!("sent as {content_type:?}");
        assert_problem(
            &a,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            &what,
        );
    }
    let a = send_raw(
        &app,
        Method::POST,
        path,
        Some(&auditor),
        Some("text/csv; charset=utf-8"),
        csv,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.body["statement_lines"], 0, "{a:?}");
    app.stop().await;
}
both!(reconciliation_reads_csv_only);

async fn desk_forms_over_the_body_limit_get_the_desk_error_page(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let form = format!("token={}", "a".repeat(20 * 1024));
    // Sign-in reads its form before any session check; the other forms
    // share the same layer.
    for path in ["/desk/sign-in"] {
        let a = send_raw(
            &app,
            Method::POST,
            path,
            None,
            Some("application/x-www-form-urlencoded"),
            form.clone(),
        )
        .await;
        assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {a:?}");
        let content_type = a.headers["content-type"].to_str().unwrap();
        assert!(content_type.starts_with("text/html"), "{path}: {a:?}");
        assert!(
            a.text.contains("La demande n’est pas valide"),
            "{path}: {}",
            a.text
        );
    }
    let a = app
        .request(Method::GET, "/desk/vouchers/%FF", None, None)
        .await;
    assert!(
        a.status.is_redirection()
            || a.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
        "{a:?}"
    );
    app.stop().await;
}
both!(desk_forms_over_the_body_limit_get_the_desk_error_page);

/// JSON Schema counts `30.0` as an integer, and so does the document: an
/// integer field sent with a zero fraction is read as that integer; a real
/// fraction is still refused.
async fn integers_may_be_written_with_a_zero_fraction(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let product = |validity: &str| {
        format!(
            r#"{{"id":"data-2gb","operator_id":1,"family":"data","resource":"data_mb","amount":2048.0,
                "validity_days":{validity},"code_validity_days":90,
                "label_fr":"2 Go","label_en":"2 GB"}}"#
        )
    };
    let post = |body: String| {
        send_raw(
            &app,
            Method::POST,
            "/v1/products",
            Some(&app.admin),
            Some("application/json"),
            body,
        )
    };
    let a = post(product("30.0")).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    assert_eq!(a.body["validity_days"], 30, "{a:?}");
    assert_eq!(a.body["amount"], 2048, "{a:?}");
    let a = post(product("30.5")).await;
    assert_problem(
        &a,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "30.5",
    );
    assert_eq!(a.body["field"], "validity_days", "{a:?}");
    let a = post(product("1e300")).await;
    assert_problem(
        &a,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "1e300",
    );
    // The second reading is as strict as the first: a field given twice is
    // refused, not read as its last value.
    let a = post(product("30.0, \"validity_days\": 7")).await;
    assert_problem(
        &a,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "duplicate field",
    );
    app.stop().await;
}
both!(integers_may_be_written_with_a_zero_fraction);

/// The served document, checked for what clients and generators rely on:
/// every error is problem+json, parameters are where they are sent, every
/// operation documents the answers it can really give.
async fn the_document_describes_the_wire(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let doc = app
        .request(Method::GET, "/openapi.json", None, None)
        .await
        .body;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let in_template: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let what = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                let content = response["content"].as_object();
                if status.starts_with('4') || status.starts_with('5') {
                    let types: Vec<&String> = content.unwrap().keys().collect();
                    assert_eq!(types, ["application/problem+json"], "{what} {status}");
                    assert_eq!(
                        response["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{what} {status}"
                    );
                }
                if status == "429" {
                    assert!(response["headers"]["Retry-After"].is_object(), "{what}");
                }
            }
            for status in ["500", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{what} documents no {status}"
                );
            }
            let public = op["tags"][0] == "public";
            for status in ["401", "403"] {
                assert_eq!(responses.contains_key(status), !public, "{what}: {status}");
            }
            if op.get("requestBody").is_some() {
                for status in ["413", "415", "422"] {
                    assert!(
                        responses.contains_key(status),
                        "{what} documents no {status}"
                    );
                }
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for p in &params {
                let name = p["name"].as_str().unwrap();
                if p["in"] == "path" {
                    assert!(
                        in_template.contains(&name),
                        "{what}: {name} is not in the path"
                    );
                    assert_eq!(p["required"], true, "{what}: {name}");
                }
            }
            for name in &in_template {
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == *name && p["in"] == "path"),
                    "{what}: {name} undocumented"
                );
            }
            if !params.is_empty() {
                assert!(responses.contains_key("422"), "{what} documents no 422");
            }
        }
    }
    assert!(operations >= 29, "{operations} operations");

    // The query parameters, where they are sent, required only when needed.
    let query = |method: &str, path: &str| -> Vec<(String, bool)> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} has no parameters"))
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["required"] == true,
                )
            })
            .collect()
    };
    let expect = |list: &[(&str, bool)]| -> Vec<(String, bool)> {
        list.iter().map(|(n, r)| ((*n).to_owned(), *r)).collect()
    };
    let page = [("after", false), ("limit", false)];
    assert_eq!(
        query("get", "/v1/vouchers"),
        expect(&[("state", false), ("cursor", false), ("limit", false)])
    );
    assert_eq!(
        query("get", "/v1/redemptions"),
        expect(&[
            ("from", false),
            ("to", false),
            ("cursor", false),
            ("limit", false)
        ])
    );
    assert_eq!(
        query("get", "/v1/audit/report"),
        expect(&[("from", false), ("to", false)])
    );
    assert_eq!(query("get", "/v1/audit/events"), expect(&page));
    assert_eq!(query("get", "/v1/audit/checkpoints"), expect(&page));
    assert_eq!(
        query("post", "/v1/audit/reconcile"),
        expect(&[("from", false), ("to", false), ("operator_id", false)])
    );

    // Both forms of the statement; CSV in for reconciliation.
    let statement = &doc["paths"]["/v1/redemptions"]["get"]["responses"]["200"]["content"];
    assert_eq!(
        statement["application/json"]["schema"]["$ref"],
        "#/components/schemas/Statement"
    );
    assert!(statement["text/csv"].is_object(), "{statement}");
    let reconcile = &doc["paths"]["/v1/audit/reconcile"]["post"]["requestBody"]["content"];
    assert!(reconcile["text/csv"].is_object(), "{reconcile}");

    // Links lead from what is created to the operations on it.
    let links = &doc["paths"]["/v1/redemptions"]["post"]["responses"]["201"]["links"];
    assert_eq!(links["confirm"]["operationId"], "confirm", "{links}");
    assert_eq!(
        links["confirm"]["parameters"]["id"], "$response.body#/id",
        "{links}"
    );
    let links = &doc["paths"]["/v1/vouchers"]["post"]["responses"]["201"]["links"];
    assert_eq!(links["void"]["operationId"], "void", "{links}");

    // The limits the server enforces.
    let schemas = &doc["components"]["schemas"];
    let count = &schemas["IssueBody"]["properties"]["count"];
    assert_eq!(
        (count["minimum"].as_i64(), count["maximum"].as_i64()),
        (Some(1), Some(100))
    );
    let limit = doc["paths"]["/v1/vouchers"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()["schema"]
        .clone();
    assert_eq!(
        (limit["minimum"].as_i64(), limit["maximum"].as_i64()),
        (Some(1), Some(500))
    );
    let msisdn = schemas["RedeemBody"]["properties"]["msisdn"]["pattern"]
        .as_str()
        .unwrap();
    assert_eq!(msisdn, r"^\+[1-9][0-9]{7,14}$");
    assert_eq!(
        schemas["StructureBody"]["properties"]["name"]["maxLength"],
        200
    );
    app.stop().await;
}
both!(the_document_describes_the_wire);
