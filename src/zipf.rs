//! A deterministic generator of Zipf-distributed text, for benchmarks and tests that need more
//! (or more controlled) text than the shipped corpora.
//!
//! The vocabulary holds `V` distinct synthetic lowercase words. Word lengths grow with rank, as
//! in natural language (frequent words are short): rank `r` gets about `2 + 0.4·log2(r)`
//! letters, jittered by -1..=+2 and clamped to 1..=24, with letters drawn by English letter
//! frequency. Lines are `L` words separated by single spaces and ended by `\n`, each word drawn
//! with probability proportional to `1 / rank^s`.
//!
//! Everything comes from a hand-written SplitMix64 generator seeded by [`ZipfConfig::seed`], so
//! the same configuration always produces the same bytes (the sampling table uses `f64::powf`;
//! platforms whose `pow` differs in the last bit could in principle pick a neighbouring rank).
//!
//! ```
//! use dstreams::zipf::{ZipfConfig, ZipfText};
//!
//! let mut text = ZipfText::new(ZipfConfig { vocabulary: 1000, ..ZipfConfig::default() })?;
//! let mut out = Vec::new();
//! let written = text.write_to(&mut out, 10_000)?;
//! assert!(written <= 10_000 && out.ends_with(b"\n"));
//! # Ok::<(), dstreams::zipf::ZipfError>(())
//! ```

use std::collections::HashSet;
use std::io;

/// The largest vocabulary accepted (the sampling table takes 8 bytes per word).
pub const MAX_VOCABULARY: usize = 1 << 24;

/// The largest number of words per line accepted.
pub const MAX_WORDS_PER_LINE: usize = 1 << 20;

/// Errors from the generator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZipfError {
    /// The vocabulary size is zero or above [`MAX_VOCABULARY`].
    #[error("vocabulary of {vocabulary} words is out of range 1..={MAX_VOCABULARY}")]
    InvalidVocabulary {
        /// The rejected size.
        vocabulary: usize,
    },
    /// The exponent is negative, infinite or NaN.
    #[error("Zipf exponent {exponent} must be finite and non-negative")]
    InvalidExponent {
        /// The rejected exponent.
        exponent: f64,
    },
    /// Words per line is zero or above [`MAX_WORDS_PER_LINE`].
    #[error("{words_per_line} words per line is out of range 1..={MAX_WORDS_PER_LINE}")]
    InvalidWordsPerLine {
        /// The rejected count.
        words_per_line: usize,
    },
    /// Writing the output failed.
    #[error("cannot write generated text: {0}")]
    Io(#[from] io::Error),
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZipfConfig {
    /// Seed of the pseudo-random generator; the same seed gives the same vocabulary and text.
    pub seed: u64,
    /// Number of distinct words `V`.
    pub vocabulary: usize,
    /// Zipf exponent `s`: rank `r` has probability proportional to `1 / r^s` (0 is uniform).
    pub exponent: f64,
    /// Words per line `L`.
    pub words_per_line: usize,
}

impl Default for ZipfConfig {
    /// 50 000 words, `s = 1.0`, 12 words per line, seed `0x5EED`.
    fn default() -> Self {
        Self {
            seed: 0x5EED,
            vocabulary: 50_000,
            exponent: 1.0,
            words_per_line: 12,
        }
    }
}

/// A seeded stream of Zipf-distributed lines.
#[derive(Debug, Clone)]
pub struct ZipfText {
    /// `words[r - 1]` is the word of rank `r`.
    words: Vec<Box<str>>,
    /// `cdf[i]` is the probability of ranks `1..=i + 1`; the last entry is exactly 1.
    cdf: Vec<f64>,
    rng: SplitMix64,
    words_per_line: usize,
    /// A generated line that did not fit in the last `write_to` budget; written first next time.
    pending: Vec<u8>,
}

/// Relative frequency of `a`..=`z` in English text, per 10 000 letters.
const LETTER_WEIGHTS: [u32; 26] = [
    817, 149, 278, 425, 1270, 223, 202, 609, 697, 15, 77, 403, 241, 675, 751, 193, 10, 599, 633,
    906, 276, 98, 236, 15, 197, 7,
];

impl ZipfText {
    /// Builds the vocabulary and sampling table for `config`.
    ///
    /// # Errors
    ///
    /// [`ZipfError::InvalidVocabulary`], [`ZipfError::InvalidExponent`] or
    /// [`ZipfError::InvalidWordsPerLine`] for out-of-range settings.
    pub fn new(config: ZipfConfig) -> Result<Self, ZipfError> {
        let ZipfConfig {
            seed,
            vocabulary,
            exponent,
            words_per_line,
        } = config;
        if vocabulary == 0 || vocabulary > MAX_VOCABULARY {
            return Err(ZipfError::InvalidVocabulary { vocabulary });
        }
        if !exponent.is_finite() || exponent < 0.0 {
            return Err(ZipfError::InvalidExponent { exponent });
        }
        if words_per_line == 0 || words_per_line > MAX_WORDS_PER_LINE {
            return Err(ZipfError::InvalidWordsPerLine { words_per_line });
        }
        // Separate streams, so the vocabulary does not depend on how much text is drawn.
        let mut vocabulary_rng = SplitMix64::new(seed ^ 0xA5A5_5A5A_C3C3_3C3C);
        let words = make_vocabulary(&mut vocabulary_rng, vocabulary);
        let mut cdf = Vec::with_capacity(vocabulary);
        let mut sum = 0.0;
        for rank in 1..=vocabulary {
            sum += (rank as f64).powf(-exponent);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Ok(Self {
            words,
            cdf,
            rng: SplitMix64::new(seed),
            words_per_line,
            pending: Vec::new(),
        })
    }

    /// Number of distinct words.
    pub fn vocabulary(&self) -> usize {
        self.words.len()
    }

    /// The word of 1-based `rank`, or `None` outside `1..=vocabulary`.
    pub fn word(&self, rank: usize) -> Option<&str> {
        self.words.get(rank.checked_sub(1)?).map(|w| &**w)
    }

    /// The probability of drawing the word of 1-based `rank`, or `None` outside the vocabulary.
    pub fn probability(&self, rank: usize) -> Option<f64> {
        let i = rank.checked_sub(1)?;
        let below = if i == 0 { 0.0 } else { *self.cdf.get(i - 1)? };
        Some(self.cdf.get(i)? - below)
    }

    /// Draws one rank (1-based) from the distribution.
    pub fn sample_rank(&mut self) -> usize {
        let u = self.rng.next_f64();
        // First rank whose cumulative probability exceeds `u`; the last entry is 1 > u.
        (self.cdf.partition_point(|&c| c <= u) + 1).min(self.words.len())
    }

    /// Writes whole lines to `out` while they fit in `max_bytes` and returns the bytes written.
    ///
    /// The line that would overflow the budget is kept and written first by the next call, so
    /// successive calls continue one stream. Output is gathered in 64 KiB chunks, so `out` need
    /// not be buffered.
    ///
    /// # Errors
    ///
    /// [`ZipfError::Io`] if writing fails; lines in the failed chunk are lost.
    pub fn write_to<W: io::Write + ?Sized>(
        &mut self,
        out: &mut W,
        max_bytes: u64,
    ) -> Result<u64, ZipfError> {
        const CHUNK: usize = 64 << 10;
        let mut written = 0u64;
        let mut chunk = Vec::with_capacity(CHUNK + 256);
        loop {
            if self.pending.is_empty() {
                self.fill_pending();
            }
            let line_len = self.pending.len() as u64;
            if written + chunk.len() as u64 + line_len > max_bytes {
                break;
            }
            chunk.extend_from_slice(&self.pending);
            self.pending.clear();
            if chunk.len() >= CHUNK {
                out.write_all(&chunk)?;
                written += chunk.len() as u64;
                chunk.clear();
            }
        }
        out.write_all(&chunk)?;
        Ok(written + chunk.len() as u64)
    }

    /// Generates the next line into `self.pending`.
    fn fill_pending(&mut self) {
        for i in 0..self.words_per_line {
            if i > 0 {
                self.pending.push(b' ');
            }
            let rank = self.sample_rank();
            let word = self.words.get(rank - 1).map_or("", |w| &**w);
            self.pending.extend_from_slice(word.as_bytes());
        }
        self.pending.push(b'\n');
    }
}

/// `count` distinct words, shortest (on average) first.
fn make_vocabulary(rng: &mut SplitMix64, count: usize) -> Vec<Box<str>> {
    let mut cumulative = [0u32; 26];
    let mut total = 0;
    for (c, w) in cumulative.iter_mut().zip(LETTER_WEIGHTS) {
        total += w;
        *c = total;
    }
    let mut seen = HashSet::with_capacity(count);
    let mut words = Vec::with_capacity(count);
    let mut word = String::new();
    for rank in 1..=count {
        // Tenths of a letter: 2.0 at rank 1, +0.4 per doubling of the rank.
        let base = (20 + 4 * rank.ilog2() as usize + 5) / 10;
        let jitter = rng.below(4) as usize; // 0..=3, i.e. -1..=+2 around `base`
        let mut len = (base + jitter).saturating_sub(1).clamp(1, 24);
        let mut attempts = 0;
        loop {
            word.clear();
            for _ in 0..len {
                let pick = rng.below(total);
                let letter = cumulative.partition_point(|&c| c <= pick);
                word.push(char::from(b'a' + letter as u8));
            }
            if seen.insert(word.clone()) {
                break;
            }
            // Short lengths run out of distinct words: lengthen after a few collisions.
            attempts += 1;
            if attempts % 8 == 0 {
                len += 1;
            }
        }
        words.push(word.as_str().into());
    }
    words
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for synthetic text.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below 2^-32 · n).
    fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn generate(config: ZipfConfig, bytes: u64) -> Vec<u8> {
        let mut out = Vec::new();
        ZipfText::new(config)
            .unwrap()
            .write_to(&mut out, bytes)
            .unwrap();
        out
    }

    #[test]
    fn same_seed_same_bytes() {
        let config = ZipfConfig::default();
        let a = generate(config, 200_000);
        assert_eq!(a, generate(config, 200_000));
        let other = ZipfConfig { seed: 7, ..config };
        assert_ne!(a, generate(other, 200_000));
    }

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // First outputs of the reference C implementation seeded with 1234567.
        let mut rng = SplitMix64::new(1234567);
        let got: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423
            ]
        );
    }

    #[test]
    fn writes_whole_lines_within_the_budget() {
        let config = ZipfConfig {
            words_per_line: 5,
            ..ZipfConfig::default()
        };
        let mut text = ZipfText::new(config).unwrap();
        let mut out = Vec::new();
        let n = text.write_to(&mut out, 100_003).unwrap();
        assert_eq!(n, out.len() as u64);
        assert!(n <= 100_003 && n > 99_000);
        assert!(out.ends_with(b"\n"));
        for line in std::str::from_utf8(&out).unwrap().lines() {
            assert_eq!(line.split(' ').count(), 5, "{line:?}");
        }
        // The line that did not fit comes first in the next call: the stream continues.
        text.write_to(&mut out, 100_000).unwrap();
        assert_eq!(out, generate(config, out.len() as u64));
        // A budget smaller than a line writes nothing.
        assert_eq!(text.write_to(&mut Vec::new(), 1).unwrap(), 0);
    }

    #[test]
    fn vocabulary_is_distinct_and_short_words_are_frequent() {
        let text = ZipfText::new(ZipfConfig {
            vocabulary: 20_000,
            ..ZipfConfig::default()
        })
        .unwrap();
        let unique: HashSet<&str> = (1..=20_000).filter_map(|r| text.word(r)).collect();
        assert_eq!(unique.len(), 20_000);
        assert!(text.word(0).is_none() && text.word(20_001).is_none());
        let mean = |ranks: std::ops::Range<usize>| {
            let n = ranks.len() as f64;
            ranks
                .filter_map(|r| text.word(r))
                .map(str::len)
                .sum::<usize>() as f64
                / n
        };
        assert!(mean(1..11) < 4.0, "{}", mean(1..11));
        assert!(mean(10_000..20_001) > 6.0, "{}", mean(10_000..20_001));
    }

    #[test]
    fn rank_frequencies_follow_the_law() {
        let config = ZipfConfig {
            vocabulary: 1000,
            exponent: 1.0,
            words_per_line: 10,
            seed: 42,
        };
        let text = ZipfText::new(config).unwrap();
        let rank_of: HashMap<&str, usize> = (1..=1000)
            .map(|r| (text.word(r).unwrap_or(""), r))
            .collect();
        let out = generate(config, 2_000_000);
        let mut counts = vec![0u64; 1001];
        let mut total = 0u64;
        for word in std::str::from_utf8(&out).unwrap().split_ascii_whitespace() {
            counts[rank_of[word]] += 1;
            total += 1;
        }
        // p1 = 1 / H(1000) = 0.1336; the sample has > 300 000 words, so 5 sigma < 0.004.
        let harmonic: f64 = (1..=1000).map(|r| 1.0 / r as f64).sum();
        let p1 = 1.0 / harmonic;
        assert!((text.probability(1).unwrap() - p1).abs() < 1e-12);
        let f1 = counts[1] as f64 / total as f64;
        assert!((f1 - p1).abs() < 0.004, "rank 1: {f1} vs {p1}");
        let f2 = counts[2] as f64 / total as f64;
        assert!(
            (f2 - p1 / 2.0).abs() < 0.003,
            "rank 2: {f2} vs {}",
            p1 / 2.0
        );
    }

    #[test]
    fn exponent_zero_is_uniform() {
        let mut text = ZipfText::new(ZipfConfig {
            vocabulary: 4,
            exponent: 0.0,
            ..ZipfConfig::default()
        })
        .unwrap();
        let mut counts = [0u32; 5];
        for _ in 0..40_000 {
            counts[text.sample_rank()] += 1;
        }
        assert_eq!(counts[0], 0);
        for &c in &counts[1..] {
            assert!((9_400..10_600).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn invalid_configs_are_typed_errors() {
        let base = ZipfConfig::default();
        let bad = [
            ZipfConfig {
                vocabulary: 0,
                ..base
            },
            ZipfConfig {
                vocabulary: MAX_VOCABULARY + 1,
                ..base
            },
            ZipfConfig {
                exponent: -1.0,
                ..base
            },
            ZipfConfig {
                exponent: f64::NAN,
                ..base
            },
            ZipfConfig {
                words_per_line: 0,
                ..base
            },
        ];
        for config in bad {
            let err = ZipfText::new(config).unwrap_err();
            assert!(!matches!(err, ZipfError::Io(_)), "{err}");
        }
    }
}
