//! Keyed window operations (Spark's `reduceByKeyAndWindow`, `groupByKeyAndWindow`,
//! `countByValueAndWindow`) on the window engine in `crate::window`: with an inverse function
//! a running table that adds entering panes and subtracts expiring ones, without one the
//! two-stacks queue of pane aggregates.

use super::DStream;
use super::node::{AnyNode, lock};
use super::pair::reduce_pairs;
use crate::context::BatchContext;
use crate::data::{Batch, Column, Data, Key, PairColumn};
use crate::dstream::Reducer;
use crate::error::{Error, Result};
use crate::time::{Duration, Time};
use crate::window::running::RunningTable;
use crate::window::two_stacks::TwoStacks;
use crate::window::{EmptyKeys, Grid, MergeFn, PaneSource};
use arrow_schema::DataType;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A filter on a window's result: which `(key, value)` pairs are emitted.
pub type WindowFilter<K, V> = Arc<dyn Fn(<K as Data>::Ref<'_>, &V) -> bool + Send + Sync>;

/// Options of [`DStream::reduce_by_key_and_window_inverse_with`]: Spark's `numPartitions` and
/// `filterFunc`, and two choices Spark does not offer.
///
/// ```
/// # use dstreams::prelude::*;
/// let options = InverseWindowOptions::<String, i64>::new()
///     .partitions(4)
///     .filter(|_word, count| *count > 1)
///     .drop_empty_keys();
/// # let _ = options;
/// ```
pub struct InverseWindowOptions<K: Data, V> {
    partitions: Option<usize>,
    filter: Option<WindowFilter<K, V>>,
    empty_keys: EmptyKeys,
    exact_every: Option<usize>,
}

impl<K: Data, V> Default for InverseWindowOptions<K, V> {
    fn default() -> Self {
        InverseWindowOptions {
            partitions: None,
            filter: None,
            empty_keys: EmptyKeys::Keep,
            exact_every: None,
        }
    }
}

impl<K: Data, V> InverseWindowOptions<K, V> {
    /// Spark's defaults: the context's parallelism, no filter, keys kept at their zero value.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of partitions of the result (Spark's `numPartitions`).
    pub fn partitions(mut self, n: usize) -> Self {
        self.partitions = Some(n);
        self
    }

    /// Emits only the pairs `keep` accepts (Spark's `filterFunc`). The filter decides what is
    /// emitted, never what is remembered: a key it rejects keeps its exact value in the window,
    /// so its later windows stay right. A key whose window is empty and that the filter rejects
    /// is forgotten, as Spark forgets it.
    pub fn filter(mut self, keep: impl Fn(K::Ref<'_>, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Arc::new(keep));
        self
    }

    /// Forgets a key as soon as no batch of its window holds it, instead of keeping it at the
    /// value the inverse function left (Spark's behaviour, which grows the state forever).
    pub fn drop_empty_keys(mut self) -> Self {
        self.empty_keys = EmptyKeys::Drop;
        self
    }

    /// Every `slides` slides, recomputes each key's value from the window's panes with the
    /// reduce function alone, bounding the error that floating-point inverses accumulate. The
    /// default is once per window length (`window / slide` slides) for floating-point values and
    /// never for others.
    pub fn exact_recompute_every(mut self, slides: usize) -> Self {
        self.exact_every = Some(slides.max(1));
        self
    }
}

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
    window.positive("window duration")?;
    slide.positive("slide duration")?;
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
        let mut one = reduce_pairs(cols, &|a, b| f(a, b), 1)?;
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
struct InverseFns<K: Data, V> {
    f: Arc<dyn Fn(V, V) -> V + Send + Sync>,
    inv: Arc<dyn Fn(V, V) -> V + Send + Sync>,
    empty_keys: EmptyKeys,
    filter: Option<WindowFilter<K, V>>,
    exact_every: Option<usize>,
}

struct StacksState<K: Data, V: Data> {
    /// Always consistent: its operations change nothing when a merge fails.
    stacks: TwoStacks<Batch<(K, V)>>,
    /// The last window time computed.
    at: Option<Time>,
}

impl<K: Key, V: Data + Clone> DStream<(K, V)> {
    /// Spark's `reduceByKeyAndWindow(f, W, S)` without an inverse: the values of each key over
    /// the last `window` of batches, every `slide`. Windows are kept as pane aggregates in a
    /// two-stacks queue, so a slide merges a few pane tables instead of re-reducing the window.
    /// Pass [`slide_duration`](DStream::slide_duration) as `slide` for Spark's `(f, W)` form.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Duration::seconds(1)).unwrap();
    /// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None).unwrap();
    /// let peaks = pairs.reduce_by_key_and_window(|a, b| a.max(b), Duration::seconds(30), Duration::seconds(10))?;
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn reduce_by_key_and_window<F>(
        &self,
        f: F,
        window: Duration,
        slide: Duration,
    ) -> Result<DStream<(K, V)>>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.reduce_by_key_and_window_with_partitions(
            f,
            window,
            slide,
            self.ctx.default_parallelism(),
        )
    }

    /// [`reduce_by_key_and_window`](Self::reduce_by_key_and_window) into `num_partitions`
    /// partitions.
    pub fn reduce_by_key_and_window_with_partitions<F>(
        &self,
        f: F,
        window: Duration,
        slide: Duration,
        num_partitions: usize,
    ) -> Result<DStream<(K, V)>>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.check_window(window, slide)?;
        let f: Arc<dyn Fn(V, V) -> V + Send + Sync> = Arc::new(f);
        let reduced = self.reduced_per_batch(&f, num_partitions)?;
        reduced.stacked_window(merge_with(f), window, slide, num_partitions)
    }

    /// Spark's `reduceByKeyAndWindow(f, invF, W, S)`: the window's result is kept as a table;
    /// each slide folds in the entering batches with `f` and takes out the expiring ones with
    /// `inv`, so its cost follows what changes, not what the window holds. As in Spark (Scala),
    /// a key stays in the result at the value `inv` leaves it (usually zero) after it left the
    /// window; [`InverseWindowOptions`] has a filter and an option to drop such keys.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Duration::seconds(1)).unwrap();
    /// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None).unwrap();
    /// let counts = pairs.reduce_by_key_and_window_inverse(
    ///     |a, b| a + b,
    ///     |a, b| a - b,
    ///     Duration::seconds(30),
    ///     Duration::seconds(10),
    /// )?;
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn reduce_by_key_and_window_inverse<F, G>(
        &self,
        f: F,
        inv: G,
        window: Duration,
        slide: Duration,
    ) -> Result<DStream<(K, V)>>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
        G: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.reduce_by_key_and_window_inverse_with(
            f,
            inv,
            window,
            slide,
            InverseWindowOptions::new(),
        )
    }

    /// [`reduce_by_key_and_window_inverse`](Self::reduce_by_key_and_window_inverse) with
    /// partitions, a filter and the treatment of keys whose window emptied.
    pub fn reduce_by_key_and_window_inverse_with<F, G>(
        &self,
        f: F,
        inv: G,
        window: Duration,
        slide: Duration,
        options: InverseWindowOptions<K, V>,
    ) -> Result<DStream<(K, V)>>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
        G: Fn(V, V) -> V + Send + Sync + 'static,
    {
        check_reduced_window(window, slide, self.slide_duration())?;
        let n = options
            .partitions
            .unwrap_or_else(|| self.ctx.default_parallelism());
        let f: Arc<dyn Fn(V, V) -> V + Send + Sync> = Arc::new(f);
        let reduced = self.reduced_per_batch(&f, n)?;
        reduced.inverse_window(f, Arc::new(inv), window, slide, n, options)
    }

    /// A windowed reduction with a built-in reducer: `Sum` takes the inverse path (keys leave the
    /// result when their window empties), `Min` and `Max` the two-stacks path.
    pub fn reduce_by_key_and_window_using(
        &self,
        reducer: Reducer,
        window: Duration,
        slide: Duration,
    ) -> Result<DStream<(K, V)>>
    where
        V: Copy + Ord + std::ops::Add<Output = V> + std::ops::Sub<Output = V>,
    {
        match reducer {
            Reducer::Sum => self.reduce_by_key_and_window_inverse_with(
                |a, b| a + b,
                |a, b| a - b,
                window,
                slide,
                InverseWindowOptions::new().drop_empty_keys(),
            ),
            Reducer::Min => self.reduce_by_key_and_window(|a, b| a.min(b), window, slide),
            Reducer::Max => self.reduce_by_key_and_window(|a, b| a.max(b), window, slide),
        }
    }

    /// Spark's `groupByKeyAndWindow(W, S)`: the values of each key over the window.
    pub fn group_by_key_and_window(
        &self,
        window: Duration,
        slide: Duration,
    ) -> Result<DStream<(K, Vec<V>)>> {
        self.group_by_key_and_window_with_partitions(window, slide, self.ctx.default_parallelism())
    }

    /// [`group_by_key_and_window`](Self::group_by_key_and_window) into `num_partitions`
    /// partitions.
    pub fn group_by_key_and_window_with_partitions(
        &self,
        window: Duration,
        slide: Duration,
        num_partitions: usize,
    ) -> Result<DStream<(K, Vec<V>)>> {
        self.window(window, slide)?
            .group_by_key_with_partitions(num_partitions)
    }

    /// Each batch reduced by key with `f` into `n` hash partitions, the input of a keyed window;
    /// a stream that already is (the result of `reduce_by_key`, `count_by_value`, ... into `n`
    /// partitions) is used as it is.
    fn reduced_per_batch(
        &self,
        f: &Arc<dyn Fn(V, V) -> V + Send + Sync>,
        n: usize,
    ) -> Result<DStream<(K, V)>> {
        if self.keys_unique_in == Some(n) {
            return Ok(self.clone());
        }
        let g = f.clone();
        self.reduce_by_key_with_partitions(move |a, b| g(a, b), n)
    }

    /// The inverse window over a stream already reduced per batch into `n` hash partitions.
    pub(crate) fn inverse_window(
        &self,
        f: Arc<dyn Fn(V, V) -> V + Send + Sync>,
        inv: Arc<dyn Fn(V, V) -> V + Send + Sync>,
        window: Duration,
        slide: Duration,
        n: usize,
        options: InverseWindowOptions<K, V>,
    ) -> Result<DStream<(K, V)>> {
        let grid = Grid::new(window, slide);
        let source = PaneSource::new(self, grid, n, merge_with(f.clone()));
        let exact_every = options.exact_every.or_else(|| {
            is_floating(&V::data_type())
                .then(|| (window.as_millis() / slide.as_millis()).max(1) as usize)
        });
        let fns = InverseFns {
            f,
            inv,
            empty_keys: options.empty_keys,
            filter: options.filter,
            exact_every,
        };
        let state = Mutex::new(InverseState {
            tables: (0..n).map(|_| RunningTable::new()).collect(),
            panes: BTreeMap::new(),
            at: None,
            slides_since_exact: 0,
        });
        DStream::create(
            &self.ctx,
            "ReducedWindowedDStream",
            slide,
            vec![self.node.clone() as Arc<dyn AnyNode>],
            grid.pane,
            Box::new(move |t, ctx| {
                let out = inverse_slide(&mut lock(&state), &source, grid, t, ctx, &fns)?;
                Ok(Some(Batch::from_partitions(out)))
            }),
        )
    }

    /// The two-stacks window over a stream already reduced per batch into `n` hash partitions.
    pub(crate) fn stacked_window(
        &self,
        merge: MergeFn<K, V>,
        window: Duration,
        slide: Duration,
        n: usize,
    ) -> Result<DStream<(K, V)>> {
        let grid = Grid::new(window, slide);
        let source = PaneSource::new(self, grid, n, merge.clone());
        let state = Mutex::new(StacksState::<K, V> {
            stacks: TwoStacks::new(),
            at: None,
        });
        DStream::create(
            &self.ctx,
            "WindowedDStream",
            slide,
            vec![self.node.clone() as Arc<dyn AnyNode>],
            grid.pane,
            Box::new(move |t, ctx| {
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
        )
    }
}

impl<T: Key + Clone> DStream<T> {
    /// Spark's `countByValueAndWindow(W, S)`: how often each value occurs in the window, values
    /// whose count fell to zero dropped (Spark's filter `_._2 != 0`). Counted per batch on the
    /// kernels (straight from the lines after [`split`](DStream::split)), then windowed on the
    /// inverse path.
    pub fn count_by_value_and_window(
        &self,
        window: Duration,
        slide: Duration,
    ) -> Result<DStream<(T, i64)>> {
        self.count_by_value_and_window_with_partitions(
            window,
            slide,
            self.ctx.default_parallelism(),
        )
    }

    /// [`count_by_value_and_window`](Self::count_by_value_and_window) into `num_partitions`
    /// partitions.
    pub fn count_by_value_and_window_with_partitions(
        &self,
        window: Duration,
        slide: Duration,
        num_partitions: usize,
    ) -> Result<DStream<(T, i64)>> {
        check_reduced_window(window, slide, self.slide_duration())?;
        let n = num_partitions.max(1);
        self.count_by_value_with_partitions(n)?.inverse_window(
            Arc::new(|a, b| a + b),
            Arc::new(|a, b| a - b),
            window,
            slide,
            n,
            InverseWindowOptions::new().filter(|_, count| *count != 0),
        )
    }
}

fn window_went_back(t: Time, at: Option<Time>) -> Error {
    Error::Unsupported(format!(
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
    fns: &InverseFns<K, V>,
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
            Ok((table.emit(fns.filter.as_deref()), added))
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
