//! Tags: the 55-bit HMAC that makes a code self-authenticating (steps 6–7).

use std::fmt;

use ring::hmac;

use super::error::{CodeError, InvalidReason};
use super::format::{Code, KEY_IDS, KeyId, ParsedCode, TAG_BITS, VoucherRef, tag_mask};

/// Domain separation for the tag's HMAC message.
const TAG_CONTEXT: &[u8] = b"topup-code-v1";
/// Length of a code key's secret.
pub const CODE_KEY_BYTES: usize = 32;

/// One code key: an HMAC-SHA256 key whose inner and outer pads are computed
/// once, so each verification costs a single HMAC.
#[derive(Clone)]
pub struct CodeKey {
    key: hmac::Key,
}

impl CodeKey {
    pub fn new(secret: &[u8; CODE_KEY_BYTES]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The leftmost 55 bits of HMAC-SHA256(key, "topup-code-v1" || key_id || serial).
    fn tag(&self, voucher: VoucherRef) -> u64 {
        let mut msg = [0u8; TAG_CONTEXT.len() + 1 + 8];
        let (context, rest) = msg.split_at_mut(TAG_CONTEXT.len());
        context.copy_from_slice(TAG_CONTEXT);
        let (key_id, serial) = rest.split_at_mut(1);
        key_id.copy_from_slice(&[voucher.key_id.get()]);
        serial.copy_from_slice(&voucher.serial.get().to_be_bytes());
        let mac = hmac::sign(&self.key, &msg);
        let mut first = [0u8; 8];
        first.copy_from_slice(mac.as_ref().get(..8).unwrap_or(&[0; 8]));
        u64::from_be_bytes(first) >> (64 - TAG_BITS)
    }
}

impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey(<secret>)")
    }
}

/// The code keys by key id. One is active for issuing; the others are kept so
/// that codes already printed keep verifying after a rotation.
#[derive(Clone)]
pub struct CodeKeyRing {
    keys: [Option<CodeKey>; KEY_IDS as usize],
    active: KeyId,
}

impl CodeKeyRing {
    /// A ring with one key, active.
    pub fn new(active: KeyId, key: CodeKey) -> Self {
        let mut ring = Self {
            keys: Default::default(),
            active,
        };
        ring.insert(active, key);
        ring
    }

    /// Adds (or replaces) the key for `id`, without changing the active key.
    pub fn insert(&mut self, id: KeyId, key: CodeKey) {
        if let Some(slot) = self.keys.get_mut(usize::from(id.get())) {
            *slot = Some(key);
        }
    }

    /// Makes `id` the key for new codes; `false` if no key has that id.
    pub fn set_active(&mut self, id: KeyId) -> bool {
        let known = self.get(id).is_some();
        if known {
            self.active = id;
        }
        known
    }

    pub fn active(&self) -> KeyId {
        self.active
    }

    fn get(&self, id: KeyId) -> Option<&CodeKey> {
        self.keys
            .get(usize::from(id.get()))
            .and_then(Option::as_ref)
    }

    /// Mints the code for a voucher with the key its key id names; `None` if
    /// this ring has no such key.
    pub fn encode(&self, voucher: VoucherRef) -> Option<Code> {
        let key = self.get(voucher.key_id)?;
        Some(Code::from_parts(voucher, key.tag(voucher)))
    }

    /// Steps 6–7: the key must be known and the tag must match. The
    /// comparison is constant-time: `ring::hmac::verify` compares whole
    /// 256-bit MACs and cannot take a truncated tag, so we compare the two
    /// 55-bit values with a branch-free XOR and test the result once.
    pub fn verify(&self, parsed: &ParsedCode) -> Result<VoucherRef, CodeError> {
        let key = self
            .get(parsed.voucher.key_id)
            .ok_or(CodeError::Invalid(InvalidReason::UnknownKey))?;
        let difference = (key.tag(parsed.voucher) ^ parsed.tag) & tag_mask();
        if std::hint::black_box(difference) == 0 {
            Ok(parsed.voucher)
        } else {
            Err(CodeError::Invalid(InvalidReason::BadTag))
        }
    }
}

impl fmt::Debug for CodeKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<u8> = (0..KEY_IDS)
            .filter(|&i| self.keys.get(usize::from(i)).is_some_and(Option::is_some))
            .collect();
        f.debug_struct("CodeKeyRing")
            .field("key_ids", &ids)
            .field("active", &self.active.get())
            .finish()
    }
}
