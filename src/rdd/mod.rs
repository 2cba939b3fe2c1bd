//! RDD operations on a [`Batch`](crate::Batch): what a Spark user calls on the RDD inside
//! `transform` (`rdd.map(...)`, `rdd.join(other)`, `rdd.sortBy(...)`), with Spark's semantics,
//! each giving a new batch.
//!
//! Closures borrow from the batch they are called on: a closure receives views (`&str`,
//! numbers, tuples of them) that live as long as the batch, and may return them, so
//! `rdd.map(|w| (w, 1))` keeps `w` a view into the input buffer instead of copying it.
//!
//! Partitioning of the results, as in Spark:
//! * narrow operations (`map`, `flat_map`, `filter`, `map_values`, `flat_map_values`,
//!   `zip_with_index`, `glom`) keep the input's partitions; `union` concatenates them;
//!   `repartition(n)` deals the elements round-robin into `n` partitions;
//! * shuffles (`reduce_by_key`, `group_by_key`, `combine_by_key`, `count_by_value`, `distinct`,
//!   the joins, `cogroup`, `subtract_by_key`) hash-partition their result by key, with the
//!   engine's key hash and [`partition_of`](crate::kernels::hash::partition_of), exactly as the
//!   DStream shuffles do; by default into as many partitions as the largest input has (Spark's
//!   default partitioner without `spark.default.parallelism`; `subtract_by_key` and `distinct`
//!   take their own input's count, as in Spark). [`Batch::shuffle_into`] chooses the count;
//! * `sort_by` range-partitions: the sorted elements are cut into as many contiguous partitions
//!   as the input has (or as `shuffle_into` chose).

mod actions;
mod cogroup;
mod keyed;
mod narrow;
mod partitioning;
mod sort;

pub(crate) use keyed::reduce_pairs;
pub use partitioning::ShuffleInto;
pub(crate) use partitioning::check_partitions;
