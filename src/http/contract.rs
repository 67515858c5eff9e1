//! The parts of the OpenAPI document that hold for every operation, added
//! once here rather than repeated (and forgotten) on each: errors are
//! `application/problem+json`; authenticated operations answer 401 and 403;
//! bodies can be too large, of the wrong media type or invalid; parameters
//! can be invalid; 429s carry `Retry-After`; anything can fail with 500 or
//! 503. Then the limits the server was started with, so that the document
//! served is the contract of this very server.

use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, Header, OpenApi, Ref, RefOr, Response, ResponseBuilder};

use super::net::PROBLEM_JSON;
use crate::config::Limits;

/// Statuses every operation can answer, and why.
const ALWAYS: [(&str, &str); 3] = [
    (
        "500",
        "`internal`: a failure on the server's side, logged; no detail",
    ),
    (
        "503",
        "`unavailable`, `database_unavailable`, `request_timeout`, `busy` or \
         `integrity_hold`: try again later",
    ),
    (
        "507",
        "`storage_full`: the database has no space left; nothing was changed",
    ),
];
/// Statuses of operations that need a token.
const AUTHENTICATED: [(&str, &str); 2] = [
    ("401", "`unauthorized`: no valid bearer token"),
    ("403", "`forbidden`: a token of another role"),
];
/// Statuses of operations that read a body.
const WITH_BODY: [(&str, &str); 3] = [
    (
        "413",
        "`payload_too_large`: the body is over the size limit",
    ),
    (
        "415",
        "`unsupported_media_type`: the body is not of the documented media type",
    ),
    ("422", "`validation_failed`, naming the `field` at fault"),
];
/// Statuses of operations with parameters.
const WITH_PARAMETERS: [(&str, &str); 1] =
    [("422", "`validation_failed`, naming the parameter at fault")];

/// Where a creation leads: OpenAPI links from the 201 of `POST path` to the
/// operations on what it created (their operation ids, the parameter they
/// take, and where the answer holds its value). Clients and Schemathesis's
/// stateful phase follow them. Added to the JSON document: utoipa 5 writes
/// a link's `operationId` as `operation_id`.
const LINKS: [(&str, [&str; 3], &str, &str); 2] = [
    (
        "/v1/vouchers",
        ["read", "qr_svg", "void"],
        "serial",
        "$response.body#/vouchers/0/serial",
    ),
    (
        "/v1/redemptions",
        ["confirm", "cancel", "reverse"],
        "id",
        "$response.body#/id",
    ),
];

/// Adds the shared answers to every operation of `doc`.
pub fn add_shared_responses(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            complete(op);
        }
    }
}

fn complete(op: &mut Operation) {
    // Public operations say so with an empty security requirement.
    let public = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()));
    let mut shared: Vec<(&str, &str)> = ALWAYS.to_vec();
    if !public {
        shared.extend(AUTHENTICATED);
    }
    if op.request_body.is_some() {
        shared.extend(WITH_BODY);
    }
    if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        shared.extend(WITH_PARAMETERS);
    }
    let responses = &mut op.responses.responses;
    for (status, description) in shared {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem_response(description)));
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if status.starts_with('4') || status.starts_with('5') {
            as_problem(response);
        }
        if status == "429" {
            response
                .headers
                .insert("Retry-After".to_owned(), retry_after_header());
        }
    }
}

fn problem_schema() -> RefOr<utoipa::openapi::Schema> {
    RefOr::Ref(Ref::from_schema_name("Problem"))
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, Content::new(Some(problem_schema())))
        .build()
}

/// An error answer's body is a problem, whatever the annotation said.
fn as_problem(response: &mut Response) {
    let schema = response
        .content
        .shift_remove("application/json")
        .and_then(|c| c.schema)
        .unwrap_or_else(problem_schema);
    response.content.clear();
    response
        .content
        .insert(PROBLEM_JSON.to_owned(), Content::new(Some(schema)));
}

fn retry_after_header() -> Header {
    let mut header = Header::new(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .build(),
    );
    header.description = Some("Seconds to wait before trying again".to_owned());
    header
}

/// The document as this server serves it: the links, and the bounds that
/// come from its configuration (codes per request, page sizes,
/// Idempotency-Key length) set to the configured values.
pub fn with_limits(doc: &OpenApi, limits: &Limits) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or(Value::Null);
    let count = &mut doc["components"]["schemas"]["IssueBody"]["properties"]["count"];
    if count.is_object() {
        count["maximum"] = limits.max_issue_count.into();
        count["description"] = format!(
            "How many codes, 1 to {} on this server (default limit 100).",
            limits.max_issue_count
        )
        .into();
    }
    for (path, operation_ids, parameter, value) in LINKS {
        let response = &mut doc["paths"][path]["post"]["responses"]["201"];
        if !response.is_object() {
            continue;
        }
        for operation_id in operation_ids {
            response["links"][operation_id] = serde_json::json!({
                "operationId": operation_id,
                "parameters": { parameter: value },
            });
        }
    }
    if let Some(paths) = doc["paths"].as_object_mut() {
        for op in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut())
        {
            let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                continue;
            };
            for param in params {
                match (param["name"].as_str(), param["in"].as_str()) {
                    (Some("limit"), Some("query")) => {
                        param["schema"]["maximum"] = limits.max_page_size.into();
                    }
                    (Some("Idempotency-Key"), Some("header")) => {
                        param["schema"]["maxLength"] = limits.max_idempotency_key_chars.into();
                    }
                    _ => {}
                }
            }
        }
    }
    doc
}
