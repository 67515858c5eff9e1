//! One-time messages across a redirect. A form that creates a secret — an
//! access token, an account's activation code — must show it once, yet
//! answer with a redirect so that a reload asks for the page, not the form
//! again (post/redirect/get). The secret waits in the session's row for
//! the next page, which takes it and clears it.
//!
//! Secrets are never kept readable at rest: the message is sealed
//! (ChaCha20-Poly1305) with a key derived from the session id, which only
//! the browser holds — the database keeps the id's hash. Whoever reads the
//! table without the cookie reads nothing; a message that does not open is
//! dropped, as if none had been left.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::error::DeskResult;
use crate::app::AppState;

/// Names what the sealed bytes are for, so that they open nowhere else.
const PURPOSE: &[u8] = b"relay-topup desk flash v1";
const NONCE_BYTES: usize = 12;

/// The key that seals a session's messages, derived from its id.
#[derive(Clone)]
pub struct FlashKey([u8; 32]);

impl std::fmt::Debug for FlashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlashKey(…)")
    }
}

struct KeyBytes;

impl hkdf::KeyType for KeyBytes {
    fn len(&self) -> usize {
        32
    }
}

impl FlashKey {
    /// Derives the key from the session id the browser sent (HKDF-SHA256).
    pub fn of_session(id: &str) -> Self {
        let mut key = [0; 32];
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, PURPOSE).extract(id.as_bytes());
        // Expanding 32 bytes from SHA-256 cannot fail (the limit is 8160).
        if let Ok(okm) = prk.expand(&[b"flash"], KeyBytes) {
            let _ = okm.fill(&mut key);
        }
        Self(key)
    }

    fn aead(&self) -> Option<LessSafeKey> {
        UnboundKey::new(&CHACHA20_POLY1305, &self.0)
            .ok()
            .map(LessSafeKey::new)
    }
}

/// What a page shows once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Flash {
    /// A new or reset account's activation code.
    ActivationCode {
        display_name: String,
        login: String,
        code: String,
    },
    /// A new access token's secret.
    Token { secret: String },
}

/// Seals a message: base64 of the nonce, then the ciphertext and its tag.
fn seal(key: &FlashKey, flash: &Flash) -> Option<String> {
    use base64::Engine;
    let mut nonce = [0; NONCE_BYTES];
    SystemRandom::new().fill(&mut nonce).ok()?;
    let mut data = serde_json::to_vec(flash).ok()?;
    key.aead()?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(PURPOSE),
            &mut data,
        )
        .ok()?;
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&data);
    Some(base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed))
}

/// Opens a sealed message; anything that does not open is `None`.
fn open(key: &FlashKey, sealed: &str) -> Option<Flash> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(sealed)
        .ok()?;
    let (nonce, data) = bytes.split_at_checked(NONCE_BYTES)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = data.to_vec();
    let plain = key
        .aead()?
        .open_in_place(nonce, Aad::from(PURPOSE), &mut data)
        .ok()?;
    serde_json::from_slice(plain).ok()
}

/// Leaves `flash` for the next page of the session whose id hashes to
/// `id_hash`.
pub async fn leave(
    state: &AppState,
    id_hash: &[u8; 32],
    key: &FlashKey,
    flash: &Flash,
) -> DeskResult<()> {
    let sealed = seal(key, flash).ok_or_else(super::internal)?;
    state.store.set_session_flash(id_hash, &sealed).await?;
    Ok(())
}

/// Takes what was left for this page of the session, once.
pub async fn take(
    state: &AppState,
    id_hash: &[u8; 32],
    key: &FlashKey,
) -> DeskResult<Option<Flash>> {
    let sealed = state.store.take_session_flash(id_hash).await?;
    Ok(sealed.and_then(|s| {
        let opened = open(key, &s);
        if opened.is_none() {
            tracing::warn!("desk one-time message did not open: dropped");
        }
        opened
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_opens_only_with_its_sessions_key() {
        let key = FlashKey::of_session("session-one");
        let flash = Flash::Token {
            secret: "rt_secret".into(),
        };
        let sealed = seal(&key, &flash).unwrap();
        assert!(!sealed.contains("rt_secret"));
        assert_eq!(open(&key, &sealed), Some(flash.clone()));
        assert_eq!(open(&FlashKey::of_session("session-two"), &sealed), None);
        // Two seals of one message differ (fresh nonce).
        assert_ne!(seal(&key, &flash).unwrap(), sealed);
        // A flipped byte, a cut or garbage does not open.
        let mut bytes: Vec<char> = sealed.chars().collect();
        bytes[20] = if bytes[20] == 'A' { 'B' } else { 'A' };
        assert_eq!(open(&key, &bytes.into_iter().collect::<String>()), None);
        assert_eq!(open(&key, &sealed[..10]), None);
        assert_eq!(open(&key, "not base64 at all!"), None);
    }
}
