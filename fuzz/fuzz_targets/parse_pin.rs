#![no_main]
//! See `pin_checks::parse_pin` and `fuzz/README.md`.

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::parse_pin(data));
