//! A last-resort net under the API: any error answer that is not already a
//! problem (a rejection from a layer or an extractor that does not know
//! this project's errors) is replaced by one, so clients can always read
//! the `code` of a 4xx or 5xx. The desk renders its own error pages and is
//! left alone.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::Problem;

/// The media type every API error carries.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Replaces a non-problem error answer with the problem for its status,
/// keeping its `Retry-After`.
pub async fn problems_only(request: Request, next: Next) -> Response {
    let is_desk = request.uri().path().starts_with("/desk");
    let response = next.run(request).await;
    let status = response.status();
    if is_desk || !(status.is_client_error() || status.is_server_error()) || is_problem(&response) {
        return response;
    }
    // A route of ours answering an error without a problem is a bug worth
    // seeing in the logs; the body is not logged (it may echo input).
    tracing::warn!(
        status = status.as_u16(),
        "non-problem error answer replaced"
    );
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let mut replaced = Problem::for_status(status).into_response();
    if let Some(value) = retry_after {
        replaced.headers_mut().insert(header::RETRY_AFTER, value);
    }
    replaced
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // A panic in a test is a failure, as intended.

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::middleware;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn answer(path: &str) -> Response {
        let plain = || async { (StatusCode::BAD_REQUEST, [(header::RETRY_AFTER, "7")], "no") };
        Router::new()
            .route("/v1/plain", get(plain))
            .route("/desk/plain", get(plain))
            .route("/v1/problem", get(|| async { Problem::forbidden() }))
            .layer(middleware::from_fn(problems_only))
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn content_type(r: &Response) -> &str {
        r.headers()[header::CONTENT_TYPE].to_str().unwrap()
    }

    #[tokio::test]
    async fn plain_api_errors_become_problems_and_keep_retry_after() {
        let r = answer("/v1/plain").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(content_type(&r), PROBLEM_JSON);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
        let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "bad_request");
        assert_eq!(body["status"], 400);
        // Unmatched routes under the net are problems too.
        assert_eq!(content_type(&answer("/v1/nowhere").await), PROBLEM_JSON);
    }

    #[tokio::test]
    async fn problems_and_desk_answers_pass_as_they_are() {
        let r = answer("/v1/problem").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("\"forbidden\""));
        let r = answer("/desk/plain").await;
        assert!(content_type(&r).starts_with("text/plain"));
    }
}
