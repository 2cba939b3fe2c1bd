//! `map_with_state` (Spark's `MapWithStateDStream`): the mapping function is called once per
//! record, in record order within a key, with the key's state; only the keys of the batch (and
//! those timing out) are touched, so a batch costs what it brings, not what the state holds.
//!
//! As in `update_state_by_key`, a batch's changes are computed first and committed only when
//! every partition's calls succeeded. Idle timeouts keep, per partition, a queue of
//! `(batch time, keys updated then)`; a key's entry is stale once it was updated again, so a
//! batch looks only at the keys whose last update is exactly old enough.

use super::DStream;
use super::node::{AnyNode, Node, Partitioning, Plan, ShufflePartitions};
use super::partitioned::{PartitionOp, Partitioned};
use super::state::{
    GroupRows, Grouping, Partition, StateCell, initial_state, row_key, state_pairs,
    state_record_batch, state_schema,
};
use super::state_spec::{MappingFn, State, StateSpec};
use crate::checkpoint::OperatorState;
use crate::data::view::CallScope;
use crate::data::{Batch, ColumnBuilder, Data, Key, PairColumn, Sources};
use crate::data::{column_iter, key_hash_state};
use crate::error::Error;
use crate::error::Result;
use crate::kernels::hash::partition_of;
use crate::kernels::shuffle::KeyedInput;
use crate::lock::lock;
use crate::time::{Duration, Time};
use arrow_array::{Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, SchemaRef};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

/// One state partition with the batch time of each key's last update.
struct TimedPartition<K: Data, S> {
    part: Partition<K, S>,
    /// Indexed by key id.
    updated_at: Vec<Time>,
    /// Keys by the batch in which they were last updated, oldest first (only with a timeout).
    idle: VecDeque<(Time, Vec<u32>)>,
}

type SharedState<K, S> = Arc<Mutex<StateCell<TimedPartition<K, S>>>>;

/// The result of [`DStream::map_with_state`]: the stream of mapped records (it derefs to it) and
/// [`state_snapshots`](Self::state_snapshots).
pub struct MapWithStateDStream<K: Data, S: Data, M: Data> {
    mapped: DStream<M>,
    state: SharedState<K, S>,
}

impl<K: Key, S: Data + Clone, M: Data> Deref for MapWithStateDStream<K, S, M> {
    type Target = DStream<M>;
    fn deref(&self) -> &DStream<M> {
        &self.mapped
    }
}

impl<K: Key, S: Data + Clone, M: Data> MapWithStateDStream<K, S, M> {
    /// The mapped records as a plain stream.
    pub fn stream(&self) -> DStream<M> {
        self.mapped.clone()
    }

    /// Sets the number of state partitions (Spark's `StateSpec.numPartitions`), as
    /// [`DStream::with_partitions`] does for other operators.
    #[track_caller]
    pub fn with_partitions(&self, num_partitions: usize) -> Self {
        self.mapped.with_partitions(num_partitions);
        MapWithStateDStream {
            mapped: self.mapped.clone(),
            state: self.state.clone(),
        }
    }

    /// Spark's `stateSnapshots()`: the whole state after each batch (its cost follows the
    /// state's size; the mapped stream's does not), partitioned by key.
    #[track_caller]
    pub fn state_snapshots(&self) -> DStream<(K, S)> {
        let mapped: Arc<Node<M>> = self.mapped.node.clone();
        let state = self.state.clone();
        let plan = match &self.mapped.node.plan.partitions {
            Some(p) => Plan::partitioned(p, Partitioning::ByKey { unique: true }),
            None => Plan::default(),
        };
        DStream::create(
            &self.mapped.ctx,
            "StateSnapshotsDStream",
            self.mapped.slide_duration(),
            vec![self.mapped.node.clone() as Arc<dyn AnyNode>],
            Duration::default(),
            plan,
            Box::new(move |t, ctx| {
                if mapped.get_or_compute(t, ctx)?.is_none() {
                    return Ok(None);
                }
                let guard = lock(&state);
                let parts = guard.parts.as_ref().map_or_else(Vec::new, |parts| {
                    parts.par_iter().map(|p| p.part.snapshot()).collect()
                });
                Ok(Some(Batch::from_partitions(parts)))
            }),
        )
    }
}

/// What one batch does to one partition, computed before anything is changed.
struct Changes<'k, K: Data, S, M: Data> {
    mapped: M::Column,
    /// Keys held: their new state (with this batch's time), or `None` to remove them.
    held: Vec<(u32, Option<S>)>,
    new: Vec<(K::Ref<'k>, u64, S)>,
}

impl<K: Key, V: Data> DStream<(K, V)> {
    /// Spark's `mapWithState`: `spec`'s function is called for every record with the key's
    /// [`State`], in record order within a key (records of one key see the state the previous
    /// record left); keys without records are not called (unlike `update_state_by_key`).
    ///
    /// The state is partitioned by key; [`with_partitions`](DStream::with_partitions) on the
    /// result sets the number of partitions (Spark's `numPartitions`).
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
    /// let running = pairs.map_with_state(StateSpec::function(
    ///     |word: Str, one: Option<i64>, state: &mut State<i64>| {
    ///         let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
    ///         state.update(sum);
    ///         (word, sum)
    ///     },
    /// ));
    /// let totals = running.state_snapshots();
    /// ```
    #[track_caller]
    pub fn map_with_state<S, M>(&self, spec: StateSpec<K, V, S, M>) -> MapWithStateDStream<K, S, M>
    where
        S: Data + Clone,
        M: Data,
    {
        let partitions = Arc::new(ShufflePartitions::default());
        let n_of = partitions.clone();
        let parent = self.node.clone();
        let function = spec.function.clone();
        let timeout = spec.timeout;
        let initial = spec.initial;
        let state: SharedState<K, S> = Arc::new(Mutex::new(StateCell::new()));
        let shared = state.clone();
        let per_partition = Arc::new(Partitioned::new(
            MapWithStateOp {
                function: function.clone(),
                timeout,
                initial: initial.clone(),
                unique_input: self.node.plan.unique_keys(),
            },
            self.node.clone(),
            self.ctx.core.exchanges_from(&*self.node),
        ));
        let distributed = per_partition.clone();
        let mapped = self.child(
            "MapWithStateDStream",
            Plan::partitioned(&partitions, Partitioning::BySource),
            Box::new(move |t, ctx| {
                if ctx.distributed().is_some() {
                    return distributed.compute(t, ctx);
                }
                let n = n_of.get(ctx.parallelism);
                let unique_in = parent.plan.unique_key_partitions(ctx.parallelism);
                let batch = parent.get_or_compute(t, ctx)?;
                let mut guard = lock(&shared);
                guard.check_forward(t, "map_with_state")?;
                if guard.parts.is_none() {
                    if batch.is_none() && initial.is_none() {
                        return Ok(None);
                    }
                    guard.parts = Some(timed(initial_state(initial.as_ref(), n)?, t, timeout));
                }
                let parts = guard.parts.as_mut().expect("state was just created");
                let empty = Batch::<(K, V)>::from_partitions(Vec::new());
                let batch = batch.as_ref().unwrap_or(&empty);
                let input: KeyedInput<'_, K, V> = KeyedInput {
                    parts: batch.partitions().iter().map(|p| (&p.a, &p.b)).collect(),
                };
                let sources = batch.sources();
                let grouping = Grouping::of(&input, n, unique_in);
                let cutoff = timeout.map(|idle| t - idle);
                let changes = parts
                    .par_iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let found = grouping.lookups(i, &input, &p.part.keys);
                        let groups = grouping.groups(i, &input).zip(found);
                        changes_of(p, &input, groups, t, cutoff, &*function, &sources)
                    })
                    .collect::<Result<Vec<Changes<'_, K, S, M>>>>()?;
                let mut out = Vec::with_capacity(n);
                for (p, ch) in parts.iter_mut().zip(changes) {
                    out.push(ch.mapped);
                    commit(p, ch.held, ch.new, t, cutoff)?;
                }
                guard.last = Some(t);
                Ok(Some(Batch::from_partitions(out)))
            }),
        );
        mapped.keep_state_per_partition(per_partition);
        lock(&self.ctx.core.checkpointing).add_operator(
            mapped.node.id,
            Arc::new(MapWithStateCheckpoint {
                cell: state.clone(),
                partitions,
                default_partitions: self.ctx.default_parallelism(),
                timeout,
            }),
        );
        MapWithStateDStream { mapped, state }
    }
}

/// The initial partitions with every key's time set to the first batch's.
fn timed<K: Key, S: Data + Clone>(
    parts: Vec<Partition<K, S>>,
    t: Time,
    timeout: Option<Duration>,
) -> Vec<TimedPartition<K, S>> {
    parts
        .into_iter()
        .map(|part| {
            let ids: Vec<u32> = part.keys.ids().collect();
            let mut p = TimedPartition {
                updated_at: vec![t; part.keys.id_bound()],
                part,
                idle: VecDeque::new(),
            };
            if timeout.is_some() && !ids.is_empty() {
                p.idle.push_back((t, ids));
            }
            p
        })
        .collect()
}

/// Calls the mapping function for every record of one partition, and for every key timing out.
fn changes_of<'k, K: Key, V: Data, S: Data + Clone, M: Data>(
    p: &TimedPartition<K, S>,
    input: &KeyedInput<'k, K, V>,
    groups: impl Iterator<Item = (GroupRows<'k>, (u64, Option<u32>))>,
    t: Time,
    cutoff: Option<Time>,
    f: &MappingFn<K, V, S, M>,
    sources: &Sources,
) -> Result<Changes<'k, K, S, M>> {
    let mut mapped = M::Builder::new(groups.size_hint().0, sources);
    let scope = CallScope::open();
    let call =
        |key: K::Ref<'_>, value: Option<V::Ref<'_>>, state: &mut State<S>, out: &mut M::Builder| {
            let arg = K::arg(key, scope.id());
            f(t, arg, value.map(|v| V::arg(v, scope.id())), state, out);
            state.take_misuse().map_or(Ok(()), Err)
        };
    let mut held = Vec::new();
    let mut new = Vec::new();
    // Keys of this batch's records: they do not time out in it.
    let mut seen = Vec::new();
    for (g, (hash, id)) in groups {
        let rows = g.rows();
        let key = row_key(input, rows[0]);
        seen.extend(id);
        let prev = id.and_then(|id| p.part.states[id as usize].clone());
        let mut state = State::new(prev, false);
        for &r in rows {
            call(key, Some(input.row_value(r)), &mut state, &mut mapped)?;
        }
        // Spark: removed → deleted; updated, or still there with a timeout → kept, with
        // this batch's time.
        let keep = state.is_updated() || (state.exists() && cutoff.is_some());
        match (id, state.is_removed(), keep) {
            (Some(id), true, _) => held.push((id, None)),
            (Some(id), false, true) => held.push((id, state.into_value())),
            (None, false, true) => {
                if let Some(s) = state.into_value() {
                    new.push((key, hash, s));
                }
            }
            _ => {}
        }
    }
    if let Some(cutoff) = cutoff {
        seen.sort_unstable();
        for (at, ids) in p.idle.iter().take_while(|(at, _)| *at < cutoff) {
            for &id in ids {
                let current = p.part.states.get(id as usize).and_then(Option::as_ref);
                if p.updated_at[id as usize] != *at
                    || current.is_none()
                    || seen.binary_search(&id).is_ok()
                {
                    continue; // updated since, removed, or seen in this batch
                }
                let mut state = State::new(current.cloned(), true);
                call(p.part.keys.key(id), None, &mut state, &mut mapped)?;
                held.push((id, None));
            }
        }
    }
    Ok(Changes {
        mapped: mapped.finish(),
        held,
        new,
    })
}

/// Applies one partition's changes and moves its timeout queue on.
fn commit<K: Key, S: Data + Clone>(
    p: &mut TimedPartition<K, S>,
    held: Vec<(u32, Option<S>)>,
    new: Vec<(K::Ref<'_>, u64, S)>,
    t: Time,
    cutoff: Option<Time>,
) -> Result<()> {
    let mut refreshed = Vec::new();
    for (id, s) in held {
        match s {
            Some(s) => {
                p.part.states[id as usize] = Some(s);
                p.updated_at[id as usize] = t;
                refreshed.push(id);
            }
            None => p.part.remove(id),
        }
    }
    let ids = p.part.insert(new)?;
    p.updated_at.resize(p.part.keys.id_bound(), t);
    for &id in &ids {
        p.updated_at[id as usize] = t;
    }
    refreshed.extend(ids);
    if let Some(cutoff) = cutoff {
        while p.idle.front().is_some_and(|(at, _)| *at < cutoff) {
            p.idle.pop_front();
        }
        if !refreshed.is_empty() {
            p.idle.push_back((t, refreshed));
        }
    }
    p.part.keys.reclaim();
    Ok(())
}

/// `map_with_state`'s side of checkpoints: keys, states and the time of each key's last update
/// (so idle timeouts carry on where they were).
struct MapWithStateCheckpoint<K: Data, S> {
    cell: SharedState<K, S>,
    partitions: Arc<ShufflePartitions>,
    default_partitions: usize,
    timeout: Option<Duration>,
}

impl<K: Key, S: Data + Clone> OperatorState for MapWithStateCheckpoint<K, S> {
    fn kind(&self) -> String {
        map_with_state_kind::<K, S>()
    }

    fn snapshot(&self) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let schema = timed_schema::<K, S>();
        let cell = lock(&self.cell);
        let batches = cell
            .parts
            .iter()
            .flatten()
            .map(|p| timed_record_batch(&schema, p))
            .collect::<Result<_>>()?;
        Ok((schema, batches))
    }

    fn restore(&self, time: Time, batches: &[RecordBatch]) -> Result<()> {
        let n = self.partitions.get(self.default_partitions);
        let parts = restore_timed(batches, n, self.timeout)?;
        let mut cell = lock(&self.cell);
        cell.parts = Some(parts);
        cell.last = Some(time);
        Ok(())
    }

    fn keys(&self) -> usize {
        lock(&self.cell)
            .parts
            .iter()
            .flatten()
            .map(|p| p.part.keys.len())
            .sum()
    }
}

/// What `map_with_state` is, with its types.
fn map_with_state_kind<K: Data, S: Data>() -> String {
    format!("map_with_state({} -> {})", K::data_type(), S::data_type())
}

/// The schema of a saved `map_with_state` partition: key, state and the key's last update.
fn timed_schema<K: Data, S: Data>() -> SchemaRef {
    state_schema::<K, S>(&[Field::new("updated_at", DataType::Int64, false)])
}

/// A partition as a record batch of [`timed_schema`].
fn timed_record_batch<K: Key, S: Data + Clone>(
    schema: &SchemaRef,
    p: &TimedPartition<K, S>,
) -> Result<RecordBatch> {
    let times: Int64Array = p
        .part
        .keys
        .ids()
        .map(|id| p.updated_at[id as usize].as_millis())
        .collect();
    state_record_batch(schema, &p.part.snapshot(), vec![Arc::new(times)])
}

/// `n` partitions of the saved `batches`, each key's last update restored (and, with a
/// `timeout`, the idle queues).
fn restore_timed<K: Key, S: Data + Clone>(
    batches: &[RecordBatch],
    n: usize,
    timeout: Option<Duration>,
) -> Result<Vec<TimedPartition<K, S>>> {
    let pairs = state_pairs::<K, S>(batches)?;
    // Every key's time is set from its row below.
    let mut parts = timed(initial_state(Some(&pairs), n)?, Time::from_millis(0), None);
    let hasher = key_hash_state();
    let mut idle: Vec<BTreeMap<Time, Vec<u32>>> = vec![BTreeMap::new(); n];
    for (batch, column) in batches.iter().zip(pairs.partitions()) {
        let times = batch
            .column_by_name("updated_at")
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .ok_or_else(|| {
                Error::corrupt_checkpoint("a map_with_state state file has no updated_at")
            })?;
        for (row, key) in column_iter(&column.a).enumerate() {
            let p = partition_of(K::hash_key(key, hasher), n);
            let id = parts[p]
                .part
                .keys
                .find(key)
                .1
                .expect("every restored key was inserted");
            let at = Time::from_millis(times.value(row));
            parts[p].updated_at[id as usize] = at;
            idle[p].entry(at).or_default().push(id);
        }
    }
    if timeout.is_some() {
        for (p, queue) in parts.iter_mut().zip(idle) {
            p.idle = queue.into_iter().collect();
        }
    }
    Ok(parts)
}

/// `map_with_state` on one exchange partition (distributed mode).
struct MapWithStateOp<K: Data, V: Data, S: Data, M: Data> {
    function: Arc<MappingFn<K, V, S, M>>,
    timeout: Option<Duration>,
    initial: Option<Batch<(K, S)>>,
    /// Whether each input partition holds each key once: its rows are the groups, looked up
    /// in one pass over the key column, not grouped by hash first.
    unique_input: bool,
}

impl<K: Key, V: Data, S: Data + Clone, M: Data> PartitionOp<(K, V), M>
    for MapWithStateOp<K, V, S, M>
{
    type State = TimedPartition<K, S>;

    fn kind(&self) -> String {
        map_with_state_kind::<K, S>()
    }

    fn initial(&self, p: u32, of: u32, first: Time) -> Result<TimedPartition<K, S>> {
        let parts = initial_state(self.initial.as_ref(), of as usize)?;
        Ok(timed(parts, first, self.timeout).swap_remove(p as usize))
    }

    fn apply(
        &self,
        state: &mut TimedPartition<K, S>,
        t: Time,
        input: &PairColumn<K, V>,
    ) -> Result<Option<M::Column>> {
        let sources = Batch::<(K, V)>::from_partitions(vec![input.clone()]).sources();
        let input: KeyedInput<'_, K, V> = KeyedInput {
            parts: vec![(&input.a, &input.b)],
        };
        let grouping = Grouping::of(&input, 1, self.unique_input.then_some(1));
        let cutoff = self.timeout.map(|idle| t - idle);
        let found = grouping.lookups(0, &input, &state.part.keys);
        let groups = grouping.groups(0, &input).zip(found);
        let changes =
            changes_of::<K, V, S, M>(state, &input, groups, t, cutoff, &*self.function, &sources)?;
        commit(state, changes.held, changes.new, t, cutoff)?;
        Ok(Some(changes.mapped))
    }

    fn encode(&self, state: &TimedPartition<K, S>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let schema = timed_schema::<K, S>();
        let batch = timed_record_batch(&schema, state)?;
        Ok((schema, vec![batch]))
    }

    fn decode(&self, batches: &[RecordBatch]) -> Result<TimedPartition<K, S>> {
        Ok(restore_timed(batches, 1, self.timeout)?.swap_remove(0))
    }
}
