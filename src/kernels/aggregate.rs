//! Two-phase parallel hash aggregation of string keys with carried hashes, and the fused word
//! count (tokenise + count) built on it.
//!
//! Every key is hashed once ([`crate::kernels::hash::hash_key`], the engine's hash). The hash picks the
//! key's output partition ([`partition_of`], the engine's function: its middle bits) and is
//! stored with the key in the table, so nothing is hashed again: not on table growth, not in the
//! merge.
//!
//! * Phase 1: the input (every array of it) is cut into one piece per rayon thread; each task
//!   aggregates its piece into its own [`GroupTable`] + dense accumulator vector *per output
//!   partition* (the table a row goes to is chosen by its hash).
//! * Phase 2: output partition `p` is one task, which takes the first task's partial for `p`
//!   and merges the others into it in task order.
//!
//! Rows are processed in batches (a chunk of tokenised lines, or 2048 keys): hashes first, in
//! one tight loop; then the table probes. Once a table outgrows the caches, each batch is
//! interned and folded in separate loops that prefetch the probed slot and the accumulator of
//! the row 32 ahead.
//!
//! An [`Aggregation`] keeps the tables, accumulators and scratch vectors of its tasks from one
//! call to the next (an operator runs one per batch): a batch starts with tables sized for what
//! the previous batch held, so nothing grows or rehashes on the way, and no fresh memory is
//! touched for them.
//!
//! Output: per output partition, the keys as a `StringViewArray` and the values, in first-seen
//! order (the order in which keys first occur in the input, arrays in order), whatever the
//! number of tasks. Keys are the input's views: inline keys are in their view; long keys point
//! into the input's data buffers, which the output shares (no byte is copied); use [`compact`]
//! for tables that outlive their batch.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use arrow_array::{Array, StringViewArray};
use arrow_buffer::{Buffer, ScalarBuffer};
use rayon::prelude::*;

use crate::kernels::accumulate::{Accumulator, Agg, Count, Max, Min, Reduce, Sum};
pub use crate::kernels::compact::compact;
use crate::kernels::error::KernelError;
use crate::kernels::hash::{KeyHashes, hash_view, partition_of};
use crate::kernels::prefetch::prefetch;
use crate::kernels::simd::{Simd, dispatch};
use crate::kernels::table::GroupTable;
use crate::kernels::tokenize::{LONG_LINE, LinePieces, Out, Scan, Separators};
use crate::kernels::view::{MAX_INLINE, buffer_index, view_len};

/// Keys and values of one output partition.
pub type Partition = (StringViewArray, Vec<i64>);

/// What [`Aggregation::aggregate_pushed`]'s tasks hand a batch of rows to: key views and values
/// (`None`: all ones).
pub(crate) type PushRows<'a> = dyn FnMut(&[u128], Option<&[i64]>) -> Result<(), KernelError> + 'a;

/// Lines per task below which a task is not worth its merge.
const MIN_LINES_PER_TASK: usize = 1024;
/// Keys per task below which a task is not worth its merge.
const MIN_KEYS_PER_TASK: usize = 16 * 1024;
/// Lines tokenised at a time by [`count_words`] (about 100 KiB of views for KJV's verses).
const LINES_PER_CHUNK: usize = 64;
/// Rows hashed and then aggregated at a time (scratch vectors stay in L1/L2).
pub(crate) const ROWS_PER_BATCH: usize = 2048;

/// Word count: tokenises `lines` and counts every token, in one pass per rayon task, into
/// `partitions` output partitions (a token goes to `partition_of(hash_key(token), partitions)`).
///
/// The same result as `aggregate(&[tokenize(lines, sep)?], None, Agg::Count, partitions)`,
/// without materialising the tokens.
///
/// ```
/// use arrow_array::StringViewArray;
/// use dstreams::kernels::aggregate::count_words;
/// use dstreams::kernels::tokenize::Separators;
///
/// let lines = StringViewArray::from(vec!["to be or not to be"]);
/// let parts = count_words(&lines, Separators::Space, 1)?;
/// let (keys, counts) = &parts[0];
/// let got: Vec<(&str, i64)> = keys.iter().flatten().zip(counts.iter().copied()).collect();
/// assert_eq!(got, [("to", 2), ("be", 2), ("or", 1), ("not", 1)]);
/// # Ok::<(), dstreams::kernels::KernelError>(())
/// ```
///
/// # Errors
///
/// [`KernelError::ZeroPartitions`], or those of [`crate::kernels::tokenize::tokenize`].
pub fn count_words(
    lines: &StringViewArray,
    sep: Separators,
    partitions: usize,
) -> Result<Vec<Partition>, KernelError> {
    count_words_using(lines, sep, partitions, Simd::best())
}

/// [`count_words`] with a chosen separator kernel (for tests and benchmarks).
///
/// # Errors
///
/// [`KernelError::SimdUnavailable`] if `simd` cannot run here, or those of [`count_words`].
pub fn count_words_using(
    lines: &StringViewArray,
    sep: Separators,
    partitions: usize,
    simd: Simd,
) -> Result<Vec<Partition>, KernelError> {
    Aggregation::new().count_words_using(std::slice::from_ref(lines), sep, partitions, simd)
}

/// Aggregates the values of equal keys over all arrays of `keys` into `partitions` output
/// partitions (key `k` goes to `partition_of(hash_key(k), partitions)`).
///
/// `values[i]` holds one value per key of `keys[i]`; `None` means every value is 1 (the
/// `(word, 1)` pairs of word count). Keys must not be null.
///
/// ```
/// use arrow_array::StringViewArray;
/// use dstreams::kernels::accumulate::Agg;
/// use dstreams::kernels::aggregate::aggregate;
///
/// let keys = [StringViewArray::from(vec!["a", "b", "a"]), StringViewArray::from(vec!["b"])];
/// let values: [&[i64]; 2] = [&[1, 2, 3], &[10]];
/// let parts = aggregate(&keys, Some(&values), Agg::Max, 1)?;
/// let got: Vec<(&str, i64)> = parts[0].0.iter().flatten().zip(parts[0].1.clone()).collect();
/// assert_eq!(got, [("a", 3), ("b", 10)]);
/// # Ok::<(), dstreams::kernels::KernelError>(())
/// ```
///
/// # Errors
///
/// [`KernelError::ZeroPartitions`], [`KernelError::ValueArrays`], [`KernelError::ValueRows`],
/// [`KernelError::NullKeys`], [`KernelError::TooManyBuffers`] or [`KernelError::TooManyKeys`].
pub fn aggregate(
    keys: &[StringViewArray],
    values: Option<&[&[i64]]>,
    agg: Agg<'_>,
    partitions: usize,
) -> Result<Vec<Partition>, KernelError> {
    Aggregation::new().aggregate(keys, None, values, agg, partitions)
}

/// [`aggregate`] with the keys' hashes already computed ([`KeyHashes::new`] of each array), so
/// that keys hashed once for partitioning are not hashed again.
///
/// # Errors
///
/// Those of [`aggregate`]; [`KernelError::ValueArrays`] or [`KernelError::ValueRows`] also when
/// `hashes` does not match `keys`.
pub fn aggregate_hashed(
    keys: &[StringViewArray],
    hashes: &[KeyHashes],
    values: Option<&[&[i64]]>,
    agg: Agg<'_>,
    partitions: usize,
) -> Result<Vec<Partition>, KernelError> {
    Aggregation::new().aggregate(keys, Some(hashes), values, agg, partitions)
}

/// An aggregation run again and again (one per batch of an operator), keeping its tasks'
/// tables, accumulators and scratch vectors from one run to the next: a run starts with tables
/// sized for what the previous run held, so they neither grow nor rehash on the way, and its
/// scratch memory is already there. The results are those of [`count_words`] and
/// [`aggregate`].
///
/// ```
/// use arrow_array::StringViewArray;
/// use dstreams::kernels::aggregate::Aggregation;
/// use dstreams::kernels::tokenize::Separators;
///
/// let word_count = Aggregation::new();
/// for batch in [vec!["a b a"], vec!["b c"]] {
///     let parts = word_count.count_words(&[StringViewArray::from(batch)], Separators::Space, 2)?;
///     assert_eq!(parts.len(), 2);
/// }
/// # Ok::<(), dstreams::kernels::KernelError>(())
/// ```
#[derive(Default)]
pub struct Aggregation {
    /// The tasks' state between runs (taken out during a run).
    tasks: Mutex<Vec<TaskState>>,
}

impl std::fmt::Debug for Aggregation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregation").finish_non_exhaustive()
    }
}

impl Aggregation {
    /// An aggregation with nothing kept yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`count_words`] over several arrays of lines at once (as if concatenated).
    ///
    /// # Errors
    ///
    /// Those of [`count_words`], and [`KernelError::TooManyBuffers`].
    pub fn count_words(
        &self,
        lines: &[StringViewArray],
        sep: Separators,
        partitions: usize,
    ) -> Result<Vec<Partition>, KernelError> {
        self.count_words_using(lines, sep, partitions, Simd::best())
    }

    fn count_words_using(
        &self,
        lines: &[StringViewArray],
        sep: Separators,
        partitions: usize,
        simd: Simd,
    ) -> Result<Vec<Partition>, KernelError> {
        if partitions == 0 {
            return Err(KernelError::ZeroPartitions);
        }
        if !simd.is_available() {
            return Err(KernelError::SimdUnavailable(simd));
        }
        let total: usize = lines.iter().map(Array::len).sum();
        let tasks = rayon::current_num_threads()
            .min(total / MIN_LINES_PER_TASK)
            .max(1);
        let sources = Sources::new(lines)?;
        self.two_phase(
            pieces(lines, tasks),
            partitions,
            &Count,
            &sources.buffers,
            |pieces, state| {
                // Tokenise a chunk of lines into scratch views (cache-resident), hash them all,
                // then count them all: three tight loops instead of one branchy one.
                let TaskState {
                    parts,
                    tokens,
                    batch,
                } = state;
                for (array, range) in pieces {
                    let own = &lines[array];
                    let remap = sources.remap[array].as_deref();
                    let mut count = |views: &[u128], first, nulls| {
                        tokens.clear();
                        let scan = Scan {
                            views,
                            first,
                            nulls,
                            buffers: own.data_buffers(),
                            out: std::mem::take(tokens),
                        };
                        *tokens = dispatch(simd, sep, scan)??;
                        let rows = Rows {
                            views: tokens.tokens(),
                            remap,
                            hashes: None,
                            values: None,
                        };
                        batch.add(parts, &Count, rows, &sources.buffers)
                    };
                    let long_line =
                        |i: usize| view_len(own.views()[i]) > LONG_LINE && own.is_valid(i);
                    let mut chunk = range.start;
                    while chunk < range.end {
                        let lines_end = (chunk + LINES_PER_CHUNK).min(range.end);
                        let next = (chunk..lines_end)
                            .find(|&i| long_line(i))
                            .unwrap_or(lines_end);
                        if next > chunk {
                            count(&own.views()[chunk..next], chunk, own.nulls())?;
                            chunk = next;
                            continue;
                        }
                        // A long line, a piece at a time (its tokens are the pieces' tokens).
                        let view = own.views()[chunk];
                        match LinePieces::new(view, own.data_buffers(), sep) {
                            Some(line) => {
                                for piece in line {
                                    count(std::slice::from_ref(&piece), chunk, None)?;
                                }
                            }
                            None => count(std::slice::from_ref(&view), chunk, None)?,
                        }
                        chunk += 1;
                    }
                }
                Ok(())
            },
        )
    }

    /// [`aggregate`] (`hashes: None`) or [`aggregate_hashed`].
    ///
    /// # Errors
    ///
    /// Those of [`aggregate_hashed`].
    pub fn aggregate(
        &self,
        keys: &[StringViewArray],
        hashes: Option<&[KeyHashes]>,
        values: Option<&[&[i64]]>,
        agg: Agg<'_>,
        partitions: usize,
    ) -> Result<Vec<Partition>, KernelError> {
        if partitions == 0 {
            return Err(KernelError::ZeroPartitions);
        }
        check_input(keys, hashes, values)?;
        let sources = Sources::new(keys)?;
        let input = Input {
            keys,
            hashes,
            values,
            sources: &sources,
        };
        match agg {
            Agg::Sum => self.run(&input, &Sum, partitions),
            Agg::Count => self.run(&input, &Count, partitions),
            Agg::Min => self.run(&input, &Min, partitions),
            Agg::Max => self.run(&input, &Max, partitions),
            Agg::Reduce(f) => self.run(&input, &Reduce(f), partitions),
        }
    }

    fn run<A: Accumulator>(
        &self,
        input: &Input<'_>,
        agg: &A,
        partitions: usize,
    ) -> Result<Vec<Partition>, KernelError> {
        let rows: usize = input.keys.iter().map(Array::len).sum();
        let tasks = rayon::current_num_threads()
            .min(rows / MIN_KEYS_PER_TASK)
            .max(1);
        let buffers = &input.sources.buffers;
        self.two_phase(
            pieces(input.keys, tasks),
            partitions,
            agg,
            buffers,
            |pieces, state| {
                let TaskState { parts, batch, .. } = state;
                for (array, range) in pieces {
                    let remap = input.sources.remap[array].as_deref();
                    let mut start = range.start;
                    while start < range.end {
                        let end = (start + ROWS_PER_BATCH).min(range.end);
                        let views = &input.keys[array].views()[start..end];
                        let hashes = input.hashes.map(|h| &h[array].as_slice()[start..end]);
                        let rows = Rows {
                            views,
                            remap,
                            hashes,
                            values: input.values.map(|v| &v[array][start..end]),
                        };
                        batch.add(parts, agg, rows, buffers)?;
                        start = end;
                    }
                }
                Ok(())
            },
        )
    }

    /// Aggregates the rows that tasks push, in batches of at most [`ROWS_PER_BATCH`] (a fused
    /// narrow chain's keys and values, `dstream/fusion.rs`): `fill` runs each task and calls
    /// its `add(views, values)` for every batch of rows (`values: None` is all ones). Every key
    /// view is `make_view` of a string's bytes: inline, or naming the index in `buffers` of a
    /// buffer that holds those bytes at that offset. The results are those of [`aggregate`]
    /// over the pushed rows in task order.
    ///
    /// # Errors
    ///
    /// [`KernelError::ZeroPartitions`], [`KernelError::TooManyKeys`], or `fill`'s.
    pub(crate) fn aggregate_pushed<P: Send>(
        &self,
        tasks: Vec<P>,
        buffers: &Arc<[Buffer]>,
        agg: Agg<'_>,
        partitions: usize,
        fill: impl Fn(P, &mut PushRows<'_>) -> Result<(), KernelError> + Sync,
    ) -> Result<Vec<Partition>, KernelError> {
        if partitions == 0 {
            return Err(KernelError::ZeroPartitions);
        }
        match agg {
            Agg::Sum => self.pushed(tasks, buffers, &Sum, partitions, &fill),
            Agg::Count => self.pushed(tasks, buffers, &Count, partitions, &fill),
            Agg::Min => self.pushed(tasks, buffers, &Min, partitions, &fill),
            Agg::Max => self.pushed(tasks, buffers, &Max, partitions, &fill),
            Agg::Reduce(f) => self.pushed(tasks, buffers, &Reduce(f), partitions, &fill),
        }
    }

    fn pushed<P: Send, A: Accumulator>(
        &self,
        tasks: Vec<P>,
        buffers: &Arc<[Buffer]>,
        agg: &A,
        partitions: usize,
        fill: &(impl Fn(P, &mut PushRows<'_>) -> Result<(), KernelError> + Sync),
    ) -> Result<Vec<Partition>, KernelError> {
        self.two_phase(tasks, partitions, agg, buffers, |task, state| {
            let TaskState { parts, batch, .. } = state;
            fill(task, &mut |views: &[u128], values: Option<&[i64]>| {
                let rows = Rows {
                    views,
                    remap: None,
                    hashes: None,
                    values,
                };
                batch.add(parts, agg, rows, buffers)
            })
        })
    }

    /// Runs phase 1 (`fill` on every task, in parallel, into per-partition partials) and phase
    /// 2 (per partition, in parallel, merging the tasks' partials in task order), on the tasks'
    /// state kept from the previous run.
    fn two_phase<T, A, F>(
        &self,
        tasks: Vec<T>,
        partitions: usize,
        agg: &A,
        buffers: &Arc<[Buffer]>,
        fill: F,
    ) -> Result<Vec<Partition>, KernelError>
    where
        T: Send,
        A: Accumulator,
        F: Fn(T, &mut TaskState) -> Result<(), KernelError> + Sync,
    {
        // Taken out for the run, put back after it: a run that fails (or panics) leaves the
        // next one fresh state.
        let mut states = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        states.resize_with(tasks.len(), TaskState::default);
        for state in &mut states {
            state.parts.prepare(partitions);
        }
        tasks
            .into_par_iter()
            .zip(states.par_iter_mut())
            .map(|(task, state)| fill(task, state))
            .collect::<Result<(), KernelError>>()?;
        for partial in states.iter_mut().flat_map(|s| s.parts.0.iter_mut()) {
            partial.held_before = partial.table.len();
        }
        let mut by_partition: Vec<Vec<&mut Partial>> =
            (0..partitions).map(|_| Vec::new()).collect();
        for state in &mut states {
            for (p, partial) in state.parts.0.iter_mut().enumerate() {
                by_partition[p].push(partial);
            }
        }
        let out = by_partition
            .into_par_iter()
            .map(|mut pieces| {
                let Some((merged, others)) = pieces.split_first_mut() else {
                    return Ok(empty_partition());
                };
                for other in others.iter_mut() {
                    merged.merge(agg, other, buffers)?;
                }
                Ok(merged.finish(buffers))
            })
            .collect::<Result<Vec<_>, KernelError>>()?;
        *self.tasks.lock().unwrap_or_else(|e| e.into_inner()) = states;
        Ok(out)
    }
}

fn empty_partition() -> Partition {
    (StringViewArray::from(Vec::<&str>::new()), Vec::new())
}

/// The checks of [`aggregate_hashed`]'s arguments.
fn check_input(
    keys: &[StringViewArray],
    hashes: Option<&[KeyHashes]>,
    values: Option<&[&[i64]]>,
) -> Result<(), KernelError> {
    let lengths = |given: usize| {
        (given != keys.len())
            .then_some(KernelError::ValueArrays {
                keys: keys.len(),
                values: given,
            })
            .map_or(Ok(()), Err)
    };
    if let Some(values) = values {
        lengths(values.len())?;
    }
    if let Some(hashes) = hashes {
        lengths(hashes.len())?;
    }
    for (array, k) in keys.iter().enumerate() {
        let rows = |given: usize| {
            (given != k.len())
                .then_some(KernelError::ValueRows {
                    array,
                    keys: k.len(),
                    values: given,
                })
                .map_or(Ok(()), Err)
        };
        if let Some(values) = values {
            rows(values[array].len())?;
        }
        if let Some(hashes) = hashes {
            rows(hashes[array].len())?;
        }
        if k.null_count() > 0 {
            return Err(KernelError::NullKeys {
                array,
                nulls: k.null_count(),
            });
        }
    }
    Ok(())
}

/// The data buffers of several arrays as one list (equal buffers once), and each array's
/// buffer indices in it.
struct Sources {
    buffers: Arc<[Buffer]>,
    /// Per array, the unified index of each of its buffers; `None` when they are unchanged.
    remap: Vec<Option<Vec<u32>>>,
}

impl Sources {
    fn new(arrays: &[StringViewArray]) -> Result<Self, KernelError> {
        if let [one] = arrays {
            return Ok(Sources {
                buffers: Arc::clone(one.data_buffers()),
                remap: vec![None],
            });
        }
        let mut buffers: Vec<Buffer> = Vec::new();
        let mut seen: HashMap<(usize, usize), u32> = HashMap::new();
        let mut remap = Vec::with_capacity(arrays.len());
        for k in arrays {
            let mut map = Vec::with_capacity(k.data_buffers().len());
            for b in k.data_buffers().iter() {
                let next =
                    u32::try_from(buffers.len()).map_err(|_| KernelError::TooManyBuffers {
                        count: buffers.len() + 1,
                    })?;
                let index = *seen
                    .entry((b.as_ptr() as usize, b.len()))
                    .or_insert_with(|| {
                        buffers.push(b.clone());
                        next
                    });
                map.push(index);
            }
            let identity = map.iter().enumerate().all(|(i, &u)| i == u as usize);
            remap.push((!identity).then_some(map));
        }
        Ok(Sources {
            buffers: buffers.into(),
            remap,
        })
    }
}

/// The validated input of [`aggregate`].
struct Input<'a> {
    keys: &'a [StringViewArray],
    hashes: Option<&'a [KeyHashes]>,
    values: Option<&'a [&'a [i64]]>,
    sources: &'a Sources,
}

/// `tasks` consecutive pieces of the rows of `arrays`, each a list of (array, row range), with
/// equal numbers of rows.
fn pieces(arrays: &[StringViewArray], tasks: usize) -> Vec<Vec<(usize, Range<usize>)>> {
    let total: usize = arrays.iter().map(Array::len).sum();
    let tasks = tasks.max(1);
    let mut out: Vec<Vec<(usize, Range<usize>)>> = vec![Vec::new(); tasks];
    let (mut task, mut taken) = (0, 0);
    let quota = |t: usize| (t + 1) * total / tasks;
    for (array, k) in arrays.iter().enumerate() {
        let mut row = 0;
        while row < k.len() {
            while task + 1 < tasks && taken >= quota(task) {
                task += 1;
            }
            let end = if task + 1 < tasks {
                (row + quota(task) - taken).min(k.len())
            } else {
                k.len()
            };
            out[task].push((array, row..end));
            taken += end - row;
            row = end;
        }
    }
    out
}

/// What one task keeps from one run to the next.
#[derive(Default)]
struct TaskState {
    parts: Partials,
    /// Token views of the chunk of lines being counted.
    tokens: Out,
    batch: RowBatch,
}

/// Scratch vectors of a batch of rows.
#[derive(Default)]
struct RowBatch {
    /// The rows' key views re-pointed at the unified buffer list (when an array's buffers are
    /// not already in place there).
    views: Vec<u128>,
    hashes: Vec<u64>,
    /// Per row, its partition and its group id (with `NEW` when the row created it).
    groups: Vec<(u32, u32)>,
}

/// A batch of input rows: their key views (long ones pointing into their array's buffers,
/// which `remap` maps into the unified list), hashes unless they are to be computed, values
/// unless all are 1.
struct Rows<'a> {
    views: &'a [u128],
    remap: Option<&'a [u32]>,
    hashes: Option<&'a [u64]>,
    values: Option<&'a [i64]>,
}

impl RowBatch {
    /// Aggregates a batch of rows into `parts`, long keys re-pointed at the unified `buffers`.
    #[inline]
    fn add<A: Accumulator>(
        &mut self,
        parts: &mut Partials,
        agg: &A,
        rows: Rows<'_>,
        buffers: &[Buffer],
    ) -> Result<(), KernelError> {
        let Rows {
            views,
            remap,
            hashes,
            values,
        } = rows;
        let views = match remap {
            None => views,
            Some(map) => {
                self.views.clear();
                self.views.extend(views.iter().map(|&view| {
                    if view_len(view) > MAX_INLINE {
                        let unified = map.get(buffer_index(view)).copied().unwrap_or(0);
                        view & !(u128::from(u32::MAX) << 64) | u128::from(unified) << 64
                    } else {
                        view
                    }
                }));
                &self.views
            }
        };
        let hashes = match hashes {
            Some(h) => h,
            None => {
                self.hashes.clear();
                self.hashes
                    .extend(views.iter().map(|&v| hash_view(v, buffers)));
                &self.hashes
            }
        };
        parts.add_batch(agg, views, hashes, values, buffers, &mut self.groups)
    }
}

/// The partial aggregation of one output partition: a table and its dense accumulators.
#[derive(Default)]
struct Partial {
    table: GroupTable,
    acc: Vec<i64>,
    /// Keys the table held at the end of the previous run.
    held_before: usize,
}

/// How far ahead (in rows) table slots and accumulators are prefetched.
const PREFETCH: usize = 32;
/// Keys in a task's largest table above which its batches prefetch (below it, tables and
/// accumulators stay in L2 and prefetching is only extra instructions).
const PREFETCH_ABOVE: usize = 32 * 1024;
/// Marks, in a row's group id, a group that the row created.
const NEW: u32 = 1 << 31;

impl Partial {
    /// Adds one row.
    #[inline(always)]
    fn add<A: Accumulator>(
        &mut self,
        agg: &A,
        view: u128,
        hash: u64,
        value: i64,
        buffers: &[Buffer],
    ) -> Result<(), KernelError> {
        let (group, new) = self.table.intern(view, hash, buffers)?;
        if new {
            self.acc.push(agg.init(value));
        } else if let Some(acc) = self.acc.get_mut(group) {
            agg.update(acc, value);
        }
        Ok(())
    }

    /// Merges `other` (of the same partition, later in the input) into `self`.
    fn merge<A: Accumulator>(
        &mut self,
        agg: &A,
        other: &Partial,
        buffers: &[Buffer],
    ) -> Result<(), KernelError> {
        let hashes = other.table.hashes();
        for (i, ((&view, &hash), &value)) in other
            .table
            .views()
            .iter()
            .zip(hashes)
            .zip(&other.acc)
            .enumerate()
        {
            if let Some(&ahead) = hashes.get(i + PREFETCH) {
                self.table.prefetch(ahead);
            }
            let (group, new) = self.table.intern(view, hash, buffers)?;
            if new {
                self.acc.push(value);
            } else if let Some(acc) = self.acc.get_mut(group) {
                agg.merge(acc, value);
            }
        }
        Ok(())
    }

    /// The keys (sharing `buffers` if any key is long) and values; the table is left empty,
    /// its memory kept for the next run.
    fn finish(&mut self, buffers: &Arc<[Buffer]>) -> Partition {
        self.held_before = self.table.len();
        let views = self.table.take_views();
        let long = views.iter().any(|&v| view_len(v) > MAX_INLINE);
        let buffers = if long {
            Arc::clone(buffers)
        } else {
            Arc::from([])
        };
        // SAFETY: `new_unchecked` needs what `try_new` checks. Every view is a key view of a
        // valid input array (so valid UTF-8, zero-padded when inline), and long views name the
        // index in `buffers` of the buffer they named in their own array (`Sources` maps each
        // array's buffers into `buffers`), at the same offset; or, for pushed rows, `make_view`
        // of a `&str`'s bytes, inline or naming a buffer of `buffers` that holds exactly those
        // bytes at that offset (`aggregate_pushed`'s contract). When no view is long no buffer
        // is needed. There are no nulls. Checked against `try_new` by
        // `tests::output_keys_pass_arrow_validation` and, for pushed rows, by
        // `tests/zero_copy.rs` (`fused_chains_keep_views_into_the_input_buffer`).
        let keys =
            unsafe { StringViewArray::new_unchecked(ScalarBuffer::from(views), buffers, None) };
        (keys, std::mem::take(&mut self.acc))
    }
}

/// One task's partials, one per output partition.
#[derive(Default)]
struct Partials(Vec<Partial>);

impl Partials {
    /// Readies the partials for a run into `partitions` partitions: emptied, each table sized
    /// for what it held at the end of the previous run.
    fn prepare(&mut self, partitions: usize) {
        self.0.resize_with(partitions, Partial::default);
        for p in &mut self.0 {
            p.table.clear_for(p.held_before);
            p.acc.clear();
            p.acc.reserve(p.held_before);
        }
    }

    /// Aggregates a batch of rows (`values: None` is all ones). While every table is small
    /// (cache-resident) each row is interned and folded in one pass. Once a table outgrows the
    /// caches, three tight loops: every row's partition; every key interned in its
    /// partition's table (group ids into `groups`), prefetching the slots of the row
    /// `PREFETCH` ahead; every value folded into its group's accumulator, prefetching ahead
    /// too.
    fn add_batch<A: Accumulator>(
        &mut self,
        agg: &A,
        views: &[u128],
        hashes: &[u64],
        values: Option<&[i64]>,
        buffers: &[Buffer],
        groups: &mut Vec<(u32, u32)>,
    ) -> Result<(), KernelError> {
        let n = self.0.len();
        if self.0.iter().all(|p| p.table.len() <= PREFETCH_ABOVE) {
            // Tables (and accumulators) fit in L2: one pass, folding each value right away.
            for (i, (&view, &hash)) in views.iter().zip(hashes.iter()).enumerate() {
                let value = values.map_or(1, |v| v[i]);
                self.0[partition_of(hash, n)].add(agg, view, hash, value, buffers)?;
            }
            return Ok(());
        }
        groups.clear();
        groups.extend(hashes.iter().map(|&h| (partition_of(h, n) as u32, 0)));
        self.intern_batch(views, hashes, buffers, groups)?;
        for partial in &mut self.0 {
            partial.acc.resize(partial.table.len(), 0);
        }
        self.fold_batch(agg, values, groups);
        Ok(())
    }

    #[inline(always)]
    fn intern_batch(
        &mut self,
        views: &[u128],
        hashes: &[u64],
        buffers: &[Buffer],
        groups: &mut [(u32, u32)],
    ) -> Result<(), KernelError> {
        for i in 0..groups.len().min(views.len()).min(hashes.len()) {
            if let (Some(&(p, _)), Some(&h)) = (groups.get(i + PREFETCH), hashes.get(i + PREFETCH))
            {
                self.0[p as usize].table.prefetch(h);
            }
            let p = groups[i].0 as usize;
            let (group, new) = self.0[p].table.intern(views[i], hashes[i], buffers)?;
            groups[i].1 = group as u32 | if new { NEW } else { 0 };
        }
        Ok(())
    }

    #[inline(always)]
    fn fold_batch<A: Accumulator>(
        &mut self,
        agg: &A,
        values: Option<&[i64]>,
        groups: &[(u32, u32)],
    ) {
        for (i, &(p, group)) in groups.iter().enumerate() {
            if let Some(&(ahead_p, ahead_group)) = groups.get(i + PREFETCH) {
                let acc = self.0[ahead_p as usize]
                    .acc
                    .as_ptr()
                    .wrapping_add((ahead_group & !NEW) as usize);
                prefetch(acc.addr());
            }
            let value = values.map_or(1, |v| v[i]);
            if let Some(acc) = self.0[p as usize].acc.get_mut((group & !NEW) as usize) {
                if group & NEW != 0 {
                    *acc = agg.init(value);
                } else {
                    agg.update(acc, value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::StringViewBuilder;

    /// Every output partition's keys pass Arrow's validation, and each distinct key is counted
    /// once with its number of occurrences.
    fn check_counts(parts: &[Partition], input: &[&str]) {
        let mut counted: HashMap<String, i64> = HashMap::new();
        for (keys, counts) in parts {
            let (views, buffers, nulls) = keys.clone().into_parts();
            assert_eq!(
                &StringViewArray::try_new(views, buffers, nulls).unwrap(),
                keys
            );
            for (key, &count) in keys.iter().flatten().zip(counts) {
                assert!(
                    counted.insert(key.to_owned(), count).is_none(),
                    "{key:?} twice"
                );
            }
        }
        let mut expected: HashMap<String, i64> = HashMap::new();
        for key in input {
            *expected.entry((*key).to_owned()).or_default() += 1;
        }
        assert_eq!(counted, expected);
    }

    #[test]
    fn output_keys_pass_arrow_validation() {
        // The SAFETY argument of `Partial::finish`: long keys of several arrays keep naming
        // their bytes once the arrays' buffers are unified into one list.
        let words = [
            "short",
            "a key longer than twelve bytes",
            "caf\u{e9} \u{1f980}, another long key",
            "tiny",
            "",
            "exactly12byt",
        ];
        let mut builder = StringViewBuilder::new().with_fixed_block_size(64);
        let many: Vec<&str> = words.iter().copied().cycle().take(20).collect();
        for w in &many {
            builder.append_value(w);
        }
        let first = builder.finish(); // long keys spread over several small buffers
        assert!(first.data_buffers().len() > 1);
        let second = StringViewArray::from(vec!["the second array's long key", words[1]]);
        // `first` after `second` has its buffer indices remapped; its slice shares its buffers.
        let arrays = [second.clone(), first.clone(), first.slice(3, 10)];
        let input: Vec<&str> = arrays.iter().flat_map(|a| a.iter().flatten()).collect();
        for partitions in [1, 3] {
            check_counts(
                &aggregate(&arrays, None, Agg::Count, partitions).unwrap(),
                &input,
            );
        }
        // The fused word count: keys are views into the lines' own buffers, over one array or
        // several.
        let lines = StringViewArray::from(vec![
            "a line of words, one of them extraordinarily long",
            "short",
            "extraordinarily long words, caf\u{e9} \u{1f980}",
        ]);
        let tokens: Vec<&str> = lines
            .iter()
            .flatten()
            .flat_map(str::split_ascii_whitespace)
            .collect();
        check_counts(
            &count_words(&lines, Separators::AsciiWhitespace, 2).unwrap(),
            &tokens,
        );
        let twice = [
            lines.clone(),
            StringViewArray::from(vec!["more extraordinarily long words"]),
        ];
        let tokens: Vec<&str> = twice
            .iter()
            .flat_map(|a| a.iter().flatten())
            .flat_map(str::split_ascii_whitespace)
            .collect();
        let counts = Aggregation::new();
        for _ in 0..2 {
            check_counts(
                &counts
                    .count_words(&twice, Separators::AsciiWhitespace, 2)
                    .unwrap(),
                &tokens,
            );
        }
    }
}
