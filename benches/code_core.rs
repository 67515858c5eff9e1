//! Code core throughput: parse + verify of codes and of PINs (the
//! redemption hot path) and attestation sign/verify (the issue hot path).
//!
//! Run with `cargo bench --bench code_core`. Targets on a 2-core machine:
//! parse + verify ≥ 2.5 M codes/s on one core, and as many PINs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use relay_topup::code::{
    self, CodeKey, CodeKeyRing, KeyId, KeyMaterial, KeySet, Label, PinKey, PinKeyRing, PinRef,
    Reference, Serial, VoucherRecord, VoucherRef,
};
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;

fn key_set() -> KeySet {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map(|d| d.as_ref().to_vec());
    let material = KeyMaterial::new([7; 32], pkcs8.unwrap(), [9; 32], [11; 32]);
    KeySet::from_material(&material).unwrap()
}

fn codes(ring: &CodeKeyRing, n: u64) -> Vec<String> {
    (0..n)
        .filter_map(|i| {
            let serial = Serial::new(i.wrapping_mul(2_654_435_761) & code::format::MAX_SERIAL)?;
            let voucher = VoucherRef {
                key_id: ring.active(),
                serial,
            };
            ring.encode(voucher).map(|c| c.to_string())
        })
        .collect()
}

fn parse_and_verify(c: &mut Criterion) {
    let ring = CodeKeyRing::new(KeyId::new(1).unwrap(), CodeKey::new(&[3; 32]));
    let inputs = codes(&ring, 1024);
    let mut group = c.benchmark_group("code");
    group.throughput(Throughput::Elements(inputs.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            inputs
                .iter()
                .filter(|s| code::parse(black_box(s)).is_ok())
                .count()
        })
    });
    group.bench_function("parse_and_verify", |b| {
        b.iter(|| {
            inputs
                .iter()
                .filter(|s| code::parse_and_verify(&ring, black_box(s)).is_ok())
                .count()
        })
    });
    group.finish();
}

fn pins(ring: &PinKeyRing, n: u32) -> Vec<String> {
    (0..n)
        .filter_map(|i| {
            let reference =
                PinRef::new(ring.active(), i.wrapping_mul(2_654_435_761) % 1_000_000_000)?;
            ring.encode(reference).map(|p| p.to_string())
        })
        .collect()
}

fn pin_parse_and_verify(c: &mut Criterion) {
    let ring = PinKeyRing::new(1, PinKey::new(&[3; 32])).unwrap();
    let inputs = pins(&ring, 1024);
    let mut group = c.benchmark_group("pin");
    group.throughput(Throughput::Elements(inputs.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            inputs
                .iter()
                .filter(|s| code::parse_pin(black_box(s)).is_ok())
                .count()
        })
    });
    group.bench_function("parse_and_verify", |b| {
        b.iter(|| {
            inputs
                .iter()
                .filter(|s| code::parse_and_verify_pin(&ring, black_box(s)).is_ok())
                .count()
        })
    });
    group.finish();
}

fn record() -> VoucherRecord {
    VoucherRecord {
        voucher: Reference::Code(VoucherRef {
            key_id: KeyId::new(1).unwrap(),
            serial: Serial::new(15_791_944_253).unwrap(),
        }),
        structure_id: 42,
        product: Label::new("data-1gb").unwrap(),
        resource: Label::new("data_mb").unwrap(),
        amount: 1024,
        issued_at: 1_790_000_000,
        expires_at: 1_790_000_000 + 90 * 86_400,
    }
}

fn attestations(c: &mut Criterion) {
    let keys = key_set();
    let record = record();
    let signed = keys.signing_key().sign(&record).unwrap();
    let mut group = c.benchmark_group("attestation");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign", |b| {
        b.iter(|| keys.signing_key().sign(black_box(&record)))
    });
    group.bench_function("verify", |b| {
        b.iter(|| keys.verifying_keys().verify(black_box(&signed)))
    });
    group.finish();
}

criterion_group!(
    benches,
    parse_and_verify,
    pin_parse_and_verify,
    attestations
);
criterion_main!(benches);
