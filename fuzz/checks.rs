//! The checks behind the fuzz targets, shared with `tests/fuzz_regressions.rs`.
//!
//! Each `pub fn <target>(data: &[u8])` is what the fuzz target of that name
//! runs on one input: it calls the code core and panics (an assertion) if an
//! invariant breaks. The fuzz targets in `fuzz_targets/` and the regression
//! test both include this file with `#[path]`, so a crash input replays
//! through exactly the same code under `cargo test`.
//!
//! Structured targets read their input with a fixed layout (see [`Bytes`])
//! instead of `arbitrary`, so that a seed or crash file means the same thing
//! to the fuzzer and to `cargo test`, and so that seeds can be written by hand.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use relay_topup::code::attestation::{self, MAX_LABEL_BYTES};
use relay_topup::code::format::{CODE_SYMBOLS, KEY_IDS, MAX_SERIAL, REF_SYMBOLS, TAG_BITS};
use relay_topup::code::{
    self, AttestationError, CodeError, CodeKey, CodeKeyRing, InvalidReason, KeyId, Label,
    ParsedCode, Reference, Serial, VerifyingKeys, VoucherRef,
};

#[path = "pin_checks.rs"]
mod pin_checks;
pub use pin_checks::{parse_pin, pin_verify};

/// What a target runs on one input; it panics if an invariant breaks.
pub type Check = fn(&[u8]);

/// Every target, by the name of its file in `fuzz_targets/` and of its
/// directories under `corpus/` and `regressions/`.
pub const TARGETS: &[(&str, Check)] = &[
    ("parse_code", parse_code),
    ("parse_verify", parse_verify),
    ("roundtrip", roundtrip),
    ("attestation_decode", attestation_decode),
    ("audit_inputs", audit_inputs),
    ("parse_pin", parse_pin),
    ("pin_verify", pin_verify),
];

/// The signing key id of the attestations in `corpus/attestation_decode/`.
pub const SEED_SIGNING_KEY_ID: u32 = 7;
/// Their Ed25519 public key. The private half was thrown away after signing
/// the seeds, so a mutated input that verifies under it would be a forgery.
pub const SEED_SIGNING_PUBLIC_KEY: [u8; 32] = [
    0x78, 0xb1, 0x73, 0xee, 0x81, 0x08, 0x8f, 0x81, 0xfb, 0x70, 0x92, 0xed, 0xee, 0x74, 0x8a, 0xbd,
    0xc3, 0xfc, 0xb2, 0x6d, 0xc8, 0x6f, 0xae, 0xe5, 0x34, 0xfa, 0x6f, 0xb0, 0xea, 0xd8, 0x91, 0x44,
];

// ---------------------------------------------------------------------------
// parse_code: raw bytes, as typed.

/// Steps 1–5 on raw bytes: `parse_bytes`, `parse` and `VoucherRef::parse`
/// agree with each other and with [`reference_parse`], an independent
/// transcription of `docs/code-format.md`.
pub fn parse_code(data: &[u8]) {
    let lossy = String::from_utf8_lossy(data);
    let from_bytes = code::parse_bytes(data);
    // Documented: bytes read as their lossy UTF-8 text.
    assert_eq!(
        from_bytes,
        code::parse(&lossy),
        "parse_bytes vs parse(lossy)"
    );
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(from_bytes, code::parse(text), "parse_bytes vs parse");
    } else {
        // A byte that is not UTF-8 is a bad character, so the input cannot
        // be a code (a bad character is reported before a length error).
        assert!(
            matches!(from_bytes, Err(CodeError::Malformed { .. })),
            "non-UTF-8 input read as {from_bytes:?}"
        );
    }
    check_parsed(&lossy, from_bytes);
    check_voucher_ref(&lossy, VoucherRef::parse(&lossy));
}

fn check_parsed(text: &str, result: Result<ParsedCode, CodeError>) {
    let expected = reference_parse(text);
    let got = result.map(|p| (p.voucher.key_id.get(), p.voucher.serial.get(), p.tag));
    assert_eq!(got, expected, "parse disagrees with the format document");
    check_error(text, result.err());
    if let Ok(parsed) = result {
        assert!(parsed.voucher.key_id.get() < KEY_IDS);
        assert!(parsed.voucher.serial.get() <= MAX_SERIAL);
        assert!(parsed.tag < 1 << TAG_BITS);
        // The public reference is the code's first eight symbols.
        let symbols = reference_symbols(text).unwrap_or_default();
        let reference = symbols.get(..REF_SYMBOLS).unwrap_or_default();
        assert_eq!(VoucherRef::parse(reference), Ok(parsed.voucher));
        // The tag is half of a bearer secret: Debug must not show it.
        let secret_half = symbols.get(REF_SYMBOLS..).unwrap_or_default();
        assert!(
            !format!("{parsed:?}").contains(secret_half),
            "Debug shows the tag"
        );
    }
}

fn check_voucher_ref(text: &str, result: Result<VoucherRef, CodeError>) {
    let expected = reference_symbols(text).and_then(|s| {
        if s.len() != REF_SYMBOLS {
            return Err(CodeError::Length {
                expected: REF_SYMBOLS,
                found: s.len(),
            });
        }
        let value = s.bytes().fold(0u64, |acc, c| acc << 5 | value_of(c));
        Ok(((value >> 35) as u8, value & MAX_SERIAL))
    });
    let got = result.map(|r| (r.key_id.get(), r.serial.get()));
    assert_eq!(
        got, expected,
        "VoucherRef::parse disagrees with the format document"
    );
    check_error(text, result.err());
    if let Ok(voucher) = result {
        let shown = voucher.to_string();
        let symbols = reference_symbols(text).unwrap_or_default();
        assert_eq!(shown.replace('-', ""), symbols, "VoucherRef Display");
        assert_eq!(shown.len(), REF_SYMBOLS + 1);
        assert_eq!(
            VoucherRef::parse(&shown),
            Ok(voucher),
            "VoucherRef round trip"
        );
    }
}

/// Errors that steps 1–5 may show must be exact and printable.
fn check_error(text: &str, error: Option<CodeError>) {
    match error {
        Some(CodeError::Malformed { position, found }) => {
            assert!(
                (1..=text.chars().count()).contains(&position),
                "position {position} outside the input"
            );
            assert!(
                text.contains(found),
                "reported {found:?}, which was not typed"
            );
        }
        Some(CodeError::Invalid(_)) => panic!("parsing alone answered invalid_code"),
        Some(CodeError::Length { .. } | CodeError::Checksum) | None => {}
    }
    if let Some(error) = error {
        assert!(!error.to_string().is_empty());
    }
}

// ---------------------------------------------------------------------------
// parse_verify: a key ring and a typed string.

/// Layout: 32 bytes of code key, 1 byte of key id (mod 32), then the typed
/// text (lossy UTF-8). Whatever is typed, `parse_and_verify` answers as
/// `parse` did for steps 1–5, and accepts only the genuine code.
pub fn parse_verify(data: &[u8]) {
    let mut input = Bytes(data);
    let key = input.array::<32>();
    let key_id = key_id(input.byte());
    let text = String::from_utf8_lossy(input.rest());
    let ring = CodeKeyRing::new(key_id, CodeKey::new(&key));

    let result = code::parse_and_verify(&ring, &text);
    match code::parse(&text) {
        Err(error) => assert_eq!(result, Err(error), "parse_and_verify vs parse"),
        Ok(parsed) => match result {
            Ok(voucher) => {
                assert_eq!(voucher, parsed.voucher);
                assert_eq!(
                    voucher.key_id,
                    ring.active(),
                    "accepted under a key the ring lacks"
                );
                let Some(genuine) = ring.encode(voucher) else {
                    panic!("accepted a voucher the ring cannot encode");
                };
                // Acceptance implies genuine: what was typed is, symbol for
                // symbol, the code this ring mints for this voucher.
                assert_eq!(reference_symbols(&text).as_deref(), Ok(genuine.compact()));
                assert_eq!(code::parse(&genuine.to_string()), Ok(parsed));
                assert_eq!(
                    code::parse_and_verify(&ring, &genuine.to_string()),
                    Ok(voucher)
                );
                assert_eq!(genuine.voucher(), voucher);
                assert!(
                    !format!("{genuine:?}")
                        .contains(genuine.compact().get(REF_SYMBOLS..).unwrap_or("-"))
                );
            }
            Err(CodeError::Invalid(reason)) => {
                let known = parsed.voucher.key_id == ring.active();
                let expected = if known {
                    InvalidReason::BadTag
                } else {
                    InvalidReason::UnknownKey
                };
                assert_eq!(reason, expected);
                // No oracle: one answer for every authenticity failure.
                assert_eq!(CodeError::Invalid(reason).to_string(), "invalid code");
            }
            Err(other) => panic!("parse accepted {text:?} but parse_and_verify said {other:?}"),
        },
    }
}

// ---------------------------------------------------------------------------
// roundtrip: mint a code, type it the way people do.

/// Layout: 32 bytes of code key, 1 byte of key id (mod 32), 8 bytes of serial
/// (big-endian, masked to 35 bits), 2 typo bytes (position, symbol), then one
/// mangle byte per symbol (see [`mangle`]). Every legitimate way of typing a
/// genuine code verifies to its voucher; every single substitution and every
/// adjacent transposition but 0↔Z is a checksum error.
pub fn roundtrip(data: &[u8]) {
    let mut input = Bytes(data);
    let key = input.array::<32>();
    let key_id = key_id(input.byte());
    let serial = u64::from_be_bytes(input.array::<8>()) & MAX_SERIAL;
    let [typo_at, typo_symbol] = input.array::<2>();
    let mangles = input.rest();

    let Some(serial) = Serial::new(serial) else {
        panic!("Serial::new refused a masked serial {serial}");
    };
    let voucher = VoucherRef { key_id, serial };
    let ring = CodeKeyRing::new(key_id, CodeKey::new(&key));
    let Some(code) = ring.encode(voucher) else {
        panic!("the ring cannot encode its own key id");
    };
    let canonical = code.to_string();
    let compact = code.compact();

    assert_eq!(compact.len(), CODE_SYMBOLS);
    assert_eq!(canonical.len(), CODE_SYMBOLS + 4);
    assert_eq!(canonical.replace('-', ""), compact);
    assert!(
        canonical.starts_with(&voucher.to_string()),
        "{canonical} vs {voucher}"
    );
    assert_eq!(VoucherRef::parse(&voucher.to_string()), Ok(voucher));
    assert_eq!(code.voucher(), voucher);
    assert_eq!(
        code::parse_and_verify(&ring, &canonical),
        Ok(voucher),
        "{canonical}"
    );
    assert_eq!(
        code::parse_and_verify(&ring, compact),
        Ok(voucher),
        "{compact}"
    );

    let typed = mangle(compact, mangles);
    assert_eq!(
        code::parse_and_verify(&ring, &typed),
        Ok(voucher),
        "typed {typed:?}"
    );
    assert_eq!(code::parse(&typed), code::parse(compact), "typed {typed:?}");

    // The same key under another id does not verify it.
    let Some(other_id) = KeyId::new((key_id.get() + 1) % KEY_IDS) else {
        panic!("key id arithmetic");
    };
    let other = CodeKeyRing::new(other_id, CodeKey::new(&key));
    assert_eq!(
        code::parse_and_verify(&other, compact),
        Err(CodeError::Invalid(InvalidReason::UnknownKey))
    );

    // One wrong symbol.
    let mut symbols = compact.as_bytes().to_vec();
    let at = usize::from(typo_at) % CODE_SYMBOLS;
    let replacement = ALPHABET[usize::from(typo_symbol) % ALPHABET.len()];
    if symbols[at] != replacement {
        symbols[at] = replacement;
        let text = String::from_utf8_lossy(&symbols);
        assert_eq!(
            code::parse(&text),
            Err(CodeError::Checksum),
            "substitution {text}"
        );
    }

    // Two neighbours swapped.
    let mut symbols = compact.as_bytes().to_vec();
    let at = usize::from(typo_at) % (CODE_SYMBOLS - 1);
    let (a, b) = (symbols[at], symbols[at + 1]);
    if a != b {
        symbols.swap(at, at + 1);
        let text = String::from_utf8_lossy(&symbols);
        if matches!((a, b), (b'0', b'Z') | (b'Z', b'0')) {
            // The one swap the check symbol misses (format document); the
            // tag or key id catches it (a false accept is a 2^-55 chance).
            assert!(
                matches!(
                    code::parse_and_verify(&ring, &text),
                    Err(CodeError::Invalid(_))
                ),
                "0/Z swap {text}"
            );
        } else {
            assert_eq!(
                code::parse(&text),
                Err(CodeError::Checksum),
                "transposition {text}"
            );
        }
    }
}

/// Types a canonical code the way a person may: one byte per symbol says
/// which separator goes before it (bits 0–1: none, space, dash, tab; bit 5
/// doubles it), whether it is lower case (bit 2), and whether `0` is typed
/// `O` and `1` typed `I` or `L` (bit 3; bit 4 picks `L`). The byte after the
/// last symbol's gives a trailing separator. Missing bytes mean "as printed,
/// without separators".
pub fn mangle(compact: &str, mangles: &[u8]) -> String {
    let mut out = String::new();
    let separator = |out: &mut String, byte: u8| {
        let sep = match byte & 3 {
            0 => return,
            1 => ' ',
            2 => '-',
            _ => '\t',
        };
        out.push(sep);
        if byte & 0x20 != 0 {
            out.push(sep);
        }
    };
    for (i, c) in compact.chars().enumerate() {
        let byte = mangles.get(i).copied().unwrap_or(0);
        separator(&mut out, byte);
        let c = match (c, byte & 8 != 0, byte & 16 != 0) {
            ('0', true, _) => 'O',
            ('1', true, false) => 'I',
            ('1', true, true) => 'L',
            (c, _, _) => c,
        };
        out.push(if byte & 4 != 0 {
            c.to_ascii_lowercase()
        } else {
            c
        });
    }
    separator(&mut out, mangles.get(compact.len()).copied().unwrap_or(0));
    out
}

// ---------------------------------------------------------------------------
// attestation_decode: raw bytes, as text and as the bytes under the base64.

/// The bytes as attestation text (if UTF-8), and the bytes base64url-encoded
/// (so the fuzzer can mutate the binary record directly). Decoding is strict
/// and canonical, and verification refuses whatever decoding refuses.
pub fn attestation_decode(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        attestation_text(text);
    }
    attestation_text(&URL_SAFE_NO_PAD.encode(data));
}

fn attestation_text(text: &str) {
    let decoded = attestation::decode(text);
    let unknown = VerifyingKeys::default().verify(text);
    let mut keys = VerifyingKeys::default();
    keys.insert(SEED_SIGNING_KEY_ID, SEED_SIGNING_PUBLIC_KEY);
    let known = keys.verify(text);
    let attestation = match decoded {
        Err(error) => {
            assert!(!matches!(
                error,
                AttestationError::UnknownSigningKey(_)
                    | AttestationError::BadSignature
                    | AttestationError::Unsignable(_)
            ));
            // "Refused exactly as verify would refuse it."
            assert_eq!(unknown, Err(error), "verify vs decode");
            assert_eq!(known, Err(error), "verify vs decode");
            return;
        }
        Ok(attestation) => attestation,
    };
    let id = attestation.signing_key_id;
    assert_eq!(unknown, Err(AttestationError::UnknownSigningKey(id)));
    match &known {
        Ok(verified) => assert_eq!(verified, &attestation),
        Err(AttestationError::BadSignature) => assert_eq!(id, SEED_SIGNING_KEY_ID),
        Err(AttestationError::UnknownSigningKey(other)) => {
            assert_eq!(*other, id);
            assert_ne!(id, SEED_SIGNING_KEY_ID);
        }
        Err(other) => panic!("decoded, but verify said {other:?}"),
    }

    // Canonical: the text is the one base64url form of its bytes, and the
    // bytes are the one encoding of the record, followed by a signature.
    let bytes = match URL_SAFE_NO_PAD.decode(text) {
        Ok(bytes) => bytes,
        Err(error) => panic!("decoded an attestation that is not base64url: {error}"),
    };
    assert_eq!(
        URL_SAFE_NO_PAD.encode(&bytes),
        text,
        "non-canonical base64 accepted"
    );
    let unsigned = match attestation::encode_unsigned(id, &attestation.record) {
        Ok(unsigned) => unsigned,
        Err(error) => panic!("decoded a record that cannot be signed: {error}"),
    };
    assert_eq!(
        unsigned.len() + attestation::SIGNATURE_BYTES,
        bytes.len(),
        "length"
    );
    assert_eq!(
        bytes.get(..unsigned.len()),
        Some(unsigned.as_slice()),
        "two encodings of one record"
    );

    let r = &attestation.record;
    match r.voucher {
        Reference::Code(v) => {
            assert!(v.key_id.get() < KEY_IDS);
            assert!(v.serial.get() <= MAX_SERIAL);
        }
        Reference::Pin(p) => {
            assert!(p.key_id() < 10);
            assert!(p.serial() < 1_000_000_000);
        }
    }
    assert!(r.structure_id >= 1 && r.amount >= 1);
    assert!(0 <= r.issued_at && r.issued_at < r.expires_at);
    for label in [&r.product, &r.resource] {
        assert!(label.as_str().len() <= MAX_LABEL_BYTES);
        assert_eq!(
            Label::new(label.as_str()).as_ref(),
            Some(label),
            "label rules"
        );
    }
}

// ---------------------------------------------------------------------------
// An independent reading of docs/code-format.md, steps 1–5.

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn value_of(symbol: u8) -> u64 {
    ALPHABET.iter().position(|&c| c == symbol).unwrap_or(0) as u64
}

/// Steps 1–3: the symbols typed, canonical (upper case, look-alikes mapped),
/// or the first character outside the alphabet and its 1-based symbol
/// position.
pub fn reference_symbols(text: &str) -> Result<String, CodeError> {
    let mut symbols = String::new();
    for found in text.chars() {
        if matches!(found, ' ' | '\t' | '-') {
            continue;
        }
        let c = match found.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if c.is_ascii() && ALPHABET.contains(&(c as u8)) {
            symbols.push(c);
        } else {
            return Err(CodeError::Malformed {
                position: symbols.len() + 1,
                found,
            });
        }
    }
    Ok(symbols)
}

/// Steps 1–5: `(key_id, serial, tag)` of what was typed.
pub fn reference_parse(text: &str) -> Result<(u8, u64, u64), CodeError> {
    let symbols = reference_symbols(text)?;
    if symbols.len() != CODE_SYMBOLS {
        return Err(CodeError::Length {
            expected: CODE_SYMBOLS,
            found: symbols.len(),
        });
    }
    let values: Vec<u64> = symbols.bytes().map(value_of).collect();
    let (body, check) = values.split_at(CODE_SYMBOLS - 1);
    // Luhn mod 32 over the body, rightmost first, factors 2, 1, 2, …
    let sum: u64 = body
        .iter()
        .rev()
        .zip([2, 1].into_iter().cycle())
        .map(|(v, factor)| {
            let addend = factor * v;
            addend / 32 + addend % 32
        })
        .sum();
    if check != [(32 - sum % 32) % 32] {
        return Err(CodeError::Checksum);
    }
    let value = body.iter().fold(0u128, |acc, &v| acc << 5 | u128::from(v));
    let tag = (value & ((1 << TAG_BITS) - 1)) as u64;
    let serial = (value >> TAG_BITS) as u64 & MAX_SERIAL;
    let key_id = (value >> (TAG_BITS + 35)) as u8;
    Ok((key_id, serial, tag))
}

// ---------------------------------------------------------------------------
// Input layout.

/// Reads fixed-size fields from the front of an input; a short input reads
/// as if padded with zeros, so every input is a valid structured input.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        let (head, tail) = self.0.split_at(n);
        out[..n].copy_from_slice(head);
        self.0 = tail;
        out
    }

    fn byte(&mut self) -> u8 {
        let [b] = self.array::<1>();
        b
    }

    fn rest(self) -> &'a [u8] {
        self.0
    }
}

fn key_id(byte: u8) -> KeyId {
    match KeyId::new(byte % KEY_IDS) {
        Some(id) => id,
        None => panic!("KeyId::new refused {}", byte % KEY_IDS),
    }
}

/// The audit's untrusted inputs: an operator's statement (the reconcile
/// endpoint's body), an export's lines (`audit verify --export`), and
/// events with arbitrary kinds and data (a tampered database). None may
/// panic. A statement that parses reconciles with itself without a
/// difference, and names no line before the header when it does not.
pub fn audit_inputs(data: &[u8]) {
    use relay_topup::audit::reconcile;
    use relay_topup::audit::replay::Replay;
    use relay_topup::audit::snapshot::{EventRow, Line};

    let text = String::from_utf8_lossy(data);
    match reconcile::parse_statement(&text, 64) {
        Ok(lines) => {
            let mut ids: Vec<i64> = lines.iter().map(|l| l.redemption_id).collect();
            ids.sort_unstable();
            ids.dedup();
            if ids.len() == lines.len() {
                assert!(
                    reconcile::reconcile(&lines, &lines).is_empty(),
                    "self-reconcile"
                );
            }
            assert!(lines.len() <= 64);
        }
        Err(e) => assert!(e.line >= 1),
    }
    for line in text.lines() {
        let _ = serde_json::from_str::<Line>(line);
    }
    let mut replay = Replay::default();
    for (i, line) in text.lines().enumerate() {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        let n = i64::try_from(i).unwrap_or(0);
        let event = EventRow {
            id: n,
            seq: Some(n + 1),
            at: n,
            kind: kind.to_owned(),
            actor: "fuzz".to_owned(),
            structure_id: Some(n % 3),
            voucher_id: Some(n % 5),
            data: rest.to_owned(),
            prev_hash: None,
            hash: None,
        };
        let _ = replay.apply(&event);
    }
}
