//! Key hashing, shared with the engine: one fixed-seed hash per key, computed once and carried
//! with the row through partitioning and aggregation.
//!
//! The hash of a key is exactly the engine's `String::hash_key`, i.e.
//! `key_hash_state().hash_one(s)` for `s: &str`, so kernel output can be mixed with the general
//! (closure-based) shuffle: a key lands in the same partition on both paths.

use ahash::RandomState;
use arrow_array::{Array, StringViewArray};
use std::hash::{BuildHasher, Hasher};

use crate::kernels::view::with_view_bytes;

/// The hasher of all keyed operations (the engine's `key_hash_state`, same seeds): partitioning
/// and output order are the same from run to run.
pub fn key_hash_state() -> &'static RandomState {
    static STATE: RandomState = RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    );
    &STATE
}

/// The hash of a key's bytes, equal to `key_hash_state().hash_one(s)` for the `&str` `s` with
/// these bytes.
///
/// `str`'s `Hash` writes the bytes then a `0xff` terminator (`Hasher::write_str`'s default, which
/// ahash does not override on stable Rust); this does the same without needing a `&str`.
///
/// ```
/// use dstreams::kernels::hash::{hash_key, key_hash_state};
/// assert_eq!(hash_key(b"word"), key_hash_state().hash_one("word"));
/// ```
#[inline]
pub fn hash_key(bytes: &[u8]) -> u64 {
    let mut hasher = key_hash_state().build_hasher();
    hasher.write(bytes);
    hasher.write_u8(0xff);
    hasher.finish()
}

/// The hash of the key with string view `view` (long views point into `buffers`), equal to
/// [`hash_key`] of its bytes.
///
/// Keys of at most 12 bytes are hashed from the view itself, in registers and without
/// branches on the length, by [`inline_hash`] when it has been checked to agree with ahash on
/// this build; other keys (and every key, if the check failed) go through [`hash_key`].
#[inline(always)]
pub(crate) fn hash_view(view: u128, buffers: &[arrow_buffer::Buffer], inline_ok: bool) -> u64 {
    if inline_ok && view as u32 as usize <= crate::kernels::view::MAX_INLINE {
        inline_hash(view)
    } else {
        hash_view_bytes(view, buffers)
    }
}

/// [`hash_key`] of a view's bytes, out of line (the rare path of [`hash_view`]: keeping it
/// out of the hashing loop leaves that loop its registers).
#[inline(never)]
#[cold]
fn hash_view_bytes(view: u128, buffers: &[arrow_buffer::Buffer]) -> u64 {
    with_view_bytes(view, buffers, hash_key)
}

/// Whether [`inline_hash`] equals [`hash_key`] on this build (checked once, on sample keys of
/// every inline length): ahash picks its algorithm at compile time (an AES one when the `aes`
/// target feature is on), and `inline_hash` follows only the portable fallback of ahash 0.8.
pub(crate) fn inline_hash_ok() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        let sample = b"\x00\xffThe quick brown fox";
        (0..=crate::kernels::view::MAX_INLINE).all(|len| {
            (0..8).all(|at| {
                let bytes = &sample[at..at + len];
                inline_hash(arrow_array::builder::make_view(bytes, 0, 0)) == hash_key(bytes)
            })
        })
    })
}

/// ahash 0.8's portable hasher (`fallback_hash.rs`) seeded as [`key_hash_state`], unrolled for
/// `write(bytes); write_u8(0xff); finish()` of the at most 12 bytes inline in `view`.
///
/// `write` reads the bytes as two words whose widths depend on the length (1, 2, 4 or 8
/// bytes: the first and the last bytes of the key); here the widths come from a table and the
/// words from the zero-padded view, so there is no branch.
#[inline(always)]
pub(crate) fn inline_hash(view: u128) -> u64 {
    // `RandomState::with_seeds` xors the seeds with these (ahash's `PI2`).
    const K0: u64 = 0x243f_6a88_85a3_08d3 ^ 0x4528_21e6_38d0_1377;
    const K1: u64 = 0x1319_8a2e_0370_7344 ^ 0xbe54_66cf_34e9_0c6c;
    const K2: u64 = 0xa409_3822_299f_31d0 ^ 0xc0ac_29b7_c97c_50dd;
    const K3: u64 = 0x082e_fa98_ec4e_6c89 ^ 0x3f84_d5b5_b547_0917;
    const MULTIPLE: u64 = 6_364_136_223_846_793_005;
    const ROT: u32 = 23;
    /// Per key length, the masks of the first and last words ahash reads (`read_small`: 0
    /// reads nothing, which the zero padding gives as well; 1 reads the byte twice; 2 and 3 a
    /// `u16` then the last byte; 4 to 8 two `u32`; 9 to 16 two `u64`), and where the last word
    /// starts in the view, in bits (the string starts at bit 32).
    const FIRST_MASK: [u64; 16] = {
        let mut m = [u64::MAX; 16];
        let mut len = 0;
        while len < 9 {
            m[len] = match len {
                0 | 1 => 0xff,
                2 | 3 => 0xffff,
                _ => 0xffff_ffff,
            };
            len += 1;
        }
        m
    };
    const LAST_MASK: [u64; 16] = {
        let mut m = FIRST_MASK;
        m[2] = 0xff;
        m[3] = 0xff;
        m
    };
    const LAST_SHIFT: [u8; 16] = {
        let mut s = [0u8; 16];
        let mut len: usize = 0;
        while len < 16 {
            let width = match len {
                0..=3 => 1,
                4..=8 => 4,
                _ => 8,
            };
            let start = len.saturating_sub(width);
            s[len] = (32 + 8 * start) as u8;
            len += 1;
        }
        s
    };
    #[inline(always)]
    fn folded_multiply(s: u64, by: u64) -> u64 {
        let r = u128::from(s) * u128::from(by);
        r as u64 ^ (r >> 64) as u64
    }
    let len = (view as u32 & 15) as usize;
    let first = (view >> 32) as u64 & FIRST_MASK[len];
    let last = (view >> LAST_SHIFT[len]) as u64 & LAST_MASK[len];
    // write(bytes)
    let mut buffer = K1.wrapping_add(len as u64).wrapping_mul(MULTIPLE);
    let combined = folded_multiply(first ^ K2, last ^ K3);
    buffer = (buffer.wrapping_add(K0) ^ combined).rotate_left(ROT);
    // write_u8(0xff)
    buffer = folded_multiply(0xff ^ buffer, MULTIPLE);
    // finish()
    folded_multiply(buffer, K0).rotate_left((buffer & 63) as u32)
}

/// The output partition of a hash (the engine's `partition_of`), taken from its middle bits:
/// hashbrown uses the low bits for buckets and the top 7 for tags, so those stay spread within
/// a partition. Always `< partitions` when `partitions > 0`.
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
            None => views
                .iter()
                .map(|&v| with_view_bytes(v, buffers, hash_key))
                .collect(),
            Some(nulls) => views
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if nulls.is_valid(i) {
                        with_view_bytes(*v, buffers, hash_key)
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

    #[test]
    fn equals_the_engine_hash_of_str() {
        let long = "x".repeat(100);
        for s in [
            "",
            "a",
            "word",
            "twelve bytes",
            "thirteen byte",
            "sixteen bytes!!!",
            "seventeen bytes!!",
            "caf\u{e9}",
            "\u{1f980}\u{1f980}\u{1f980}\u{1f980}",
            long.as_str(),
        ] {
            assert_eq!(
                hash_key(s.as_bytes()),
                key_hash_state().hash_one(s),
                "{s:?}"
            );
            assert_eq!(
                hash_key(s.as_bytes()),
                key_hash_state().hash_one(s.to_owned()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn inline_hash_follows_ahash() {
        assert!(
            inline_hash_ok(),
            "the portable ahash replica disagrees on this build"
        );
        let mut state = 0x1234_5678_9abc_def1u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 13) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (state >> (i * 5)) as u8).collect();
            let view = arrow_array::builder::make_view(&bytes, 0, 0);
            assert_eq!(inline_hash(view), hash_key(&bytes), "{bytes:?}");
            assert_eq!(hash_view(view, &[], true), hash_key(&bytes));
            assert_eq!(hash_view(view, &[], false), hash_key(&bytes));
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
