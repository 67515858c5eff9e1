//! Browsers a login has signed in from before. Failed sign-ins lock a
//! login for a while; without more, anyone who knows a login can keep its
//! owner out by failing on purpose. A browser that signed in to a login
//! carries a token naming it (keyed with the deployment's pepper, so only
//! the service makes one): its failures are counted apart, in a bucket of
//! its own, so a lock earned elsewhere does not stop it, and a stolen
//! token still meets the same limit as anyone.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use super::AppState;

const PURPOSE: &str = "relay-topup known device v1";
const NONCE_BYTES: usize = 16;

/// A known browser's token for one login: `nonce.tag`.
pub fn token(state: &AppState, login_hash: &[u8; 32], nonce: &[u8; NONCE_BYTES]) -> String {
    let tag = tag(state, login_hash, nonce);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// A fresh nonce for a browser that just signed in.
pub fn fresh_nonce() -> Option<[u8; NONCE_BYTES]> {
    let mut nonce = [0; NONCE_BYTES];
    SystemRandom::new().fill(&mut nonce).ok()?;
    Some(nonce)
}

fn tag(state: &AppState, login_hash: &[u8; 32], nonce: &[u8; NONCE_BYTES]) -> [u8; 32] {
    let mut data = login_hash.to_vec();
    data.extend_from_slice(nonce);
    state.keys.get().keyed_hash(PURPOSE, &data)
}

/// The nonce of a token this service made for this login; `None` for
/// anything else (another login's, forged, garbled).
pub fn nonce_of(state: &AppState, login_hash: &[u8; 32], token: &str) -> Option<[u8; NONCE_BYTES]> {
    let (nonce, given) = token.split_once('.')?;
    let nonce: [u8; NONCE_BYTES] = URL_SAFE_NO_PAD.decode(nonce).ok()?.try_into().ok()?;
    let given = URL_SAFE_NO_PAD.decode(given).ok()?;
    let expected = tag(state, login_hash, &nonce);
    bool::from(expected.as_slice().ct_eq(&given)).then_some(nonce)
}

/// Where a known browser's failures are counted: apart from the login's.
pub fn failure_bucket(login_hash: &[u8; 32], nonce: &[u8; NONCE_BYTES]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"known device\0");
    ctx.update(login_hash);
    ctx.update(nonce);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}
