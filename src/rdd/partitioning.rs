//! How a batch's elements are spread over partitions: concatenated (`union`), dealt round-robin
//! (`repartition`), or hash-partitioned by a shuffle into a chosen number of partitions
//! (`shuffle_into`).

use crate::data::{Batch, Column, ColumnBuilder, Data};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// `n` when it is a usable number of partitions for `what` (`"a shuffle"`, `"repartition"`).
pub(crate) fn check_partitions(n: usize, what: &str) -> Result<usize> {
    if n == 0 {
        Err(Error::InvalidArgument(format!(
            "{what} needs at least one partition"
        )))
    } else {
        Ok(n)
    }
}

/// A batch whose next shuffle produces a chosen number of hash partitions: Spark's
/// `numPartitions` argument (`rdd.reduceByKey(f, 8)`, `a.join(b, 8)`), made by
/// [`Batch::shuffle_into`].
///
/// It offers the shuffles of [`Batch`] (`reduce_by_key`, `group_by_key`, `combine_by_key`,
/// `count_by_value`, `distinct`, the joins, `cogroup`, `subtract_by_key`, `sort_by`), each with
/// the same semantics as on the batch, only the number of result partitions differs.
///
/// ```
/// use dstreams::Batch;
/// let pairs = Batch::from_vec(vec![("a".to_string(), 1), ("b".to_string(), 2)], 1);
/// let sums = pairs.shuffle_into(4)?.reduce_by_key(|a, b| a + b);
/// assert_eq!(sums.num_partitions(), 4);
/// # Ok::<(), dstreams::Error>(())
/// ```
pub struct ShuffleInto<'b, T: Data> {
    pub(super) batch: &'b Batch<T>,
    pub(super) partitions: usize,
}

impl<T: Data> Clone for ShuffleInto<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Data> Copy for ShuffleInto<'_, T> {}

impl<'b, T: Data> ShuffleInto<'b, T> {
    /// The number of partitions the shuffle produces.
    pub fn num_partitions(&self) -> usize {
        self.partitions
    }
}

impl<T: Data> Batch<T> {
    /// This batch, with its next shuffle producing `num_partitions` hash partitions (Spark's
    /// `numPartitions` argument of `reduceByKey`, `join`, `groupByKey`, `distinct`, `sortBy`,
    /// ...). Without it a shuffle takes as many partitions as the largest input has.
    ///
    /// Fails with [`Error::InvalidArgument`] when `num_partitions` is zero.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let a = Batch::from_vec(vec![(1i64, "x".to_string())], 1);
    /// let b = Batch::from_vec(vec![(1i64, 2.5f64)], 3);
    /// assert_eq!(a.join(&b).num_partitions(), 3); // the larger input's count
    /// assert_eq!(a.shuffle_into(2)?.join(&b).num_partitions(), 2);
    /// assert!(a.shuffle_into(0).is_err());
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn shuffle_into(&self, num_partitions: usize) -> Result<ShuffleInto<'_, T>> {
        Ok(ShuffleInto {
            batch: self,
            partitions: check_partitions(num_partitions, "a shuffle")?,
        })
    }

    /// A shuffle with Spark's default partition count: the largest of this batch's and
    /// `other_partitions` (at least one).
    pub(super) fn default_shuffle(&self, other_partitions: usize) -> ShuffleInto<'_, T> {
        ShuffleInto {
            batch: self,
            partitions: self.num_partitions().max(other_partitions).max(1),
        }
    }

    /// The global index of each partition's first element.
    pub(super) fn partition_starts(&self) -> Vec<usize> {
        self.partitions()
            .iter()
            .scan(0, |start, p| {
                let this = *start;
                *start += p.len();
                Some(this)
            })
            .collect()
    }

    /// The partitions of this batch followed by those of `other` (Spark's `union`; nothing is
    /// copied).
    ///
    /// ```
    /// use dstreams::Batch;
    /// let a = Batch::from_vec(vec![1i64, 2], 2);
    /// let b = Batch::from_vec(vec![3i64], 1);
    /// let u = a.union(&b);
    /// assert_eq!((u.num_partitions(), u.collect()), (3, vec![1, 2, 3]));
    /// ```
    pub fn union(&self, other: &Batch<T>) -> Batch<T> {
        let parts = self.partitions().iter().chain(other.partitions());
        Batch::from_partitions(parts.cloned().collect())
    }

    /// The elements dealt round-robin into `num_partitions` partitions: element `i` (counted
    /// partition after partition) goes to partition `i % num_partitions` (Spark's
    /// `repartition`, which starts each input partition's deal at a random partition). Strings
    /// stay views.
    ///
    /// Fails with [`Error::InvalidArgument`] when `num_partitions` is zero.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let b = Batch::from_vec((1..=5).collect::<Vec<i64>>(), 1).repartition(2)?;
    /// assert_eq!(b.glom().collect(), [vec![1, 3, 5], vec![2, 4]]);
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn repartition(&self, num_partitions: usize) -> Result<Batch<T>> {
        let n = check_partitions(num_partitions, "repartition")?;
        let sources = self.sources();
        let starts = self.partition_starts();
        let total = self.len();
        let parts = (0..n)
            .into_par_iter()
            .map(|p| {
                let mut b = T::Builder::new(total / n + 1, &sources);
                for (col, &start) in self.partitions().iter().zip(&starts) {
                    // The first row whose global index `start + row` is `p` modulo `n`.
                    let first = (p + n - start % n) % n;
                    for row in (first..col.len()).step_by(n) {
                        b.push_ref(col.value(row));
                    }
                }
                b.finish()
            })
            .collect();
        Ok(Batch::from_partitions(parts))
    }
}
