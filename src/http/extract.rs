//! Extractors that answer with problems: bearer-token callers by role, and
//! JSON bodies, queries and paths whose rejections become problem+json.

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::Problem;
use crate::app::AppState;
use crate::domain::{Principal, Role};
use crate::tokens;

/// The caller behind the bearer token, whatever its role.
pub(super) async fn principal(parts: &Parts, state: &AppState) -> Result<Principal, Problem> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(Problem::unauthorized)?;
    // The scheme is case-insensitive (RFC 9110).
    let token = header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| t.starts_with(tokens::TOKEN_PREFIX) && t.len() <= 128)
        .ok_or_else(Problem::unauthorized)?;
    let hash = tokens::hash(token);
    let now = std::time::Instant::now();
    if let Some(principal) = state.tokens.get(&hash, now) {
        return Ok(principal);
    }
    let principal = state
        .store
        .find_token(&hash)
        .await?
        .ok_or_else(Problem::unauthorized)?;
    state.tokens.put(hash, principal, now);
    Ok(principal)
}

/// A role an endpoint requires.
pub trait RequiredRole: Send + Sync + 'static {
    const ROLE: Role;
}

macro_rules! role {
    ($name:ident, $role:expr) => {
        #[derive(Debug)]
        pub struct $name;
        impl RequiredRole for $name {
            const ROLE: Role = $role;
        }
    };
}
role!(AdminRole, Role::Admin);
role!(StructureRole, Role::Structure);
role!(OperatorRole, Role::Operator);
role!(AuditorRole, Role::Auditor);

/// A caller holding a live token of role `R`: 401 without a valid token,
/// 403 with a token of another role.
#[derive(Debug)]
pub struct Caller<R: RequiredRole> {
    pub principal: Principal,
    _role: PhantomData<R>,
}

impl<S, R> FromRequestParts<S> for Caller<R>
where
    R: RequiredRole,
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let principal = principal(parts, &state).await?;
        if principal.role != R::ROLE {
            return Err(Problem::forbidden());
        }
        Ok(Self {
            principal,
            _role: PhantomData,
        })
    }
}

pub type Admin = Caller<AdminRole>;
pub type Operator = Caller<OperatorRole>;
pub type Auditor = Caller<AuditorRole>;

/// An extractor for a caller holding a live token of either of two roles:
/// 401 without a valid token, 403 with a token of any other role.
macro_rules! either_role {
    ($(#[$doc:meta])* $name:ident, $a:path, $b:path) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            pub principal: Principal,
        }

        impl<S> FromRequestParts<S> for $name
        where
            AppState: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = Problem;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
                let state = AppState::from_ref(state);
                let principal = principal(parts, &state).await?;
                match principal.role {
                    $a | $b => Ok(Self { principal }),
                    _ => Err(Problem::forbidden()),
                }
            }
        }
    };
}

either_role!(
    /// An admin or auditor token: the reports both read (the coordinator
    /// answers to donors, the auditor checks the books).
    Reader,
    Role::Admin,
    Role::Auditor
);

pub use crate::app::StructureCaller;

impl<S> FromRequestParts<S> for StructureCaller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::<StructureRole>::from_request_parts(parts, state).await?;
        let structure_id = caller
            .principal
            .structure_id
            .ok_or_else(Problem::forbidden)?;
        Ok(Self {
            principal: caller.principal,
            structure_id,
        })
    }
}

/// A JSON body, parsed strictly, with its raw bytes kept for
/// idempotency fingerprints. Sent as anything but JSON it is refused with
/// 415 before it is read: a client that forgot the content type would
/// otherwise learn nothing until a proxy or another server refuses it.
#[derive(Debug)]
pub struct ApiJson<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = AppState::from_ref(state).limits.max_body_bytes;
        require_media_type(req.headers(), is_json, "application/json")?;
        let raw = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(_) => Problem::payload_too_large(limit),
            other => Problem::validation("body", other.body_text()),
        })?;
        let value = parse_json(&raw)?;
        Ok(Self { value, raw })
    }
}

/// Refuses a body whose `Content-Type` is missing or not accepted by
/// `accepts` (given the media type alone, lower-cased, parameters off).
pub fn require_media_type(
    headers: &HeaderMap,
    accepts: fn(&str) -> bool,
    expected: &str,
) -> Result<(), Problem> {
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    match media_type {
        Some(m) if accepts(&m) => Ok(()),
        _ => Err(Problem::unsupported_media_type(expected)),
    }
}

/// `application/json`, or a JSON-based `application/*+json`.
pub fn is_json(media_type: &str) -> bool {
    media_type == "application/json"
        || media_type
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json") && sub.len() > "+json".len())
}

/// Parses one JSON document, and nothing after it, naming the field at
/// fault when it does not fit. A number with a zero fraction (`30.0`) is an
/// integer to JSON Schema, and so to the API's document: where the strict
/// parse refuses one, the document is read again with such numbers made
/// integers.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let strict = serde_path_to_error::deserialize(&mut de);
    let value = match strict {
        Ok(value) => value,
        Err(e)
            if e.inner()
                .to_string()
                .starts_with("invalid type: floating point") =>
        {
            let super::unique_keys::UniqueKeys(mut document) = serde_json::from_slice(raw)
                .map_err(|e| Problem::validation("body", e.to_string()))?;
            integral_floats_as_integers(&mut document);
            return serde_path_to_error::deserialize(document).map_err(|e| validation_error(&e));
        }
        Err(e) => return Err(validation_error(&e)),
    };
    de.end()
        .map_err(|e| Problem::validation("body", format!("one JSON document expected: {e}")))?;
    Ok(value)
}

fn validation_error<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> Problem {
    let message = e.inner().to_string();
    Problem::validation(field_at_fault(&e.path().to_string(), &message), message)
}

/// Turns every float with no fraction, within the i64 range, into an integer.
fn integral_floats_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                // The bounds are exact powers of two, so the comparison is exact.
                let in_range =
                    (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f);
                if f.fract() == 0.0 && in_range {
                    // Exact: an integral f64 within range converts without loss.
                    #[allow(clippy::cast_possible_truncation)]
                    let i = f as i64;
                    *value = Value::from(i);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// The field a deserialisation error is about: its path, or for a missing
/// field (reported at the enclosing object) the field's name.
fn field_at_fault(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => "body".to_owned(),
        (path, Some(name)) => format!("{path}.{name}"),
        (path, None) => path.to_owned(),
    }
}

/// A query string; a bad one is `validation_failed`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let _ = state;
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let message = e.inner().to_string();
                Problem::validation(field_at_fault(&e.path().to_string(), &message), message)
            })
    }
}

/// Path parameters. axum's own rejection is plain text; this one is a
/// problem naming the parameter at fault (e.g. a segment that is not
/// UTF-8 once percent-decoded).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_problem(&rejection)),
        }
    }
}

fn path_problem(rejection: &PathRejection) -> Problem {
    let PathRejection::FailedToDeserializePathParams(e) = rejection else {
        // No parameters where the handler expects some: a routing bug.
        tracing::error!(error = %rejection.body_text(), "path parameters missing");
        return Problem::internal();
    };
    let detail = e.body_text();
    match e.kind() {
        ErrorKind::InvalidUtf8InPathParam { key }
        | ErrorKind::ParseErrorAtKey { key, .. }
        | ErrorKind::DeserializeError { key, .. } => Problem::validation(key.clone(), detail),
        _ => Problem::validation("path", detail),
    }
}

/// The optional `Idempotency-Key` header.
#[derive(Debug)]
pub struct IdempotencyKey(pub Option<String>);

impl<S> FromRequestParts<S> for IdempotencyKey
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let max = AppState::from_ref(state).limits.max_idempotency_key_chars;
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        // As documented: at most `max` characters, each visible ASCII or a
        // space, not all spaces. (`to_str` would let a tab through.)
        let raw = value.as_bytes();
        let documented = raw.len() <= max
            && raw.iter().all(|b| (b' '..=b'~').contains(b))
            && raw.iter().any(|&b| b != b' ');
        let key = std::str::from_utf8(raw)
            .ok()
            .filter(|_| documented)
            .map(str::trim)
            .ok_or_else(|| {
                Problem::validation(
                    "Idempotency-Key",
                    format!("1 to {max} visible ASCII characters"),
                )
            })?;
        Ok(Self(Some(key.to_owned())))
    }
}

/// A list's page size: `default` when not asked for, else 1 to `max`.
pub fn page_limit(requested: Option<i64>, default: usize, max: usize) -> Result<usize, Problem> {
    match requested {
        None => Ok(default.min(max)),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                Problem::validation("limit", format!("limit must be between 1 and {max}"))
            }),
    }
}
