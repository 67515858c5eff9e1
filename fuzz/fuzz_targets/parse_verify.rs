#![no_main]
//! See `checks::parse_verify` and `fuzz/README.md`.

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::parse_verify(data));
