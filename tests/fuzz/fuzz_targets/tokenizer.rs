#![no_main]
//! Every tokenizer kernel against the scalar one and Java's and Python's split rules
//! (`checks::tokenizer`).

#[path = "../checks.rs"]
#[allow(dead_code, reason = "each target runs one of the shared checks")]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::tokenizer(data));
