//! Actions: a batch's elements brought out as plain values (Spark's `count`, `collect`, `take`,
//! `first`, `reduce`).

use crate::data::{Batch, Data, column_iter};
use rayon::prelude::*;

impl<T: Data> Batch<T> {
    /// The number of elements over all partitions (Spark's `count`; the same as
    /// [`len`](Self::len)).
    ///
    /// ```
    /// use dstreams::Batch;
    /// assert_eq!(Batch::from_vec(vec![1i64, 2, 3], 2).count(), 3);
    /// ```
    pub fn count(&self) -> usize {
        self.len()
    }

    /// All elements as owned values, partition after partition (Spark's `collect`).
    ///
    /// ```
    /// use dstreams::Batch;
    /// assert_eq!(Batch::from_vec(vec![1i64, 2, 3], 2).collect(), [1, 2, 3]);
    /// ```
    pub fn collect(&self) -> Vec<T> {
        self.to_vec()
    }

    /// The first `n` elements (fewer if the batch has fewer), partition after partition
    /// (Spark's `take`).
    ///
    /// ```
    /// use dstreams::Batch;
    /// let b = Batch::from_vec(vec![5i64, 6, 7], 3);
    /// assert_eq!(b.take(2), [5, 6]);
    /// assert_eq!(b.take(10), [5, 6, 7]);
    /// ```
    pub fn take(&self, n: usize) -> Vec<T> {
        self.iter().take(n).map(T::to_owned_value).collect()
    }

    /// The first element, `None` for an empty batch (Spark's `first`, which throws on an empty
    /// RDD).
    ///
    /// ```
    /// use dstreams::Batch;
    /// assert_eq!(Batch::from_vec(vec![5i64, 6], 2).first(), Some(5));
    /// assert_eq!(Batch::<i64>::empty().first(), None);
    /// ```
    pub fn first(&self) -> Option<T> {
        self.iter().next().map(T::to_owned_value)
    }

    /// The elements merged with an associative, commutative function, `None` for an empty batch
    /// (Spark's `reduce`, which throws on an empty RDD). Partitions are reduced in parallel,
    /// then their results in partition order.
    ///
    /// ```
    /// use dstreams::Batch;
    /// assert_eq!(Batch::from_vec(vec![1i64, 2, 3], 2).reduce(|a, b| a + b), Some(6));
    /// assert_eq!(Batch::<i64>::empty().reduce(|a, b| a + b), None);
    /// ```
    pub fn reduce<F>(&self, f: F) -> Option<T>
    where
        F: Fn(T, T) -> T + Sync,
    {
        let partials: Vec<Option<T>> = self
            .partitions()
            .par_iter()
            .map(|col| column_iter(col).map(T::to_owned_value).reduce(&f))
            .collect();
        partials.into_iter().flatten().reduce(&f)
    }
}
