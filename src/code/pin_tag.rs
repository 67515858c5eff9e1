//! PIN tags (steps 5–6 of reading a PIN): a 9-digit HMAC that makes a PIN
//! self-authenticating, and the PIN keys by key id.

use std::fmt;

use ring::hmac;

use super::error::{CodeError, InvalidReason};
use super::pin::{FIELD_LIMIT, PIN_KEY_IDS, ParsedPin, Pin, PinRef};

/// Domain separation for the PIN tag's HMAC message.
const PIN_CONTEXT: &[u8] = b"topup-pin-v1";
/// Length of a PIN key's secret.
pub const PIN_KEY_BYTES: usize = 32;

/// One PIN key: an HMAC-SHA256 key, its pads computed once.
#[derive(Clone)]
pub struct PinKey {
    key: hmac::Key,
}

impl PinKey {
    pub fn new(secret: &[u8; PIN_KEY_BYTES]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// HMAC-SHA256(key, "topup-pin-v1" || key_id || serial as u64 BE):
    /// its first 8 bytes as a big-endian u64, mod 10⁹.
    fn tag(&self, reference: PinRef) -> u32 {
        let mut msg = [0u8; PIN_CONTEXT.len() + 1 + 8];
        let (context, rest) = msg.split_at_mut(PIN_CONTEXT.len());
        context.copy_from_slice(PIN_CONTEXT);
        let (key_id, serial) = rest.split_at_mut(1);
        key_id.copy_from_slice(&[reference.key_id()]);
        serial.copy_from_slice(&u64::from(reference.serial()).to_be_bytes());
        let mac = hmac::sign(&self.key, &msg);
        let mut first = [0u8; 8];
        first.copy_from_slice(mac.as_ref().get(..8).unwrap_or(&[0; 8]));
        let reduced = u64::from_be_bytes(first) % u64::from(FIELD_LIMIT);
        u32::try_from(reduced).unwrap_or(0)
    }
}

impl fmt::Debug for PinKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinKey(<secret>)")
    }
}

/// The PIN keys by key id (0–9). One is active for new PINs; the others
/// keep verifying PINs already printed.
#[derive(Clone)]
pub struct PinKeyRing {
    keys: [Option<PinKey>; PIN_KEY_IDS as usize],
    active: u8,
}

impl PinKeyRing {
    /// A ring with one key, active; `None` if `active` is not 0–9.
    pub fn new(active: u8, key: PinKey) -> Option<Self> {
        if active >= PIN_KEY_IDS {
            return None;
        }
        let mut ring = Self {
            keys: Default::default(),
            active,
        };
        ring.insert(active, key);
        Some(ring)
    }

    /// Adds (or replaces) the key for `id`, without changing the active
    /// key; an id over 9 is ignored.
    pub fn insert(&mut self, id: u8, key: PinKey) {
        if let Some(slot) = self.keys.get_mut(usize::from(id)) {
            *slot = Some(key);
        }
    }

    /// Makes `id` the key for new PINs; `false` if no key has that id.
    pub fn set_active(&mut self, id: u8) -> bool {
        let known = self.get(id).is_some();
        if known {
            self.active = id;
        }
        known
    }

    pub fn active(&self) -> u8 {
        self.active
    }

    fn get(&self, id: u8) -> Option<&PinKey> {
        self.keys.get(usize::from(id)).and_then(Option::as_ref)
    }

    /// The PIN of `reference` under the key its key id names; `None` if
    /// this ring has no such key.
    pub fn encode(&self, reference: PinRef) -> Option<Pin> {
        let key = self.get(reference.key_id())?;
        Some(Pin::from_parts(reference, key.tag(reference)))
    }

    /// Steps 5–6: the key must be known and the tag must match, compared
    /// without a data-dependent branch (one test of the XOR at the end).
    pub fn verify(&self, parsed: &ParsedPin) -> Result<PinRef, CodeError> {
        let key = self
            .get(parsed.reference.key_id())
            .ok_or(CodeError::Invalid(InvalidReason::UnknownKey))?;
        let difference = key.tag(parsed.reference) ^ parsed.tag;
        if std::hint::black_box(difference) == 0 {
            Ok(parsed.reference)
        } else {
            Err(CodeError::Invalid(InvalidReason::BadTag))
        }
    }
}

impl fmt::Debug for PinKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<u8> = (0..PIN_KEY_IDS)
            .filter(|&i| self.get(i).is_some())
            .collect();
        f.debug_struct("PinKeyRing")
            .field("key_ids", &ids)
            .field("active", &self.active)
            .finish()
    }
}
