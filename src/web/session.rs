//! Desk sessions and forms' protection: the session cookie, the signed-in
//! extractor, synchronizer tokens, and the language of a request.
//!
//! A session id is 256 random bits held only by the browser, in an
//! HttpOnly, SameSite=Strict cookie (`Secure`, with the `__Host-` prefix,
//! when the desk is served over TLS); the database keeps its SHA-256 hash,
//! as for API tokens. Every form carries the session's synchronizer token,
//! compared in constant time. The sign-in form, which has no session yet,
//! uses a double-submit cookie instead.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use super::error::DeskError;
use super::flash::Flash;
use super::i18n::Lang;
use crate::app::AppState;
use crate::app::StructureCaller;
use crate::clock::Zone;
use crate::config::DeskOptions;
use crate::domain::account::AccountRole;
use crate::storage::Account;
use crate::tokens;

/// Name of the session cookie over plain HTTP (local use, tests).
const SESSION_COOKIE: &str = "relay_desk";
/// Name of the sign-in form's double-submit cookie over plain HTTP.
const SIGN_IN_COOKIE: &str = "relay_desk_signin";
const DEVICE_COOKIE: &str = "relay_topup_device";
/// The language cookie: not a secret, readable by nothing but the server.
pub const LANG_COOKIE: &str = "lang";
/// A year, for the language cookie.
const LANG_COOKIE_MAX_AGE_SECS: i64 = 365 * 86_400;
/// How long the sign-in form stays usable, in seconds.
const SIGN_IN_COOKIE_MAX_AGE_SECS: i64 = 3600;

/// 256 random bits, base64url: session ids, synchronizer tokens, form nonces.
pub fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether a submitted token is the expected one, in time independent of
/// where they differ. ring's `constant_time` module is deprecated, hence
/// `subtle`. An empty expected token never matches.
pub fn tokens_match(submitted: Option<&str>, expected: &str) -> bool {
    match submitted {
        Some(s) if !expected.is_empty() => bool::from(s.as_bytes().ct_eq(expected.as_bytes())),
        _ => false,
    }
}

/// The value of cookie `name` in a request, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// Cookie names: the `__Host-` prefix makes browsers refuse the cookie
/// unless it is Secure, host-only and for `/`, so nothing else can set it.
fn cookie_name(options: &DeskOptions, base: &'static str) -> String {
    if options.is_https() {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

pub fn session_cookie_name(options: &DeskOptions) -> String {
    cookie_name(options, SESSION_COOKIE)
}

/// The cookie of a browser known to a login (see `app::known_devices`).
pub fn device_cookie_name(options: &DeskOptions) -> String {
    cookie_name(options, DEVICE_COOKIE)
}

/// A known browser stays known for half a year of not signing in.
pub const DEVICE_COOKIE_MAX_AGE_SECS: i64 = 183 * 86_400;

pub fn sign_in_cookie_name(options: &DeskOptions) -> String {
    cookie_name(options, SIGN_IN_COOKIE)
}

/// A `Set-Cookie` value with the desk's attributes; `max_age_secs` of
/// `None` makes a session cookie, `Some(0)` deletes it.
pub fn set_cookie(
    options: &DeskOptions,
    name: &str,
    value: &str,
    max_age_secs: Option<i64>,
) -> Option<HeaderValue> {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(secs) = max_age_secs {
        text.push_str(&format!("; Max-Age={secs}"));
    }
    if options.is_https() {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).ok()
}

pub fn lang_cookie(options: &DeskOptions, lang: Lang) -> Option<HeaderValue> {
    set_cookie(
        options,
        LANG_COOKIE,
        lang.code(),
        Some(LANG_COOKIE_MAX_AGE_SECS),
    )
}

pub fn sign_in_cookie(options: &DeskOptions, value: &str) -> Option<HeaderValue> {
    set_cookie(
        options,
        &sign_in_cookie_name(options),
        value,
        Some(SIGN_IN_COOKIE_MAX_AGE_SECS),
    )
}

/// The language asked for in the query string (`?lang=en`), if any.
pub fn query_lang(query: Option<&str>) -> Option<Lang> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| Lang::parse(&v))
}

/// A request's language: `?lang=`, else the `lang` cookie, else French.
pub fn request_lang(parts: &Parts) -> Lang {
    query_lang(parts.uri.query())
        .or_else(|| cookie(&parts.headers, LANG_COOKIE).and_then(Lang::parse))
        .unwrap_or_default()
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(request_lang(parts))
    }
}

/// A person signed in at the desk, whatever their role.
pub struct Person {
    pub account: Account,
    /// The name of their structure, for structure roles.
    pub structure_name: Option<String>,
    /// Whether their structure has members (is an association).
    pub has_members: bool,
    /// The session's synchronizer token, put in every form.
    pub csrf_token: String,
    /// The hash of the session id, to end the session at sign-out.
    pub id_hash: [u8; 32],
    pub lang: Lang,
    /// The deployment's time zone, for every date and time shown.
    pub zone: Zone,
    /// Seals the messages the session's next page shows once.
    pub flash_key: super::flash::FlashKey,
}

impl Person {
    /// How the header names who is signed in: "Amina B. · Centre social".
    pub fn label(&self) -> String {
        match &self.structure_name {
            Some(s) => format!("{} · {s}", self.account.display_name),
            None => self.account.display_name.clone(),
        }
    }

    /// Leaves a message for this session's next page, shown once.
    pub async fn leave_flash(&self, state: &AppState, flash: &Flash) -> Result<(), DeskError> {
        super::flash::leave(state, &self.id_hash, &self.flash_key, flash).await
    }

    /// Takes the message left for this page, if any (once).
    pub async fn take_flash(&self, state: &AppState) -> Result<Option<Flash>, DeskError> {
        super::flash::take(state, &self.id_hash, &self.flash_key).await
    }

    /// Refuses a form that does not carry this session's token.
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), DeskError> {
        if tokens_match(submitted, &self.csrf_token) {
            Ok(())
        } else {
            tracing::warn!(
                account = self.account.id,
                "desk form refused: bad CSRF token"
            );
            Err(DeskError::Csrf)
        }
    }
}

/// The form token is a secret of the session: keep it out of logs.
impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("account", &self.account.id)
            .field("lang", &self.lang)
            .finish_non_exhaustive()
    }
}

impl<S> FromRequestParts<S> for Person
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = DeskError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let name = session_cookie_name(&state.limits.desk);
        let id = cookie(&parts.headers, &name)
            .filter(|id| id.len() <= 64)
            .ok_or(DeskError::SignedOut { expired: false })?;
        let id_hash = tokens::hash(id);
        let flash_key = super::flash::FlashKey::of_session(id);
        let session = state
            .store
            .find_web_session(&id_hash, state.now())
            .await?
            .ok_or(DeskError::SignedOut { expired: true })?;
        Ok(Self {
            account: session.account,
            structure_name: session.structure_name,
            has_members: session.has_members,
            csrf_token: session.csrf_token,
            id_hash,
            lang: request_lang(parts),
            zone: state.limits.desk.time_zone.clone(),
            flash_key,
        })
    }
}

/// A person of a structure (manager or staff) at its desk.
pub struct Desk {
    pub caller: StructureCaller,
    pub structure_name: String,
    /// Who is signed in, for the header.
    pub label: String,
    /// Whether they manage the structure's staff accounts.
    pub is_manager: bool,
    /// Whether the structure has members (is an association): its menu
    /// then leads to them.
    pub has_members: bool,
    /// The session's synchronizer token, put in every form.
    pub csrf_token: String,
    /// The hash of the session id, to end the session at sign-out.
    pub id_hash: [u8; 32],
    pub lang: Lang,
    /// The deployment's time zone, for every date and time shown.
    pub zone: Zone,
}

/// The form token is a secret of the session: keep it out of logs.
impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk")
            .field("caller", &self.caller)
            .field("lang", &self.lang)
            .finish_non_exhaustive()
    }
}

impl Desk {
    /// The shell of this structure's pages: its language, session and menu.
    pub fn chrome<'a>(&'a self, uri: &'a axum::http::Uri) -> super::layout::Chrome<'a> {
        super::layout::Chrome {
            lang: self.lang,
            uri,
            session: Some((&self.label, &self.csrf_token)),
            nav: self.nav(),
        }
    }

    /// The menu this structure's pages show.
    pub fn nav(&self) -> super::layout::Nav {
        if self.has_members {
            super::layout::Nav::Association
        } else {
            super::layout::Nav::Structure
        }
    }

    /// Refuses a form that does not carry this session's token.
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), DeskError> {
        if tokens_match(submitted, &self.csrf_token) {
            Ok(())
        } else {
            tracing::warn!(
                structure = self.caller.structure_id,
                "desk form refused: bad CSRF token"
            );
            Err(DeskError::Csrf)
        }
    }
}

impl<S> FromRequestParts<S> for Desk
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = DeskError;

    /// The coordinator's and the auditors' sessions have no structure
    /// desk: they are sent to their own pages.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let person = Person::from_request_parts(parts, state).await?;
        let (Some(structure_id), Some(structure_name)) =
            (person.account.structure_id, person.structure_name.clone())
        else {
            return Err(DeskError::NotAStructure);
        };
        let principal = person.account.principal();
        Ok(Self {
            caller: StructureCaller {
                principal,
                structure_id,
            },
            label: person.label(),
            is_manager: person.account.role == AccountRole::StructureManager,
            has_members: person.has_members,
            structure_name,
            csrf_token: person.csrf_token,
            id_hash: person.id_hash,
            lang: person.lang,
            zone: person.zone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_when_equal_and_present() {
        assert!(tokens_match(Some("abc"), "abc"));
        assert!(!tokens_match(Some("abd"), "abc"));
        assert!(!tokens_match(Some("ab"), "abc"));
        assert!(!tokens_match(None, "abc"));
        assert!(!tokens_match(Some(""), ""));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xlang=de; lang=en; relay_desk=s1"),
        );
        assert_eq!(cookie(&headers, "lang"), Some("en"));
        assert_eq!(cookie(&headers, "relay_desk"), Some("s1"));
        assert_eq!(cookie(&headers, "relay"), None);
    }

    #[test]
    fn cookies_are_secure_over_tls_only() {
        let plain = DeskOptions::default();
        let tls = DeskOptions {
            public_url: Some("https://desk.example.org".into()),
            ..DeskOptions::default()
        };
        let c = set_cookie(&plain, &session_cookie_name(&plain), "v", None).unwrap();
        assert_eq!(c, "relay_desk=v; Path=/; HttpOnly; SameSite=Strict");
        let c = set_cookie(&tls, &session_cookie_name(&tls), "v", None).unwrap();
        assert_eq!(
            c,
            "__Host-relay_desk=v; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[test]
    fn random_tokens_are_256_bits_and_distinct() {
        let a = random_token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token().unwrap());
    }

    #[test]
    fn debug_output_leaves_the_form_token_out() {
        let desk = Desk {
            caller: StructureCaller {
                principal: crate::domain::Principal::of_token(
                    1,
                    crate::domain::Role::Structure,
                    Some(2),
                    None,
                ),
                structure_id: 2,
            },
            structure_name: "Centre".into(),
            has_members: false,
            label: "Amina B. · Centre".into(),
            is_manager: false,
            csrf_token: "secret-form-token".into(),
            id_hash: [7; 32],
            lang: Lang::Fr,
            zone: Zone::default(),
        };
        assert!(!format!("{desk:?}").contains("secret-form-token"));
    }

    #[test]
    fn language_comes_from_the_query_first() {
        assert_eq!(query_lang(Some("a=1&lang=en")), Some(Lang::En));
        assert_eq!(query_lang(Some("lang=de")), None);
        assert_eq!(query_lang(None), None);
    }
}
