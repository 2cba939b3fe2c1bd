//! Keys of pair operations: hashed once per row, compared through their views.

use super::{ByteString, Data};
use ahash::RandomState;

pub use crate::kernels::hash::key_hash_state;

/// A [`Data`] type that can key `reduce_by_key`, joins and state: hashable and comparable through
/// its view, so string keys are hashed from the input bytes without being copied.
pub trait Key: Data {
    /// The hash of a key's view; equal keys hash equal. Strings (and byte strings) hash with the
    /// engine's string hash ([`crate::kernels::hash::hash_key`] of their bytes, the hash the
    /// kernels carry), other keys with `state`.
    fn hash_key(k: Self::Ref<'_>, state: &RandomState) -> u64;
    /// Whether two key views are equal.
    fn eq_key(a: Self::Ref<'_>, b: Self::Ref<'_>) -> bool;

    /// For keys made of bytes (strings), the Arrow view of the key's bytes (its buffer index and
    /// offset 0): what the engine's tables probe with. `None` for other keys.
    #[doc(hidden)]
    fn bytes_view(_k: Self::Ref<'_>) -> Option<u128> {
        None
    }
}

macro_rules! key_by_hash {
    ($($t:ty),*) => {$(
        impl Key for $t {
            #[inline]
            fn hash_key(k: Self::Ref<'_>, state: &RandomState) -> u64 {
                state.hash_one(k)
            }
            #[inline]
            fn eq_key(a: Self::Ref<'_>, b: Self::Ref<'_>) -> bool {
                a == b
            }
        }
    )*};
}

key_by_hash!(i8, i16, i32, i64, u8, u16, u32, u64, bool);

macro_rules! key_by_bytes {
    ($($t:ty => $bytes:expr),*) => {$(
        impl Key for $t {
            #[inline]
            fn hash_key(k: Self::Ref<'_>, _state: &RandomState) -> u64 {
                crate::kernels::hash::hash_key($bytes(k))
            }
            #[inline]
            fn eq_key(a: Self::Ref<'_>, b: Self::Ref<'_>) -> bool {
                a == b
            }
            #[inline]
            fn bytes_view(k: Self::Ref<'_>) -> Option<u128> {
                Some(arrow_array::builder::make_view($bytes(k), 0, 0))
            }
        }
    )*};
}

key_by_bytes!(String => str::as_bytes, ByteString => std::convert::identity);

impl<A: Key, B: Key> Key for (A, B) {
    fn hash_key(k: Self::Ref<'_>, state: &RandomState) -> u64 {
        state.hash_one((A::hash_key(k.0, state), B::hash_key(k.1, state)))
    }
    fn eq_key(a: Self::Ref<'_>, b: Self::Ref<'_>) -> bool {
        A::eq_key(a.0, b.0) && B::eq_key(a.1, b.1)
    }
}

impl<A: Key, B: Key, C: Key> Key for (A, B, C) {
    fn hash_key(k: Self::Ref<'_>, state: &RandomState) -> u64 {
        state.hash_one((
            A::hash_key(k.0, state),
            B::hash_key(k.1, state),
            C::hash_key(k.2, state),
        ))
    }
    fn eq_key(a: Self::Ref<'_>, b: Self::Ref<'_>) -> bool {
        A::eq_key(a.0, b.0) && B::eq_key(a.1, b.1) && C::eq_key(a.2, b.2)
    }
}

impl<K: Key> Key for Option<K> {
    fn hash_key(k: Self::Ref<'_>, state: &RandomState) -> u64 {
        match k {
            Some(k) => K::hash_key(k, state),
            None => state.hash_one(0xdead_u64),
        }
    }
    fn eq_key(a: Self::Ref<'_>, b: Self::Ref<'_>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => K::eq_key(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}
