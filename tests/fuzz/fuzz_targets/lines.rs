#![no_main]
//! Line splitting (views built without checks) against a reference (`checks::lines`).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::lines(data));
