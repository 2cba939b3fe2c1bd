//! The vectorised, parallel code behind the operators.
//!
//! A low-level layer, public for the benchmarks and for callers who want a kernel on Arrow
//! arrays directly: a DStream program never needs it, and it may change with the engine.
//!
//! * [`narrow`](self) per-partition application and the general keyed [`shuffle`](self) used
//!   with user closures;
//! * [`tokenize`]: lines to token views into the same buffers, with SIMD separator masks
//!   ([`simd`]);
//! * [`aggregate`]: hash aggregation of string keys with their hash computed once and carried
//!   through partitioning ([`hash::partition_of`]) and tables ([`table::GroupTable`]);
//!   two-phase parallel; dense accumulators ([`accumulate`]); fused word count
//!   ([`aggregate::count_words`]);
//! * [`compact`]: copies long keys out of input buffers into an owned arena.

pub mod accumulate;
pub mod aggregate;
pub mod compact;
pub(crate) mod error;
pub mod hash;
pub(crate) mod narrow;
mod prefetch;
pub(crate) mod shuffle;
pub mod simd;
pub mod table;
pub mod tokenize;
pub(crate) mod view;

pub use error::KernelError;
pub use view::MAX_INLINE;
