//! Per-batch operations: each batch is transformed on its own (Spark's "Transformations on
//! DStreams").
//!
//! Closures receive each element's closure view ([`Data::Arg`]) inside a call scope the engine
//! opens around its calls over one partition, and return plain values, which are appended to
//! the result (strings of the input returned in them stay views). The per-element operators
//! run fused with the narrow operators next to them (`fusion.rs`).

use super::DStream;
use super::exchange::Merge;
use super::kernel_paths::{count_chain_strings, count_words_of};
use super::node::{AnyNode, Partitioning, Plan, ShufflePartitions};
use crate::context::{BatchContext, StreamingContext};
use crate::data::view::CallScope;
use crate::data::{Batch, Data, Emit, Key, Value, column_from_values, emit};
use crate::error::{Error, Result};
use crate::kernels::aggregate::Aggregation;
use crate::kernels::narrow::per_partition;
use crate::time::{Duration, Time};
use std::sync::Arc;

pub use crate::data::Partition;

/// What a [`transform`](DStream::transform) function returns: a batch, or a `Result` of one
/// whose error fails the batch.
pub trait TransformResult {
    /// The element type of the batch.
    type Item: Data;
    /// As a `Result`.
    fn into_batch(self) -> Result<Batch<Self::Item>>;
}

impl<O: Data> TransformResult for Batch<O> {
    type Item = O;
    fn into_batch(self) -> Result<Batch<O>> {
        Ok(self)
    }
}

impl<O: Data> TransformResult for Result<Batch<O>> {
    type Item = O;
    fn into_batch(self) -> Result<Batch<O>> {
        self
    }
}

impl<T: Data> DStream<T> {
    /// Spark's `map`: one result per element.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let words = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None);
    /// # let nums = ssc.queue_stream(Vec::<Batch<i64>>::new(), true, None);
    /// let pairs = words.map(|w| (w, 1)); // DStream<(String, i64)>, the words not copied
    /// let upper = words.map(|w| w.to_uppercase());
    /// let shifted = nums.map(|x| x * x - 1);
    /// # let _ = (pairs, upper, shifted);
    /// ```
    #[track_caller]
    pub fn map<R, F>(&self, f: F) -> DStream<R::Data>
    where
        R: Value,
        F: Fn(T::Arg) -> R + Send + Sync + 'static,
    {
        self.narrow("MappedDStream", move |x, at, sink| {
            emit(f(T::arg(x, at.scope)), at.sources, sink);
        })
    }

    /// Spark's `flatMap`: zero or more results per element (anything iterable).
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let lines = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None);
    /// let words = lines.flat_map(|line| line.split(' ')); // views into the lines
    /// let java_words = lines.flat_map(|line| line.split_java(' ')); // Spark's `_.split(" ")`
    /// # let _ = (words, java_words);
    /// ```
    #[track_caller]
    pub fn flat_map<I, F>(&self, f: F) -> DStream<<I::Item as Value>::Data>
    where
        I: IntoIterator,
        I::Item: Value,
        F: Fn(T::Arg) -> I + Send + Sync + 'static,
    {
        self.narrow("FlatMappedDStream", move |x, at, sink| {
            for v in f(T::arg(x, at.scope)) {
                emit(v, at.sources, sink);
            }
        })
    }

    /// [`flat_map`](Self::flat_map) for results borrowed through `&str` APIs: the closure gets
    /// the element as a borrowed view (`&str`) and pushes its results into an [`Emit`]ter,
    /// so what it pushes may borrow the element (`line.split_whitespace()`, `line.trim()`, a
    /// regex's matches) and stays a view of the input's buffer.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let lines = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None);
    /// let fields = lines.flat_map_emit(|line, out| {
    ///     out.extend(line.split(',').map(str::trim).filter(|f| !f.is_empty()))
    /// });
    /// # let _ = fields;
    /// ```
    #[track_caller]
    pub fn flat_map_emit<O: Data, F>(&self, f: F) -> DStream<O>
    where
        F: Fn(T::Ref<'_>, &mut Emit<'_, O>) + Send + Sync + 'static,
    {
        self.narrow("FlatMappedDStream", move |x, at, sink| {
            f(x, &mut Emit::new(sink, at.sources))
        })
    }

    /// Spark's `filter`: the elements for which `f` is true (strings stay views).
    #[track_caller]
    pub fn filter<F>(&self, f: F) -> DStream<T>
    where
        F: Fn(T::Arg) -> bool + Send + Sync + 'static,
    {
        self.narrow("FilteredDStream", move |x, at, sink| {
            if f(T::arg(x, at.scope)) {
                sink(x);
            }
        })
    }

    /// Spark's `mapPartitions`: `f` gets an iterator over a partition's elements and returns
    /// the partition's results.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let nums = ssc.queue_stream(Vec::<Batch<i64>>::new(), true, None);
    /// let sums = nums.map_partitions(|items| [items.sum::<i64>()]);
    /// let tagged = nums.map_partitions(|items| {
    ///     let p = items.index() as i64;
    ///     items.map(move |x| (p, x))
    /// });
    /// # let _ = (sums, tagged);
    /// ```
    #[track_caller]
    pub fn map_partitions<I, F>(&self, f: F) -> DStream<<I::Item as Value>::Data>
    where
        I: IntoIterator,
        I::Item: Value,
        F: Fn(Partition<T>) -> I + Send + Sync + 'static,
    {
        self.derive("MapPartitionedDStream", move |batch, _, _| {
            Ok(per_partition(batch, |index, col, b| {
                let scope = CallScope::open();
                let part = Partition::new(col, index, scope.id());
                f(part).into_iter().for_each(|v| v.append_to(b));
            }))
        })
    }

    /// Spark's `glom`: each partition as one list.
    #[track_caller]
    pub fn glom(&self) -> DStream<Vec<T>> {
        self.derive("GlommedDStream", |batch, _, _| Ok(batch.glom()))
    }

    /// Spark's `repartition`: spreads each batch's elements round-robin over `num_partitions`
    /// partitions.
    #[track_caller]
    pub fn repartition(&self, num_partitions: usize) -> DStream<T> {
        if num_partitions == 0 {
            self.refuse(
                "repartition",
                Error::InvalidArgument("repartition needs at least one partition".into()),
            );
        }
        self.derive("RepartitionedDStream", move |batch, _, _| {
            batch.repartition(num_partitions)
        })
    }

    /// Spark's `reduce`: each batch reduced to one element (none for an empty batch) with an
    /// associative, commutative function.
    #[track_caller]
    pub fn reduce<F>(&self, f: F) -> DStream<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        self.derive("ReducedDStream", move |batch, _, _| {
            Ok(Batch::from_partitions(vec![column_from_values(
                batch.reduce(&f),
            )]))
        })
    }

    /// Spark's `count`: the number of elements of each batch, always one element (`0` for an
    /// empty batch).
    #[track_caller]
    pub fn count(&self) -> DStream<i64> {
        self.derive("CountDStream", |batch, _, _| {
            Ok(Batch::from_vec(vec![batch.count() as i64], 1))
        })
    }

    /// Spark's `union`: this stream's batches together with `other`'s (both must have the same
    /// slide and context).
    #[track_caller]
    pub fn union(&self, other: &DStream<T>) -> DStream<T> {
        DStream::union_all(&self.ctx, &[self.clone(), other.clone()])
    }

    #[track_caller]
    pub(crate) fn union_all(ctx: &StreamingContext, streams: &[DStream<T>]) -> DStream<T> {
        let slide = match streams.first() {
            Some(first) => {
                let mixed = streams.iter().find_map(|s| {
                    s.same_context(ctx)
                        .and_then(|_| first.same_slide(s.slide_duration()))
                        .err()
                });
                if let Some(e) = mixed {
                    ctx.refuse("union", e);
                }
                first.slide_duration()
            }
            None => {
                ctx.refuse("union", Error::EmptyUnion);
                ctx.batch_interval()
            }
        };
        let nodes: Vec<_> = streams.iter().map(|s| s.node.clone()).collect();
        DStream::create(
            ctx,
            "UnionDStream",
            slide,
            streams
                .iter()
                .map(|s| s.node.clone() as Arc<dyn AnyNode>)
                .collect(),
            Duration::default(),
            Plan::default(),
            Box::new(move |t, bctx| {
                let mut union = Batch::from_partitions(Vec::new());
                for n in &nodes {
                    let b = n
                        .get_or_compute(t, bctx)?
                        .ok_or(Error::UnionParentMissing(t))?;
                    union = union.union(&b);
                }
                Ok(Some(union))
            }),
        )
    }

    /// Spark's `transform`: any batch-to-batch function, run once per batch, with the RDD
    /// operations of [`Batch`] (its time is [`Batch::time`]). It returns a batch, or a `Result`
    /// whose error fails the batch.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let counts = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
    /// let ranked = counts.transform(|rdd| rdd.sort_by(|(_, n)| std::cmp::Reverse(*n)).zip_with_index());
    /// # let _ = ranked;
    /// ```
    #[track_caller]
    pub fn transform<R, F>(&self, f: F) -> DStream<R::Item>
    where
        R: TransformResult,
        F: Fn(&Batch<T>) -> R + Send + Sync + 'static,
    {
        let parent = self.node.clone();
        self.child(
            "TransformedDStream",
            Plan::default(),
            Box::new(move |t, ctx| {
                let b = parent
                    .get_or_compute(t, ctx)?
                    .ok_or(Error::TransformParentMissing(t))?;
                f(&b).into_batch().map(Some)
            }),
        )
    }

    /// Spark's `transformWith`: a function of this stream's and `other`'s batches at each time
    /// (both streams of the same slide and context).
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let clicks = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
    /// # let views = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
    /// let both = clicks.transform_with(&views, |c, v| c.join(v));
    /// # let _ = both;
    /// ```
    #[track_caller]
    pub fn transform_with<U, R, F>(&self, other: &DStream<U>, f: F) -> DStream<R::Item>
    where
        U: Data,
        R: TransformResult,
        F: Fn(&Batch<T>, &Batch<U>) -> R + Send + Sync + 'static,
    {
        self.derive_with(
            other,
            "transform_with",
            "TransformedDStream",
            Plan::default(),
            move |a, b, _, _| f(a, b).into_batch(),
        )
    }

    /// Spark's `slice`: the batches from `from` to `to` (both included; ends off the slide grid
    /// are floored to it) that are still remembered or computable. Fails before the context
    /// started.
    pub fn slice(&self, from: Time, to: Time) -> Result<Vec<Batch<T>>> {
        let zero = self
            .ctx
            .core
            .zero_time()
            .ok_or_else(|| Error::NotInitialized(self.node.name.clone()))?;
        let slide = self.slide_duration();
        let from = if from.is_multiple_of(slide) {
            from
        } else {
            tracing::warn!("fromTime ({from}) is not a multiple of slideDuration ({slide})");
            from.floor(slide, zero)
        };
        let to = if to.is_multiple_of(slide) {
            to
        } else {
            tracing::warn!("toTime ({to}) is not a multiple of slideDuration ({slide})");
            to.floor(slide, zero)
        };
        let core = &self.ctx.core;
        let mut out = Vec::new();
        let mut t = from.max(zero);
        while t <= to {
            let ctx = BatchContext::of(core, t, zero);
            if let Some(b) = self.node.get_or_compute(t, &ctx)? {
                out.push(b);
            }
            t = t + slide;
        }
        Ok(out)
    }
}

impl<T: Key> DStream<T> {
    /// Spark's `countByValue`: each distinct element with its number of occurrences in the
    /// batch, partitioned by element.
    ///
    /// Strings are counted on the aggregation kernel; right after [`split`](DStream::split) the
    /// words are counted straight from the lines, in one pass.
    #[track_caller]
    pub fn count_by_value(&self) -> DStream<(T, i64)> {
        self.count_by_value_into(&Arc::new(ShufflePartitions::default()))
    }

    /// [`count_by_value`](Self::count_by_value) into the partitions `partitions` says (shared
    /// with the window that counts over it).
    #[track_caller]
    pub(crate) fn count_by_value_into(
        &self,
        partitions: &Arc<ShufflePartitions>,
    ) -> DStream<(T, i64)> {
        let plan = Plan::partitioned(partitions, Partitioning::ByKey { unique: true });
        let merge: Merge<(T, i64)> =
            Arc::new(|partials| Ok(partials.shuffle_into(1)?.reduce_by_key(|a, b| a + b)));
        if let Some((lines, sep)) = self.node.plan.words_of.clone() {
            let counts = Aggregation::new();
            let words = DStream {
                node: lines,
                ctx: self.ctx.clone(),
            };
            return words.derive_exchanged(
                "CountByValueDStream",
                plan,
                partitions,
                Arc::new(move |batch, n| {
                    let parts = count_words_of::<T>(&counts, batch.partitions(), sep, n)?;
                    Ok(Batch::from_partitions(parts))
                }),
                None,
                Some(merge),
            );
        }
        let counts = Aggregation::new();
        self.derive_exchanged(
            "CountByValueDStream",
            plan,
            partitions,
            Arc::new(|batch, n| Ok(batch.shuffle_into(n)?.count_by_value())),
            Some(Arc::new(move |chain, n| {
                count_chain_strings(&counts, chain, n).map(Batch::from_partitions)
            })),
            Some(merge),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ManualClock, Time};

    #[test]
    fn union_of_different_slides_is_refused_at_start() {
        let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
        let ssc = StreamingContext::builder(Duration::seconds(1))
            .clock(clock)
            .build();
        let a = ssc.queue_stream(vec![Batch::from_vec(vec![1i64], 1)], true, None);
        let slower = a.window(Duration::seconds(2), Duration::seconds(2));
        let union = a.union(&slower);
        union.count().print();
        let err = ssc.start().unwrap_err();
        let Error::InvalidProgram(misuses) = &err else {
            panic!("{err}")
        };
        assert_eq!(misuses.len(), 1);
        assert_eq!(misuses[0].operator, "union");
        assert!(misuses[0].location.contains("per_batch.rs"));
        assert_eq!(
            misuses[0].error.to_string(),
            "requirement failed: Some of the DStreams have different slide durations (1000 ms and 2000 ms)"
        );
        assert!(
            err.to_string()
                .starts_with("union (at src/dstream/per_batch.rs:")
        );
    }
}
