//! Pair operations on `DStream<(K, V)>`: keyed aggregation, grouping and joins, each a parallel
//! hash-partitioned shuffle (Spark's `PairDStreamFunctions`). The `_with_partitions` variants set
//! the number of output partitions; the others use the context's default parallelism.

use super::DStream;
use crate::data::{ColumnBuilder, Data, Emit, Key};
use crate::error::{Error, Result};
use crate::kernels::accumulate::Agg;
use crate::kernels::narrow::try_per_partition;
use crate::rdd::check_partitions;

/// A built-in reducer for [`DStream::reduce_by_key_using`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reducer {
    /// `a + b`.
    Sum,
    /// The smaller value.
    Min,
    /// The larger value.
    Max,
}

/// `n` when a shuffle can produce that many partitions.
fn partitions(n: usize) -> Result<usize> {
    check_partitions(n, "a shuffle")
}

impl<K: Key, V: Data> DStream<(K, V)> {
    /// Merges the values of each key with an associative, commutative function.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Duration::seconds(1)).unwrap();
    /// # let words = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None).unwrap();
    /// let counts = words.map(|w, out| out.push((w, 1))).unwrap().reduce_by_key(|a, b| a + b).unwrap();
    /// # let _ = counts;
    /// ```
    pub fn reduce_by_key<F>(&self, f: F) -> Result<DStream<(K, V)>>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.reduce_by_key_with_partitions(f, self.ctx.default_parallelism())
    }

    /// [`reduce_by_key`](Self::reduce_by_key) into `num_partitions` partitions.
    pub fn reduce_by_key_with_partitions<F>(
        &self,
        f: F,
        num_partitions: usize,
    ) -> Result<DStream<(K, V)>>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let n = partitions(num_partitions)?;
        self.derive("ShuffledDStream", move |batch, _, _| {
            Ok(batch.shuffle_into(n)?.reduce_by_key(&f))
        })
        .map(|d| d.with_unique_keys(n))
    }

    /// Merges the values of each key with a built-in reducer: on string keys and integer values
    /// this runs on the aggregation kernel's dense accumulators (sums wrap on overflow, as the
    /// JVM's do).
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Duration::seconds(1)).unwrap();
    /// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None).unwrap();
    /// let totals = pairs.reduce_by_key_using(Reducer::Sum)?;
    /// let peaks = pairs.reduce_by_key_using(Reducer::Max)?;
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn reduce_by_key_using(&self, reducer: Reducer) -> Result<DStream<(K, V)>>
    where
        V: Copy + Ord + std::ops::Add<Output = V>,
    {
        let n = self.ctx.default_parallelism();
        let (agg, f) = match reducer {
            Reducer::Sum => (Agg::Sum, (|a: V, b: V| a + b) as fn(V, V) -> V),
            Reducer::Min => (Agg::Min, Ord::min as fn(V, V) -> V),
            Reducer::Max => (Agg::Max, Ord::max as fn(V, V) -> V),
        };
        self.derive("ShuffledDStream", move |batch, _, _| {
            Ok(batch.shuffle_into(n)?.reduce_by_key_using(agg, &f))
        })
    }

    /// Spark's `combineByKey`: `create` starts a combiner from a key's first value in a partition,
    /// `merge_value` folds further values in, `merge_combiners` merges partitions' combiners.
    pub fn combine_by_key<C, Create, MergeValue, MergeCombiners>(
        &self,
        create: Create,
        merge_value: MergeValue,
        merge_combiners: MergeCombiners,
        num_partitions: usize,
    ) -> Result<DStream<(K, C)>>
    where
        C: Data,
        Create: Fn(V::Ref<'_>) -> C + Send + Sync + 'static,
        MergeValue: Fn(C, V::Ref<'_>) -> C + Send + Sync + 'static,
        MergeCombiners: Fn(C, C) -> C + Send + Sync + 'static,
    {
        let n = partitions(num_partitions)?;
        self.derive("ShuffledDStream", move |batch, _, _| {
            Ok(batch
                .shuffle_into(n)?
                .combine_by_key(&create, &merge_value, &merge_combiners))
        })
    }

    /// The values of each key as a list (values stay views into the input buffers).
    pub fn group_by_key(&self) -> Result<DStream<(K, Vec<V>)>> {
        self.group_by_key_with_partitions(self.ctx.default_parallelism())
    }

    /// [`group_by_key`](Self::group_by_key) into `num_partitions` partitions.
    pub fn group_by_key_with_partitions(
        &self,
        num_partitions: usize,
    ) -> Result<DStream<(K, Vec<V>)>> {
        let n = partitions(num_partitions)?;
        self.derive("ShuffledDStream", move |batch, _, _| {
            Ok(batch.shuffle_into(n)?.group_by_key())
        })
    }

    /// Transforms each value, keeping its key; the closure pushes exactly one value.
    pub fn map_values<W: Data, F>(&self, f: F) -> Result<DStream<(K, W)>>
    where
        F: Fn(V::Ref<'_>, &mut Emit<'_, W>) + Send + Sync + 'static,
    {
        self.derive("MapValuedDStream", move |batch, _, _| {
            try_per_partition(batch, |_, col, b: &mut <(K, W) as Data>::Builder| {
                for i in 0..crate::data::Column::len(&col.a) {
                    let before = b.1.len();
                    f(
                        crate::data::Column::value(&col.b, i),
                        &mut Emit::new(&mut b.1),
                    );
                    let emitted = b.1.len() - before;
                    if emitted != 1 {
                        return Err(Error::MapArity { emitted });
                    }
                    b.0.push_ref(crate::data::Column::value(&col.a, i));
                }
                Ok(())
            })
        })
    }

    /// Zero or more values per value, each with the original key.
    pub fn flat_map_values<W: Data, F>(&self, f: F) -> Result<DStream<(K, W)>>
    where
        F: Fn(V::Ref<'_>, &mut Emit<'_, W>) + Send + Sync + 'static,
    {
        self.derive("FlatMapValuedDStream", move |batch, _, _| {
            try_per_partition(batch, |_, col, b: &mut <(K, W) as Data>::Builder| {
                for i in 0..crate::data::Column::len(&col.a) {
                    let before = b.1.len();
                    f(
                        crate::data::Column::value(&col.b, i),
                        &mut Emit::new(&mut b.1),
                    );
                    for _ in before..b.1.len() {
                        b.0.push_ref(crate::data::Column::value(&col.a, i));
                    }
                }
                Ok(())
            })
        })
    }

    /// Inner join of each batch with `other`'s batch at the same time.
    pub fn join<W: Data>(&self, other: &DStream<(K, W)>) -> Result<DStream<(K, (V, W))>> {
        self.join_with_partitions(other, self.ctx.default_parallelism())
    }

    /// [`join`](Self::join) into `num_partitions` partitions.
    pub fn join_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        num_partitions: usize,
    ) -> Result<DStream<(K, (V, W))>> {
        let n = partitions(num_partitions)?;
        self.derive_with(other, "JoinedDStream", move |a, b, _| {
            Ok(a.shuffle_into(n)?.join(b))
        })
    }

    /// Left outer join: every left value, with `None` where `other` lacks the key.
    pub fn left_outer_join<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> Result<DStream<(K, (V, Option<W>))>> {
        self.left_outer_join_with_partitions(other, self.ctx.default_parallelism())
    }

    /// [`left_outer_join`](Self::left_outer_join) into `num_partitions` partitions.
    pub fn left_outer_join_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        num_partitions: usize,
    ) -> Result<DStream<(K, (V, Option<W>))>> {
        let n = partitions(num_partitions)?;
        self.derive_with(other, "LeftOuterJoinedDStream", move |a, b, _| {
            Ok(a.shuffle_into(n)?.left_outer_join(b))
        })
    }

    /// Right outer join: every right value, with `None` where this stream lacks the key.
    pub fn right_outer_join<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> Result<DStream<(K, (Option<V>, W))>> {
        self.right_outer_join_with_partitions(other, self.ctx.default_parallelism())
    }

    /// [`right_outer_join`](Self::right_outer_join) into `num_partitions` partitions.
    pub fn right_outer_join_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        num_partitions: usize,
    ) -> Result<DStream<(K, (Option<V>, W))>> {
        let n = partitions(num_partitions)?;
        self.derive_with(other, "RightOuterJoinedDStream", move |a, b, _| {
            Ok(a.shuffle_into(n)?.right_outer_join(b))
        })
    }

    /// Full outer join: every key of either side.
    pub fn full_outer_join<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> Result<DStream<(K, (Option<V>, Option<W>))>> {
        self.full_outer_join_with_partitions(other, self.ctx.default_parallelism())
    }

    /// [`full_outer_join`](Self::full_outer_join) into `num_partitions` partitions.
    pub fn full_outer_join_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        num_partitions: usize,
    ) -> Result<DStream<(K, (Option<V>, Option<W>))>> {
        let n = partitions(num_partitions)?;
        self.derive_with(other, "FullOuterJoinedDStream", move |a, b, _| {
            Ok(a.shuffle_into(n)?.full_outer_join(b))
        })
    }

    /// For each key of either side, the lists of its values on both sides.
    pub fn cogroup<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> Result<DStream<(K, (Vec<V>, Vec<W>))>> {
        self.cogroup_with_partitions(other, self.ctx.default_parallelism())
    }

    /// [`cogroup`](Self::cogroup) into `num_partitions` partitions.
    pub fn cogroup_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        num_partitions: usize,
    ) -> Result<DStream<(K, (Vec<V>, Vec<W>))>> {
        let n = partitions(num_partitions)?;
        self.derive_with(other, "CoGroupedDStream", move |a, b, _| {
            Ok(a.shuffle_into(n)?.cogroup(b))
        })
    }
}
