#![no_main]
//! Every tokenizer kernel against the scalar one and Java's split rules (`checks::tokenizer`).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::tokenizer(data));
