#![no_main]
//! The checkpoint reader on metadata and state files, and their round trips (`checks::checkpoint`).

#[path = "../checks.rs"]
#[allow(dead_code, reason = "each target runs one of the shared checks")]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::checkpoint(data));
