//! The engine's hash of string keys, computed once per key and carried with the row through
//! partitioning, aggregation and the window and state tables.
//!
//! # Why this hash
//!
//! Nearly every key of a text stream is at most 12 bytes long (99.8 % of KJV's words, 99.3 % of
//! GCIDE's), and such a key is *inline* in its Arrow string view: the view's 128 bits are the
//! length and the zero-padded bytes, a value the tokeniser already holds in a register. The hash
//! of an inline key is computed from the view itself, without touching the bytes, without a
//! branch on the length and without a loop: two 64 × 64 → 128-bit multiplies, the first of the
//! view's two halves (each xored with a fixed seed), the second of the product's halves, folded
//! (high xor low). Keys of more than 12 bytes are hashed from their bytes by a loop of the same
//! multiply-and-fold steps over 16-byte blocks, from the same seeds. Both are the
//! multiply-fold construction of wyhash, rapidhash and foldhash, specialised to the view.
//!
//! Hashing from the view is what makes it fast: general-purpose string hashes (ahash, foldhash,
//! rapidhash, gxhash) take the bytes and branch on their length to read them (ARCHITECTURE.md,
//! "The hash", has the measurements). The bits the tables and partitions use (the low bits, bits
//! 20 to 52, the top 7) spread evenly over similar keys (tests below).
//!
//! Seeds are fixed, so partitioning and output order are the same from run to run. The hash is
//! not meant to resist adversarial keys (neither was the fixed-seed ahash before it).
//!
//! String keys on the general (closure) path hash with the same function
//! ([`crate::data::Key::hash_key`] of `String`), so kernel output and closure output agree on
//! partitions; other key types use [`key_hash_state`].

use ahash::RandomState;
use arrow_array::{Array, StringViewArray};
use arrow_buffer::Buffer;

use crate::kernels::view::{MAX_INLINE, view_len, with_view_bytes};

/// The hasher of keys that are not strings (integers, tuples, ...): fixed seeds, so partitioning
/// and output order are the same from run to run.
pub fn key_hash_state() -> &'static RandomState {
    static STATE: RandomState = RandomState::with_seeds(SEEDS[0], SEEDS[1], SEEDS[2], SEEDS[3]);
    &STATE
}

/// The fixed seeds (digits of pi).
const SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// The full 128-bit product of two words, as (low, high) halves.
#[inline(always)]
fn multiply(a: u64, b: u64) -> (u64, u64) {
    let r = u128::from(a) * u128::from(b);
    (r as u64, (r >> 64) as u64)
}

/// The product's halves folded into one word.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let (lo, hi) = multiply(a, b);
    lo ^ hi
}

/// The engine's hash of a string key's bytes.
///
/// ```
/// use arrow_array::builder::make_view;
/// use dstreams::kernels::hash::{hash_key, hash_view};
/// // Equal to the hash of the key's string view, inline or not.
/// assert_eq!(hash_key(b"word"), hash_view(make_view(b"word", 0, 0), &[]));
/// assert_ne!(hash_key(b"word"), hash_key(b"words"));
/// ```
#[inline]
pub fn hash_key(bytes: &[u8]) -> u64 {
    if bytes.len() <= MAX_INLINE {
        inline_hash(arrow_array::builder::make_view(bytes, 0, 0))
    } else {
        long_hash(bytes)
    }
}

/// [`hash_key`] of the string of view `view` (long views point into `buffers`): from the view
/// itself when the key is inline, from its bytes (out of line) otherwise.
#[inline(always)]
pub fn hash_view(view: u128, buffers: &[Buffer]) -> u64 {
    if view_len(view) <= MAX_INLINE {
        inline_hash(view)
    } else {
        hash_view_bytes(view, buffers)
    }
}

/// The rare path of [`hash_view`], kept out of the hashing loops so that they keep their
/// registers.
#[inline(never)]
#[cold]
fn hash_view_bytes(view: u128, buffers: &[Buffer]) -> u64 {
    with_view_bytes(view, buffers, long_hash)
}

/// The hash of a key of at most 12 bytes from its (zero-padded) inline view: the length and the
/// first four bytes in the low half, the next eight in the high half.
#[inline(always)]
pub(crate) fn inline_hash(view: u128) -> u64 {
    let (lo, hi) = multiply(view as u64 ^ SEEDS[0], (view >> 64) as u64 ^ SEEDS[1]);
    folded_multiply(lo ^ SEEDS[2], hi ^ SEEDS[3])
}

/// The hash of a key of more than 12 bytes: every 16-byte block folded into the state with
/// one multiply, the last (overlapping) 16 bytes and the length mixed as [`inline_hash`] mixes a
/// view.
fn long_hash(bytes: &[u8]) -> u64 {
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let len = bytes.len();
    let mut state = SEEDS[1] ^ len as u64;
    let mut at = 0;
    while len - at > 16 {
        state = folded_multiply(word(at) ^ SEEDS[2], word(at + 8) ^ state);
        at += 16;
    }
    let (last, tail) = if len >= 16 {
        (word(len - 16), word(len - 8))
    } else {
        // 13 to 15 bytes: two overlapping words.
        (word(0), word(len - 8))
    };
    let (lo, hi) = multiply(last ^ SEEDS[0], tail ^ state);
    folded_multiply(lo ^ SEEDS[2], hi ^ SEEDS[3])
}

/// The output partition of a hash, taken from its middle bits (20 to 52): the tables use the low
/// bits for slots, so those stay spread within a partition. Always `< partitions` when
/// `partitions > 0`.
#[inline]
pub fn partition_of(hash: u64, partitions: usize) -> usize {
    ((((hash >> 20) & 0xFFFF_FFFF) * partitions as u64) >> 32) as usize
}

/// The hashes of an array of keys, computed once and reused for partitioning and aggregation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyHashes(Vec<u64>);

impl KeyHashes {
    /// Hashes every key of `keys` with [`hash_key`]; null rows get hash 0.
    pub fn new(keys: &StringViewArray) -> Self {
        let buffers = keys.data_buffers();
        let views = keys.views();
        let hashes = match keys.nulls() {
            None => views.iter().map(|&v| hash_view(v, buffers)).collect(),
            Some(nulls) => views
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    if nulls.is_valid(i) {
                        hash_view(v, buffers)
                    } else {
                        0
                    }
                })
                .collect(),
        };
        KeyHashes(hashes)
    }

    /// Wraps hashes computed elsewhere (they must be [`hash_key`] of the keys they go with).
    pub fn from_vec(hashes: Vec<u64>) -> Self {
        KeyHashes(hashes)
    }

    /// The hashes, one per row.
    pub fn as_slice(&self) -> &[u64] {
        &self.0
    }

    /// Number of hashes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no hashes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The output partition of every row, by [`partition_of`]; empty if `partitions` is 0.
    pub fn partitions(&self, partitions: usize) -> Vec<u32> {
        if partitions == 0 {
            return Vec::new();
        }
        self.0
            .iter()
            .map(|&h| partition_of(h, partitions) as u32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::make_view;

    #[test]
    fn views_and_bytes_hash_alike() {
        let long = "x".repeat(100);
        let mut distinct = std::collections::HashSet::new();
        for s in [
            "",
            "a",
            "word",
            "twelve bytes",
            "thirteen byte",
            "fifteen bytes!!",
            "sixteen bytes!!!",
            "seventeen bytes!!",
            "caf\u{e9}",
            "\u{1f980}\u{1f980}\u{1f980}\u{1f980}",
            long.as_str(),
        ] {
            let buffers = [Buffer::from(s.as_bytes())];
            let view = make_view(s.as_bytes(), 0, 0);
            assert_eq!(hash_view(view, &buffers), hash_key(s.as_bytes()), "{s:?}");
            assert!(distinct.insert(hash_key(s.as_bytes())), "{s:?}");
        }
        // Zero bytes are part of the key: "a" and "a\0" differ, so do "" and "\0".
        assert_ne!(hash_key(b"a"), hash_key(b"a\0"));
        assert_ne!(hash_key(b""), hash_key(b"\0"));
        assert_ne!(hash_key(&[0; 13]), hash_key(&[0; 14]));
    }

    /// Chi-square of `hashes` spread over `buckets` buckets by `bucket`: about `buckets` when
    /// the spread is even.
    fn chi_square(hashes: &[u64], buckets: usize, bucket: impl Fn(u64) -> usize) -> f64 {
        let mut counts = vec![0f64; buckets];
        for &h in hashes {
            counts[bucket(h)] += 1.0;
        }
        let expected = hashes.len() as f64 / buckets as f64;
        counts
            .iter()
            .map(|c| (c - expected) * (c - expected) / expected)
            .sum()
    }

    #[test]
    fn similar_keys_spread_over_slots_and_partitions() {
        // Keys that differ little: counters, in every length class (inline and long).
        let n = if cfg!(miri) { 2_000 } else { 100_000 };
        for template in ["{}", "w{}", "word-{}-x", "a rather long key number {}"] {
            let mut hashes: Vec<u64> = (0..n)
                .map(|i| hash_key(template.replace("{}", &i.to_string()).as_bytes()))
                .collect();
            let buckets = if cfg!(miri) { 16 } else { 1024 };
            let limit = 1.5 * buckets as f64;
            for (what, chi) in [
                (
                    "low bits",
                    chi_square(&hashes, buckets, |h| h as usize % buckets),
                ),
                (
                    "partition bits",
                    chi_square(&hashes, buckets, |h| partition_of(h, buckets)),
                ),
                (
                    "top 7 bits",
                    chi_square(&hashes, 128, |h| (h >> 57) as usize),
                ),
            ] {
                assert!(chi < limit.max(192.0), "{template}: {what} chi2 {chi}");
            }
            hashes.sort_unstable();
            hashes.dedup();
            assert_eq!(hashes.len(), n, "{template}: 64-bit collisions");
        }
    }

    #[test]
    fn partition_is_in_range() {
        for n in 1..50 {
            for h in [0, 1, u64::MAX, 0xdead_beef_0000_0000, 0x0000_0fff_ffff_f000] {
                assert!(partition_of(h, n) < n);
            }
        }
    }

    #[test]
    fn key_hashes_of_an_array() {
        let keys = StringViewArray::from(vec![Some("a"), None, Some("a long key, not inline")]);
        let h = KeyHashes::new(&keys);
        assert_eq!(
            h.as_slice(),
            [hash_key(b"a"), 0, hash_key(b"a long key, not inline")]
        );
        assert_eq!(h.partitions(0), Vec::<u32>::new());
        assert_eq!(h.partitions(1), [0, 0, 0]);
    }
}
