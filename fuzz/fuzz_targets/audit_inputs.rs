#![no_main]
//! See `checks::audit_inputs` and `fuzz/README.md`.

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::audit_inputs(data));
