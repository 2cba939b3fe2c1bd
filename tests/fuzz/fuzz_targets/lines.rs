#![no_main]
//! Line splitting (views built without checks) against a reference (`checks::lines`).

#[path = "../checks.rs"]
#[allow(dead_code, reason = "each target runs one of the shared checks")]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::lines(data));
