//! Combining values by key: Spark's `reduceByKey`, `combineByKey`, and counting elements
//! (`countByValue`, `distinct`). Each is a hash shuffle with a map-side combine; string keys
//! with integer values run on the aggregation kernel, whatever the closure.

use super::ShuffleInto;
use crate::data::{Batch, Column, Data, Key, PairColumn};
use crate::dstream::kernel_paths::{as_i64_reducer, count_strings, kernel_result, reduce_strings};
use crate::kernels::accumulate::Agg;
use crate::kernels::shuffle::{KeyedInput, combine_by_key};
use arrow_buffer::ScalarBuffer;

/// The pair columns of a keyed result.
fn pair_columns<K: Data, C: Data>(parts: Vec<(K::Column, C::Column)>) -> Vec<PairColumn<K, C>> {
    parts
        .into_iter()
        .map(|(a, b)| PairColumn { a, b })
        .collect()
}

/// The pairs of `parts` reduced by key into `partitions` hash partitions: on the aggregation
/// kernel with `agg` for string keys and integer values, else the general shuffle with `f`.
fn reduce_pairs_using<K: Key, V: Data>(
    parts: &[&PairColumn<K, V>],
    agg: Agg<'_>,
    f: &(impl Fn(V, V) -> V + Sync),
    partitions: usize,
) -> Vec<PairColumn<K, V>> {
    if let Some(out) = kernel_result(reduce_strings(parts, agg, partitions)) {
        return out;
    }
    let input = KeyedInput {
        parts: parts.iter().map(|p| (&p.a, &p.b)).collect(),
    };
    pair_columns::<K, V>(combine_by_key::<K, V, V, _, _, _>(
        &input,
        partitions,
        V::to_owned_value,
        |c, v| f(c, V::to_owned_value(v)),
        f,
    ))
}

/// The pairs of `parts` reduced by key with `f` into `partitions` hash partitions (the window
/// engine merges panes with it).
pub(crate) fn reduce_pairs<K: Key, V: Data>(
    parts: &[&PairColumn<K, V>],
    f: &(impl Fn(V, V) -> V + Sync),
    partitions: usize,
) -> Vec<PairColumn<K, V>> {
    let reducer = as_i64_reducer(f);
    reduce_pairs_using(parts, Agg::Reduce(&reducer), f, partitions)
}

impl<K: Key, V: Data> Batch<(K, V)> {
    /// The values of each key merged with an associative, commutative function (Spark's
    /// `reduceByKey`): one pair per key, hash-partitioned by key into as many partitions as
    /// this batch has ([`shuffle_into`](Batch::shuffle_into) chooses another count). String keys
    /// stay views into the input; with integer values the aggregation kernel does the work.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let lines = Batch::from_vec(vec!["to be or not to be".to_string()], 1);
    /// let words = lines.flat_map(|line| line.split(' '));
    /// let counts = words.map(|w| (w, 1)).reduce_by_key(|a, b| a + b);
    /// let mut got = counts.collect();
    /// got.sort();
    /// assert_eq!(got[0], ("be".to_string(), 2));
    /// ```
    pub fn reduce_by_key<F>(&self, f: F) -> Batch<(K, V)>
    where
        F: Fn(V, V) -> V + Sync,
    {
        self.default_shuffle(0).reduce_by_key(f)
    }

    /// Spark's `combineByKey`: `create` starts a combiner from a key's first value in a
    /// partition, `merge_value` folds that partition's further values in, `merge_combiners`
    /// merges the partitions' combiners. Hash-partitioned by key like
    /// [`reduce_by_key`](Self::reduce_by_key).
    ///
    /// ```
    /// use dstreams::Batch;
    /// let b = Batch::from_vec(vec![("a".to_string(), 3i64), ("a".to_string(), 5)], 2);
    /// let sum_count = b.combine_by_key(|v| (v, 1i64), |(s, n), v| (s + v, n + 1), |x, y| (x.0 + y.0, x.1 + y.1));
    /// assert_eq!(sum_count.collect(), [("a".to_string(), (8, 2))]);
    /// ```
    pub fn combine_by_key<C, Create, MergeValue, MergeCombiners>(
        &self,
        create: Create,
        merge_value: MergeValue,
        merge_combiners: MergeCombiners,
    ) -> Batch<(K, C)>
    where
        C: Data,
        Create: Fn(V::Ref<'_>) -> C + Sync,
        MergeValue: Fn(C, V::Ref<'_>) -> C + Sync,
        MergeCombiners: Fn(C, C) -> C + Sync,
    {
        self.default_shuffle(0)
            .combine_by_key(create, merge_value, merge_combiners)
    }
}

impl<K: Key, V: Data> ShuffleInto<'_, (K, V)> {
    /// [`Batch::reduce_by_key`] into the chosen number of partitions.
    pub fn reduce_by_key<F>(self, f: F) -> Batch<(K, V)>
    where
        F: Fn(V, V) -> V + Sync,
    {
        let reducer = as_i64_reducer(&f);
        self.reduce_by_key_using(Agg::Reduce(&reducer), &f)
    }

    /// [`reduce_by_key`](Self::reduce_by_key) with the kernel's aggregation chosen: `agg` on
    /// the kernel's path, `f` on the general one (they must agree).
    pub(crate) fn reduce_by_key_using(
        self,
        agg: Agg<'_>,
        f: &(impl Fn(V, V) -> V + Sync),
    ) -> Batch<(K, V)> {
        let parts: Vec<&PairColumn<K, V>> = self.batch.partitions().iter().collect();
        Batch::from_partitions(reduce_pairs_using(&parts, agg, f, self.partitions))
    }

    /// [`Batch::combine_by_key`] into the chosen number of partitions.
    pub fn combine_by_key<C, Create, MergeValue, MergeCombiners>(
        self,
        create: Create,
        merge_value: MergeValue,
        merge_combiners: MergeCombiners,
    ) -> Batch<(K, C)>
    where
        C: Data,
        Create: Fn(V::Ref<'_>) -> C + Sync,
        MergeValue: Fn(C, V::Ref<'_>) -> C + Sync,
        MergeCombiners: Fn(C, C) -> C + Sync,
    {
        let input = KeyedInput {
            parts: self
                .batch
                .partitions()
                .iter()
                .map(|p| (&p.a, &p.b))
                .collect(),
        };
        Batch::from_partitions(pair_columns::<K, C>(combine_by_key::<K, V, C, _, _, _>(
            &input,
            self.partitions,
            create,
            merge_value,
            merge_combiners,
        )))
    }
}

impl<T: Key> Batch<T> {
    /// Each distinct element with its number of occurrences (Spark's DStream `countByValue`,
    /// per batch: `map(x => (x, 1L)).reduceByKey(_ + _)`; the RDD action of that name returns
    /// a map instead). Hash-partitioned by element into as many partitions as this batch has.
    /// Strings are counted on the aggregation kernel and stay views.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let b = Batch::from_vec(vec![3i64, 1, 3], 2);
    /// let mut counts = b.count_by_value().collect();
    /// counts.sort();
    /// assert_eq!(counts, [(1, 1), (3, 2)]);
    /// ```
    pub fn count_by_value(&self) -> Batch<(T, i64)> {
        self.default_shuffle(0).count_by_value()
    }

    /// Each element once (Spark's `distinct`), hash-partitioned by element into as many
    /// partitions as this batch has.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let b = Batch::from_vec(vec!["b".to_string(), "a".to_string(), "b".to_string()], 2);
    /// let mut once = b.distinct().collect();
    /// once.sort();
    /// assert_eq!(once, ["a", "b"]);
    /// ```
    pub fn distinct(&self) -> Batch<T> {
        self.default_shuffle(0).distinct()
    }
}

impl<T: Key> ShuffleInto<'_, T> {
    /// [`Batch::count_by_value`] into the chosen number of partitions.
    pub fn count_by_value(self) -> Batch<(T, i64)> {
        let parts = self.batch.partitions();
        if let Some(counted) = kernel_result(count_strings::<T>(parts, self.partitions)) {
            return Batch::from_partitions(counted);
        }
        let ones: Vec<ScalarBuffer<i64>> =
            parts.iter().map(|p| vec![1i64; p.len()].into()).collect();
        let input = KeyedInput::<T, i64> {
            parts: parts.iter().zip(ones.iter()).collect(),
        };
        Batch::from_partitions(pair_columns::<T, i64>(
            combine_by_key::<T, i64, i64, _, _, _>(
                &input,
                self.partitions,
                |v| v,
                |c, v| c + v,
                |a, b| a + b,
            ),
        ))
    }

    /// [`Batch::distinct`] into the chosen number of partitions: the keys of
    /// [`count_by_value`](Self::count_by_value).
    pub fn distinct(self) -> Batch<T> {
        let counted = self.count_by_value();
        Batch::from_partitions(counted.partitions().iter().map(|p| p.a.clone()).collect())
    }
}
