//! Key material: what the key file holds, and the key set built from it.
//!
//! Everything here is pure: generating secrets and reading or writing the key
//! file are done by [`crate::keyfile`], which hands the bytes in.

use std::fmt;

use ring::hmac;
use serde::{Deserialize, Serialize};

use super::attestation::{SigningKey, VerifyingKeys};
use super::format::{KEY_IDS, KeyId};
use super::tag::{CODE_KEY_BYTES, CodeKey, CodeKeyRing};

/// Length of the pepper for hashing phone numbers.
pub const PEPPER_BYTES: usize = 32;

/// The raw secrets, as serialised in the key file (hex strings). Rotation
/// appends; nothing is ever removed, so old codes and attestations verify.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyMaterial {
    pub version: u32,
    pub code_keys: Vec<CodeKeyEntry>,
    pub signing_keys: Vec<SigningKeyEntry>,
    #[serde(with = "hex::serde")]
    pub pepper: [u8; PEPPER_BYTES],
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CodeKeyEntry {
    pub key_id: u8,
    #[serde(with = "hex::serde")]
    pub secret: [u8; CODE_KEY_BYTES],
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyEntry {
    pub key_id: u32,
    /// The Ed25519 key pair as a PKCS#8 v2 document.
    #[serde(with = "hex::serde")]
    pub pkcs8: Vec<u8>,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code: Vec<u8> = self.code_keys.iter().map(|k| k.key_id).collect();
        let signing: Vec<u32> = self.signing_keys.iter().map(|k| k.key_id).collect();
        f.debug_struct("KeyMaterial")
            .field("version", &self.version)
            .field("code_key_ids", &code)
            .field("signing_key_ids", &signing)
            .finish_non_exhaustive()
    }
}

/// Why key material cannot be used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("unsupported key file version {0}")]
    Version(u32),
    #[error("the key file has no code key")]
    NoCodeKey,
    #[error("the key file has no signing key")]
    NoSigningKey,
    #[error("code key id {0} is out of range or repeated")]
    BadCodeKeyId(u8),
    #[error("signing key {0} is not a valid Ed25519 PKCS#8 document, or is repeated")]
    BadSigningKey(u32),
    #[error("all {KEY_IDS} code key ids are in use")]
    CodeKeysExhausted,
}

impl KeyMaterial {
    pub const VERSION: u32 = 1;

    /// Fresh material from secrets the caller generated.
    pub fn new(
        code_secret: [u8; CODE_KEY_BYTES],
        signing_pkcs8: Vec<u8>,
        pepper: [u8; PEPPER_BYTES],
    ) -> Self {
        Self {
            version: Self::VERSION,
            code_keys: vec![CodeKeyEntry {
                key_id: 0,
                secret: code_secret,
            }],
            signing_keys: vec![SigningKeyEntry {
                key_id: 1,
                pkcs8: signing_pkcs8,
            }],
            pepper,
        }
    }

    /// Adds a code key and a signing key, which become the active ones. The
    /// old keys stay, for verification.
    pub fn rotate(
        &mut self,
        code_secret: [u8; CODE_KEY_BYTES],
        signing_pkcs8: Vec<u8>,
    ) -> Result<(), KeyError> {
        let next_code = self
            .code_keys
            .iter()
            .map(|k| k.key_id)
            .max()
            .map_or(Some(0), |id| id.checked_add(1))
            .filter(|&id| id < KEY_IDS)
            .ok_or(KeyError::CodeKeysExhausted)?;
        let next_signing = self
            .signing_keys
            .iter()
            .map(|k| k.key_id)
            .max()
            .unwrap_or(0)
            + 1;
        self.code_keys.push(CodeKeyEntry {
            key_id: next_code,
            secret: code_secret,
        });
        self.signing_keys.push(SigningKeyEntry {
            key_id: next_signing,
            pkcs8: signing_pkcs8,
        });
        Ok(())
    }
}

/// The keys in usable form: the code key ring, the signing keys and the
/// pepper. The last entry of each list is the active one.
pub struct KeySet {
    pub codes: CodeKeyRing,
    /// The active signing key; older ones only verify, through `verifying`.
    signing: SigningKey,
    verifying: VerifyingKeys,
    pepper: hmac::Key,
}

impl KeySet {
    pub fn from_material(m: &KeyMaterial) -> Result<Self, KeyError> {
        if m.version != KeyMaterial::VERSION {
            return Err(KeyError::Version(m.version));
        }
        let codes = code_ring(&m.code_keys)?;
        let mut signing = None;
        let mut verifying = VerifyingKeys::default();
        for entry in &m.signing_keys {
            let key = SigningKey::from_pkcs8(entry.key_id, &entry.pkcs8)
                .filter(|_| verifying.iter().all(|(id, _)| id != entry.key_id))
                .ok_or(KeyError::BadSigningKey(entry.key_id))?;
            verifying.insert(key.id(), key.public_key());
            signing = Some(key);
        }
        Ok(Self {
            codes,
            signing: signing.ok_or(KeyError::NoSigningKey)?,
            verifying,
            pepper: hmac::Key::new(hmac::HMAC_SHA256, &m.pepper),
        })
    }

    /// The key new attestations are signed with.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Every public key, including rotated ones.
    pub fn verifying_keys(&self) -> &VerifyingKeys {
        &self.verifying
    }

    /// The keyed hash stored instead of a phone number.
    pub fn hash_msisdn(&self, msisdn: &str) -> [u8; 32] {
        let tag = hmac::sign(&self.pepper, msisdn.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

fn code_ring(entries: &[CodeKeyEntry]) -> Result<CodeKeyRing, KeyError> {
    let mut ring: Option<CodeKeyRing> = None;
    let mut seen = [false; KEY_IDS as usize];
    for entry in entries {
        let id = KeyId::new(entry.key_id).ok_or(KeyError::BadCodeKeyId(entry.key_id))?;
        let slot = seen
            .get_mut(usize::from(id.get()))
            .ok_or(KeyError::BadCodeKeyId(entry.key_id))?;
        if std::mem::replace(slot, true) {
            return Err(KeyError::BadCodeKeyId(entry.key_id));
        }
        let key = CodeKey::new(&entry.secret);
        match ring.as_mut() {
            None => ring = Some(CodeKeyRing::new(id, key)),
            Some(r) => {
                r.insert(id, key);
                r.set_active(id);
            }
        }
    }
    ring.ok_or(KeyError::NoCodeKey)
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("codes", &self.codes)
            .field("signing", &self.signing)
            .finish_non_exhaustive()
    }
}
