//! Sorting a batch by a key function (Spark's `sortBy`): a stable sort, the result cut into
//! contiguous ranges, one per partition (Spark range-partitions a sorted RDD).

use super::ShuffleInto;
use crate::data::{Batch, Column, ColumnBuilder, Data};
use rayon::prelude::*;
use std::cmp::Ordering;

impl<T: Data> Batch<T> {
    /// The elements ordered by `key`, smallest first (Spark's `sortBy(f, ascending = true)`).
    /// The sort is stable: elements with equal keys keep their order (partition after
    /// partition). The key function receives a reference to the element's view, as
    /// `slice::sort_by_key` does, and may return views of it.
    ///
    /// The result has as many partitions as this batch ([`shuffle_into`](Batch::shuffle_into)
    /// chooses another count), each a contiguous range of the sorted order, of even sizes (the
    /// first partitions get one element fewer when they do not divide evenly); equal keys may
    /// straddle a boundary, where Spark's sampled range bounds keep them in one partition.
    /// Strings stay views.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let counts = Batch::from_vec(vec![("b".to_string(), 3i64), ("a".to_string(), 1), ("c".to_string(), 2)], 2);
    /// let sorted = counts.sort_by(|(_, n)| *n);
    /// assert_eq!(sorted.num_partitions(), 2);
    /// assert_eq!(sorted.glom().collect(), [
    ///     vec![("a".to_string(), 1)],
    ///     vec![("c".to_string(), 2), ("b".to_string(), 3)],
    /// ]);
    /// ```
    pub fn sort_by<'a, S, F>(&'a self, key: F) -> Batch<T>
    where
        S: Ord + Send,
        F: Fn(&T::Ref<'a>) -> S + Sync,
    {
        self.default_shuffle(0).sort_by(key)
    }

    /// The elements ordered by `key`, largest first (Spark's `sortBy(f, ascending = false)`);
    /// stable (equal keys keep their order) and partitioned as [`sort_by`](Self::sort_by).
    ///
    /// ```
    /// use dstreams::Batch;
    /// let words = Batch::from_vec(vec!["bb".to_string(), "a".to_string(), "cc".to_string()], 1);
    /// assert_eq!(words.sort_by_descending(|w| w.len()).collect(), ["bb", "cc", "a"]);
    /// ```
    pub fn sort_by_descending<'a, S, F>(&'a self, key: F) -> Batch<T>
    where
        S: Ord + Send,
        F: Fn(&T::Ref<'a>) -> S + Sync,
    {
        self.default_shuffle(0).sort_by_descending(key)
    }
}

impl<'b, T: Data> ShuffleInto<'b, T> {
    /// [`Batch::sort_by`] into the chosen number of partitions.
    pub fn sort_by<S, F>(self, key: F) -> Batch<T>
    where
        S: Ord + Send,
        F: Fn(&T::Ref<'b>) -> S + Sync,
    {
        self.sorted(key, S::cmp)
    }

    /// [`Batch::sort_by_descending`] into the chosen number of partitions.
    pub fn sort_by_descending<S, F>(self, key: F) -> Batch<T>
    where
        S: Ord + Send,
        F: Fn(&T::Ref<'b>) -> S + Sync,
    {
        self.sorted(key, |a, b| b.cmp(a))
    }

    /// The batch's elements stably sorted by `order` of their keys, cut into this shuffle's
    /// number of partitions.
    fn sorted<S, F>(self, key: F, order: impl Fn(&S, &S) -> Ordering + Sync) -> Batch<T>
    where
        S: Send,
        F: Fn(&T::Ref<'b>) -> S + Sync,
    {
        let cols = self.batch.partitions();
        let mut rows: Vec<(S, usize, usize)> = cols
            .par_iter()
            .enumerate()
            .flat_map_iter(|(p, col)| (0..col.len()).map(move |r| (p, r)))
            .map(|(p, r)| (key(&cols[p].value(r)), p, r))
            .collect();
        // Ties are ordered by position (partition, row): the sort is stable.
        rows.par_sort_unstable_by(|a, b| order(&a.0, &b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        let sorted: Vec<(usize, usize)> = rows.into_iter().map(|(_, p, r)| (p, r)).collect();
        let (total, n) = (sorted.len(), self.partitions);
        let sources = self.batch.sources();
        let parts = (0..n)
            .into_par_iter()
            .map(|i| {
                let range = &sorted[i * total / n..(i + 1) * total / n];
                let mut b = T::Builder::new(range.len(), &sources);
                for &(p, r) in range {
                    b.push_ref(cols[p].value(r));
                }
                b.finish()
            })
            .collect();
        Batch::from_partitions(parts)
    }
}
