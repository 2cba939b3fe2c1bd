//! Reading and building Arrow string views (`u128`: length, then either the 12 inline bytes or
//! a 4-byte prefix, buffer index and offset), without `unsafe`.
//!
//! Views of at most [`MAX_INLINE`] bytes hold the string itself, zero-padded (Arrow's validation
//! enforces the padding, so equal inline strings have equal views); longer ones point into a data
//! buffer of their array.

use arrow_array::builder::make_view;
use arrow_buffer::Buffer;

/// The longest string stored inside its view.
pub const MAX_INLINE: usize = 12;

/// The length of a view's string.
#[inline(always)]
pub(crate) fn view_len(view: u128) -> usize {
    view as u32 as usize
}

/// The data buffer index of a long view.
#[inline(always)]
pub(crate) fn buffer_index(view: u128) -> usize {
    (view >> 64) as u32 as usize
}

/// The offset of a long view's string in its buffer.
#[inline(always)]
pub(crate) fn view_offset(view: u128) -> usize {
    (view >> 96) as u32 as usize
}

/// `INLINE_MASKS[len]` keeps the low `len` bytes of a `u128`.
const INLINE_MASKS: [u128; MAX_INLINE + 1] = {
    let mut masks = [0u128; MAX_INLINE + 1];
    let mut len = 0;
    while len <= MAX_INLINE {
        masks[len] = (1u128 << (8 * len)) - 1;
        len += 1;
    }
    masks
};

/// The inline view of the first `len <= 12` bytes of `word` (little-endian), equal to
/// [`make_view`] of those bytes.
#[inline(always)]
pub(crate) fn inline_view(word: u128, len: usize) -> u128 {
    len as u128 | ((word & INLINE_MASKS[len]) << 32)
}

/// The inline view of `bytes` (at most 12 of them), equal to [`make_view`] of them, read with at
/// most three loads and no copy loop.
#[inline(always)]
pub(crate) fn small_view(bytes: &[u8]) -> u128 {
    let len = bytes.len();
    debug_assert!(len <= MAX_INLINE);
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    // Overlapping loads: the bytes they share are equal, so or-ing them is exact.
    let packed: u128 = if len >= 8 {
        let low = u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default());
        u128::from(low) | u128::from(word(len - 4)) << (8 * (len - 4))
    } else if len >= 4 {
        u128::from(word(0)) | u128::from(word(len - 4)) << (8 * (len - 4))
    } else if len > 0 {
        u128::from(bytes[0])
            | u128::from(bytes[len / 2]) << (8 * (len / 2))
            | u128::from(bytes[len - 1]) << (8 * (len - 1))
    } else {
        0
    };
    inline_view(packed, len)
}

/// The view of `buf[start..end]`, a string of data buffer `block`; equal to
/// `make_view(&buf[start..end], block, start as u32)` (tested), but branch-free for inline
/// strings that have 16 readable bytes from `start`. The caller guarantees
/// `start <= end <= buf.len()` and, for strings longer than 12 bytes, `start <= u32::MAX`.
#[inline(always)]
pub(crate) fn token_view(buf: &[u8], start: usize, end: usize, block: u32) -> u128 {
    let len = end - start;
    if len <= MAX_INLINE
        && let Some(word) = buf.get(start..).and_then(|rest| rest.first_chunk::<16>())
    {
        return inline_view(u128::from_le_bytes(*word), len);
    }
    make_view(&buf[start..end], block, start as u32)
}

/// The bytes of a long view, or an empty slice if it does not lie in `buffers` (which a valid
/// array rules out).
#[inline(always)]
pub(crate) fn long_bytes(view: u128, buffers: &[Buffer]) -> &[u8] {
    let (offset, len) = (view_offset(view), view_len(view));
    buffers
        .get(buffer_index(view))
        .and_then(|b| b.as_slice().get(offset..offset + len))
        .unwrap_or(&[])
}

/// Calls `f` with the string bytes of `view`, whose long form points into `buffers`.
#[inline(always)]
pub(crate) fn with_view_bytes<R>(view: u128, buffers: &[Buffer], f: impl FnOnce(&[u8]) -> R) -> R {
    let len = view_len(view);
    if len <= MAX_INLINE {
        let bytes = view.to_le_bytes();
        f(&bytes[4..4 + len])
    } else {
        f(long_bytes(view, buffers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_view_equals_make_view() {
        let text: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(37) % 251) as u8)
            .collect();
        for start in 0..text.len() {
            for end in start..text.len().min(start + 40) + 1 {
                for block in [0, 7] {
                    assert_eq!(
                        token_view(&text, start, end, block),
                        make_view(&text[start..end], block, start as u32),
                        "{start}..{end}"
                    );
                }
            }
        }
    }

    #[test]
    fn small_view_equals_make_view() {
        let text: Vec<u8> = (1..=MAX_INLINE as u8).map(|i| i.wrapping_mul(97)).collect();
        for len in 0..=MAX_INLINE {
            for start in 0..=MAX_INLINE - len {
                let bytes = &text[start..start + len];
                assert_eq!(small_view(bytes), make_view(bytes, 0, 0), "{bytes:?}");
            }
        }
    }

    #[test]
    fn bytes_of_views() {
        let buffers = [Buffer::from(&b"0123456789abcdefghij"[..])];
        let short = make_view(b"hello", 0, 0);
        let long = make_view(&buffers[0].as_slice()[2..18], 0, 2);
        assert_eq!(with_view_bytes(short, &buffers, |b| b.to_vec()), b"hello");
        assert_eq!(
            with_view_bytes(long, &buffers, |b| b.to_vec()),
            b"23456789abcdefgh"
        );
        // A view outside its buffers reads as empty rather than panicking.
        let stray = make_view(b"0123456789abcdefgh", 3, 0);
        assert_eq!(with_view_bytes(stray, &buffers, |b| b.len()), 0);
    }
}
