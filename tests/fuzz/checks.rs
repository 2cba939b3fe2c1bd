//! What the fuzz targets check, on any bytes. Shared by the fuzzers (`tests/fuzz/fuzz_targets/`,
//! libFuzzer on the nightly toolchain: `scripts/fuzz TARGET SECONDS`) and by
//! `tests/fuzz_corpus.rs`, which replays the committed corpora (`tests/fuzz/corpus/`) through
//! the same checks on stable, so `cargo test` catches a regression without a fuzzer.

use arrow_array::{Array, StringViewArray};
use arrow_buffer::Buffer;
use dstreams::kernels::simd::Simd;
use dstreams::kernels::tokenize::{Separators, tokenize_using};
use dstreams::source::lines::{LinesError, split_lines, split_lines_partitioned};
use dstreams::text::split_java;

/// The lines of `text` as the engine cuts them: at `\n`, a `\r` right before it dropped, a last
/// line without a line end still a line, no line for an empty text.
fn reference_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find('\n') {
            Some(i) => {
                lines.push(rest[..i].strip_suffix('\r').unwrap_or(&rest[..i]));
                rest = &rest[i + 1..];
            }
            None => {
                lines.push(rest);
                break;
            }
        }
    }
    lines
}

/// The strings of an array that has no nulls.
fn strings(array: &StringViewArray) -> Vec<&str> {
    array.iter().map(|s| s.expect("no nulls")).collect()
}

/// `split_lines` (its views built without checks) gives valid views of exactly the reference
/// lines, or the first invalid UTF-8 byte; `split_lines_partitioned` gives the same lines in 1 to
/// 4 parts.
pub fn lines(data: &[u8]) {
    let buffer = Buffer::from(data);
    match (std::str::from_utf8(data), split_lines(&buffer)) {
        (Ok(text), Ok(lines)) => {
            lines
                .to_data()
                .validate_full()
                .expect("the views are valid");
            let got = strings(&lines);
            assert_eq!(got, reference_lines(text));
            for parts in 1..=4 {
                let split = split_lines_partitioned(&buffer, parts).expect("valid text");
                assert_eq!(split.len(), parts);
                let joined: Vec<&str> = split.iter().flat_map(strings).collect();
                assert_eq!(joined, got, "{parts} parts");
            }
        }
        (Err(e), Err(LinesError::InvalidUtf8 { offset, .. })) => {
            assert_eq!(offset, e.valid_up_to());
        }
        (text, lines) => panic!("valid UTF-8: {}, split: {:?}", text.is_ok(), lines.err()),
    }
}

/// Every tokenizer kernel available here gives exactly the scalar kernel's tokens, which are
/// `split_java(line, ' ')`'s (and `split_ascii_whitespace`'s) of every line of `data` (invalid
/// UTF-8 replaced).
pub fn tokenizer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = StringViewArray::from_iter_values(text.split('\n'));
    for sep in [Separators::Space, Separators::AsciiWhitespace] {
        let scalar = tokenize_using(&lines, sep, Simd::Scalar).expect("small input");
        scalar
            .to_data()
            .validate_full()
            .expect("the views are valid");
        let want: Vec<&str> = strings(&lines)
            .into_iter()
            .flat_map(|line| match sep {
                Separators::Space => split_java(line, ' ').collect::<Vec<_>>(),
                Separators::AsciiWhitespace => line.split_ascii_whitespace().collect(),
            })
            .collect();
        assert_eq!(strings(&scalar), want, "{sep:?}");
        for simd in Simd::available() {
            let got = tokenize_using(&lines, sep, simd).expect("available");
            assert_eq!(got, scalar, "{simd:?} against scalar, {sep:?}");
        }
    }
}
