//! Splitting text as Spark programs do: Java's `String.split` rules, for `&str` and for the
//! [`Str`](crate::Str) views DStream closures receive.
//!
//! Rust's `str::split(' ')` keeps trailing empty strings; Java's `String.split(" ")`, which
//! Spark's examples call (`lines.flatMap(_.split(" "))`), drops them. A straight port therefore
//! counts `""` words that Spark does not: `"to be "` is `["to", "be", ""]` in Rust and
//! `["to", "be"]` in Java. [`split_java`] (and [`Str::split_java`](crate::Str::split_java))
//! follow Java, and so does the built-in tokenizer with
//! [`Separators::Space`](crate::Separators::Space); the tokenizer follows Rust's (and Python's)
//! `split(' ')` with
//! [`Separators::SpaceKeepTrailingEmpty`](crate::Separators::SpaceKeepTrailingEmpty).

use std::ops::Range;

/// Bytes of a haystack searched a word at a time before `memchr` takes over.
const SHORT_PIECE: usize = 16;

/// The first `byte` in `bytes`. Pieces are mostly short words, so the first
/// [`SHORT_PIECE`] bytes are tested eight at a time in a register (a zero byte of `word ^
/// pattern` is a match; the lowest byte the test flags is always a true one), before `memchr`
/// would have set up.
#[inline]
fn find_byte(byte: u8, bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = u64::from_ne_bytes([byte; 8]);
    for at in (0..SHORT_PIECE).step_by(8) {
        let Some(chunk) = bytes.get(at..at + 8).and_then(|c| c.first_chunk::<8>()) else {
            let rest = bytes.get(at..).unwrap_or_default();
            return rest.iter().position(|&b| b == byte).map(|i| at + i);
        };
        let x = u64::from_le_bytes(*chunk) ^ pattern;
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
    }
    let rest = bytes.get(SHORT_PIECE..).unwrap_or_default();
    memchr::memchr(byte, rest).map(|i| SHORT_PIECE + i)
}

/// What [`split_java`] and [`Str::split`](crate::Str::split) split at: a `char`, a non-empty
/// `&str`, a set of chars (`&[char]`, `[char; N]`), or a predicate on chars.
pub trait Separator {
    /// The byte range of the first match in `haystack`.
    #[doc(hidden)]
    fn first_match(&mut self, haystack: &str) -> Option<(usize, usize)>;

    /// `haystack` without its trailing matches, for separators whose matches are single
    /// characters (two matches never overlap, so trimming them from the end removes exactly
    /// the trailing empty pieces); `None` for others, whose trailing empty pieces are found by
    /// splitting.
    #[doc(hidden)]
    fn trim_trailing<'h>(&mut self, _haystack: &'h str) -> Option<&'h str> {
        None
    }
}

fn range_of(found: Option<(usize, &str)>) -> Option<(usize, usize)> {
    found.map(|(at, m)| (at, at + m.len()))
}

/// An ASCII separator is found with `memchr` on the bytes (a UTF-8 continuation byte is never
/// ASCII, so a byte match is a character match).
impl Separator for char {
    #[inline]
    fn first_match(&mut self, haystack: &str) -> Option<(usize, usize)> {
        if self.is_ascii() {
            let at = find_byte(*self as u8, haystack.as_bytes())?;
            return Some((at, at + 1));
        }
        range_of(haystack.match_indices(*self).next())
    }
    fn trim_trailing<'h>(&mut self, haystack: &'h str) -> Option<&'h str> {
        Some(haystack.trim_end_matches(*self))
    }
}

/// An empty string separates nothing (`str::split("")` would cut between every character).
impl Separator for &str {
    fn first_match(&mut self, haystack: &str) -> Option<(usize, usize)> {
        if self.is_empty() {
            return None;
        }
        range_of(haystack.match_indices(*self).next())
    }
}

impl Separator for &[char] {
    fn first_match(&mut self, haystack: &str) -> Option<(usize, usize)> {
        range_of(haystack.match_indices(*self).next())
    }
    fn trim_trailing<'h>(&mut self, haystack: &'h str) -> Option<&'h str> {
        Some(haystack.trim_end_matches(*self))
    }
}

impl<const N: usize> Separator for [char; N] {
    fn first_match(&mut self, haystack: &str) -> Option<(usize, usize)> {
        range_of(haystack.match_indices(*self).next())
    }
    fn trim_trailing<'h>(&mut self, haystack: &'h str) -> Option<&'h str> {
        Some(haystack.trim_end_matches(*self))
    }
}

impl<F: FnMut(char) -> bool> Separator for F {
    fn first_match(&mut self, haystack: &str) -> Option<(usize, usize)> {
        range_of(haystack.match_indices(&mut *self).next())
    }
    fn trim_trailing<'h>(&mut self, haystack: &'h str) -> Option<&'h str> {
        Some(haystack.trim_end_matches(&mut *self))
    }
}

/// The state of a split: where the next piece starts (`None` once the last piece was given).
pub(crate) struct Cuts<P> {
    next: Option<usize>,
    sep: P,
}

impl<P: Separator> Cuts<P> {
    pub(crate) fn new(sep: P) -> Self {
        Cuts { next: Some(0), sep }
    }

    /// Cuts that give no piece at all.
    pub(crate) fn none(sep: P) -> Self {
        Cuts { next: None, sep }
    }

    /// The byte range of the next piece of `s` (always the same `s`), as `str::split` cuts.
    pub(crate) fn next_piece(&mut self, s: &str) -> Option<Range<usize>> {
        let start = self.next?;
        match self.sep.first_match(&s[start..]) {
            Some((at, end)) => {
                self.next = Some(start + end);
                Some(start..start + at)
            }
            None => {
                self.next = None;
                Some(start..s.len())
            }
        }
    }
}

/// The substrings of a `&str` between matches of a separator, as `str::split` cuts them.
pub(crate) struct Pieces<'a, P> {
    s: &'a str,
    cuts: Cuts<P>,
}

impl<'a, P: Separator> Iterator for Pieces<'a, P> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        self.cuts.next_piece(self.s).map(|r| &self.s[r])
    }
}

/// Something split off a string: tells whether it is empty.
pub trait Piece: Copy {
    /// Whether the piece is the empty string.
    fn is_empty_piece(&self) -> bool;
}

impl Piece for &str {
    fn is_empty_piece(&self) -> bool {
        self.is_empty()
    }
}

/// Java's rules over the pieces `str::split` cuts ([`split_java`],
/// [`Str::split_java`](crate::Str::split_java)): trailing empty pieces are dropped, and a string
/// without any match is returned whole, even when empty. For separators whose matches are single
/// characters the string's trailing matches are trimmed before splitting (which drops exactly
/// those pieces, at the cost of a plain split); other separators hold empty pieces back until a
/// non-empty one follows.
pub struct SplitJava<I: Iterator>(JavaRule<I>);

enum JavaRule<I: Iterator> {
    /// Pieces of the string with its trailing matches trimmed.
    Trimmed(I),
    /// Pieces of the whole string, trailing empty ones held back.
    HeldBack {
        pieces: std::iter::Peekable<I>,
        /// Empty pieces seen but not given out yet: they count only if a non-empty one follows.
        empties: usize,
        /// One of them, to give out.
        empty: Option<I::Item>,
        /// The non-empty piece after them.
        held: Option<I::Item>,
        started: bool,
    },
}

impl<I: Iterator> SplitJava<I> {
    /// Java's pieces of a string split by `pieces` after its trailing matches were trimmed.
    pub(crate) fn trimmed(pieces: I) -> Self {
        SplitJava(JavaRule::Trimmed(pieces))
    }

    /// Java's pieces of a string split by `pieces`, trailing empty ones held back.
    pub(crate) fn held_back(pieces: I) -> Self {
        SplitJava(JavaRule::HeldBack {
            pieces: pieces.peekable(),
            empties: 0,
            empty: None,
            held: None,
            started: false,
        })
    }
}

impl<I: Iterator> Iterator for SplitJava<I>
where
    I::Item: Piece,
{
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        let JavaRule::HeldBack {
            pieces,
            empties,
            empty,
            held,
            started,
        } = &mut self.0
        else {
            let JavaRule::Trimmed(pieces) = &mut self.0 else {
                unreachable!("one of two rules")
            };
            return pieces.next();
        };
        if held.is_some() {
            if *empties > 0 {
                *empties -= 1;
                return *empty;
            }
            return held.take();
        }
        loop {
            let piece = pieces.next()?;
            if !std::mem::replace(started, true) && pieces.peek().is_none() {
                // Nothing matched: the whole string, even an empty one.
                return Some(piece);
            }
            if piece.is_empty_piece() {
                *empties += 1;
                *empty = Some(piece);
            } else if *empties > 0 {
                *empties -= 1;
                *held = Some(piece);
                return *empty;
            } else {
                return Some(piece);
            }
        }
    }
}

/// How to cut `s` by Java's rules: `Ok` with the length of `s` without its trailing matches and
/// the cuts of that prefix when the separator allows (see [`SplitJava`]), `Err` with the cuts of
/// all of `s` when its pieces must be held back.
pub(crate) fn java_cuts<P: Separator>(s: &str, mut sep: P) -> Result<(usize, Cuts<P>), Cuts<P>> {
    match sep.trim_trailing(s) {
        // Only separators: every piece is a trailing empty one.
        Some("") if !s.is_empty() => Ok((0, Cuts::none(sep))),
        Some(trimmed) => Ok((trimmed.len(), Cuts::new(sep))),
        None => Err(Cuts::new(sep)),
    }
}

/// Java's `s.split(sep)` with a literal separator: the substrings between matches, without the
/// trailing empty ones; a string without a match (an empty one too) is the only substring.
///
/// ```
/// use dstreams::text::split_java;
/// assert_eq!(split_java("to be  or ", ' ').collect::<Vec<_>>(), ["to", "be", "", "or"]);
/// assert_eq!(split_java("", ' ').collect::<Vec<_>>(), [""]);
/// assert_eq!(split_java("   ", ' ').count(), 0);
/// // Rust's own split keeps the trailing empty string:
/// assert_eq!("to be ".split(' ').collect::<Vec<_>>(), ["to", "be", ""]);
/// ```
pub fn split_java<P: Separator>(s: &str, sep: P) -> SplitJava<impl Iterator<Item = &str>> {
    match java_cuts(s, sep) {
        Ok((len, cuts)) => SplitJava::trimmed(Pieces { s: &s[..len], cuts }),
        Err(cuts) => SplitJava::held_back(Pieces { s, cuts }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_finds_the_first_match_at_every_position_and_length() {
        for len in 0..40 {
            for at in 0..=len {
                let mut bytes = vec![b'a'; len];
                // Bytes that differ from the separator by one bit, or sit next to it.
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b = [b'a', b'!', b'\x00', 0xff, b'0'][i % 5];
                }
                if at < len {
                    bytes[at] = b' ';
                    if at + 3 < len {
                        bytes[at + 3] = b' ';
                    }
                }
                let expected = bytes.iter().position(|&b| b == b' ');
                assert_eq!(find_byte(b' ', &bytes), expected, "{bytes:?}");
            }
        }
    }

    #[test]
    fn java_split_drops_trailing_empty_strings_only() {
        let cases: [(&str, &[&str]); 9] = [
            ("", &[""]),
            (" ", &[]),
            ("a", &["a"]),
            ("a  b", &["a", "", "b"]),
            ("  a", &["", "", "a"]),
            ("a b  ", &["a", "b"]),
            ("a  b  c   ", &["a", "", "b", "", "c"]),
            // Matches are found forwards, as Java finds them: "aa" then "a".
            ("aaa", &["", "a"]),
            ("na\u{ef}ve  caf\u{e9} ", &["na\u{ef}ve", "", "caf\u{e9}"]),
        ];
        for (input, expected) in cases {
            let sep = if input == "aaa" { "aa" } else { " " };
            assert_eq!(
                split_java(input, sep).collect::<Vec<_>>(),
                expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn the_tokenizer_splits_on_spaces_as_java_does() {
        use crate::kernels::tokenize::{Separators, tokenize};
        use arrow_array::{Array, StringViewArray};
        // Every line of up to 7 characters over {'a', ' ', 'é'}, and longer ones around the
        // tokenizer's 64-byte blocks.
        let alphabet = ["a", " ", "\u{e9}"];
        let mut lines: Vec<String> = vec![String::new()];
        for _ in 0..7 {
            let longer: Vec<String> = lines
                .iter()
                .filter(|l| l.chars().count() == lines.last().map_or(0, |l| l.chars().count()))
                .flat_map(|l| alphabet.iter().map(move |c| format!("{l}{c}")))
                .collect();
            lines.extend(longer);
        }
        for n in [60, 63, 64, 65, 127, 128, 129] {
            lines.push(format!("{}  {} ", "w".repeat(n), "x".repeat(n)));
            lines.push(" ".repeat(n));
        }
        let array = StringViewArray::from(lines.iter().map(String::as_str).collect::<Vec<_>>());
        let tokens = tokenize(&array, Separators::Space).unwrap();
        let expected: Vec<&str> = lines.iter().flat_map(|l| split_java(l, ' ')).collect();
        // Both of Java's rules (trailing matches trimmed for a char, empty pieces held back for
        // a string) agree.
        let held_back: Vec<&str> = lines.iter().flat_map(|l| split_java(l, " ")).collect();
        assert_eq!(expected, held_back);
        assert_eq!(tokens.len(), expected.len());
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(tokens.value(i), *want);
        }
    }

    #[test]
    fn separators_of_every_kind_cut_where_str_split_does() {
        let s = "a,b;c d,,";
        let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
            (
                Pieces {
                    s,
                    cuts: Cuts::new(','),
                }
                .collect(),
                s.split(',').collect(),
            ),
            (
                Pieces {
                    s,
                    cuts: Cuts::new(",,"),
                }
                .collect(),
                s.split(",,").collect(),
            ),
            (
                Pieces {
                    s,
                    cuts: Cuts::new(&[',', ';'][..]),
                }
                .collect(),
                s.split(&[',', ';'][..]).collect(),
            ),
            (
                Pieces {
                    s,
                    cuts: Cuts::new([' ', ';']),
                }
                .collect(),
                s.split([' ', ';']).collect(),
            ),
            (
                Pieces {
                    s,
                    cuts: Cuts::new(|c: char| !c.is_alphabetic()),
                }
                .collect(),
                s.split(|c: char| !c.is_alphabetic()).collect(),
            ),
            (
                Pieces {
                    s,
                    cuts: Cuts::new(""),
                }
                .collect(),
                vec![s],
            ),
        ];
        for (ours, std) in cases {
            assert_eq!(ours, std);
        }
    }
}
