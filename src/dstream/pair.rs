//! Pair operations on `DStream<(K, V)>`: keyed aggregation, grouping and joins, each a parallel
//! hash-partitioned shuffle (Spark's `PairDStreamFunctions`). The `_with_partitions` variants set
//! the number of output partitions; the others use the context's default parallelism.

use super::DStream;
use super::kernel_paths::{as_i64_reducer, reduce_strings};
use crate::data::{Batch, ColumnBuilder, Data, Emit, Key, PairColumn};
use crate::error::{Error, Result};
use crate::kernels::accumulate::Agg;
use crate::kernels::narrow::per_partition;
use crate::kernels::shuffle::{CoGroup, KeyedInput, cogroup_rows, combine_by_key};
use rayon::prelude::*;

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

fn keyed<K: Key, V: Data>(batch: &Batch<(K, V)>) -> KeyedInput<'_, K, V> {
    KeyedInput {
        parts: batch.partitions().iter().map(|p| (&p.a, &p.b)).collect(),
    }
}

fn partitions(n: usize) -> Result<usize> {
    if n == 0 {
        Err(Error::Unsupported(
            "a shuffle needs at least one partition".into(),
        ))
    } else {
        Ok(n)
    }
}

/// The pairs of `parts` reduced by key with `f` into `partitions` hash partitions: on the
/// aggregation kernel for string keys and integer values, else the general shuffle.
pub(crate) fn reduce_pairs<K: Key, V: Data>(
    parts: &[&PairColumn<K, V>],
    f: &(impl Fn(V, V) -> V + Sync),
    partitions: usize,
) -> Result<Vec<PairColumn<K, V>>> {
    let reducer = as_i64_reducer(f);
    if let Some(out) = reduce_strings(parts, Agg::Reduce(&reducer), partitions) {
        return out;
    }
    let input = KeyedInput {
        parts: parts.iter().map(|p| (&p.a, &p.b)).collect(),
    };
    let out = combine_by_key::<K, V, V, _, _, _>(
        &input,
        partitions,
        V::to_owned_value,
        |c, v| f(c, V::to_owned_value(v)),
        f,
    );
    Ok(out.into_iter().map(|(a, b)| PairColumn { a, b }).collect())
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
            let parts: Vec<&PairColumn<K, V>> = batch.partitions().iter().collect();
            Ok(Batch::from_partitions(reduce_pairs(&parts, &f, n)?))
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
        self.derive("ShuffledDStream", move |batch, _, _| {
            let agg = match reducer {
                Reducer::Sum => Agg::Sum,
                Reducer::Min => Agg::Min,
                Reducer::Max => Agg::Max,
            };
            let cols: Vec<&PairColumn<K, V>> = batch.partitions().iter().collect();
            if let Some(parts) = reduce_strings(&cols, agg, n) {
                return Ok(Batch::from_partitions(parts?));
            }
            let f = move |a: V, b: V| match reducer {
                Reducer::Sum => a + b,
                Reducer::Min => a.min(b),
                Reducer::Max => a.max(b),
            };
            let parts = combine_by_key::<K, V, V, _, _, _>(
                &keyed(batch),
                n,
                V::to_owned_value,
                |c, v| f(c, V::to_owned_value(v)),
                f,
            );
            Ok(Batch::from_partitions(
                parts
                    .into_iter()
                    .map(|(a, b)| PairColumn { a, b })
                    .collect(),
            ))
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
            let parts = combine_by_key::<K, V, C, _, _, _>(
                &keyed(batch),
                n,
                &create,
                &merge_value,
                &merge_combiners,
            );
            Ok(Batch::from_partitions(
                parts
                    .into_iter()
                    .map(|(a, b)| PairColumn { a, b })
                    .collect(),
            ))
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
            let left = keyed(batch);
            let none = KeyedInput::<K, V> { parts: Vec::new() };
            let groups = cogroup_rows(&left, &none, n);
            let sources = left.sources_with(&none);
            let parts = groups
                .into_par_iter()
                .map(|gs| {
                    let mut b = <(K, Vec<V>) as Data>::Builder::new(gs.len(), &sources);
                    for g in &gs {
                        b.0.push_ref(left.group_key(&none, g));
                        for &r in &g.left {
                            b.1.push_element_ref(left.row_value(r));
                        }
                        b.1.close_list();
                    }
                    b.finish()
                })
                .collect();
            Ok(Batch::from_partitions(parts))
        })
    }

    /// Transforms each value, keeping its key; the closure pushes exactly one value.
    pub fn map_values<W: Data, F>(&self, f: F) -> Result<DStream<(K, W)>>
    where
        F: Fn(V::Ref<'_>, &mut Emit<'_, W>) + Send + Sync + 'static,
    {
        self.derive("MapValuedDStream", move |batch, _, _| {
            per_partition(batch, |_, col, b: &mut <(K, W) as Data>::Builder| {
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
            per_partition(batch, |_, col, b: &mut <(K, W) as Data>::Builder| {
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

    fn cogrouped<W: Data, O: Data>(
        &self,
        other: &DStream<(K, W)>,
        num_partitions: usize,
        name: &str,
        emit: impl Fn(&KeyedInput<'_, K, V>, &KeyedInput<'_, K, W>, &CoGroup, &mut O::Builder)
        + Send
        + Sync
        + 'static,
    ) -> Result<DStream<O>> {
        let n = partitions(num_partitions)?;
        self.derive_with(other, name, move |a, b, _| {
            let (left, rightk) = (keyed(a), keyed(b));
            let groups = cogroup_rows(&left, &rightk, n);
            let sources = left.sources_with(&rightk);
            let parts = groups
                .into_par_iter()
                .map(|gs| {
                    let mut out = O::Builder::new(gs.len(), &sources);
                    for g in &gs {
                        emit(&left, &rightk, g, &mut out);
                    }
                    out.finish()
                })
                .collect();
            Ok(Batch::from_partitions(parts))
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
        self.cogrouped(
            other,
            num_partitions,
            "JoinedDStream",
            |l, r, g, out: &mut <(K, (V, W)) as Data>::Builder| {
                let k = l.group_key(r, g);
                for &a in &g.left {
                    for &b in &g.right {
                        out.push_ref((k, (l.row_value(a), r.row_value(b))));
                    }
                }
            },
        )
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
        self.cogrouped(
            other,
            num_partitions,
            "LeftOuterJoinedDStream",
            |l, r, g, out: &mut <(K, (V, Option<W>)) as Data>::Builder| {
                let k = l.group_key(r, g);
                for &a in &g.left {
                    if g.right.is_empty() {
                        out.push_ref((k, (l.row_value(a), None)));
                    }
                    for &b in &g.right {
                        out.push_ref((k, (l.row_value(a), Some(r.row_value(b)))));
                    }
                }
            },
        )
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
        self.cogrouped(
            other,
            num_partitions,
            "RightOuterJoinedDStream",
            |l, r, g, out: &mut <(K, (Option<V>, W)) as Data>::Builder| {
                let k = l.group_key(r, g);
                for &b in &g.right {
                    if g.left.is_empty() {
                        out.push_ref((k, (None, r.row_value(b))));
                    }
                    for &a in &g.left {
                        out.push_ref((k, (Some(l.row_value(a)), r.row_value(b))));
                    }
                }
            },
        )
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
        self.cogrouped(
            other,
            num_partitions,
            "FullOuterJoinedDStream",
            |l, r, g, out: &mut <(K, (Option<V>, Option<W>)) as Data>::Builder| {
                let k = l.group_key(r, g);
                match (g.left.is_empty(), g.right.is_empty()) {
                    (false, true) => g
                        .left
                        .iter()
                        .for_each(|&a| out.push_ref((k, (Some(l.row_value(a)), None)))),
                    (true, false) => g
                        .right
                        .iter()
                        .for_each(|&b| out.push_ref((k, (None, Some(r.row_value(b)))))),
                    _ => {
                        for &a in &g.left {
                            for &b in &g.right {
                                out.push_ref((k, (Some(l.row_value(a)), Some(r.row_value(b)))));
                            }
                        }
                    }
                }
            },
        )
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
        self.cogrouped(
            other,
            num_partitions,
            "CoGroupedDStream",
            |l, r, g, out: &mut <(K, (Vec<V>, Vec<W>)) as Data>::Builder| {
                out.0.push_ref(l.group_key(r, g));
                let lists = &mut out.1;
                for &a in &g.left {
                    lists.0.push_element_ref(l.row_value(a));
                }
                lists.0.close_list();
                for &b in &g.right {
                    lists.1.push_element_ref(r.row_value(b));
                }
                lists.1.close_list();
            },
        )
    }
}
