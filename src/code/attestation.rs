//! Attestations: a voucher record signed with Ed25519 at issue, so that an
//! operator or auditor can prove offline what a serial was issued as.
//!
//! # Canonical encoding (version 1)
//!
//! All integers are big-endian. An attestation is these bytes, then written
//! in unpadded base64url:
//!
//! | bytes | field | rule |
//! |---|---|---|
//! | 4 | magic: `RTA1` for a v1 code, `RTP1` for a PIN | exactly |
//! | 4 | signing key id (u32) | any |
//! | 1 | code key id, or PIN key id | 0..=31, or 0..=9 |
//! | 8 | serial | < 2^35, or < 10^9 |
//! | 8 | structure id | ≥ 1 |
//! | 1 + n | product: length n, then n bytes | label rules below |
//! | 1 + n | resource: length n, then n bytes | label rules below |
//! | 8 | amount | ≥ 1 |
//! | 8 | issued_at, Unix seconds (i64) | ≥ 0 |
//! | 8 | expires_at, Unix seconds (i64) | > issued_at |
//! | 64 | Ed25519 signature over every byte above | |
//!
//! A label is 1..=32 bytes of `a-z`, `0-9`, `-`, `_`, starting with a letter
//! or digit. Decoding accepts exactly this form and nothing else: no trailing
//! bytes, no out-of-range value, no padded or non-canonical base64. So each
//! record has one encoding, and an attestation that decodes re-encodes to the
//! same bytes.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, Ed25519KeyPair, KeyPair};

use super::format::{KeyId, Serial, VoucherRef};
use super::pin::{PIN_KEY_IDS, PinRef};
use super::reference::Reference;

/// The magic of a v1 code's record; unchanged since the first release, so
/// every attestation already signed keeps verifying.
const MAGIC: &[u8; 4] = b"RTA1";
/// The magic of a PIN's record: a signature over one format never stands
/// for a voucher of the other.
const PIN_MAGIC: &[u8; 4] = b"RTP1";
/// Length of an Ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;
/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_BYTES: usize = 32;
/// Longest product or resource name.
pub const MAX_LABEL_BYTES: usize = 32;
/// Longest attestation, in bytes before base64: every field at its maximum.
pub const MAX_ATTESTATION_BYTES: usize = 4 + 4 + 1 + 8 + 8 + 2 * (1 + MAX_LABEL_BYTES) + 3 * 8 + 64;

/// A short machine name: a product (`data-1gb`) or a resource (`data_mb`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(String);

impl Label {
    /// `None` unless `name` follows the label rules.
    pub fn new(name: &str) -> Option<Self> {
        let bytes = name.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let all_ok = bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        (first_ok && all_ok && bytes.len() <= MAX_LABEL_BYTES).then(|| Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a voucher was issued as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherRecord {
    pub voucher: Reference,
    pub structure_id: u64,
    pub product: Label,
    pub resource: Label,
    pub amount: u64,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds; always after `issued_at`.
    pub expires_at: i64,
}

/// Why an attestation was refused. Which rule broke is for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    #[error("attestation is not canonical base64url")]
    Encoding,
    #[error("attestation field `{0}` is missing, out of range or not canonical")]
    Malformed(&'static str),
    #[error("attestation signed with unknown key {0}")]
    UnknownSigningKey(u32),
    #[error("attestation signature does not verify")]
    BadSignature,
    #[error("record cannot be attested: field `{0}` is out of range")]
    Unsignable(&'static str),
}

/// A signed record, as decoded and verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attestation {
    pub signing_key_id: u32,
    pub record: VoucherRecord,
}

/// An Ed25519 key for signing attestations, with its published id.
pub struct SigningKey {
    id: u32,
    pair: Ed25519KeyPair,
}

impl SigningKey {
    /// Loads a key from its PKCS#8 document (as `ring` generates it).
    pub fn from_pkcs8(id: u32, pkcs8: &[u8]) -> Option<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).ok()?;
        Some(Self { id, pair })
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn public_key(&self) -> [u8; PUBLIC_KEY_BYTES] {
        let mut out = [0u8; PUBLIC_KEY_BYTES];
        let public = self.pair.public_key().as_ref();
        if public.len() == PUBLIC_KEY_BYTES {
            out.copy_from_slice(public);
        }
        out
    }

    /// Signs a record and returns the attestation's text form.
    pub fn sign(&self, record: &VoucherRecord) -> Result<String, AttestationError> {
        let mut bytes = encode_unsigned(self.id, record)?;
        let signature = self.pair.sign(&bytes);
        bytes.extend_from_slice(signature.as_ref());
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Signs another kind of message with this key (chain checkpoints).
    /// The caller's message must start with its own magic, distinct from
    /// `RTA1`, so a signature never stands for the other kind.
    pub fn sign_message(&self, message: &[u8]) -> [u8; SIGNATURE_BYTES] {
        let mut out = [0u8; SIGNATURE_BYTES];
        let signature = self.pair.sign(message);
        if signature.as_ref().len() == SIGNATURE_BYTES {
            out.copy_from_slice(signature.as_ref());
        }
        out
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, <secret>)", self.id)
    }
}

/// The published verification keys, by signing key id: all an offline
/// verifier needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyingKeys(BTreeMap<u32, [u8; PUBLIC_KEY_BYTES]>);

impl VerifyingKeys {
    pub fn insert(&mut self, id: u32, public_key: [u8; PUBLIC_KEY_BYTES]) {
        self.0.insert(id, public_key);
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u8; PUBLIC_KEY_BYTES])> {
        self.0.iter().map(|(&id, key)| (id, key))
    }

    /// Whether `signature` over `message` verifies under key `id`.
    pub fn verify_message(&self, id: u32, message: &[u8], signature: &[u8]) -> bool {
        self.0.get(&id).is_some_and(|key| {
            signature::UnparsedPublicKey::new(&signature::ED25519, key)
                .verify(message, signature)
                .is_ok()
        })
    }

    /// Decodes an attestation strictly and checks its signature.
    pub fn verify(&self, text: &str) -> Result<Attestation, AttestationError> {
        let bytes = decode_text(text)?;
        let split = bytes
            .len()
            .checked_sub(SIGNATURE_BYTES)
            .ok_or(AttestationError::Malformed("length"))?;
        let (signed, sig) = bytes.split_at(split);
        let attestation = decode_unsigned(signed)?;
        let public_key =
            self.0
                .get(&attestation.signing_key_id)
                .ok_or(AttestationError::UnknownSigningKey(
                    attestation.signing_key_id,
                ))?;
        signature::UnparsedPublicKey::new(&signature::ED25519, public_key)
            .verify(signed, sig)
            .map_err(|_| AttestationError::BadSignature)?;
        Ok(attestation)
    }
}

/// Decodes an attestation's fields without checking the signature: for
/// inspection and fuzzing. Anything that is not the one canonical form is
/// refused, exactly as [`VerifyingKeys::verify`] would refuse it.
pub fn decode(text: &str) -> Result<Attestation, AttestationError> {
    let bytes = decode_text(text)?;
    let split = bytes
        .len()
        .checked_sub(SIGNATURE_BYTES)
        .ok_or(AttestationError::Malformed("length"))?;
    decode_unsigned(bytes.get(..split).unwrap_or_default())
}

fn decode_text(text: &str) -> Result<Vec<u8>, AttestationError> {
    // Bounding the text first keeps a hostile input from costing a large
    // allocation; 4 base64 characters carry 3 bytes.
    if text.len() > MAX_ATTESTATION_BYTES.div_ceil(3) * 4 {
        return Err(AttestationError::Malformed("length"));
    }
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| AttestationError::Encoding)
}

/// The signed bytes: everything but the signature.
pub fn encode_unsigned(
    signing_key_id: u32,
    r: &VoucherRecord,
) -> Result<Vec<u8>, AttestationError> {
    check_record(r).map_err(AttestationError::Unsignable)?;
    let mut out = Vec::with_capacity(MAX_ATTESTATION_BYTES);
    out.extend_from_slice(match r.voucher {
        Reference::Code(_) => MAGIC,
        Reference::Pin(_) => PIN_MAGIC,
    });
    out.extend_from_slice(&signing_key_id.to_be_bytes());
    out.push(r.voucher.key_id());
    out.extend_from_slice(&r.voucher.serial().to_be_bytes());
    out.extend_from_slice(&r.structure_id.to_be_bytes());
    for label in [&r.product, &r.resource] {
        // Label::new bounds the length to 32, so it fits in one byte.
        out.push(label.0.len() as u8);
        out.extend_from_slice(label.0.as_bytes());
    }
    out.extend_from_slice(&r.amount.to_be_bytes());
    out.extend_from_slice(&r.issued_at.to_be_bytes());
    out.extend_from_slice(&r.expires_at.to_be_bytes());
    Ok(out)
}

/// The range rules a record must follow to be signed or decoded; the field
/// that breaks one is named.
fn check_record(r: &VoucherRecord) -> Result<(), &'static str> {
    if r.structure_id == 0 {
        return Err("structure_id");
    }
    if r.amount == 0 {
        return Err("amount");
    }
    if r.issued_at < 0 {
        return Err("issued_at");
    }
    if r.expires_at <= r.issued_at {
        return Err("expires_at");
    }
    Ok(())
}

/// A cursor over the signed bytes that refuses to read past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], AttestationError> {
        if self.0.len() < n {
            return Err(AttestationError::Malformed(field));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], AttestationError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, AttestationError> {
        self.array(field).map(u64::from_be_bytes)
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, AttestationError> {
        self.array(field).map(i64::from_be_bytes)
    }

    fn label(&mut self, field: &'static str) -> Result<Label, AttestationError> {
        let [len] = self.array::<1>(field)?;
        let bytes = self.take(usize::from(len), field)?;
        std::str::from_utf8(bytes)
            .ok()
            .and_then(Label::new)
            .ok_or(AttestationError::Malformed(field))
    }
}

fn decode_unsigned(bytes: &[u8]) -> Result<Attestation, AttestationError> {
    let mut r = Reader(bytes);
    let magic = r.take(MAGIC.len(), "magic")?;
    let is_pin = magic == PIN_MAGIC;
    if magic != MAGIC && !is_pin {
        return Err(AttestationError::Malformed("magic"));
    }
    let signing_key_id = u32::from_be_bytes(r.array("signing_key_id")?);
    let [key_id] = r.array::<1>("key_id")?;
    let serial = r.u64("serial")?;
    let voucher = if is_pin {
        let serial = u32::try_from(serial).map_err(|_| AttestationError::Malformed("serial"))?;
        let field = if key_id < PIN_KEY_IDS {
            "serial"
        } else {
            "key_id"
        };
        Reference::Pin(PinRef::new(key_id, serial).ok_or(AttestationError::Malformed(field))?)
    } else {
        let key_id = KeyId::new(key_id).ok_or(AttestationError::Malformed("key_id"))?;
        let serial = Serial::new(serial).ok_or(AttestationError::Malformed("serial"))?;
        Reference::Code(VoucherRef { key_id, serial })
    };
    let structure_id = r.u64("structure_id")?;
    let product = r.label("product")?;
    let resource = r.label("resource")?;
    let amount = r.u64("amount")?;
    let issued_at = r.i64("issued_at")?;
    let expires_at = r.i64("expires_at")?;
    if !r.0.is_empty() {
        return Err(AttestationError::Malformed("trailing bytes"));
    }
    let record = VoucherRecord {
        voucher,
        structure_id,
        product,
        resource,
        amount,
        issued_at,
        expires_at,
    };
    // The same rules as signing, so that nothing decodes that could not
    // have been signed.
    check_record(&record).map_err(AttestationError::Malformed)?;
    Ok(Attestation {
        signing_key_id,
        record,
    })
}
