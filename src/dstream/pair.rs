//! Pair operations on `DStream<(K, V)>`: keyed aggregation, grouping and joins, each a parallel
//! hash-partitioned shuffle (Spark's `PairDStreamFunctions`), and the value-wise narrow
//! operations. A shuffle produces the context's default number of partitions unless
//! [`with_partitions`](DStream::with_partitions) sets another.

use super::DStream;
use super::node::{Partitioning, Plan, ShufflePartitions};
use crate::context::BatchContext;
use crate::data::view::CallScope;
use crate::data::{Batch, Column, ColumnBuilder, Data, Key, Value};
use crate::error::Result;
use crate::kernels::narrow::per_partition;
use crate::time::Time;
use std::sync::Arc;

impl<K: Key, V: Data> DStream<(K, V)> {
    /// Spark's `reduceByKey`: merges the values of each key with an associative, commutative
    /// function (on the aggregation kernel for string keys and integer values).
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let words = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None);
    /// let counts = words.map(|w| (w, 1)).reduce_by_key(|a, b| a + b);
    /// # let _ = counts;
    /// ```
    #[track_caller]
    pub fn reduce_by_key<F>(&self, f: F) -> DStream<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let merge = f.clone();
        self.derive_shuffle(
            "ShuffledDStream",
            true,
            move |batch, n| Ok(batch.shuffle_into(n)?.reduce_by_key(&*f)),
            Some(Arc::new(move |partials: &Batch<(K, V)>| {
                Ok(partials.shuffle_into(1)?.reduce_by_key(&*merge))
            })),
        )
    }

    /// Spark's `combineByKey`: `create` starts a combiner from a key's first value in a
    /// partition, `merge_value` folds further values in, `merge_combiners` merges partitions'
    /// combiners. The value closures get borrowed views (`&str` for strings).
    #[track_caller]
    pub fn combine_by_key<C, Create, MergeValue, MergeCombiners>(
        &self,
        create: Create,
        merge_value: MergeValue,
        merge_combiners: MergeCombiners,
    ) -> DStream<(K, C)>
    where
        C: Data,
        Create: Fn(V::Ref<'_>) -> C + Send + Sync + 'static,
        MergeValue: Fn(C, V::Ref<'_>) -> C + Send + Sync + 'static,
        MergeCombiners: Fn(C, C) -> C + Send + Sync + 'static,
    {
        let merge_combiners = Arc::new(merge_combiners);
        let merge = merge_combiners.clone();
        self.derive_shuffle(
            "ShuffledDStream",
            true,
            move |batch, n| {
                Ok(batch
                    .shuffle_into(n)?
                    .combine_by_key(&create, &merge_value, &*merge_combiners))
            },
            Some(Arc::new(move |partials: &Batch<(K, C)>| {
                Ok(partials.shuffle_into(1)?.reduce_by_key(&*merge))
            })),
        )
    }

    /// Spark's `groupByKey`: the values of each key as a list (values stay views into the
    /// input buffers).
    #[track_caller]
    pub fn group_by_key(&self) -> DStream<(K, Vec<V>)> {
        self.derive_shuffle(
            "GroupedDStream",
            true,
            move |batch, n| Ok(batch.shuffle_into(n)?.group_by_key()),
            None,
        )
    }

    /// Spark's `mapValues`: each value transformed, its key kept (as a view).
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let counts = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
    /// let doubled = counts.map_values(|n| n * 2);
    /// # let _ = doubled;
    /// ```
    #[track_caller]
    pub fn map_values<R, F>(&self, f: F) -> DStream<(K, R::Data)>
    where
        R: Value,
        F: Fn(V::Arg) -> R + Send + Sync + 'static,
    {
        self.derive("MapValuedDStream", move |batch, _, _| {
            Ok(per_partition(
                batch,
                |_, col, b: &mut <(K, R::Data) as Data>::Builder| {
                    let scope = CallScope::open();
                    for i in 0..col.len() {
                        f(V::arg(col.b.value(i), scope.id())).append_to(&mut b.1);
                        b.0.push_ref(col.a.value(i));
                    }
                },
            ))
        })
    }

    /// Spark's `flatMapValues`: zero or more values per value, each with the original key.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let docs = ssc.queue_stream(Vec::<Batch<(i64, String)>>::new(), true, None);
    /// let words = docs.flat_map_values(|text| text.split(' '));
    /// # let _ = words;
    /// ```
    #[track_caller]
    pub fn flat_map_values<I, F>(&self, f: F) -> DStream<(K, <I::Item as Value>::Data)>
    where
        I: IntoIterator,
        I::Item: Value,
        F: Fn(V::Arg) -> I + Send + Sync + 'static,
    {
        self.derive("FlatMapValuedDStream", move |batch, _, _| {
            Ok(per_partition(
                batch,
                |_, col, b: &mut <(K, <I::Item as Value>::Data) as Data>::Builder| {
                    let scope = CallScope::open();
                    for i in 0..col.len() {
                        for v in f(V::arg(col.b.value(i), scope.id())) {
                            v.append_to(&mut b.1);
                            b.0.push_ref(col.a.value(i));
                        }
                    }
                },
            ))
        })
    }

    /// A shuffle of this stream's and `other`'s batches at each time into hash partitions by
    /// key (as many as [`with_partitions`](DStream::with_partitions) sets).
    #[track_caller]
    fn co_shuffle<W: Data, O: Data>(
        &self,
        other: &DStream<(K, W)>,
        operator: &'static str,
        name: &str,
        unique_keys: bool,
        f: impl Fn(&Batch<(K, V)>, &Batch<(K, W)>, usize) -> Result<Batch<O>> + Send + Sync + 'static,
    ) -> DStream<O> {
        let partitions = Arc::new(ShufflePartitions::default());
        let n = partitions.clone();
        let plan = Plan::partitioned(
            &partitions,
            Partitioning::ByKey {
                unique: unique_keys,
            },
        );
        self.derive_with(
            other,
            operator,
            name,
            plan,
            move |a, b, _: Time, ctx: &BatchContext| f(a, b, n.get(ctx.parallelism)),
        )
    }

    /// Spark's `join`: inner join of each batch with `other`'s batch at the same time.
    #[track_caller]
    pub fn join<W: Data>(&self, other: &DStream<(K, W)>) -> DStream<(K, (V, W))> {
        self.co_shuffle(other, "join", "JoinedDStream", false, |a, b, n| {
            Ok(a.shuffle_into(n)?.join(b))
        })
    }

    /// Spark's `leftOuterJoin`: every left value, with `None` where `other` lacks the key.
    #[track_caller]
    pub fn left_outer_join<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> DStream<(K, (V, Option<W>))> {
        self.co_shuffle(
            other,
            "left_outer_join",
            "LeftOuterJoinedDStream",
            false,
            |a, b, n| Ok(a.shuffle_into(n)?.left_outer_join(b)),
        )
    }

    /// Spark's `rightOuterJoin`: every right value, with `None` where this stream lacks the key.
    #[track_caller]
    pub fn right_outer_join<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> DStream<(K, (Option<V>, W))> {
        self.co_shuffle(
            other,
            "right_outer_join",
            "RightOuterJoinedDStream",
            false,
            |a, b, n| Ok(a.shuffle_into(n)?.right_outer_join(b)),
        )
    }

    /// Spark's `fullOuterJoin`: every key of either side.
    #[track_caller]
    pub fn full_outer_join<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> DStream<(K, (Option<V>, Option<W>))> {
        self.co_shuffle(
            other,
            "full_outer_join",
            "FullOuterJoinedDStream",
            false,
            |a, b, n| Ok(a.shuffle_into(n)?.full_outer_join(b)),
        )
    }

    /// Spark's `cogroup`: for each key of either side, the lists of its values on both sides.
    #[track_caller]
    pub fn cogroup<W: Data>(&self, other: &DStream<(K, W)>) -> DStream<(K, (Vec<V>, Vec<W>))> {
        self.co_shuffle(other, "cogroup", "CoGroupedDStream", true, |a, b, n| {
            Ok(a.shuffle_into(n)?.cogroup(b))
        })
    }
}
