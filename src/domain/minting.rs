//! Minting: drawing random serials and signing attestations for new
//! vouchers, before storage records them.
//!
//! Serials are drawn uniformly from the format's whole space (35 bits for a
//! v1 code, 9 digits for a PIN), never sequentially (`docs/code-format.md`,
//! `docs/pin-format.md`): codes then reveal no issuance volume and a
//! guesser must find serial and tag at once. Storage inserts with "do
//! nothing on conflict" and asks for a fresh candidate when a serial is
//! taken.

use ring::rand::{SecureRandom, SystemRandom};

use crate::code::format::{MAX_SERIAL, SERIAL_BITS};
use crate::code::pin::FIELD_LIMIT;
use crate::code::{
    AttestationError, Format, KeyId, KeySet, Label, PinRef, Reference, Serial, VoucherRecord,
    VoucherRef,
};

use super::Product;

/// A voucher ready to be stored: its identity and its signed record.
#[derive(Clone, Debug)]
pub struct NewVoucher {
    pub voucher: Reference,
    pub attestation: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

impl NewVoucher {
    pub fn row_id(&self) -> i64 {
        voucher_row_id(self.voucher)
    }
}

/// Where PIN vouchers' row ids start: above every v1 code's (5 + 35 bits).
pub const PIN_ROW_BASE: i64 = 1 << 40;
/// Row ids per PIN key id: 2^30 > 10^9 serials.
pub const PIN_KEY_SPAN: i64 = 1 << 30;
/// Row ids per code key id: 2^35 serials.
pub const CODE_KEY_SPAN: i64 = 1 << SERIAL_BITS;

/// The database id of a voucher, so a code or a PIN finds its row by
/// primary key: key_id · 2^35 + serial for a v1 code; 2^40 plus
/// key_id · 2^30 plus serial for a PIN. The two ranges never meet, and the
/// schema's CHECK ties each id to its format, key id and serial.
pub fn voucher_row_id(v: Reference) -> i64 {
    match v {
        // 5 + 35 bits: always fits in i64.
        Reference::Code(c) => (i64::from(c.key_id.get()) << SERIAL_BITS) | c.serial.get() as i64,
        Reference::Pin(p) => {
            PIN_ROW_BASE + i64::from(p.key_id()) * PIN_KEY_SPAN + i64::from(p.serial())
        }
    }
}

/// The inverse of [`voucher_row_id`].
pub fn voucher_from_row_id(id: i64) -> Option<Reference> {
    if id >= PIN_ROW_BASE {
        let rest = id - PIN_ROW_BASE;
        let key_id = u8::try_from(rest / PIN_KEY_SPAN).ok()?;
        let serial = u32::try_from(rest % PIN_KEY_SPAN).ok()?;
        return PinRef::new(key_id, serial).map(Reference::Pin);
    }
    let id = u64::try_from(id).ok()?;
    Some(Reference::Code(VoucherRef {
        key_id: KeyId::new(u8::try_from(id >> SERIAL_BITS).ok()?)?,
        serial: Serial::new(id & MAX_SERIAL)?,
    }))
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("the system random number generator failed")]
    Random,
    #[error(transparent)]
    Attestation(#[from] AttestationError),
}

/// Mints vouchers of one product and format for one structure, at one
/// instant.
pub struct Minter<'a> {
    keys: &'a KeySet,
    rng: SystemRandom,
    format: Format,
    structure_id: i64,
    product: Label,
    resource: Label,
    amount: i64,
    issued_at: i64,
    expires_at: i64,
}

impl<'a> Minter<'a> {
    pub fn new(
        keys: &'a KeySet,
        format: Format,
        structure_id: i64,
        product: &Product,
        issued_at: i64,
    ) -> Result<Self, MintError> {
        let label = |s: &str, field| Label::new(s).ok_or(AttestationError::Unsignable(field));
        Ok(Self {
            keys,
            rng: SystemRandom::new(),
            format,
            structure_id,
            product: label(&product.id, "product")?,
            resource: label(&product.resource, "resource")?,
            amount: product.amount,
            issued_at,
            expires_at: product.code_expires_at(issued_at),
        })
    }

    fn random_u64(&self) -> Result<u64, MintError> {
        let mut bytes = [0u8; 8];
        self.rng.fill(&mut bytes).map_err(|_| MintError::Random)?;
        Ok(u64::from_be_bytes(bytes))
    }

    /// A fresh random reference under the format's active key. A v1 code
    /// whose twenty symbols would all be digits is drawn again: it would
    /// be read as a PIN (`docs/pin-format.md`, "One field, two formats").
    fn random_reference(&self) -> Result<Reference, MintError> {
        loop {
            let reference = match self.format {
                Format::Code => Reference::Code(VoucherRef {
                    key_id: self.keys.codes.active(),
                    serial: Serial::new(self.random_u64()? & MAX_SERIAL)
                        .ok_or(MintError::Random)?,
                }),
                Format::Pin => {
                    // Rejection sampling keeps the draw uniform over 10^9.
                    let limit = u64::from(u32::MAX) - u64::from(u32::MAX) % u64::from(FIELD_LIMIT);
                    let draw = self.random_u64()? & u64::from(u32::MAX);
                    if draw >= limit {
                        continue;
                    }
                    let serial = u32::try_from(draw % u64::from(FIELD_LIMIT))
                        .map_err(|_| MintError::Random)?;
                    Reference::Pin(
                        PinRef::new(self.keys.pins.active(), serial).ok_or(MintError::Random)?,
                    )
                }
            };
            if !self.reads_as_pin(reference) {
                return Ok(reference);
            }
        }
    }

    /// Whether a v1 code would be all digits.
    fn reads_as_pin(&self, reference: Reference) -> bool {
        let Reference::Code(v) = reference else {
            return false;
        };
        self.keys
            .codes
            .encode(v)
            .is_some_and(|code| crate::code::pin::looks_numeric(code.compact()))
    }

    /// One candidate with a fresh random serial under the active key.
    pub fn mint(&mut self) -> Result<NewVoucher, MintError> {
        let voucher = self.random_reference()?;
        let record = VoucherRecord {
            voucher,
            structure_id: u64::try_from(self.structure_id)
                .map_err(|_| AttestationError::Unsignable("structure_id"))?,
            product: self.product.clone(),
            resource: self.resource.clone(),
            amount: u64::try_from(self.amount)
                .map_err(|_| AttestationError::Unsignable("amount"))?,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        };
        Ok(NewVoucher {
            voucher,
            attestation: self.keys.signing_key().sign(&record)?,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        })
    }

    /// `count` candidates with distinct serials.
    pub fn batch(&mut self, count: usize) -> Result<Vec<NewVoucher>, MintError> {
        let mut out: Vec<NewVoucher> = Vec::with_capacity(count);
        while out.len() < count {
            let candidate = self.mint()?;
            if out.iter().all(|v| v.voucher != candidate.voucher) {
                out.push(candidate);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_ids_of_both_formats_read_back_and_never_meet() {
        let code_max = Reference::Code(VoucherRef {
            key_id: KeyId::new(31).unwrap(),
            serial: Serial::new(MAX_SERIAL).unwrap(),
        });
        let pin_min = Reference::Pin(PinRef::new(0, 0).unwrap());
        let pin_max = Reference::Pin(PinRef::new(9, FIELD_LIMIT - 1).unwrap());
        assert!(voucher_row_id(code_max) < voucher_row_id(pin_min));
        for r in [code_max, pin_min, pin_max] {
            assert_eq!(voucher_from_row_id(voucher_row_id(r)), Some(r));
        }
        // Between one PIN key's last serial and the next key's first: no
        // voucher.
        assert_eq!(
            voucher_from_row_id(PIN_ROW_BASE + i64::from(FIELD_LIMIT)),
            None
        );
        assert_eq!(voucher_from_row_id(-1), None);
    }
}
