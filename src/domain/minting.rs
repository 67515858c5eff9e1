//! Minting: drawing random serials and signing attestations for new
//! vouchers, before storage records them.
//!
//! Serials are drawn uniformly from the 35-bit space, never sequentially
//! (`docs/code-format.md`): codes then reveal no issuance volume and a guesser
//! must find serial and tag at once. Storage inserts with "do nothing on
//! conflict" and asks for a fresh candidate when a serial is taken.

use ring::rand::{SecureRandom, SystemRandom};

use crate::code::format::MAX_SERIAL;
use crate::code::{AttestationError, KeySet, Label, Serial, VoucherRecord, VoucherRef};

use super::Product;

/// A voucher ready to be stored: its identity and its signed record.
#[derive(Clone, Debug)]
pub struct NewVoucher {
    pub voucher: VoucherRef,
    pub attestation: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

impl NewVoucher {
    /// The row id: key_id · 2^35 + serial.
    pub fn row_id(&self) -> i64 {
        voucher_row_id(self.voucher)
    }
}

/// The database id of a voucher: its key id and serial as one integer, so a
/// code finds its row by primary key.
pub fn voucher_row_id(v: VoucherRef) -> i64 {
    // 5 + 35 bits: always fits in i64.
    (i64::from(v.key_id.get()) << crate::code::format::SERIAL_BITS) | v.serial.get() as i64
}

/// The inverse of [`voucher_row_id`].
pub fn voucher_from_row_id(id: i64) -> Option<VoucherRef> {
    let id = u64::try_from(id).ok()?;
    Some(VoucherRef {
        key_id: crate::code::KeyId::new(
            u8::try_from(id >> crate::code::format::SERIAL_BITS).ok()?,
        )?,
        serial: Serial::new(id & MAX_SERIAL)?,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("the system random number generator failed")]
    Random,
    #[error(transparent)]
    Attestation(#[from] AttestationError),
}

/// Mints vouchers of one product for one structure, at one instant.
pub struct Minter<'a> {
    keys: &'a KeySet,
    rng: SystemRandom,
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
        structure_id: i64,
        product: &Product,
        issued_at: i64,
    ) -> Result<Self, MintError> {
        let label = |s: &str, field| Label::new(s).ok_or(AttestationError::Unsignable(field));
        Ok(Self {
            keys,
            rng: SystemRandom::new(),
            structure_id,
            product: label(&product.id, "product")?,
            resource: label(&product.resource, "resource")?,
            amount: product.amount,
            issued_at,
            expires_at: product.code_expires_at(issued_at),
        })
    }

    fn random_serial(&self) -> Result<Serial, MintError> {
        let mut bytes = [0u8; 8];
        self.rng.fill(&mut bytes).map_err(|_| MintError::Random)?;
        Serial::new(u64::from_be_bytes(bytes) & MAX_SERIAL).ok_or(MintError::Random)
    }

    /// One candidate with a fresh random serial under the active code key.
    pub fn mint(&mut self) -> Result<NewVoucher, MintError> {
        let voucher = VoucherRef {
            key_id: self.keys.codes.active(),
            serial: self.random_serial()?,
        };
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
