//! Receiver segments and line splitting together: no line is lost, split or copied.
//!
//! Every test here is ignored under Miri, which can neither `mprotect` a segment (sealing) nor
//! map a file; the line splitter's `unsafe` runs under Miri in `source::lines`'s unit tests
//! (see `scripts/miri`).

use arrow_array::{Array, StringViewArray};
use arrow_buffer::Buffer;
use dstreams::source::lines::{
    LinesError, split_lines, split_lines_blocks, split_lines_partitioned,
};
use dstreams::source::mapped_file::map_file;
use dstreams::source::segment::{SegmentConfig, SegmentError, SegmentPool, SegmentWriter};

/// xorshift64*: the tests' own small generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random line of `len` characters mixing ASCII, 2-byte and 4-byte UTF-8.
fn random_line(rng: &mut Rng, len: usize) -> String {
    const ALPHABET: [char; 8] = ['a', 'z', ' ', '\'', 'é', 'ß', '🦀', '9'];
    (0..len)
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

/// Checks every non-inline view of `array` points inside one of its blocks, and that blocks
/// start at a page boundary (the start of a mapping).
fn assert_views_point_into_blocks(array: &StringViewArray, blocks: &[Buffer]) {
    for block in blocks {
        assert_eq!(
            block.as_ptr() as usize % 4096,
            0,
            "a block starts a mapping"
        );
    }
    for i in 0..array.len() {
        let value = array.value(i);
        let p = value.as_ptr() as usize;
        let inside = blocks.iter().any(|b| {
            let start = b.as_ptr() as usize;
            p >= start && p + value.len() <= start + b.len()
        });
        assert_eq!(inside, value.len() > 12, "line {i} ({} bytes)", value.len());
    }
}

/// One sealed batch: its lines copied out right away, or its array kept alive to the end.
enum Batch {
    Copied(Vec<String>),
    Kept(StringViewArray),
}

impl Batch {
    fn new(buffers: &[Buffer], keep: bool) -> Self {
        let array = split_lines_blocks(buffers).unwrap();
        assert_views_point_into_blocks(&array, buffers);
        if keep {
            Self::Kept(array)
        } else {
            // Dropping the array here lets its segments be recycled while others are in use.
            Self::Copied(array.iter().map(|s| s.unwrap().to_owned()).collect())
        }
    }

    fn lines(self) -> Vec<String> {
        match self {
            Self::Copied(lines) => lines,
            Self::Kept(array) => array.iter().map(|s| s.unwrap().to_owned()).collect(),
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
fn no_line_is_split_or_lost_at_seal_boundaries() {
    const CAPACITY: usize = 512;
    let mut reused = 0;
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        // One line of exactly CAPACITY bytes with its newline, then random lines (at most
        // 120 characters of at most 4 bytes, so they fit), some ending with \r\n.
        let mut input = format!("{}\n", "x".repeat(CAPACITY - 1));
        let count = 1 + rng.below(400);
        for i in 0..count {
            let len = [0, 3, 12, 13, 40, 120][rng.below(6)];
            let line = random_line(&mut rng, len);
            input.push_str(&line);
            match rng.below(5) {
                0 => input.push_str("\r\n"),
                1 if i + 1 == count => {} // a final line without a newline
                _ => input.push('\n'),
            }
        }

        let pool = SegmentPool::new(SegmentConfig::with_capacity(CAPACITY)).unwrap();
        let mut writer = SegmentWriter::with_pool(pool.clone());
        let mut batches = Vec::new();
        let mut sealed_bytes = Vec::new();
        let mut rest = input.as_bytes();
        while !rest.is_empty() {
            let n = (1 + rng.below(3 * CAPACITY)).min(rest.len());
            writer.append_raw(&rest[..n]).unwrap();
            rest = &rest[n..];
            let last = rest.is_empty();
            if last || rng.below(4) == 0 {
                let buffers = if last {
                    writer.seal_all()
                } else {
                    writer.seal()
                }
                .unwrap();
                for b in &buffers {
                    if !last {
                        assert!(b.as_slice().ends_with(b"\n"), "only whole lines are sealed");
                    }
                    sealed_bytes.extend_from_slice(b.as_slice());
                }
                batches.push(Batch::new(&buffers, rng.below(2) == 0));
            }
        }
        assert_eq!(
            sealed_bytes,
            input.as_bytes(),
            "seed {seed}: bytes lost or reordered"
        );
        let all: Vec<String> = batches.into_iter().flat_map(Batch::lines).collect();
        let expected: Vec<&str> = input.lines().collect();
        assert_eq!(all, expected, "seed {seed}");
        reused += pool.stats().reused;
    }
    assert!(
        reused > 0,
        "segments were recycled while other batches were alive"
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
fn whole_records_stay_whole() {
    let mut rng = Rng(7);
    let mut writer = SegmentWriter::new(SegmentConfig::with_capacity(100)).unwrap();
    let mut expected = Vec::new();
    let mut got = Vec::new();
    for _ in 0..2000 {
        let len = rng.below(30);
        let line = random_line(&mut rng, len);
        writer.append_line(line.as_bytes()).unwrap();
        expected.push(line);
        if rng.below(50) == 0 {
            for buffer in writer.seal().unwrap() {
                assert!(buffer.len() <= 100 && buffer.as_slice().ends_with(b"\n"));
                got.extend(
                    split_lines(&buffer)
                        .unwrap()
                        .iter()
                        .map(|s| s.unwrap().to_owned()),
                );
            }
        }
    }
    for buffer in writer.seal().unwrap() {
        got.extend(
            split_lines(&buffer)
                .unwrap()
                .iter()
                .map(|s| s.unwrap().to_owned()),
        );
    }
    assert_eq!(got, expected);
}

#[test]
#[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
fn crlf_empty_lines_and_unterminated_last_line() {
    let mut writer = SegmentWriter::new(SegmentConfig::with_capacity(4096)).unwrap();
    writer
        .append_raw(b"windows line\r\n\r\n\nunix line\nno newline")
        .unwrap();
    let sealed = writer.seal_all().unwrap();
    let lines = split_lines(&sealed[0]).unwrap();
    let got: Vec<&str> = lines.iter().flatten().collect();
    assert_eq!(got, ["windows line", "", "", "unix line", "no newline"]);
    assert_eq!(lines.null_count(), 0);
    assert!(
        split_lines(&Buffer::from_vec(Vec::<u8>::new()))
            .unwrap()
            .is_empty()
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
fn multibyte_utf8_survives_and_invalid_utf8_is_located() {
    let text = "naïve café\n東京都の長い行です\n🦀🦀🦀🦀\n";
    let mut writer = SegmentWriter::new(SegmentConfig::with_capacity(4096)).unwrap();
    writer.append_raw(text.as_bytes()).unwrap();
    let sealed = writer.seal().unwrap();
    let lines = split_lines(&sealed[0]).unwrap();
    assert_eq!(
        lines.iter().flatten().collect::<Vec<_>>(),
        text.lines().collect::<Vec<_>>()
    );
    assert_views_point_into_blocks(&lines, &sealed);

    writer
        .append_raw(b"fine\nfine too\nbroken \xe6\x9d here\n")
        .unwrap();
    let sealed = writer.seal().unwrap();
    let err = split_lines(&sealed[0]).unwrap_err();
    assert_eq!(
        err,
        LinesError::InvalidUtf8 {
            block: 0,
            offset: 21,
            line: 3
        }
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
fn oversized_line_from_a_socket_is_an_error_not_a_loss() {
    let mut writer = SegmentWriter::new(SegmentConfig::with_capacity(64)).unwrap();
    writer.append_raw(b"short\n").unwrap();
    let err = writer.append_raw(&[b'y'; 100]).unwrap_err();
    assert!(
        matches!(err, SegmentError::LineTooLong { capacity: 64, .. }),
        "{err}"
    );
    // The complete line before it is still delivered.
    let sealed = writer.seal().unwrap();
    assert_eq!(sealed[0].as_slice(), b"short\n");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot mmap a file")]
fn partitions_of_a_mapped_file_match_the_whole() {
    let path = std::env::temp_dir().join(format!("dstreams-ingest-it-{}", std::process::id()));
    let text: String = (0..3000)
        .map(|i| format!("line number {i} of the file\r\n"))
        .collect();
    std::fs::write(&path, &text).unwrap();
    // SAFETY: the test owns the file and leaves it unmodified while the buffer is alive.
    let buffer = unsafe { map_file(&path) }.unwrap();
    let whole = split_lines(&buffer).unwrap();
    assert_eq!(whole.len(), 3000);
    assert_views_point_into_blocks(&whole, std::slice::from_ref(&buffer));
    let parts = split_lines_partitioned(&buffer, 7).unwrap();
    let joined: Vec<&str> = parts.iter().flat_map(|p| p.iter().flatten()).collect();
    assert_eq!(joined, whole.iter().flatten().collect::<Vec<_>>());
    drop((whole, parts, buffer));
    std::fs::remove_file(&path).unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot mmap a file")]
fn shipped_kjv_corpus_splits_into_its_verses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt");
    if !std::path::Path::new(path).exists() {
        return; // the corpus is optional for builds outside the repository
    }
    // SAFETY: the shipped corpus is never modified while tests run.
    let buffer = unsafe { map_file(path) }.unwrap();
    let verses = split_lines(&buffer).unwrap();
    assert_eq!(verses.len(), 31_102);
    assert_eq!(
        verses.value(0),
        "in the beginning god created the heaven and the earth"
    );
    let parts = split_lines_partitioned(&buffer, 2).unwrap();
    assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), 31_102);
}
