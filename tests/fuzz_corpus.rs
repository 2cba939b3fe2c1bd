//! The fuzz targets' committed corpora (`tests/fuzz/corpus/<target>/`), replayed through the same
//! checks the fuzzers run (`tests/fuzz/checks.rs`), on stable: a regression on an input a fuzzer
//! once found interesting fails `cargo test`.

#[path = "fuzz/checks.rs"]
mod checks;

use std::path::Path;

/// Every file of `target`'s corpus through `check` (at least one file: an empty corpus is a
/// mistake, not a pass).
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let run = std::panic::catch_unwind(|| check(&data));
        assert!(run.is_ok(), "{} fails its check", path.display());
        inputs += 1;
    }
    assert!(inputs > 0, "{} is empty", dir.display());
}

#[test]
fn the_tokenizer_corpus_passes() {
    replay("tokenizer", checks::tokenizer);
}

#[test]
fn the_lines_corpus_passes() {
    replay("lines", checks::lines);
}

#[test]
fn the_socket_lines_corpus_passes() {
    replay("socket_lines", checks::socket_lines);
}

#[test]
fn the_checkpoint_corpus_passes() {
    replay("checkpoint", checks::checkpoint);
}

#[test]
fn the_wal_corpus_passes() {
    replay("wal", checks::wal);
}

#[test]
fn the_range_log_corpus_passes() {
    replay("range_log", checks::range_log);
}

/// The `checkpoint` target's second crash (an hour-long run): a state file whose schema has a
/// zero-width value type made the record-batch check divide by zero. It is refused or read, not
/// a panic.
#[test]
fn a_state_file_with_a_zero_width_value_type_is_not_a_panic() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus/checkpoint/crash-e1c977f3f3e06a067fabeb73e3e9940387413632");
    checks::checkpoint(&std::fs::read(path).unwrap());
}
