//! Key material: what the key file holds, and the key set built from it.
//!
//! Everything here is pure: generating secrets and reading or writing the key
//! file are done by [`crate::keyfile`], which hands the bytes in.

use std::fmt;

use ring::hmac;
use serde::{Deserialize, Serialize};

use super::attestation::{SigningKey, VerifyingKeys};
use super::format::{KEY_IDS, KeyId};
use super::pin::PIN_KEY_IDS;
use super::pin_tag::{PIN_KEY_BYTES, PinKey, PinKeyRing};
use super::reference::{Format, Reference};
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
    /// The numeric PIN keys (ids 0..=9). A file written before PINs existed
    /// has none; `crate::keyfile` adds the first under the file's lock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pin_keys: Vec<PinKeyEntry>,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PinKeyEntry {
    pub key_id: u8,
    #[serde(with = "hex::serde")]
    pub secret: [u8; PIN_KEY_BYTES],
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
        let pin: Vec<u8> = self.pin_keys.iter().map(|k| k.key_id).collect();
        f.debug_struct("KeyMaterial")
            .field("version", &self.version)
            .field("code_key_ids", &code)
            .field("signing_key_ids", &signing)
            .field("pin_key_ids", &pin)
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
    #[error("the key file has no PIN key")]
    NoPinKey,
    #[error("PIN key id {0} is out of range or repeated")]
    BadPinKeyId(u8),
    #[error("all {PIN_KEY_IDS} PIN key ids are in use")]
    PinKeysExhausted,
}

/// The id after the largest of `ids`, if it is below `limit`.
fn next_id(ids: impl Iterator<Item = u8>, limit: u8) -> Option<u8> {
    ids.max()
        .map_or(Some(0), |id| id.checked_add(1))
        .filter(|&id| id < limit)
}

impl KeyMaterial {
    pub const VERSION: u32 = 1;

    /// Fresh material from secrets the caller generated.
    pub fn new(
        code_secret: [u8; CODE_KEY_BYTES],
        signing_pkcs8: Vec<u8>,
        pepper: [u8; PEPPER_BYTES],
        pin_secret: [u8; PIN_KEY_BYTES],
    ) -> Self {
        Self {
            pin_keys: vec![PinKeyEntry {
                key_id: 0,
                secret: pin_secret,
            }],
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

    /// Gives a file written before PINs existed its first PIN key; `false`
    /// (and no change) if it has one.
    pub fn add_first_pin_key(&mut self, pin_secret: [u8; PIN_KEY_BYTES]) -> bool {
        if !self.pin_keys.is_empty() {
            return false;
        }
        self.pin_keys.push(PinKeyEntry {
            key_id: 0,
            secret: pin_secret,
        });
        true
    }

    /// Adds a code key, a PIN key and a signing key, which become the
    /// active ones. The old keys stay, for verification. All three move
    /// together or nothing changes: a rotation after a leak must not leave
    /// one format on the old key.
    pub fn rotate(
        &mut self,
        code_secret: [u8; CODE_KEY_BYTES],
        signing_pkcs8: Vec<u8>,
        pin_secret: [u8; PIN_KEY_BYTES],
    ) -> Result<(), KeyError> {
        let next_code = next_id(self.code_keys.iter().map(|k| k.key_id), KEY_IDS)
            .ok_or(KeyError::CodeKeysExhausted)?;
        let next_pin = next_id(self.pin_keys.iter().map(|k| k.key_id), PIN_KEY_IDS)
            .ok_or(KeyError::PinKeysExhausted)?;
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
        self.pin_keys.push(PinKeyEntry {
            key_id: next_pin,
            secret: pin_secret,
        });
        Ok(())
    }
}

/// The keys in usable form: the code and PIN key rings, the signing keys
/// and the pepper. The last entry of each list is the active one.
pub struct KeySet {
    pub codes: CodeKeyRing,
    pub pins: PinKeyRing,
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
        let pins = pin_ring(&m.pin_keys)?;
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
            pins,
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

    /// Steps 1–7 of reading a code or a PIN, whichever it is.
    pub fn verify(&self, typed: &super::Typed) -> Result<Reference, super::CodeError> {
        match typed {
            super::Typed::Code(parsed) => self.codes.verify(parsed).map(Reference::Code),
            super::Typed::Pin(parsed) => self.pins.verify(parsed).map(Reference::Pin),
        }
    }

    /// The code or PIN of a voucher, as printed; `None` if its key is not
    /// in this set.
    pub fn encode(&self, voucher: Reference) -> Option<String> {
        match voucher {
            Reference::Code(v) => self.codes.encode(v).map(|c| c.to_string()),
            Reference::Pin(p) => self.pins.encode(p).map(|p| p.to_string()),
        }
    }

    /// The key id new vouchers of `format` are made with.
    pub fn active_key_id(&self, format: Format) -> u8 {
        match format {
            Format::Code => self.codes.active().get(),
            Format::Pin => self.pins.active(),
        }
    }

    /// The keyed hash stored instead of a phone number.
    /// A keyed hash of `data` for one `purpose` (the purpose and a zero
    /// byte come first, so that no two purposes can share a hash).
    pub fn keyed_hash(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.pepper);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(data);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

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

fn pin_ring(entries: &[PinKeyEntry]) -> Result<PinKeyRing, KeyError> {
    let mut ring: Option<PinKeyRing> = None;
    let mut seen = [false; PIN_KEY_IDS as usize];
    for entry in entries {
        let slot = seen
            .get_mut(usize::from(entry.key_id))
            .ok_or(KeyError::BadPinKeyId(entry.key_id))?;
        if std::mem::replace(slot, true) {
            return Err(KeyError::BadPinKeyId(entry.key_id));
        }
        let key = PinKey::new(&entry.secret);
        match ring.as_mut() {
            None => ring = PinKeyRing::new(entry.key_id, key),
            Some(r) => {
                r.insert(entry.key_id, key);
                r.set_active(entry.key_id);
            }
        }
    }
    ring.ok_or(KeyError::NoPinKey)
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("codes", &self.codes)
            .field("pins", &self.pins)
            .field("signing", &self.signing)
            .finish_non_exhaustive()
    }
}
