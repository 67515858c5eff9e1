#![no_main]
//! See `pin_checks::pin_verify` and `fuzz/README.md`.

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::pin_verify(data));
