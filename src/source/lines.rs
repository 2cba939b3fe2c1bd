//! Zero-copy line splitting: a frozen buffer of text becomes a `StringViewArray` of its lines,
//! every view pointing into the buffer itself.
//!
//! Line rules are those of [`str::lines`]: lines end at `\n`, a `\r` directly before the `\n` is
//! not part of the line, a final line without `\n` is still a line (a lone `\r` at its end is
//! kept), an empty buffer has no lines and an empty line is an empty string.
//!
//! UTF-8 is validated once per buffer, then the buffer is scanned for `\n` 64 bytes at a time
//! (SSE2 compares and movemasks into a 64-bit mask on x86_64, a SWAR kernel elsewhere; then one
//! `trailing_zeros` per line; memchr would also do, lines being long) and one view is made per
//! line with [`make_view`]. Lines of up to 12 bytes live inside their view;
//! longer ones point at the buffer (block `b` of the array for the `b`-th buffer given).
//!
//! [`split_lines_partitioned`] cuts one buffer into `n` parts at line boundaries (Spark's block
//! interval, inside one batch) and splits the parts in parallel with rayon.

use std::sync::Arc;

use arrow_array::StringViewArray;
use arrow_array::builder::make_view;
use arrow_buffer::{Buffer, ScalarBuffer};
use rayon::prelude::*;

/// The longest buffer that can be split: views hold 32-bit offsets and lengths.
///
/// Segments are below 2 GiB, so only a mapped file can exceed this.
pub const MAX_BLOCK_LEN: usize = u32::MAX as usize;

/// Errors from line splitting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinesError {
    /// The buffer is not valid UTF-8. `offset` is the first byte of the first invalid sequence,
    /// counted from the start of block `block`; `line` is its 1-based line number in that block.
    #[error("invalid UTF-8 at byte {offset} (line {line}) of block {block}")]
    InvalidUtf8 {
        /// Index of the offending buffer among those given (0 for a single buffer).
        block: usize,
        /// Byte offset of the first invalid sequence within the block.
        offset: usize,
        /// 1-based number of the line holding it, within the block.
        line: usize,
    },
    /// A buffer is too long for 32-bit view offsets (so a line in it could be too).
    #[error("block {block} is {len} bytes, more than the {MAX_BLOCK_LEN} bytes views can address")]
    BlockTooLarge {
        /// Index of the offending buffer.
        block: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// More buffers than a 32-bit view block index can name.
    #[error("{count} blocks are more than view block indices can name")]
    TooManyBlocks {
        /// Number of buffers given.
        count: usize,
    },
    /// [`split_lines_partitioned`] was asked for zero partitions.
    #[error("cannot split lines into zero partitions")]
    ZeroPartitions,
}

/// Splits `buffer` into its lines, as views into it (block 0).
///
/// ```
/// use arrow_buffer::Buffer;
/// use dstreams::source::lines::split_lines;
///
/// let lines = split_lines(&Buffer::from(&b"first line\r\n\nlast, unterminated"[..]))?;
/// let got: Vec<&str> = lines.iter().flatten().collect();
/// assert_eq!(got, ["first line", "", "last, unterminated"]);
/// # Ok::<(), dstreams::source::lines::LinesError>(())
/// ```
///
/// # Errors
///
/// [`LinesError::InvalidUtf8`] or [`LinesError::BlockTooLarge`].
pub fn split_lines(buffer: &Buffer) -> Result<StringViewArray, LinesError> {
    split_lines_blocks(std::slice::from_ref(buffer))
}

/// Splits several buffers (the segments of one batch, say) into one array of lines; lines of
/// buffer `b` are views into block `b`. No line spans two buffers: each buffer's end ends a line.
///
/// # Errors
///
/// [`LinesError::InvalidUtf8`] naming the first bad block, [`LinesError::BlockTooLarge`] or
/// [`LinesError::TooManyBlocks`].
pub fn split_lines_blocks(blocks: &[Buffer]) -> Result<StringViewArray, LinesError> {
    let count = u32::try_from(blocks.len()).map_err(|_| LinesError::TooManyBlocks {
        count: blocks.len(),
    })?;
    let total: usize = blocks.iter().map(Buffer::len).sum();
    let mut views = Vec::with_capacity(total / 64 + 1);
    for (block, buffer) in (0..count).zip(blocks) {
        let bytes = checked_text(buffer.as_slice(), block as usize)?;
        push_line_views(bytes, block, &mut views);
    }
    // SAFETY: `new_unchecked` needs what `try_new` checks. Every view comes from `make_view` over
    // `&bytes[start..end]` of block `block < blocks.len()` at offset `start` (so inline views are
    // zero-padded, long views carry the right prefix and lie within their block; offsets and
    // lengths fit in u32 as `checked_text` bounds the block length). Each block was validated as
    // UTF-8 and lines are cut only next to the ASCII bytes `\n` and `\r`, which never occur inside
    // a multi-byte sequence, so every line is valid UTF-8. There is no null buffer.
    Ok(unsafe {
        StringViewArray::new_unchecked(ScalarBuffer::from(views), Arc::from(blocks), None)
    })
}

/// Splits `buffer` into `partitions` arrays of consecutive lines, in parallel.
///
/// Cuts are placed near equal byte offsets and moved forward to the next line start, so parts
/// hold similar numbers of bytes and no line is split; some parts are empty when there are fewer
/// lines than partitions. Part `i` views a slice of `buffer` (no bytes are copied). Concatenating
/// the parts gives exactly [`split_lines`] of the whole buffer.
///
/// # Errors
///
/// [`LinesError::ZeroPartitions`], [`LinesError::BlockTooLarge`] or [`LinesError::InvalidUtf8`]
/// (the first invalid byte of the whole buffer, as [`split_lines`] reports it).
pub fn split_lines_partitioned(
    buffer: &Buffer,
    partitions: usize,
) -> Result<Vec<StringViewArray>, LinesError> {
    if partitions == 0 {
        return Err(LinesError::ZeroPartitions);
    }
    let bytes = buffer.as_slice();
    check_len(bytes.len(), 0)?;
    let cuts = partition_cuts(bytes, partitions);
    cuts.par_windows(2)
        .map(|w| split_lines(&buffer.slice_with_length(w[0], w[1] - w[0])))
        .collect::<Result<Vec<_>, _>>()
        // A part reports offsets relative to itself; report the first error of the whole buffer.
        .map_err(|err| match err {
            LinesError::InvalidUtf8 { .. } => checked_text(bytes, 0).err().unwrap_or(err),
            other => other,
        })
}

/// `partitions + 1` non-decreasing cut offsets from 0 to `bytes.len()`, each at a line start.
fn partition_cuts(bytes: &[u8], partitions: usize) -> Vec<usize> {
    let len = bytes.len();
    let mut cuts = Vec::with_capacity(partitions + 1);
    cuts.push(0);
    for i in 1..partitions {
        let previous = cuts.last().copied().unwrap_or(0);
        // `i * len / partitions` without overflow: i < partitions, len < 2^32 checked earlier.
        let nominal = ((i as u128 * len as u128) / partitions as u128) as usize;
        let cut = if nominal <= previous {
            previous
        } else {
            // The first line start at or after `nominal`: just past a `\n` at `nominal - 1` or later.
            bytes[nominal - 1..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(len, |p| nominal + p)
        };
        cuts.push(cut);
    }
    cuts.push(len);
    cuts
}

fn check_len(len: usize, block: usize) -> Result<(), LinesError> {
    if len > MAX_BLOCK_LEN {
        return Err(LinesError::BlockTooLarge { block, len });
    }
    Ok(())
}

/// Checks the length and UTF-8 validity of one block.
fn checked_text(bytes: &[u8], block: usize) -> Result<&[u8], LinesError> {
    check_len(bytes.len(), block)?;
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(bytes),
        Err(e) => {
            let offset = e.valid_up_to();
            let mut line = 1;
            for_each_newline(&bytes[..offset], |_| line += 1);
            Err(LinesError::InvalidUtf8 {
                block,
                offset,
                line,
            })
        }
    }
}

/// Appends one view per line of `bytes` (block `block`). `bytes.len()` must fit in `u32`.
fn push_line_views(bytes: &[u8], block: u32, views: &mut Vec<u128>) {
    let mut push = |start: usize, mut end: usize| {
        if end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        views.push(make_view(&bytes[start..end], block, start as u32));
    };
    let mut start = 0;
    for_each_newline(bytes, |newline| {
        push(start, newline);
        start = newline + 1;
    });
    if start < bytes.len() {
        // A final line without `\n` keeps a lone trailing `\r`, as `str::lines` does.
        views.push(make_view(&bytes[start..], block, start as u32));
    }
}

/// Calls `f` with the offset of every `\n` in `bytes`, in order.
#[inline]
fn for_each_newline(bytes: &[u8], f: impl FnMut(usize)) {
    for_each_newline_with(bytes, newline_mask, f);
}

/// The scan loop over 64-byte blocks, with the block kernel as a parameter (so tests can run
/// every kernel, not just the one this target uses).
#[inline(always)]
fn for_each_newline_with(
    bytes: &[u8],
    mask_of: impl Fn(&[u8; 64]) -> u64,
    mut f: impl FnMut(usize),
) {
    let (blocks, rest) = bytes.as_chunks::<64>();
    for (k, block) in blocks.iter().enumerate() {
        let mut mask = mask_of(block);
        while mask != 0 {
            f(k * 64 + mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
    }
    let base = blocks.len() * 64;
    for (i, &b) in rest.iter().enumerate() {
        if b == b'\n' {
            f(base + i);
        }
    }
}

/// Bit `i` is set when `block[i]` is `\n`: four SSE2 compares and movemasks.
#[cfg(target_arch = "x86_64")]
#[inline]
fn newline_mask(block: &[u8; 64]) -> u64 {
    // SAFETY: `newline_mask_sse2` only requires SSE2, which is part of the x86_64 baseline:
    // every x86_64 CPU has it and rustc's x86_64 targets enable it.
    unsafe { newline_mask_sse2(block) }
}

/// Bit `i` is set when `block[i]` is `\n`: the portable SWAR kernel.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn newline_mask(block: &[u8; 64]) -> u64 {
    newline_mask_swar(block)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn newline_mask_sse2(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set_epi64x, _mm_set1_epi8};
    let newline = _mm_set1_epi8(b'\n' as i8);
    let (lanes, _) = block.as_chunks::<16>();
    let mut mask = 0u64;
    for (j, lane) in lanes.iter().enumerate() {
        // Two safe 8-byte reads that the compiler fuses into one unaligned 16-byte load.
        let x = u128::from_le_bytes(*lane);
        let v = _mm_set_epi64x((x >> 64) as i64, x as i64);
        let hits = _mm_movemask_epi8(_mm_cmpeq_epi8(v, newline)) as u16;
        mask |= u64::from(hits) << (16 * j);
    }
    mask
}

/// The SWAR kernel: eight bytes per `u64`, exact (no false positives), then the high bit of
/// each byte gathered into one bit per byte with a multiply.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn newline_mask_swar(block: &[u8; 64]) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const NEWLINES: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let (words, _) = block.as_chunks::<8>();
    let mut mask = 0u64;
    for (j, word) in words.iter().enumerate() {
        let x = u64::from_le_bytes(*word) ^ NEWLINES; // zero bytes where `\n` was
        let zero_high_bits = !(((x & LOW7) + LOW7) | x | LOW7); // 0x80 in each zero byte
        let bits = ((zero_high_bits >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
        mask |= bits << (8 * j);
    }
    mask
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;

    use super::*;

    fn lines_of(text: &[u8]) -> Vec<String> {
        let array = split_lines(&Buffer::from(text)).unwrap();
        array.iter().map(|s| s.unwrap().to_owned()).collect()
    }

    #[test]
    fn follows_str_lines() {
        for text in [
            "",
            "\n",
            "\n\n",
            "one",
            "one\n",
            "one\r\n",
            "one\r",
            "one\r\r\n",
            "a\rb\n",
            "a\n\nb",
            "first line of many bytes\r\nsecond line of many bytes\n",
        ] {
            let expected: Vec<&str> = text.lines().collect();
            assert_eq!(lines_of(text.as_bytes()), expected, "{text:?}");
        }
    }

    #[test]
    fn unchecked_array_passes_arrow_validation() {
        // The SAFETY argument of `split_lines_blocks`, checked by Arrow's own validation.
        let text =
            "short\r\n\nna\u{ef}ve caf\u{e9} \u{1f980} line of some length\nexactly12byt\nlast\r";
        let array = split_lines_blocks(&[Buffer::from(text.as_bytes()), Buffer::from(&b"x\n"[..])])
            .unwrap();
        let (views, buffers) = (array.views().clone(), array.data_buffers().to_vec());
        let checked = StringViewArray::try_new(views, buffers, None).unwrap();
        assert_eq!(checked, array);
        let expected: Vec<&str> = text.lines().chain(["x"]).collect();
        assert_eq!(array.iter().flatten().collect::<Vec<_>>(), expected);
    }

    type Kernel = fn(&[u8; 64]) -> u64;

    #[test]
    fn newline_kernels_match_a_byte_loop_at_every_alignment() {
        let mut bytes = vec![b'x'; 300];
        for i in (0..300).step_by(7) {
            bytes[i] = b'\n';
        }
        bytes.extend_from_slice(&[b'\n'; 130]); // blocks made only of newlines
        bytes.extend_from_slice(b"\x0b\x09\x8a\n\xff\x0a\x00\x0a"); // near misses
        let kernels: [(&str, Kernel); 2] = [("target", newline_mask), ("swar", newline_mask_swar)];
        for (name, kernel) in kernels {
            for start in 0..70 {
                let slice = &bytes[start..];
                let mut found = Vec::new();
                for_each_newline_with(slice, kernel, |i| found.push(i));
                let expected: Vec<usize> =
                    (0..slice.len()).filter(|&i| slice[i] == b'\n').collect();
                assert_eq!(found, expected, "kernel {name}, start {start}");
            }
        }
    }

    #[test]
    fn invalid_utf8_names_offset_and_line() {
        let err = split_lines(&Buffer::from(&b"ok\nstill ok\nbad \xff here\n"[..])).unwrap_err();
        assert_eq!(
            err,
            LinesError::InvalidUtf8 {
                block: 0,
                offset: 16,
                line: 3
            }
        );
        assert_eq!(
            err.to_string(),
            "invalid UTF-8 at byte 16 (line 3) of block 0"
        );
    }

    #[test]
    fn truncated_multibyte_sequence_is_invalid() {
        // "é" is C3 A9; a line ending after C3 is invalid.
        let err = split_lines(&Buffer::from(&b"caf\xc3\ncafe"[..])).unwrap_err();
        assert!(matches!(
            err,
            LinesError::InvalidUtf8 {
                offset: 3,
                line: 1,
                ..
            }
        ));
    }

    #[test]
    fn blocks_get_their_own_index() {
        let a = Buffer::from(&b"a line in block zero\n"[..]);
        let b = Buffer::from(&b"short\na line in block one\n"[..]);
        let array = split_lines_blocks(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(array.len(), 3);
        assert_eq!(array.data_buffers().len(), 2);
        assert_eq!(array.value(0).as_ptr(), a.as_ptr());
        assert_eq!(array.value(2).as_ptr(), b.as_slice()[6..].as_ptr());
        let bad = Buffer::from(&b"\xff"[..]);
        let err = split_lines_blocks(&[a, b, bad]).unwrap_err();
        assert!(matches!(
            err,
            LinesError::InvalidUtf8 {
                block: 2,
                offset: 0,
                line: 1
            }
        ));
    }

    #[test]
    fn partition_cuts_fall_on_line_starts() {
        let text = b"aaaa\nbb\ncccccccc\nd\n\neee";
        for n in 1..=30 {
            let cuts = partition_cuts(text, n);
            assert_eq!(cuts.len(), n + 1);
            assert_eq!((cuts[0], cuts[n]), (0, text.len()));
            for w in cuts.windows(2) {
                assert!(w[0] <= w[1]);
            }
            for &c in &cuts[1..n] {
                assert!(
                    c == 0 || c == text.len() || text[c - 1] == b'\n',
                    "cut {c} for n={n}"
                );
            }
        }
        assert_eq!(partition_cuts(b"", 3), [0, 0, 0, 0]);
    }

    #[test]
    fn partitions_concatenate_to_the_whole() {
        // Fewer lines and parts under Miri, where every rayon task is slow.
        let (count, part_counts): (usize, &[usize]) = if cfg!(miri) {
            (40, &[1, 2, 3, 50])
        } else {
            (500, &[1, 2, 3, 7, 64, 1000])
        };
        let text: String = (0..count)
            .map(|i| format!("line {i} {}\n", "x".repeat(i % 37)))
            .collect();
        let buffer = Buffer::from(text.as_bytes());
        let whole: Vec<String> = lines_of(text.as_bytes());
        for &n in part_counts {
            let parts = split_lines_partitioned(&buffer, n).unwrap();
            assert_eq!(parts.len(), n);
            let joined: Vec<String> = parts
                .iter()
                .flat_map(|p| p.iter().map(|s| s.unwrap().to_owned()))
                .collect();
            assert_eq!(joined, whole, "n={n}");
        }
    }

    #[test]
    fn partitioned_errors() {
        let buffer = Buffer::from(&b"a\nb\nc\nd\ne\xff\nf\n"[..]);
        assert_eq!(
            split_lines_partitioned(&buffer, 0).unwrap_err(),
            LinesError::ZeroPartitions
        );
        assert_eq!(
            split_lines_partitioned(&buffer, 4).unwrap_err(),
            LinesError::InvalidUtf8 {
                block: 0,
                offset: 9,
                line: 5
            }
        );
    }

    #[test]
    fn oversized_block_is_refused_before_scanning() {
        assert_eq!(check_len(MAX_BLOCK_LEN, 0), Ok(()));
        assert_eq!(
            check_len(MAX_BLOCK_LEN + 1, 3),
            Err(LinesError::BlockTooLarge {
                block: 3,
                len: MAX_BLOCK_LEN + 1
            })
        );
    }
}
