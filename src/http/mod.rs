//! The HTTP layer: routes, authentication, and the mapping of every error to
//! an RFC 9457 problem. The only layer that knows status codes. Handlers
//! extract and check a request's shape, call one use case of
//! [`crate::app`], and render its answer.
//!
//! Each area has its own `router()`; [`router`] joins them. Routes are
//! registered together with their OpenAPI description (utoipa-axum), so the
//! document served at `/openapi.json` lists exactly the routes served.

pub mod accounts;
pub mod admin;
pub mod associations;
pub mod audit;
pub mod contract;
pub mod donor;
pub mod error;
pub mod extract;
pub mod lines;
pub mod lots;
pub mod needs;
pub mod net;
pub mod operators;
pub mod ops;
pub mod redemptions;
pub mod tree_caller;
pub mod unique_keys;
pub mod vouchers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::metrics::{RequestLabels, RouteLabels};
use error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(title = "relay-topup", description = "Prepaid mobile top-up codes for social structures. \
        Each operation's tag names the token role it requires (`public`: none)."),
    components(schemas(error::ProblemBody)),
    modifiers(&BearerAuth),
    tags((name = "admin"), (name = "structure"), (name = "operator"), (name = "auditor"),
        (name = "accounts", description = "admin or structure tokens"),
        (name = "associations", description = "admin or structure tokens, within the caller's subtree; auditors read"), (name = "reports", description = "admin or auditor tokens"), (name = "public"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The API's routes and their OpenAPI document, before state is attached.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(admin::router())
        .merge(accounts::router())
        .merge(associations::router())
        .merge(needs::router())
        .merge(operators::router())
        .merge(lines::router())
        .merge(donor::router())
        .merge(vouchers::router())
        .merge(lots::router())
        .merge(redemptions::router())
        .merge(audit::router())
        .split_for_parts();
    // After the merge: a modifier on ApiDoc would run before the routes'
    // operations are in the document.
    contract::add_shared_responses(&mut doc);
    (router, doc)
}

/// The route template a request matched (`/v1/vouchers/{serial}`), never
/// its path: labels and log fields stay a closed set.
fn route_of(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned())
}

/// The whole service: API, `/openapi.json`, limits and instrumentation,
/// around `pages` (the desk, whose routes the API's middleware serves too:
/// metrics, logs, limits). The API does not know the desk; the server
/// hands its routes in.
pub fn router(state: AppState, pages: Router<AppState>) -> Router {
    let (api, doc) = api();
    let doc = Arc::new(contract::with_limits(&doc, &state.limits));
    let max_body = state.limits.max_body_bytes;
    let api = api.merge(pages);
    api.route(
        "/openapi.json",
        get(move || {
            let doc = Arc::clone(&doc);
            async move { Json(doc.as_ref().clone()) }
        }),
    )
    .fallback(|| async { Problem::not_found("route") })
    .method_not_allowed_fallback(|| async {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            "this route does not accept this method",
        )
    })
    .layer(DefaultBodyLimit::max(max_body))
    .layer(middleware::from_fn_with_state(state.clone(), time_limit))
    .layer(middleware::from_fn(net::problems_only))
    .layer(middleware::from_fn_with_state(state.clone(), track))
    .with_state(state)
}

/// Answers 503 `request_timeout` when a request (body included) takes longer
/// than `request_timeout_secs`. What the request was doing stops there; a
/// write that had reached the database may still commit, which is why the
/// answer asks for a retry with the same `Idempotency-Key`.
async fn time_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The desk applies the same limit itself, to answer with a page.
    if request.uri().path().starts_with("/desk/") {
        return next.run(request).await;
    }
    let limit_secs = state.limits.request_timeout_secs;
    let route = route_of(&request);
    match tokio::time::timeout(Duration::from_secs(limit_secs), next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%route, limit_secs, "request timed out");
            Problem::request_timeout(limit_secs).into_response()
        }
    }
}

/// Records each request's metrics and one log line (route template, never
/// the body or a whole code), and sets headers every answer needs.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = crate::metrics::method_label(request.method());
    let route = route_of(&request);
    let mut response = next.run(request).await.into_response();
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status,
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&RouteLabels {
            method,
            route: route.clone(),
        })
        .observe(elapsed.as_secs_f64());
    tracing::info!(%method, %route, status, latency_ms = elapsed.as_secs_f64() * 1000.0, "request");
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
