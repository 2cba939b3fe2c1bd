//! The errors of every kernel: bad arguments are reported, never panicked on.

use crate::kernels::simd::Simd;

/// Why a kernel refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// Work was to be split into zero partitions (or parts).
    #[error("cannot split work into zero partitions")]
    ZeroPartitions,
    /// A SIMD variant was requested that this CPU (or target) does not have.
    #[error("the {0:?} separator kernel is not available on this CPU")]
    SimdUnavailable(Simd),
    /// A line ends past the 32-bit offsets of string views, so its tokens could not point into
    /// its buffer.
    #[error("line {line} ends at byte {end} of block {block}, beyond 32-bit view offsets")]
    OffsetOverflow {
        /// Index of the line in its array.
        line: usize,
        /// Its data buffer.
        block: usize,
        /// Its end offset in that buffer.
        end: usize,
    },
    /// `aggregate` was given a different number of value slices than key arrays.
    #[error("{values} value slices for {keys} key arrays")]
    ValueArrays {
        /// Number of key arrays.
        keys: usize,
        /// Number of value slices.
        values: usize,
    },
    /// A key array and its values (or hashes) have different lengths.
    #[error("key array {array} has {keys} rows but its values (or hashes) have {values}")]
    ValueRows {
        /// Index of the key array.
        array: usize,
        /// Its number of keys.
        keys: usize,
        /// The number of values or hashes given for it.
        values: usize,
    },
    /// A key array holds nulls; aggregation keys must be non-null strings.
    #[error("key array {array} has {nulls} null keys")]
    NullKeys {
        /// Index of the key array.
        array: usize,
        /// Its null count.
        nulls: usize,
    },
    /// The key arrays reference more distinct data buffers than a view's 32-bit buffer index
    /// can name.
    #[error("{count} data buffers are more than view buffer indices can name")]
    TooManyBuffers {
        /// Number of distinct buffers.
        count: usize,
    },
    /// A table would hold more distinct keys than its ids can name.
    #[error("more than {limit} distinct keys in one table")]
    TooManyKeys {
        /// The most keys a table holds.
        limit: usize,
    },
}
