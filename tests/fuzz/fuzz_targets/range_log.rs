#![no_main]
//! The Kafka range-log reader on range files and file names, and round trips (`checks::range_log`).

#[path = "../checks.rs"]
#[allow(dead_code, reason = "each target runs one of the shared checks")]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::range_log(data));
