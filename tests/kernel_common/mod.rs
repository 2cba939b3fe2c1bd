//! Shared by the integration tests and the benchmarks: corpora and a plain line splitter.

#![allow(dead_code)]

use arrow_array::StringViewArray;
use arrow_array::builder::StringViewBuilder;
use arrow_buffer::Buffer;

/// The bundled corpus (4 MB of KJV verses, one per line).
pub const KJV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt");
/// The GCIDE-sized corpus (31 MB, about 221k distinct words); built, not committed.
pub const GCIDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/large/gcide.txt");

/// The bytes of a corpus, or `None` (with a notice) if the file is absent.
pub fn corpus(path: &str) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            eprintln!("notice: skipping {path}: {e}");
            None
        }
    }
}

/// `bytes` repeated until at least `size` bytes (whole copies).
pub fn replicate(bytes: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + bytes.len());
    while out.len() < size && !bytes.is_empty() {
        out.extend_from_slice(bytes);
    }
    out
}

/// The first whole lines of `bytes` up to `size` bytes.
pub fn prefix_lines(bytes: &[u8], size: usize) -> &[u8] {
    if bytes.len() <= size {
        return bytes;
    }
    let cut = bytes[..size]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    &bytes[..cut]
}

/// The lines of `buffer` (as `str::lines`: `\n` ends a line, a `\r` before it is dropped) as
/// views into it, like the engine's line splitter: consecutive slices of one buffer.
pub fn lines_of(buffer: &Buffer) -> StringViewArray {
    let text = std::str::from_utf8(buffer.as_slice()).expect("corpus is UTF-8");
    let mut builder = StringViewBuilder::with_capacity(text.len() / 32);
    let block = builder.append_block(buffer.clone());
    let base = text.as_ptr() as usize;
    for line in text.lines() {
        let offset = line.as_ptr() as usize - base;
        builder
            .try_append_view(block, offset as u32, line.len() as u32)
            .expect("line lies in the buffer");
    }
    builder.finish()
}
