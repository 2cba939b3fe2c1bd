//! The tokeniser: lines (a `StringViewArray`) to one view per token, every view pointing into the
//! lines' own data buffers (no byte is copied).
//!
//! # Separators
//!
//! * [`Separators::Space`] is Spark's `line.split(" ")` (Java's `String.split` with limit 0):
//!   every single `' '` separates, so consecutive spaces give empty tokens, and a leading space
//!   gives a leading empty token; *trailing* empty tokens of a line are dropped (so `"a b  "`
//!   gives `["a", "b"]` and `" "` gives nothing); a line without any space is one token, so an
//!   empty line gives one empty token.
//! * [`Separators::SpaceKeepTrailingEmpty`] is PySpark's `line.split(" ")` (Python's
//!   `str.split(" ")`, and Rust's [`str::split`]`(' ')`): as [`Separators::Space`], but every
//!   empty token is kept, trailing ones included (so `"a b  "` gives `["a", "b", "", ""]`, `" "`
//!   gives `["", ""]` and an empty line one empty token).
//! * [`Separators::AsciiWhitespace`] is [`str::split_ascii_whitespace`]: runs of ASCII
//!   whitespace (space, `\t`, `\n`, form feed, `\r`, as [`u8::is_ascii_whitespace`]; not vertical
//!   tab) separate, and there are no empty tokens.
//!
//! Null lines give no tokens. Every other byte, multi-byte UTF-8 included, is part of a token:
//! lines are valid UTF-8 and are cut only at ASCII bytes, so every token is valid UTF-8.
//!
//! # How
//!
//! Lines of at most 12 bytes are inline in their view: their separator mask is computed from
//! the view in registers (one 16-byte compare), and their tokens' views by shifting and masking
//! the view. Longer lines are scanned in place, in 64-byte blocks aligned
//! to the start of their data buffer, with the SIMD separator masks of [`crate::kernels::simd`]; a line's
//! tokens are the gaps between the set bits (`trailing_zeros`, then clear the lowest bit).
//! The mask of the last block is kept, so when lines are consecutive slices of one buffer (what
//! the line splitter produces: each line starts right after the previous line's newline) every
//! block of the buffer is loaded and compared once, and the per-line cost is a few integer
//! operations (no separate contiguity check is needed: the cache hits exactly when it can);
//! lines elsewhere (other buffers, any order) are handled the same way, just without the shared
//! blocks.
//!
//! Token views are built without branches for inline tokens (a 16-byte load, masked: the same
//! value as `make_view`, tested) and with `make_view` otherwise; long tokens keep the line's
//! buffer index and their absolute offset in that buffer.
//!
//! The fused word count (`kernels::aggregate`) scans a line over 16 KiB in pieces
//! (`LinePieces`) cut at separators where the pieces' tokens are the line's, so that a single
//! huge line's token views are never all held at once.
//!
//! [`tokenize_parallel`] cuts the lines into consecutive ranges (a cut between two lines is a
//! cut at a newline, so no token straddles two tasks) and tokenises them on rayon tasks.

use std::sync::Arc;

use arrow_array::{Array, StringViewArray};
use arrow_buffer::{Buffer, NullBuffer, ScalarBuffer};
use rayon::prelude::*;

use crate::kernels::error::KernelError;
use crate::kernels::simd::{BlockKernel, Class, KernelUser, Simd, dispatch};
use crate::kernels::view::{
    MAX_INLINE, buffer_index, inline_view, token_view, view_len, view_offset,
};

/// Which bytes separate tokens (see the [module docs](self) for the exact rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Separators {
    /// A single `' '`, with Spark's `split(" ")` (Java `String.split`) empty-token rules: the
    /// tokens of a line are exactly [`split_java`](crate::text::split_java)`(line, ' ')`'s.
    Space,
    /// A single `' '`, with PySpark's `split(" ")` (Python's `str.split(" ")`): every `' '`
    /// separates, every empty token kept, including trailing ones; the tokens of a line are
    /// exactly [`str::split`]`(line, ' ')`'s.
    SpaceKeepTrailingEmpty,
    /// Runs of ASCII whitespace, no empty tokens ([`str::split_ascii_whitespace`]).
    AsciiWhitespace,
}

impl Separators {
    /// Every separator mode.
    pub const ALL: [Separators; 3] = [
        Separators::Space,
        Separators::SpaceKeepTrailingEmpty,
        Separators::AsciiWhitespace,
    ];
}

/// Splits every line into tokens: one view per token, into the same data buffers as `lines`
/// (the output's buffers *are* the input's buffers).
///
/// ```
/// use arrow_array::StringViewArray;
/// use dstreams::kernels::tokenize::{Separators, tokenize};
///
/// let lines = StringViewArray::from(vec!["in the beginning", " two  spaces ", ""]);
/// let tokens = tokenize(&lines, Separators::Space)?;
/// let got: Vec<&str> = tokens.iter().flatten().collect();
/// assert_eq!(got, ["in", "the", "beginning", "", "two", "", "spaces", ""]);
/// let tokens = tokenize(&lines, Separators::SpaceKeepTrailingEmpty)?;
/// let got: Vec<&str> = tokens.iter().flatten().collect();
/// assert_eq!(got, ["in", "the", "beginning", "", "two", "", "spaces", "", ""]);
/// let tokens = tokenize(&lines, Separators::AsciiWhitespace)?;
/// let got: Vec<&str> = tokens.iter().flatten().collect();
/// assert_eq!(got, ["in", "the", "beginning", "two", "spaces"]);
/// # Ok::<(), dstreams::kernels::KernelError>(())
/// ```
///
/// # Errors
///
/// [`KernelError::OffsetOverflow`] if a line ends past the 4 GiB that view offsets can address.
pub fn tokenize(lines: &StringViewArray, sep: Separators) -> Result<StringViewArray, KernelError> {
    tokenize_using(lines, sep, Simd::best())
}

/// [`tokenize`] with a chosen separator kernel (for tests and benchmarks).
///
/// # Errors
///
/// [`KernelError::SimdUnavailable`] if `simd` cannot run here, or those of [`tokenize`].
pub fn tokenize_using(
    lines: &StringViewArray,
    sep: Separators,
    simd: Simd,
) -> Result<StringViewArray, KernelError> {
    tokenize_range(lines, 0..lines.len(), sep, simd)
}

/// Splits the lines into `parts` consecutive ranges and tokenises them in parallel (on the
/// current rayon pool). Returns exactly `parts` arrays (some empty when there are fewer lines
/// than parts); concatenated, they are [`tokenize`] of all the lines.
///
/// Ranges hold equal numbers of lines: a line is never split, so very uneven line lengths give
/// uneven parts.
///
/// # Errors
///
/// [`KernelError::ZeroPartitions`] if `parts` is 0, or those of [`tokenize`].
pub fn tokenize_parallel(
    lines: &StringViewArray,
    sep: Separators,
    parts: usize,
) -> Result<Vec<StringViewArray>, KernelError> {
    let simd = Simd::best();
    line_ranges(lines.len(), parts)?
        .into_par_iter()
        .map(|range| tokenize_range(lines, range, sep, simd))
        .collect()
}

/// `parts` consecutive ranges of `0..len` with equal numbers of lines (the first ones one longer).
pub(crate) fn line_ranges(
    len: usize,
    parts: usize,
) -> Result<Vec<std::ops::Range<usize>>, KernelError> {
    if parts == 0 {
        return Err(KernelError::ZeroPartitions);
    }
    let (each, extra) = (len / parts, len % parts);
    let mut start = 0;
    Ok((0..parts)
        .map(|i| {
            let end = start + each + usize::from(i < extra);
            let range = start..end;
            start = end;
            range
        })
        .collect())
}

fn tokenize_range(
    lines: &StringViewArray,
    range: std::ops::Range<usize>,
    sep: Separators,
    simd: Simd,
) -> Result<StringViewArray, KernelError> {
    let views = &lines.views()[range.clone()];
    // Room for the common case (tokens of 3 bytes or more on average) without regrowing.
    let bytes: usize = views.iter().map(|&v| view_len(v)).sum();
    let scan = Scan {
        views,
        first: range.start,
        nulls: lines.nulls(),
        buffers: lines.data_buffers(),
        out: Out::with_capacity(bytes / 4 + views.len() + 65),
    };
    let views = ScalarBuffer::from(dispatch(simd, sep, scan)??.into_vec());
    // SAFETY: `new_unchecked` needs what `try_new` checks. Every view is a token
    // `buf[s..e]` of a line `buf[o..o + len]` of `lines` (a valid array, so the line lies in
    // data buffer `b` and is valid UTF-8), with `o <= s <= e <= o + len`: inline tokens are
    // `inline_view`/`token_view`/`make_view` of those bytes (zero-padded; 0 is the empty
    // string); long tokens name buffer `b` (the same index in the output, whose buffers are the
    // input's) at offset `s`, checked to fit in u32 by `Scan`. Lines are cut only at ASCII
    // bytes, never inside a multi-byte UTF-8 sequence, so every token is valid UTF-8. There are
    // no nulls.
    Ok(unsafe { StringViewArray::new_unchecked(views, Arc::clone(lines.data_buffers()), None) })
}

/// A scan of a range of lines, appending one view per token to `out`; run with the chosen
/// kernel, it returns `out`.
pub(crate) struct Scan<'a> {
    /// The views of the lines to scan.
    pub(crate) views: &'a [u128],
    /// Index in the array of the first of them (for the null buffer and errors).
    pub(crate) first: usize,
    /// The array's null buffer.
    pub(crate) nulls: Option<&'a NullBuffer>,
    /// The array's data buffers.
    pub(crate) buffers: &'a [Buffer],
    /// Where token views are appended.
    pub(crate) out: Out,
}

/// Token views being written.
#[derive(Debug, Default)]
pub(crate) struct Out {
    views: Vec<u128>,
}

impl Out {
    /// Empty, with capacity for `tokens` views.
    pub(crate) fn with_capacity(tokens: usize) -> Out {
        Out {
            views: Vec::with_capacity(tokens),
        }
    }

    /// The tokens written.
    pub(crate) fn tokens(&self) -> &[u128] {
        &self.views
    }

    /// Forgets the tokens, keeping the capacity (for a scratch reused chunk after chunk).
    pub(crate) fn clear(&mut self) {
        self.views.clear();
    }

    /// The tokens, as a vector.
    pub(crate) fn into_vec(self) -> Vec<u128> {
        self.views
    }

    /// Makes room for the at most 65 tokens of one block (64 separators and the line's end),
    /// so that pushes within the block never reallocate.
    #[inline(always)]
    fn room_for_block(&mut self) {
        self.views.reserve(65);
    }

    /// Appends a token if `keep` (false only for the empty pieces between whitespace runs,
    /// which are rare, so the branch predicts well).
    #[inline(always)]
    fn write(&mut self, view: u128, keep: bool) {
        if keep {
            self.views.push(view);
        }
    }

    fn len(&self) -> usize {
        self.views.len()
    }
}

impl KernelUser for Scan<'_> {
    type Out = Result<Out, KernelError>;

    #[inline(always)]
    fn run<K: BlockKernel, C: Class>(self, kernel: K) -> Result<Out, KernelError> {
        let Scan {
            views,
            first,
            nulls,
            buffers,
            mut out,
        } = self;
        // The mask of the last block scanned: (buffer, block start) and its mask.
        let mut cached = (usize::MAX, usize::MAX, 0u64);
        for (i, &view) in views.iter().enumerate() {
            if let Some(nulls) = nulls
                && nulls.is_null(first + i)
            {
                continue;
            }
            let len = view_len(view);
            if len <= MAX_INLINE {
                // The line is in its view, zero-padded (zeros never separate): mask it there.
                let data = view >> 32;
                let mask = u64::from(kernel.mask16::<C>(data));
                scan_line::<C>(
                    0,
                    len,
                    |_| mask,
                    |s, e| inline_view(data >> (8 * s), e - s),
                    &mut out,
                );
                continue;
            }
            let (b, offset) = (buffer_index(view), view_offset(view));
            let Some(buf) = buffers.get(b).map(|buf| buf.as_slice()) else {
                continue; // not in a valid array
            };
            let end = offset + len;
            if end > buf.len() {
                continue; // not in a valid array
            }
            if end > u32::MAX as usize {
                return Err(KernelError::OffsetOverflow {
                    line: first + i,
                    block: b,
                    end,
                });
            }
            let mask_at = |base: usize| {
                if cached.0 == b && cached.1 == base {
                    return cached.2;
                }
                let mask = match buf.get(base..).and_then(|rest| rest.first_chunk::<64>()) {
                    Some(block) => kernel.mask::<C>(block),
                    None => {
                        // The buffer's last, partial block: pad with zeros.
                        let mut block = [0u8; 64];
                        let rest = buf.get(base..).unwrap_or_default();
                        block[..rest.len()].copy_from_slice(rest);
                        kernel.mask::<C>(&block)
                    }
                };
                cached = (b, base, mask);
                mask
            };
            scan_line::<C>(
                offset,
                end,
                mask_at,
                |s, e| token_view(buf, s, e, b as u32),
                &mut out,
            );
        }
        Ok(out)
    }
}

/// Writes the tokens of the line at `start..end` of some bytes: `mask_at(base)` is the
/// separator mask of the 64 bytes from `base` (a multiple of 64) and `view_of(s, e)` the view
/// of the token at `s..e`.
///
/// Every piece between two separators is a token, except that with whitespace separators
/// empty pieces are skipped; with the space separators they are kept, and with
/// [`Separators::Space`] trailing ones are dropped at the line's end.
#[inline(always)]
fn scan_line<C: Class>(
    start: usize,
    end: usize,
    mut mask_at: impl FnMut(usize) -> u64,
    view_of: impl Fn(usize, usize) -> u128,
    out: &mut Out,
) {
    let first_token = out.len();
    let mut token = start;
    let mut base = start & !63;
    let mut mask = mask_at(base) & (u64::MAX << (start - base));
    loop {
        if end - base < 64 {
            mask &= (1u64 << (end - base)) - 1;
        }
        out.room_for_block();
        while mask != 0 {
            let sep = base + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            out.write(view_of(token, sep), C::SPACE_ONLY || sep > token);
            token = sep + 1;
        }
        base += 64;
        if base >= end {
            break;
        }
        mask = mask_at(base);
    }
    out.write(view_of(token, end), C::SPACE_ONLY || end > token);
    if C::DROP_TRAILING_EMPTIES && token == end && start < end {
        // Java drops trailing empty strings; a line without any separator, the empty line
        // included, stays one token.
        trim_empties(out, first_token);
    }
}

/// Drops the empty tokens at the end of `out`, back to `first`.
#[cold]
fn trim_empties(out: &mut Out, first: usize) {
    while out.views.len() > first && out.views.last() == Some(&0) {
        out.views.pop();
    }
}

/// Lines longer than this many bytes are tokenised by the fused word count a piece at a time
/// ([`LinePieces`]), so that the token views of one huge line are never all held at once.
pub(crate) const LONG_LINE: usize = 16 * 1024;

/// The views of consecutive pieces of one long line, each about [`LONG_LINE`] bytes, cut at
/// separator bytes (which belong to no piece) chosen so that the tokens of the pieces, each
/// scanned as a line, are the tokens of the whole line in order.
///
/// With [`Separators::AsciiWhitespace`] any whitespace byte will do. With [`Separators::Space`]
/// a cut needs a non-space byte right before it (the head then ends in a non-empty token, so the
/// line-end rule that drops trailing empty tokens drops none of it) and a byte after it (the
/// tail is never empty, and keeps the line's own end); a run of spaces is therefore never cut,
/// and its empty tokens are held together. With [`Separators::SpaceKeepTrailingEmpty`] any space
/// but the line's last byte will do: `(head + " " + tail).split(' ')` is `head.split(' ')` then
/// `tail.split(' ')` for every head and tail, empty ones included (an empty side gives its one
/// empty token), so a run of spaces may be cut anywhere in it; but a cut at the last byte would
/// leave an empty tail, which is no piece at all (the pieces end when nothing is left) rather
/// than the one empty token it stands for.
pub(crate) struct LinePieces<'a> {
    /// The data buffer holding the line.
    data: &'a [u8],
    /// The line's index among the array's data buffers.
    block: u32,
    /// The part of the line not yet handed out, as a range of `data`.
    rest: std::ops::Range<usize>,
    sep: Separators,
}

impl<'a> LinePieces<'a> {
    /// The pieces of the line whose (long) view is `view`, or `None` if the view does not lie
    /// in `buffers` (which a valid array rules out).
    pub(crate) fn new(view: u128, buffers: &'a [Buffer], sep: Separators) -> Option<Self> {
        let block = buffer_index(view);
        let data = buffers.get(block)?.as_slice();
        let start = view_offset(view);
        let end = start.checked_add(view_len(view))?;
        data.get(start..end)?;
        Some(LinePieces {
            data,
            block: block as u32,
            rest: start..end,
            sep,
        })
    }

    /// The first separator at or after `from` (an index into `data`, inside the rest) where the
    /// rest may be cut.
    fn cut_from(&self, from: usize) -> Option<usize> {
        let end = self.rest.end;
        let after = self.data.get(from..end)?;
        match self.sep {
            Separators::AsciiWhitespace => after
                .iter()
                .position(u8::is_ascii_whitespace)
                .map(|i| from + i),
            Separators::Space => (from.max(self.rest.start + 1)..end - 1)
                .find(|&i| self.data[i] == b' ' && self.data[i - 1] != b' '),
            Separators::SpaceKeepTrailingEmpty => memchr::memchr(b' ', after)
                .map(|i| from + i)
                .filter(|&cut| cut + 1 < end),
        }
    }
}

impl Iterator for LinePieces<'_> {
    type Item = u128;

    fn next(&mut self) -> Option<u128> {
        if self.rest.is_empty() {
            return None;
        }
        let start = self.rest.start;
        let piece_end = match self.cut_from(start.saturating_add(LONG_LINE)) {
            Some(cut) => {
                self.rest.start = cut + 1;
                cut
            }
            None => {
                self.rest.start = self.rest.end;
                self.rest.end
            }
        };
        Some(token_view(self.data, start, piece_end, self.block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::split_java;
    use arrow_array::builder::StringViewBuilder;

    /// Spark's `split(" ")`.
    fn java_split(line: &str) -> Vec<&str> {
        split_java(line, ' ').collect()
    }

    fn tokens(lines: &[&str], sep: Separators, simd: Simd) -> Vec<String> {
        let array = StringViewArray::from(lines.to_vec());
        let out = tokenize_using(&array, sep, simd).unwrap();
        out.iter().map(|t| t.unwrap().to_owned()).collect()
    }

    /// Every kernel gives each case's tokens, which are `reference`'s, and `reference`'s tokens
    /// for the same line made long (not inline in its view).
    fn check_cases(sep: Separators, reference: fn(&str) -> Vec<&str>, cases: &[(&str, &[&str])]) {
        for &(line, expected) in cases {
            assert_eq!(reference(line), expected, "{line:?}");
            for simd in Simd::available() {
                assert_eq!(tokens(&[line], sep, simd), expected, "{line:?}");
                let long = format!("{line}  {}", "y".repeat(20));
                assert_eq!(tokens(&[&long], sep, simd), reference(&long), "{long:?}");
            }
        }
    }

    #[test]
    fn space_follows_java_split() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[""]),
            (" ", &[]),
            ("   ", &[]),
            ("a", &["a"]),
            ("a ", &["a"]),
            (" a", &["", "a"]),
            ("a  b", &["a", "", "b"]),
            ("  a  b  ", &["", "", "a", "", "b"]),
            ("\ta\tb c", &["\ta\tb", "c"]),
        ];
        check_cases(Separators::Space, java_split, cases);
    }

    #[test]
    fn space_keep_trailing_empty_follows_str_split() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[""]),
            (" ", &["", ""]),
            ("   ", &["", "", "", ""]),
            ("a", &["a"]),
            ("a ", &["a", ""]),
            (" a", &["", "a"]),
            ("a  b", &["a", "", "b"]),
            ("  a  b  ", &["", "", "a", "", "b", "", ""]),
            ("\ta\tb c", &["\ta\tb", "c"]),
            ("caf\u{e9} \u{1f980} ", &["caf\u{e9}", "\u{1f980}", ""]),
        ];
        check_cases(
            Separators::SpaceKeepTrailingEmpty,
            |line| line.split(' ').collect(),
            cases,
        );
    }

    #[test]
    fn whitespace_runs_are_one_separator() {
        let line = " \t a\r\n\x0cb  c\x0bd ";
        for simd in Simd::available() {
            assert_eq!(
                tokens(&[line], Separators::AsciiWhitespace, simd),
                ["a", "b", "c\x0bd"]
            );
            assert_eq!(
                tokens(&["", " ", "\t\t"], Separators::AsciiWhitespace, simd),
                Vec::<String>::new()
            );
        }
    }

    #[test]
    fn tokens_point_into_the_input_buffer() {
        // Lines as consecutive slices of one buffer, as the engine's line splitter makes them.
        let text =
            "a line with a longtokenofmanybytes\nshort\n\nsecond line: \u{e9}t\u{e9} caf\u{e9}s\n";
        let buffer = Buffer::from(text.as_bytes());
        let mut builder = StringViewBuilder::new();
        let block = builder.append_block(buffer.clone());
        let mut start = 0;
        for line in text.split_terminator('\n') {
            builder
                .try_append_view(block, start as u32, line.len() as u32)
                .unwrap();
            start += line.len() + 1;
        }
        let lines = builder.finish();
        for simd in Simd::available() {
            let out = tokenize_using(&lines, Separators::Space, simd).unwrap();
            assert!(Arc::ptr_eq(out.data_buffers(), lines.data_buffers()));
            let long = out
                .iter()
                .flatten()
                .find(|t| t.starts_with("longtoken"))
                .unwrap();
            assert_eq!(long.as_ptr(), buffer.as_slice()[14..].as_ptr());
            let got: Vec<&str> = out.iter().flatten().collect();
            let expected: Vec<&str> = text.split_terminator('\n').flat_map(java_split).collect();
            assert_eq!(got, expected);
            // The unchecked array passes Arrow's own validation.
            let (views, buffers, _) = out.clone().into_parts();
            assert_eq!(StringViewArray::try_new(views, buffers, None).unwrap(), out);
        }
    }

    #[test]
    fn null_lines_give_no_tokens() {
        let lines = StringViewArray::from(vec![Some("a b"), None, Some("c")]);
        let out = tokenize(&lines, Separators::Space).unwrap();
        assert_eq!(out.iter().flatten().collect::<Vec<_>>(), ["a", "b", "c"]);
        let sliced = lines.slice(1, 2);
        let out = tokenize(&sliced, Separators::Space).unwrap();
        assert_eq!(out.iter().flatten().collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn parallel_parts_concatenate_to_the_whole() {
        // Fewer lines and parts under Miri, where every rayon task is slow.
        let (n, part_counts) = if cfg!(miri) {
            (20, [1, 2, 3, 7, 19, 20, 21, 60])
        } else {
            (300, [1, 2, 3, 7, 299, 300, 301, 1000])
        };
        let lines: Vec<String> = (0..n)
            .map(|i| format!("line {i} {}", "w ".repeat(i % 11)))
            .collect();
        let array = StringViewArray::from(lines.iter().map(String::as_str).collect::<Vec<_>>());
        let whole = tokenize(&array, Separators::Space).unwrap();
        let whole: Vec<&str> = whole.iter().flatten().collect();
        for parts in part_counts {
            let out = tokenize_parallel(&array, Separators::Space, parts).unwrap();
            assert_eq!(out.len(), parts);
            let joined: Vec<&str> = out.iter().flat_map(|a| a.iter().flatten()).collect();
            assert_eq!(joined, whole, "parts={parts}");
        }
        assert_eq!(
            tokenize_parallel(&array, Separators::Space, 0).unwrap_err(),
            KernelError::ZeroPartitions
        );
    }

    #[test]
    fn line_ranges_cover_everything() {
        for len in 0..20 {
            for parts in 1..25 {
                let r = line_ranges(len, parts).unwrap();
                assert_eq!(r.len(), parts);
                assert_eq!(r[0].start, 0);
                assert_eq!(r[parts - 1].end, len);
                for w in r.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
            }
        }
    }
}
