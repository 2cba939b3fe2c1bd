//! Per-batch operations: each batch is transformed on its own (Spark's "Transformations on
//! DStreams").

use super::DStream;
use super::kernel_paths::{count_strings, count_words_of};
use super::node::AnyNode;
use crate::context::{BatchContext, StreamingContext};
use crate::data::{Batch, Column, ColumnBuilder, Data, Emit, Key, column_iter};
use crate::error::{Error, Result};
use crate::kernels::aggregate::Aggregation;
use crate::kernels::narrow::per_partition;
use crate::kernels::shuffle::{KeyedInput, combine_by_key};
use crate::time::{Duration, Time};
use rayon::prelude::*;
use std::sync::Arc;

/// The elements of one partition, as views, for [`DStream::map_partitions`].
pub struct PartitionIter<'a, T: Data> {
    column: &'a T::Column,
    next: usize,
    /// The partition's index in its batch.
    pub index: usize,
}

impl<'a, T: Data> Iterator for PartitionIter<'a, T> {
    type Item = T::Ref<'a>;
    fn next(&mut self) -> Option<T::Ref<'a>> {
        (self.next < self.column.len()).then(|| {
            self.next += 1;
            self.column.value(self.next - 1)
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.column.len() - self.next;
        (left, Some(left))
    }
}

impl<T: Data> DStream<T> {
    /// One output per element: the closure pushes exactly one value into `out`.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Duration::seconds(1)).unwrap();
    /// # let words = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None).unwrap();
    /// let pairs = words.map(|w, out| out.push((w, 1))).unwrap(); // DStream<(String, i32)>, no copy
    /// let lengths = words.map(|w, out| out.push(w.len() as i64)).unwrap();
    /// # let _ = (pairs, lengths);
    /// ```
    pub fn map<O: Data, F>(&self, f: F) -> Result<DStream<O>>
    where
        F: Fn(T::Ref<'_>, &mut Emit<'_, O>) + Send + Sync + 'static,
    {
        self.derive("MappedDStream", move |batch, _, _| {
            per_partition(batch, |_, col, b: &mut O::Builder| {
                for i in 0..col.len() {
                    let before = b.len();
                    f(col.value(i), &mut Emit::new(b));
                    let emitted = b.len() - before;
                    if emitted != 1 {
                        return Err(Error::MapArity { emitted });
                    }
                }
                Ok(())
            })
        })
    }

    /// Zero or more outputs per element.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Duration::seconds(1)).unwrap();
    /// # let lines = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None).unwrap();
    /// let words = lines.flat_map(|line, out| line.split(' ').for_each(|w| out.push(w))).unwrap();
    /// # let _ = words;
    /// ```
    pub fn flat_map<O: Data, F>(&self, f: F) -> Result<DStream<O>>
    where
        F: Fn(T::Ref<'_>, &mut Emit<'_, O>) + Send + Sync + 'static,
    {
        self.derive("FlatMappedDStream", move |batch, _, _| {
            per_partition(batch, |_, col, b: &mut O::Builder| {
                let mut out = Emit::new(b);
                for i in 0..col.len() {
                    f(col.value(i), &mut out);
                }
                Ok(())
            })
        })
    }

    /// The elements for which `f` is true.
    pub fn filter<F>(&self, f: F) -> Result<DStream<T>>
    where
        F: Fn(T::Ref<'_>) -> bool + Send + Sync + 'static,
    {
        self.derive("FilteredDStream", move |batch, _, _| {
            per_partition(batch, |_, col, b: &mut T::Builder| {
                for v in column_iter(col) {
                    if f(v) {
                        b.push_ref(v);
                    }
                }
                Ok(())
            })
        })
    }

    /// Runs `f` once per partition with an iterator over its elements.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Duration::seconds(1)).unwrap();
    /// # let nums = ssc.queue_stream(Vec::<Batch<i64>>::new(), true, None).unwrap();
    /// let sums = nums.map_partitions(|items, out| out.push(items.sum::<i64>())).unwrap();
    /// # let _ = sums;
    /// ```
    pub fn map_partitions<O: Data, F>(&self, f: F) -> Result<DStream<O>>
    where
        F: Fn(PartitionIter<'_, T>, &mut Emit<'_, O>) + Send + Sync + 'static,
    {
        self.derive("MapPartitionedDStream", move |batch, _, _| {
            per_partition(batch, |index, col, b: &mut O::Builder| {
                f(
                    PartitionIter {
                        column: col,
                        next: 0,
                        index,
                    },
                    &mut Emit::new(b),
                );
                Ok(())
            })
        })
    }

    /// Each partition as one list.
    pub fn glom(&self) -> Result<DStream<Vec<T>>> {
        self.derive("GlommedDStream", |batch, _, _| {
            per_partition(batch, |_, col, b: &mut <Vec<T> as Data>::Builder| {
                for v in column_iter(col) {
                    b.push_element_ref(v);
                }
                b.close_list();
                Ok(())
            })
        })
    }

    /// Spreads each batch's elements round-robin over `num_partitions` partitions.
    pub fn repartition(&self, num_partitions: usize) -> Result<DStream<T>> {
        if num_partitions == 0 {
            return Err(Error::Unsupported(
                "repartition needs at least one partition".into(),
            ));
        }
        self.derive("RepartitionedDStream", move |batch, _, _| {
            let sources = batch.sources();
            let total = batch.len();
            let parts = (0..num_partitions)
                .into_par_iter()
                .map(|p| {
                    let mut b = T::Builder::new(total / num_partitions + 1, &sources);
                    for (i, v) in batch.iter().enumerate() {
                        if i % num_partitions == p {
                            b.push_ref(v);
                        }
                    }
                    b.finish()
                })
                .collect();
            Ok(Batch::from_partitions(parts))
        })
    }

    /// Reduces each batch to one element (none for an empty batch) with an associative,
    /// commutative function.
    pub fn reduce<F>(&self, f: F) -> Result<DStream<T>>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        self.derive("ReducedDStream", move |batch, _, _| {
            let partials: Vec<Option<T>> = batch
                .partitions()
                .par_iter()
                .map(|col| column_iter(col).map(T::to_owned_value).reduce(&f))
                .collect();
            let total = partials.into_iter().flatten().reduce(&f);
            Ok(Batch::from_vec(total.into_iter().collect(), 1))
        })
    }

    /// The number of elements of each batch: always one element, `0` for an empty batch.
    pub fn count(&self) -> Result<DStream<i64>> {
        self.derive("CountDStream", |batch, _, _| {
            Ok(Batch::from_vec(vec![batch.len() as i64], 1))
        })
    }

    /// This stream's batches together with `other`'s (both must have the same slide).
    pub fn union(&self, other: &DStream<T>) -> Result<DStream<T>> {
        DStream::union_all(&self.ctx, &[self.clone(), other.clone()])
    }

    pub(crate) fn union_all(ctx: &StreamingContext, streams: &[DStream<T>]) -> Result<DStream<T>> {
        let first = streams.first().ok_or(Error::EmptyUnion)?;
        for s in streams {
            s.same_context(ctx)?;
            first.same_slide(s.slide_duration())?;
        }
        let nodes: Vec<_> = streams.iter().map(|s| s.node.clone()).collect();
        DStream::create(
            ctx,
            "UnionDStream",
            first.slide_duration(),
            streams
                .iter()
                .map(|s| s.node.clone() as Arc<dyn AnyNode>)
                .collect(),
            Duration::default(),
            Box::new(move |t, bctx| {
                let mut parts = Vec::new();
                for n in &nodes {
                    let b = n
                        .get_or_compute(t, bctx)?
                        .ok_or(Error::UnionParentMissing(t))?;
                    parts.extend(b.partitions().iter().cloned());
                }
                Ok(Some(Batch::from_partitions(parts)))
            }),
        )
    }

    /// Any batch-to-batch function, run once per batch (Spark's `transform`).
    pub fn transform<O: Data, F>(&self, f: F) -> Result<DStream<O>>
    where
        F: Fn(&Batch<T>) -> Result<Batch<O>> + Send + Sync + 'static,
    {
        self.transform_with_time(move |b, _| f(b))
    }

    /// [`transform`](Self::transform) with the batch time.
    pub fn transform_with_time<O: Data, F>(&self, f: F) -> Result<DStream<O>>
    where
        F: Fn(&Batch<T>, Time) -> Result<Batch<O>> + Send + Sync + 'static,
    {
        let parent = self.node.clone();
        DStream::create(
            &self.ctx,
            "TransformedDStream",
            self.slide_duration(),
            vec![self.node.clone() as Arc<dyn AnyNode>],
            Duration::default(),
            Box::new(move |t, ctx| {
                let b = parent
                    .get_or_compute(t, ctx)?
                    .ok_or(Error::TransformParentMissing(t))?;
                f(&b, t).map(Some)
            }),
        )
    }

    /// A function of this stream's and `other`'s batches at each time (Spark's `transformWith`).
    pub fn transform_with<U: Data, O: Data, F>(
        &self,
        other: &DStream<U>,
        f: F,
    ) -> Result<DStream<O>>
    where
        F: Fn(&Batch<T>, &Batch<U>, Time) -> Result<Batch<O>> + Send + Sync + 'static,
    {
        self.derive_with(other, "TransformedDStream", f)
    }

    /// The batches from `from` to `to` (both included; ends off the slide grid are floored to
    /// it) that are still remembered or computable. Fails before the context started.
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
            let ctx = BatchContext::new(t, zero, core.batch_interval, core.parallelism);
            if let Some(b) = self.node.get_or_compute(t, &ctx)? {
                out.push(b);
            }
            t = t + slide;
        }
        Ok(out)
    }
}

impl<T: Key> DStream<T> {
    /// Each distinct element with its number of occurrences in the batch.
    pub fn count_by_value(&self) -> Result<DStream<(T, i64)>> {
        self.count_by_value_with_partitions(self.ctx.default_parallelism())
    }

    /// [`count_by_value`](Self::count_by_value) into `num_partitions` partitions.
    ///
    /// Strings are counted on the aggregation kernel; right after [`split`](DStream::split) the
    /// words are counted straight from the lines, in one pass.
    pub fn count_by_value_with_partitions(
        &self,
        num_partitions: usize,
    ) -> Result<DStream<(T, i64)>> {
        let n = num_partitions.max(1);
        if let Some((lines, sep)) = self.split_of.clone() {
            let counts = Aggregation::new();
            return DStream::create(
                &self.ctx,
                "CountByValueDStream",
                self.slide_duration(),
                vec![self.node.clone() as Arc<dyn AnyNode>],
                Duration::default(),
                Box::new(move |t, ctx| {
                    let Some(batch) = lines.get_or_compute(t, ctx)? else {
                        return Ok(None);
                    };
                    let parts = count_words_of::<T>(&counts, batch.partitions(), sep, n)?;
                    Ok(Some(Batch::from_partitions(parts)))
                }),
            )
            .map(|d| d.with_unique_keys(n));
        }
        self.derive("CountByValueDStream", move |batch, _, _| {
            if let Some(parts) = count_strings::<T>(batch.partitions(), n) {
                return Ok(Batch::from_partitions(parts?));
            }
            let ones: Vec<_> = batch
                .partitions()
                .iter()
                .map(|p| vec![1i64; p.len()].into())
                .collect();
            let input = KeyedInput::<T, i64> {
                parts: batch.partitions().iter().zip(ones.iter()).collect(),
            };
            let parts = combine_by_key::<T, i64, i64, _, _, _>(
                &input,
                n,
                |v| v,
                |c, v| c + v,
                |a, b| a + b,
            );
            Ok(Batch::from_partitions(
                parts
                    .into_iter()
                    .map(|(a, b)| crate::data::PairColumn { a, b })
                    .collect(),
            ))
        })
        .map(|d| d.with_unique_keys(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ManualClock, Time};

    #[test]
    fn union_of_different_slides_is_refused() {
        let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
        let ssc = StreamingContext::builder(Duration::seconds(1))
            .clock(clock)
            .build()
            .unwrap();
        let a = ssc
            .queue_stream(vec![Batch::from_vec(vec![1i64], 1)], true, None)
            .unwrap();
        // Only windows change a slide; build such a node directly.
        let slower: DStream<i64> = DStream::create(
            &ssc,
            "SlowerDStream",
            Duration::seconds(2),
            vec![a.node.clone() as Arc<dyn AnyNode>],
            Duration::default(),
            Box::new(|_, _| Ok(None)),
        )
        .unwrap();
        let err = a.union(&slower).err().unwrap();
        assert!(matches!(err, Error::DifferentSlideDurations(..)));
        assert_eq!(
            err.to_string(),
            "requirement failed: Some of the DStreams have different slide durations (1000 ms and 2000 ms)"
        );
        assert!(a.transform_with(&slower, |x, _, _| Ok(x.clone())).is_err());
    }
}
