//! Replays the fuzz inputs under `cargo test`: every seed in
//! `fuzz/corpus/<target>/` and every crash input in
//! `fuzz/regressions/<target>/` runs through the same checks as the fuzz
//! target of that name (`fuzz/checks.rs`), on stable, without libFuzzer.
//!
//! A crash found by `cargo +nightly fuzz run <target>` becomes a regression
//! test by copying its artifact into `fuzz/regressions/<target>/`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

use std::path::{Path, PathBuf};

#[path = "../fuzz/checks.rs"]
mod checks;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn check_for(target: &str) -> Option<checks::Check> {
    checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|&(_, check)| check)
}

/// Files (not dotfiles) directly inside `dir`, sorted; none if it is missing.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .filter(|path| !path.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}

/// Runs every input under `root/<target>/` through its target's check and
/// returns how many ran. Fails listing every input that panicked, and on a
/// directory that names no target (a typo there would silently skip inputs).
fn replay(root: &Path) -> usize {
    // A missing folder is a failure, not zero inputs: a renamed or deleted
    // folder would otherwise silently replay nothing.
    let entries = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e}; the folder must exist", root.display()));
    let mut ran = 0;
    let mut failures = Vec::new();
    for entry in entries {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        let check = check_for(&target)
            .unwrap_or_else(|| panic!("{}: no fuzz target is named {target}", dir.display()));
        for file in inputs(&dir) {
            let data = std::fs::read(&file).unwrap();
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                failures.push(file.display().to_string());
            }
            ran += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "inputs that fail their check:\n{}",
        failures.join("\n")
    );
    ran
}

#[test]
fn every_target_has_checks_and_seeds() {
    let mut targets: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    targets.sort();
    let mut known: Vec<String> = checks::TARGETS
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    known.sort();
    assert_eq!(
        targets, known,
        "fuzz_targets/*.rs and checks::TARGETS differ"
    );
    for target in &targets {
        let seeds = inputs(&fuzz_dir().join("corpus").join(target));
        assert!(
            seeds.len() >= 3,
            "fuzz/corpus/{target} has {} seeds",
            seeds.len()
        );
    }
}

#[test]
fn corpus_seeds_pass_their_checks() {
    assert!(replay(&fuzz_dir().join("corpus")) > 0);
}

#[test]
fn crash_regressions_pass_their_checks() {
    // Zero inputs is fine (no crash found yet); a missing folder is not.
    replay(&fuzz_dir().join("regressions"));
}

/// The structured layouts are meant to be written by hand; these pin the
/// parts of them that the seeds rely on.
#[test]
fn layouts_read_as_documented() {
    // A short input reads as zero padding: key 0, key id 0, serial 0.
    checks::roundtrip(&[]);
    checks::parse_verify(&[]);
    checks::parse_code(&[]);
    checks::attestation_decode(&[]);
    assert_eq!(
        checks::mangle("1000000000000000000Z", &[]),
        "1000000000000000000Z"
    );
    let typed = checks::mangle("10AB", &[0x0c | 0x10, 0x0a, 0x21 | 0x04, 0x06, 0x03]);
    assert_eq!(typed, "l-O  a-b\t");
}

/// The seeds that should reach the accepting paths do, so the checks on
/// those paths run at all.
#[test]
fn valid_seeds_are_accepted() {
    use relay_topup::code::{self, CodeKey, CodeKeyRing, KeyId, VerifyingKeys};

    let corpus = fuzz_dir().join("corpus");
    let seed = std::fs::read(corpus.join("parse_verify/valid-dashed-k1")).unwrap();
    let (key, rest) = seed.split_at(32);
    let (id, text) = rest.split_at(1);
    let ring = CodeKeyRing::new(
        KeyId::new(id[0]).unwrap(),
        CodeKey::new(&key.try_into().unwrap()),
    );
    let voucher = code::parse_and_verify(&ring, std::str::from_utf8(text).unwrap()).unwrap();
    assert_eq!(voucher.serial.get(), 15_791_944_253);

    let seed = std::fs::read(corpus.join("parse_code/lookalikes-O-I-L")).unwrap();
    assert!(code::parse_bytes(&seed).is_ok());

    let mut keys = VerifyingKeys::default();
    keys.insert(checks::SEED_SIGNING_KEY_ID, checks::SEED_SIGNING_PUBLIC_KEY);
    for name in ["signed-typical", "signed-maximal", "signed-minimal"] {
        let text = std::fs::read_to_string(corpus.join("attestation_decode").join(name)).unwrap();
        let attestation = keys.verify(&text).unwrap();
        assert_eq!(attestation.signing_key_id, checks::SEED_SIGNING_KEY_ID);
    }
}
