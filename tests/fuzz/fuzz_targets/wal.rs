#![no_main]
//! The receiver write-ahead log reader on log files and file names (`checks::wal`).

#[path = "../checks.rs"]
#[allow(dead_code, reason = "each target runs one of the shared checks")]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::wal(data));
