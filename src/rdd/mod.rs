//! RDD operations on a [`Batch`](crate::Batch): what a Spark user calls on the RDD inside
//! `transform` (`rdd.map(...)`, `rdd.join(other)`, `rdd.sortBy(...)`), with Spark's semantics,
//! each giving a new batch; the DStream per-batch and pair operations run them on each batch.
//! `Batch`'s documentation has how their results are partitioned.
//!
//! Closures borrow from the batch they are called on: the lifetime `'a` of `&'a self` is the
//! lifetime of the views a closure receives (`T::Ref<'a>`), so it may return them and
//! `rdd.map(|w| (w, 1))` keeps `w` a view into the input buffer instead of copying it.

mod actions;
mod cogroup;
mod keyed;
mod narrow;
mod partitioning;
mod sort;

pub(crate) use cogroup::emit;
pub(crate) use keyed::reduce_pairs;
pub use partitioning::ShuffleInto;
