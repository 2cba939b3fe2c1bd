#![no_main]
//! The socket receiver's line assembly, in any chunks, against a reference cut (`checks::socket_lines`).

#[path = "../checks.rs"]
#[allow(dead_code, reason = "each target runs one of the shared checks")]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::socket_lines(data));
