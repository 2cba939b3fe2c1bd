//! Pair operations on `DStream<(K, V)>`: keyed aggregation, grouping and joins, each a parallel
//! hash-partitioned shuffle (Spark's `PairDStreamFunctions`), and the value-wise narrow
//! operations. A shuffle produces the context's default number of partitions unless
//! [`with_partitions`](DStream::with_partitions) sets another.

use super::exchange::Exchange;
use super::fusion::KeyView;
use super::kernel_paths::{as_i64_reducer, reduce_chain_strings};
use super::node::{Node, Partitioning, Plan, ShufflePartitions};
use super::{DStream, both_at};
use crate::context::BatchContext;
use crate::data::{Batch, Data, Key, Value, emit};
use crate::error::{Error, Result};
use crate::kernels::accumulate::Agg;
use crate::kernels::aggregate::Aggregation;
use crate::rdd::emit::{self, EmitGroup};
use crate::time::Time;
use rayon::prelude::*;
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
        let (merge, direct) = (f.clone(), f.clone());
        let sums = Aggregation::new();
        self.derive_shuffle(
            "ShuffledDStream",
            true,
            move |batch, n| Ok(batch.shuffle_into(n)?.reduce_by_key(&*f)),
            Some(Arc::new(move |chain, n| {
                let reducer = as_i64_reducer(&*direct);
                reduce_chain_strings(&sums, chain, Agg::Reduce(&reducer), n)
                    .map(Batch::from_partitions)
            })),
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
            None,
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
            Some(Arc::new(|partials: &Batch<(K, Vec<V>)>| {
                Ok(partials.shuffle_into(1)?.concat_groups())
            })),
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
        self.narrow("MapValuedDStream", move |(k, v), at, sink| {
            let value = f(V::arg(v, at.scope));
            emit((KeyView::<K>(k), value), at.sources, sink);
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
        self.narrow("FlatMapValuedDStream", move |(k, v), at, sink| {
            for value in f(V::arg(v, at.scope)) {
                emit((KeyView::<K>(k), value), at.sources, sink);
            }
        })
    }

    /// A shuffle of this stream's and `other`'s batches at each time into hash partitions by
    /// key (as many as [`with_partitions`](DStream::with_partitions) sets), what `e` emits for
    /// each key. In distributed mode both sides (the same Kafka stream's, so cut by the same
    /// source partitions) are cogrouped per source partition, exchanged, and `e` emits from
    /// each exchange partition's merged cogroups.
    #[track_caller]
    fn co_shuffle<W: Data, E: EmitGroup<K, V, W>>(
        &self,
        other: &DStream<(K, W)>,
        operator: &'static str,
        name: &str,
        unique_keys: bool,
        e: E,
    ) -> DStream<E::Out> {
        let partitions = Arc::new(ShufflePartitions::default());
        let n = partitions.clone();
        let plan = Plan::partitioned(
            &partitions,
            Partitioning::ByKey {
                unique: unique_keys,
            },
        );
        let id = self.ctx.core.next_exchange_id();
        let exchange = Exchange::new(
            id,
            Arc::new(|cogroups: &Batch<_>, p| Ok(cogroups.shuffle_into(p)?.concat_cogroups())),
            Arc::new(|partials: &Batch<_>| Ok(partials.shuffle_into(1)?.concat_cogroups())),
        );
        let stream = self.derive_with_parents(other, operator, name, plan, move |a, b, t, ctx| {
            if ctx.distributed().is_some() {
                let input = |t, ctx: &BatchContext| cogrouped_by_source(a, b, t, ctx);
                let merged = exchange.run(&input, t, ctx)?;
                return Ok(merged.map(|m| m.emit_groups(&e)));
            }
            let (x, y) = both_at(a, b, t, ctx)?;
            Ok(Some(
                x.shuffle_into(n.get(ctx.parallelism))?
                    .emit_cogrouped(&y, &e),
            ))
        });
        self.ctx.core.note_exchange(stream.node.id, id);
        stream
    }

    /// Spark's `join`: inner join of each batch with `other`'s batch at the same time.
    #[track_caller]
    pub fn join<W: Data>(&self, other: &DStream<(K, W)>) -> DStream<(K, (V, W))> {
        self.co_shuffle(other, "join", "JoinedDStream", false, emit::Join)
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
            emit::LeftOuterJoin,
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
            emit::RightOuterJoin,
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
            emit::FullOuterJoin,
        )
    }

    /// Spark's `cogroup`: for each key of either side, the lists of its values on both sides.
    #[track_caller]
    pub fn cogroup<W: Data>(&self, other: &DStream<(K, W)>) -> DStream<(K, (Vec<V>, Vec<W>))> {
        self.co_shuffle(other, "cogroup", "CoGroupedDStream", true, emit::Cogroup)
    }
}

/// Distributed mode: `a`'s and `b`'s batches at `t` cogrouped source partition by source
/// partition (both must be cut by the same source partitions: one Kafka stream's).
fn cogrouped_by_source<K: Key, V: Data, W: Data>(
    a: &Node<(K, V)>,
    b: &Node<(K, W)>,
    t: Time,
    ctx: &BatchContext,
) -> Result<Option<Batch<(K, (Vec<V>, Vec<W>))>>> {
    let (Some(x), Some(y)) = (a.get_or_compute(t, ctx)?, b.get_or_compute(t, ctx)?) else {
        return Ok(None);
    };
    let origin = match (x.origin(), y.origin()) {
        (Some(o), Some(p)) if o == p => Arc::new(o.clone()),
        _ => {
            return Err(Error::Unsupported(
                "in distributed mode both sides of a join or cogroup must come from the same \
                 Kafka stream, through narrow operations only"
                    .into(),
            ));
        }
    };
    let parts = x
        .partitions()
        .par_iter()
        .zip(y.partitions())
        .map(|(l, r)| {
            let left = Batch::from_partitions(vec![l.clone()]);
            let right = Batch::from_partitions(vec![r.clone()]);
            let cogrouped = left.shuffle_into(1)?.emit_cogrouped(&right, &emit::Cogroup);
            Ok(cogrouped.partitions()[0].clone())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Batch::from_partitions(parts).with_origin(origin)))
}
