//! Keyed window operations (Spark's `reduceByKeyAndWindow`, `groupByKeyAndWindow`,
//! `countByValueAndWindow`) on the window engine in `crate::window`: with an inverse function
//! a running table that adds entering panes and subtracts expiring ones, without one the
//! two-stacks queue of pane aggregates.

use super::DStream;
use super::node::{AnyNode, Partitioning, Plan, ShufflePartitions};
use super::partitioned::Partitioned;
use super::partitioned_window::{InversePath, KeyedWindow};
use super::window::window_parts;
use super::window_options::{InverseFn, Window};
use crate::context::BatchContext;
use crate::data::{Batch, Column, Data, Key, PairColumn};
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::rdd::reduce_pairs;
use crate::time::{Duration, Time};
use crate::window::running::RunningTable;
use crate::window::two_stacks::TwoStacks;
use crate::window::{EmptyKeys, Grid, MergeFn, PaneSource};
use arrow_schema::DataType;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Whether values of this type are (or hold) floating-point numbers.
fn is_floating(t: &DataType) -> bool {
    match t {
        DataType::Struct(fields) => fields.iter().any(|f| is_floating(f.data_type())),
        t => t.is_floating(),
    }
}

/// Spark's `require` of `ReducedWindowedDStream`: W and S multiples of the parent's slide.
pub(crate) fn check_reduced_window(
    window: Duration,
    slide: Duration,
    parent: Duration,
) -> Result<()> {
    window.usable("window duration")?;
    slide.usable("slide duration")?;
    for (what, d) in [("window", window), ("slide", slide)] {
        if !d.is_multiple_of(parent) {
            return Err(Error::ReducedWindowNotMultiple {
                what,
                duration: d,
                parent_slide: parent,
            });
        }
    }
    Ok(())
}

/// The merge of partition columns with `f`, as the window engine needs it.
pub(crate) fn merge_with<K: Key, V: Data>(
    f: Arc<dyn Fn(V, V) -> V + Send + Sync>,
) -> MergeFn<K, V> {
    Arc::new(move |cols: &[&PairColumn<K, V>]| {
        let mut one = reduce_pairs(cols, &|a, b| f(a, b), 1);
        Ok(one.pop().unwrap_or_else(PairColumn::empty))
    })
}

/// Partition-wise merge of two aligned batches.
fn merge_batches<K: Key, V: Data>(
    merge: &MergeFn<K, V>,
    a: &Batch<(K, V)>,
    b: &Batch<(K, V)>,
) -> Result<Batch<(K, V)>> {
    let parts = a
        .partitions()
        .par_iter()
        .zip(b.partitions().par_iter())
        .map(|(x, y)| merge(&[x, y]))
        .collect::<Result<Vec<_>>>()?;
    Ok(Batch::from_partitions(parts))
}

/// A sealed pane of the inverse path, with the table ids of its keys once it was added.
struct SealedPane<K: Data, V: Data> {
    batch: Batch<(K, V)>,
    /// Per partition, the id of each row's key in that partition's table.
    ids: Option<Vec<Vec<u32>>>,
}

struct InverseState<K: Data, V: Data> {
    tables: Vec<RunningTable<K, V>>,
    /// Sealed panes of the current window (and of the previous one until it is subtracted).
    panes: BTreeMap<Time, SealedPane<K, V>>,
    /// The window time the tables hold; `None` before the first window and after an update
    /// that failed halfway (the tables are then rebuilt from the panes).
    at: Option<Time>,
    slides_since_exact: usize,
}

/// The functions and options of an inverse window.
struct InverseFns<V> {
    f: ReduceFn<V>,
    inv: InverseFn<V>,
    empty_keys: EmptyKeys,
    exact_every: Option<usize>,
}

struct StacksState<K: Data, V: Data> {
    /// Always consistent: its operations change nothing when a merge fails.
    stacks: TwoStacks<Batch<(K, V)>>,
    /// The last window time computed.
    at: Option<Time>,
}

/// A reduce function, shared by a window's per-batch reduction and its panes.
pub(crate) type ReduceFn<V> = Arc<dyn Fn(V, V) -> V + Send + Sync>;

impl<K: Key, V: Data + Clone> DStream<(K, V)> {
    /// Spark's `reduceByKeyAndWindow(f, W, S)`: the values of each key over the last `window`
    /// of batches, every `slide`. Windows are kept as pane aggregates in a two-stacks queue, so a
    /// slide merges a few pane tables instead of re-reducing the window. Pass
    /// [`slide_duration`](DStream::slide_duration) as `slide` for Spark's `(f, W)` form;
    /// [`reduce_by_key_and_window_with`](Self::reduce_by_key_and_window_with) takes an inverse
    /// function and Spark's other options.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
    /// let peaks = pairs.reduce_by_key_and_window(|a, b| a.max(b), Seconds(30), Seconds(10));
    /// # let _ = peaks;
    /// ```
    #[track_caller]
    pub fn reduce_by_key_and_window<F>(
        &self,
        f: F,
        window: impl Into<Duration>,
        slide: impl Into<Duration>,
    ) -> DStream<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.reduce_by_key_and_window_with(f, Window::new(window, slide))
    }

    /// Spark's other `reduceByKeyAndWindow` overloads: `window` says the length and slide and,
    /// with [`Window::inverse`], Spark's `invReduceFunc`: the window's result is kept as a
    /// table; each slide folds in the entering batches with `f` and takes out the expiring ones
    /// with the inverse, so its cost follows what changes, not what the window holds.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
    /// let counts = pairs.reduce_by_key_and_window_with(
    ///     |a, b| a + b,
    ///     Window::new(Seconds(30), Seconds(10)).inverse(|a, b| a - b),
    /// );
    /// # let _ = counts;
    /// ```
    #[track_caller]
    pub fn reduce_by_key_and_window_with<F>(&self, f: F, window: Window<V>) -> DStream<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        const OPERATOR: &str = "reduce_by_key_and_window";
        let checked = match window.inverse {
            Some(_) => check_reduced_window(window.length, window.slide, self.slide_duration()),
            None => self.check_window(window.length, window.slide),
        };
        if let Err(e) = checked {
            self.refuse(OPERATOR, e);
        }
        let f: ReduceFn<V> = Arc::new(f);
        let partitions = Arc::new(ShufflePartitions::default());
        let reduced = self.reduced_per_batch(&f, &partitions);
        match window.inverse.clone() {
            Some(inv) => reduced.inverse_window(f, inv, &window, &partitions),
            None => reduced.stacked_window(merge_with(f), &window, &partitions),
        }
    }

    /// Spark's `groupByKeyAndWindow(W, S)`: the values of each key over the window (the
    /// window's batches grouped by key). In distributed mode each batch is grouped through the
    /// exchange and each exchange partition keeps its batches' groups of the last window,
    /// concatenated at each slide (`partitioned_window.rs`).
    #[track_caller]
    pub fn group_by_key_and_window(
        &self,
        window: impl Into<Duration>,
        slide: impl Into<Duration>,
    ) -> DStream<(K, Vec<V>)> {
        let (window, slide) = (window.into(), slide.into());
        if let Err(e) = self.check_window(window, slide) {
            self.refuse("group_by_key_and_window", e);
        }
        let grouped = self.group_by_key();
        let per_partition = Arc::new(Partitioned::new(
            KeyedWindow {
                operator: "group_by_key_and_window",
                length: window,
                slide,
                merge: Arc::new(|groups: &[&PairColumn<K, Vec<V>>]| {
                    let all = groups.iter().map(|g| (*g).clone()).collect();
                    let merged = Batch::from_partitions(all).shuffle_into(1)?.concat_groups();
                    Ok(merged.partitions()[0].clone())
                }),
                inverse: None,
            },
            grouped.node.clone(),
            self.ctx.core.exchanges_from(&*grouped.node),
        ));
        let distributed = per_partition.clone();
        let partitions = Arc::new(ShufflePartitions::default());
        let n_of = partitions.clone();
        let parent = self.node.clone();
        let parent_slide = self.slide_duration();
        let stream = DStream::create(
            &self.ctx,
            "GroupedWindowedDStream",
            slide,
            vec![
                self.node.clone() as Arc<dyn AnyNode>,
                grouped.node.clone() as Arc<dyn AnyNode>,
            ],
            window,
            Plan::partitioned(&partitions, Partitioning::ByKey { unique: true }),
            Box::new(move |t, ctx| {
                if ctx.distributed().is_some() {
                    return distributed.compute(t, ctx);
                }
                let parts = window_parts(&parent, parent_slide, window, t, ctx)?;
                let n = n_of.get(ctx.parallelism);
                Ok(Some(
                    Batch::from_partitions(parts)
                        .shuffle_into(n)?
                        .group_by_key(),
                ))
            }),
        );
        stream.keep_state_per_partition(per_partition);
        stream
    }

    /// Each batch reduced by key with `f` into hash partitions (as many as the window's), the
    /// input of a keyed window; batches of a stream that already is (the result of
    /// `reduce_by_key`, `count_by_value`, ... into as many partitions) are taken as they are.
    #[track_caller]
    fn reduced_per_batch(
        &self,
        f: &ReduceFn<V>,
        partitions: &Arc<ShufflePartitions>,
    ) -> DStream<(K, V)> {
        let f = f.clone();
        let n_of = partitions.clone();
        let parent = self.node.clone();
        self.derive_planned(
            "ShuffledDStream",
            Plan::partitioned(partitions, Partitioning::ByKey { unique: true }),
            move |batch, _, ctx| {
                if ctx.distributed().is_some() {
                    // Exchange partitions: each one holds its keys; reduced on its own.
                    if parent.plan.unique_keys() {
                        return Ok(batch.clone());
                    }
                    let parts = batch
                        .partitions()
                        .par_iter()
                        .map(|part| reduce_pairs(&[part], &|a, b| f(a, b), 1).pop())
                        .map(|reduced| reduced.unwrap_or_else(PairColumn::empty))
                        .collect();
                    return Ok(Batch::from_partitions(parts).with_origin_of(batch));
                }
                let n = n_of.get(ctx.parallelism);
                if parent.plan.unique_key_partitions(ctx.parallelism) == Some(n) {
                    return Ok(batch.clone());
                }
                Ok(batch.shuffle_into(n)?.reduce_by_key(|a, b| f(a, b)))
            },
        )
    }

    /// The inverse window over a stream already reduced per batch into `n` hash partitions.
    #[track_caller]
    pub(crate) fn inverse_window(
        &self,
        f: ReduceFn<V>,
        inv: InverseFn<V>,
        window: &Window<V>,
        partitions: &Arc<ShufflePartitions>,
    ) -> DStream<(K, V)> {
        let (length, slide) = (window.length, window.slide);
        let grid = Grid::new(length, slide);
        let source = PaneSource::new(self, grid, partitions.clone(), merge_with(f.clone()));
        let exact_every = window.exact_every.or_else(|| {
            is_floating(&V::data_type())
                .then(|| (length.as_millis() / slide.as_millis().max(1)).max(1) as usize)
        });
        let fns = InverseFns {
            f,
            inv,
            empty_keys: window.empty_keys,
            exact_every,
        };
        let per_partition = self.partitioned_window(
            merge_with(fns.f.clone()),
            Some(InversePath {
                f: fns.f.clone(),
                inv: fns.inv.clone(),
                empty_keys: fns.empty_keys,
                exact: window.exact_every.is_some() || is_floating(&V::data_type()),
            }),
            window,
        );
        let distributed = per_partition.clone();
        let state = Mutex::new(InverseState {
            tables: Vec::new(),
            panes: BTreeMap::new(),
            at: None,
            slides_since_exact: 0,
        });
        let n_of = partitions.clone();
        let stream = DStream::create(
            &self.ctx,
            "ReducedWindowedDStream",
            slide,
            vec![self.node.clone() as Arc<dyn AnyNode>],
            grid.pane,
            Plan::partitioned(partitions, Partitioning::ByKey { unique: true }),
            Box::new(move |t, ctx| {
                if ctx.distributed().is_some() {
                    return distributed.compute(t, ctx);
                }
                let mut st = lock(&state);
                let n = n_of.get(ctx.parallelism);
                if st.tables.len() != n {
                    st.tables = (0..n).map(|_| RunningTable::new()).collect();
                    st.at = None;
                }
                let out = inverse_slide(&mut st, &source, grid, t, ctx, &fns)?;
                Ok(Some(Batch::from_partitions(out)))
            }),
        );
        stream.keep_state_per_partition(per_partition);
        stream
    }

    /// The two-stacks window over a stream already reduced per batch into `n` hash partitions.
    #[track_caller]
    pub(crate) fn stacked_window(
        &self,
        merge: MergeFn<K, V>,
        window: &Window<V>,
        partitions: &Arc<ShufflePartitions>,
    ) -> DStream<(K, V)> {
        let (length, slide) = (window.length, window.slide);
        let grid = Grid::new(length, slide);
        let source = PaneSource::new(self, grid, partitions.clone(), merge.clone());
        let per_partition = self.partitioned_window(merge.clone(), None, window);
        let distributed = per_partition.clone();
        let state = Mutex::new(StacksState::<K, V> {
            stacks: TwoStacks::new(),
            at: None,
        });
        let n_of = partitions.clone();
        let stream = DStream::create(
            &self.ctx,
            "WindowedDStream",
            slide,
            vec![self.node.clone() as Arc<dyn AnyNode>],
            grid.pane,
            Plan::partitioned(partitions, Partitioning::ByKey { unique: true }),
            Box::new(move |t, ctx| {
                if ctx.distributed().is_some() {
                    return distributed.compute(t, ctx);
                }
                let n = n_of.get(ctx.parallelism);
                let mut st = lock(&state);
                let merge_two = |a: &Batch<(K, V)>, b: &Batch<(K, V)>| merge_batches(&merge, a, b);
                let start = grid.start_of(t);
                if st.at.is_some_and(|at| at >= t) {
                    return Err(window_went_back(t, st.at));
                }
                st.stacks.evict_through(start, &merge_two)?;
                let from = st.stacks.newest().map_or(start, |n| n.max(start));
                for end in grid.pane_ends(from, t, ctx.zero_time) {
                    let pane = source.pane(end, ctx)?;
                    st.stacks.push(end, pane, &merge_two)?;
                }
                let result = st.stacks.query(&merge_two)?;
                st.at = Some(t);
                Ok(Some(result.unwrap_or_else(|| {
                    Batch::from_partitions((0..n).map(|_| PairColumn::empty()).collect())
                })))
            }),
        );
        stream.keep_state_per_partition(per_partition);
        stream
    }

    /// The window in distributed mode: kept per exchange partition (`partitioned_window.rs`).
    fn partitioned_window(
        &self,
        merge: MergeFn<K, V>,
        inverse: Option<InversePath<V>>,
        window: &Window<V>,
    ) -> Arc<Partitioned<(K, V), (K, V), KeyedWindow<K, V>>> {
        let op = KeyedWindow {
            operator: "reduce_by_key_and_window",
            length: window.length,
            slide: window.slide,
            merge,
            inverse,
        };
        Arc::new(Partitioned::new(
            op,
            self.node.clone(),
            self.ctx.core.exchanges_from(&*self.node),
        ))
    }
}

impl<T: Key + Clone> DStream<T> {
    /// Spark's `countByValueAndWindow(W, S)`: how often each value occurs in the window, values
    /// whose count fell to zero dropped (Spark's filter `_._2 != 0`). Counted per batch on the
    /// kernels (straight from the lines after [`split`](DStream::split)), then windowed on the
    /// inverse path.
    #[track_caller]
    pub fn count_by_value_and_window(
        &self,
        window: impl Into<Duration>,
        slide: impl Into<Duration>,
    ) -> DStream<(T, i64)> {
        let window = Window::new(window, slide)
            .inverse(|a, b| a - b)
            .drop_empty_keys();
        if let Err(e) = check_reduced_window(window.length, window.slide, self.slide_duration()) {
            self.refuse("count_by_value_and_window", e);
        }
        let partitions = Arc::new(ShufflePartitions::default());
        self.count_by_value_into(&partitions).inverse_window(
            Arc::new(|a, b| a + b),
            Arc::new(|a, b| a - b),
            &window,
            &partitions,
        )
    }
}

fn window_went_back(t: Time, at: Option<Time>) -> Error {
    Error::IllegalState(format!(
        "a window at {t} was asked for after the window at {} was computed; windows move forward only",
        at.map_or_else(|| "?".to_string(), |a| a.to_string())
    ))
}

/// One slide of the inverse path: works out the entering and expiring panes, seals the new ones,
/// subtracts and adds them partition by partition in parallel, and emits; rebuilds from the panes
/// when the tables cannot be trusted.
fn inverse_slide<K: Key, V: Data + Clone>(
    st: &mut InverseState<K, V>,
    source: &PaneSource<K, V>,
    grid: Grid,
    t: Time,
    ctx: &BatchContext,
    fns: &InverseFns<V>,
) -> Result<Vec<PairColumn<K, V>>> {
    let start = grid.start_of(t);
    if st.at.is_some_and(|at| at >= t) {
        return Err(window_went_back(t, st.at));
    }
    let (mut from, mut leaving) = match st.at {
        Some(at) => (
            at.max(start),
            grid.pane_ends(grid.start_of(at), at.min(start), ctx.zero_time),
        ),
        None => (start, Vec::new()),
    };
    let trusted = st.at.is_some()
        && leaving
            .iter()
            .all(|e| st.panes.get(e).is_some_and(|p| p.ids.is_some()));
    if !trusted {
        if st.tables.iter().any(|t| t.len() > 0) {
            tracing::warn!("window at {t}: rebuilding the window's table from its panes");
        }
        st.tables.iter_mut().for_each(RunningTable::clear);
        st.panes.values_mut().for_each(|p| p.ids = None);
        from = start;
        leaving.clear();
    }
    let entering = grid.pane_ends(from, t, ctx.zero_time);
    for &end in &entering {
        if let std::collections::btree_map::Entry::Vacant(slot) = st.panes.entry(end) {
            slot.insert(SealedPane {
                batch: source.pane(end, ctx)?,
                ids: None,
            });
        }
    }
    let exact = fns
        .exact_every
        .is_some_and(|every| st.slides_since_exact + 1 >= every);
    let mut leaving_panes: Vec<(Batch<(K, V)>, Vec<Vec<u32>>)> = Vec::new();
    for e in &leaving {
        if let Some(p) = st.panes.get_mut(e)
            && let Some(ids) = p.ids.take()
        {
            leaving_panes.push((p.batch.clone(), ids));
        }
    }
    let entering_panes: Vec<Batch<(K, V)>> = entering
        .iter()
        .filter_map(|e| st.panes.get(e).map(|p| p.batch.clone()))
        .collect();
    let window_panes: Vec<Batch<(K, V)>> = if exact {
        st.panes
            .range(start..)
            .filter(|(e, _)| **e > start)
            .map(|(_, p)| p.batch.clone())
            .collect()
    } else {
        Vec::new()
    };
    st.at = None;
    let results = st
        .tables
        .par_iter_mut()
        .enumerate()
        .map(|(j, table)| {
            for (pane, ids) in &leaving_panes {
                table.subtract(
                    &pane.partitions()[j],
                    &ids[j],
                    &|a, b| (fns.inv)(a, b),
                    fns.empty_keys,
                )?;
            }
            let added: Vec<Vec<u32>> = entering_panes
                .iter()
                .map(|pane| table.add(&pane.partitions()[j], &|a, b| (fns.f)(a, b)))
                .collect::<Result<_>>()?;
            if exact {
                let cols: Vec<_> = window_panes.iter().map(|p| &p.partitions()[j]).collect();
                table.recompute(&cols, &|a, b| (fns.f)(a, b));
            }
            Ok((table.emit(), added))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(results.len());
    let mut ids_by_pane: Vec<Vec<Vec<u32>>> = entering.iter().map(|_| Vec::new()).collect();
    for (column, added) in results {
        out.push(column);
        for (k, ids) in added.into_iter().enumerate() {
            ids_by_pane[k].push(ids);
        }
    }
    for (end, ids) in entering.iter().zip(ids_by_pane) {
        if let Some(p) = st.panes.get_mut(end) {
            p.ids = Some(ids);
        }
    }
    st.at = Some(t);
    st.slides_since_exact = if exact { 0 } else { st.slides_since_exact + 1 };
    st.panes.retain(|end, _| *end > start);
    Ok(out)
}
