//! `update_state_by_key` (Spark's `StateDStream`): per-key state carried from batch to batch.
//!
//! The state of each of `n` hash partitions is a [`KeyTable`] (keys copied once, when they first
//! get a state) and a vector of states by key id. A batch groups its values by key, calls the
//! update function for every key with new values or a state (Spark's rule), and only then
//! commits the results: a batch whose function panicked or failed leaves the state as it was.

use super::DStream;
use super::node::{Partitioning, Plan, ShufflePartitions};
use super::partitioned::{PartitionOp, Partitioned};
use crate::checkpoint::OperatorState;
use crate::data::key_table::KeyTable;
use crate::data::{Batch, Column, ColumnBuilder, Data, Key, PairColumn, Sources, key_hash_state};
use crate::error::{Error, Result};
use crate::kernels::hash::partition_of;
use crate::kernels::shuffle::{CoGroup, KeyedInput, RowRef, cogroup_rows};
use crate::lock::lock;
use crate::time::Time;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema, SchemaRef};
use hashbrown::HashTable;
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

/// The update function of `update_state_by_key`: batch time, key, the key's
/// new values in this batch (possibly none) and its previous state (`None` if it had none) to
/// its new state (`None` removes it).
pub(crate) type UpdateFn<K, V, S> = dyn Fn(Time, <K as Data>::Ref<'_>, &[<V as Data>::Ref<'_>], Option<S>) -> Option<S>
    + Send
    + Sync;

/// One partition of the state.
pub(crate) struct Partition<K: Data, S> {
    pub(crate) keys: KeyTable<K>,
    /// Indexed by key id; `Some` for every key held.
    pub(crate) states: Vec<Option<S>>,
    /// `update_state_by_key`'s batch in progress: every key's next state, by id (swapped with
    /// `states` when the batch commits), and which keys had values; kept from batch to batch.
    next: Vec<Option<S>>,
    touched: Vec<bool>,
}

impl<K: Key, S: Data + Clone> Partition<K, S> {
    pub(crate) fn new() -> Self {
        Partition {
            keys: KeyTable::new(),
            states: Vec::new(),
            next: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// Adds keys that have no state yet with their states; returns their ids.
    pub(crate) fn insert(&mut self, new: Vec<(K::Ref<'_>, u64, S)>) -> Result<Vec<u32>> {
        let mut states = Vec::with_capacity(new.len());
        let ids = self
            .keys
            .insert_new(new.into_iter().map(|(key, hash, state)| {
                states.push(state);
                (key, hash)
            }))?;
        self.states.resize_with(self.keys.id_bound(), || None);
        for (&id, state) in ids.iter().zip(states) {
            self.states[id as usize] = Some(state);
        }
        Ok(ids)
    }

    /// Forgets a key and its state.
    pub(crate) fn remove(&mut self, id: u32) {
        self.keys.remove(id);
        self.states[id as usize] = None;
    }

    /// The state as a partition of `(key, state)` pairs.
    pub(crate) fn snapshot(&self) -> PairColumn<K, S> {
        let ids: Vec<u32> = self.keys.ids().collect();
        let mut states = S::Builder::new(ids.len(), &Sources::none());
        for &id in &ids {
            states.push(
                self.states[id as usize]
                    .clone()
                    .expect("every key held has a state"),
            );
        }
        PairColumn {
            a: self.keys.column(&ids),
            b: states.finish(),
        }
    }
}

/// What one batch does to one partition besides the next states of the keys held (in the
/// partition's `next`), computed before anything is changed.
struct Changes<'k, K: Data, S> {
    /// Keys held whose next state is `None`: they are removed.
    removed: Vec<u32>,
    /// Keys that get their first state.
    new: Vec<(K::Ref<'k>, u64, S)>,
}

/// What [`update_state_by_key_with`](DStream::update_state_by_key_with) does: Spark's
/// `updateStateByKey` overloads as one value. The update function, in Spark's basic form or with
/// the batch time and the key, and optionally an initial state (Spark's `initialRDD`); Spark's
/// `numPartitions` is the result's [`with_partitions`](DStream::with_partitions).
///
/// ```
/// # use dstreams::prelude::*;
/// # let ssc = StreamingContext::new(Seconds(1));
/// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
/// let seen = Batch::from_vec(vec![("hello".to_string(), 1i64), ("world".to_string(), 1)], 1);
/// let totals = pairs.update_state_by_key_with(
///     UpdateStateSpec::function(|new: &[i64], total: Option<i64>| {
///         Some(total.unwrap_or(0) + new.iter().sum::<i64>())
///     })
///     .initial_state(seen),
/// );
/// // With the batch time and the key: forget keys after a minute of silence.
/// let recent = pairs.update_state_by_key_with(UpdateStateSpec::function_with_time(
///     |t: Time, _word: &str, new: &[i64], last: Option<i64>| match new {
///         [] => last.filter(|&at| t.as_millis() - at < 60_000),
///         _ => Some(t.as_millis()),
///     },
/// ));
/// # let _ = (totals, recent);
/// ```
pub struct UpdateStateSpec<K: Data, V: Data, S: Data> {
    update: Arc<UpdateFn<K, V, S>>,
    initial: Option<Batch<(K, S)>>,
}

impl<K: Data, V: Data, S: Data> UpdateStateSpec<K, V, S> {
    /// Spark's `updateStateByKey(updateFunc: (Seq[V], Option[S]) => Option[S])`.
    pub fn function<F>(update: F) -> Self
    where
        F: Fn(&[V::Ref<'_>], Option<S>) -> Option<S> + Send + Sync + 'static,
    {
        Self::function_with_time(move |_, _, values, state| update(values, state))
    }

    /// Spark's most general form, `updateStateByKey((Time, K, Seq[V], Option[S]) =>
    /// Option[S], ...)`: the function also gets the batch time and the key.
    pub fn function_with_time<F>(update: F) -> Self
    where
        F: Fn(Time, K::Ref<'_>, &[V::Ref<'_>], Option<S>) -> Option<S> + Send + Sync + 'static,
    {
        UpdateStateSpec {
            update: Arc::new(update),
            initial: None,
        }
    }

    /// The state before the first batch (Spark's `initialRDD`); a key given twice keeps its
    /// last state.
    pub fn initial_state(mut self, initial: Batch<(K, S)>) -> Self {
        self.initial = Some(initial);
        self
    }
}

impl<K: Key, V: Data> DStream<(K, V)> {
    /// Spark's `updateStateByKey`: a state per key, updated every batch by
    /// `update(new_values, previous_state)` for every key that has new values **or** a state
    /// (keys without new values get an empty slice, as in Spark); returning `None` removes the
    /// key. The result is the whole state after each batch, partitioned by key
    /// ([`with_partitions`](Self::with_partitions) sets how many partitions).
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
    /// let running = pairs.update_state_by_key(|counts: &[i64], total: Option<i64>| {
    ///     Some(total.unwrap_or(0) + counts.iter().sum::<i64>())
    /// });
    /// # let _ = running;
    /// ```
    #[track_caller]
    pub fn update_state_by_key<S, F>(&self, update: F) -> DStream<(K, S)>
    where
        S: Data + Clone,
        F: Fn(&[V::Ref<'_>], Option<S>) -> Option<S> + Send + Sync + 'static,
    {
        self.update_state_by_key_with(UpdateStateSpec::function(update))
    }

    /// [`update_state_by_key`](Self::update_state_by_key) as `spec` says: with the batch time
    /// and the key, or from an initial state.
    #[track_caller]
    pub fn update_state_by_key_with<S>(&self, spec: UpdateStateSpec<K, V, S>) -> DStream<(K, S)>
    where
        S: Data + Clone,
    {
        let UpdateStateSpec { update, initial } = spec;
        let partitions = Arc::new(ShufflePartitions::default());
        let n_of = partitions.clone();
        let parent = self.node.clone();
        let cell = Arc::new(Mutex::new(StateCell::<Partition<K, S>>::new()));
        let state = cell.clone();
        // The state as last emitted: what a checkpoint writes, without building it again.
        let emitted = Arc::new(Mutex::new(None::<Batch<(K, S)>>));
        let last_emitted = emitted.clone();
        let per_partition = Arc::new(Partitioned::new(
            UpdateStateOp {
                update: update.clone(),
                initial: initial.clone(),
                unique_input: self.node.plan.unique_keys(),
            },
            self.node.clone(),
            self.ctx.core.exchanges_from(&*self.node),
        ));
        let distributed = per_partition.clone();
        let stream = self.child(
            "StateDStream",
            Plan::partitioned(&partitions, Partitioning::ByKey { unique: true }),
            Box::new(move |t, ctx| {
                if ctx.distributed().is_some() {
                    return distributed.compute(t, ctx);
                }
                let n = n_of.get(ctx.parallelism);
                let unique_in = parent.plan.unique_key_partitions(ctx.parallelism);
                let batch = parent.get_or_compute(t, ctx)?;
                let mut guard = lock(&state);
                guard.check_forward(t, "update_state_by_key")?;
                if guard.parts.is_none() {
                    if batch.is_none() && initial.is_none() {
                        return Ok(None); // Spark: no previous state and no parent RDD, no RDD
                    }
                    guard.parts = Some(initial_state(initial.as_ref(), n)?);
                }
                guard.last = Some(t);
                let parts = guard.parts.as_mut().expect("state was just created");
                let empty = Batch::<(K, V)>::from_partitions(Vec::new());
                let batch = batch.as_ref().unwrap_or(&empty);
                let input = KeyedInput {
                    parts: batch.partitions().iter().map(|p| (&p.a, &p.b)).collect(),
                };
                let grouping = Grouping::of(&input, n, unique_in);
                // Compute every partition's changes first (the states stay as they are);
                // commit only if all succeeded.
                let changes: Vec<Changes<'_, K, S>> = parts
                    .par_iter_mut()
                    .enumerate()
                    .map(|(p, part)| {
                        let found = grouping.lookups(p, &input, &part.keys);
                        let groups = grouping.groups(p, &input).zip(found);
                        part.changes(&input, groups, t, &*update)
                    })
                    .collect();
                parts
                    .par_iter_mut()
                    .zip(changes.into_par_iter())
                    .try_for_each(|(part, ch)| part.commit(ch))?;
                let out =
                    Batch::from_partitions(parts.par_iter().map(Partition::snapshot).collect());
                *lock(&last_emitted) = Some(out.clone());
                Ok(Some(out))
            }),
        );
        stream.keep_state_per_partition(per_partition);
        lock(&self.ctx.core.checkpointing).add_operator(
            stream.node.id,
            Arc::new(UpdateStateCheckpoint {
                cell,
                emitted,
                partitions,
                default_partitions: self.ctx.default_parallelism(),
            }),
        );
        stream
    }
}

/// A stateful operator's partitions (once it has state) and the last batch it computed.
pub(crate) struct StateCell<P> {
    pub(crate) parts: Option<Vec<P>>,
    pub(crate) last: Option<Time>,
}

impl<P> StateCell<P> {
    pub(crate) fn new() -> Self {
        StateCell {
            parts: None,
            last: None,
        }
    }

    /// Refuses a batch at or before the last one computed: it would be applied to the state a
    /// second time.
    pub(crate) fn check_forward(&self, t: Time, operator: &str) -> Result<()> {
        match self.last {
            Some(last) if t <= last => Err(Error::IllegalState(format!(
                "{operator}: the batch at {t} cannot be computed after the one at {last}; state moves forward only (after recovery, batches before the checkpoint cannot be recomputed)"
            ))),
            _ => Ok(()),
        }
    }
}

/// The schema of a state checkpoint: `key`, `state` and any `extra` columns.
pub(crate) fn state_schema<K: Data, S: Data>(extra: &[Field]) -> SchemaRef {
    let mut fields = vec![
        Field::new("key", K::data_type(), true),
        Field::new("state", S::data_type(), true),
    ];
    fields.extend(extra.iter().cloned());
    Arc::new(Schema::new(fields))
}

/// A state partition as a record batch of `schema`, with `extra` columns after key and state.
pub(crate) fn state_record_batch<K: Data, S: Data>(
    schema: &SchemaRef,
    pairs: &PairColumn<K, S>,
    extra: Vec<ArrayRef>,
) -> Result<RecordBatch> {
    let mut columns = vec![pairs.a.to_arrow(), pairs.b.to_arrow()];
    columns.extend(extra);
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The `(key, state)` pairs of checkpointed record batches.
pub(crate) fn state_pairs<K: Data, S: Data>(batches: &[RecordBatch]) -> Result<Batch<(K, S)>> {
    let parts = batches
        .iter()
        .map(|b| {
            if b.num_columns() < 2 {
                return Err(Error::corrupt_checkpoint(format!(
                    "a state file has {} column(s), expected key and state",
                    b.num_columns()
                )));
            }
            Ok(PairColumn {
                a: K::column_from_arrow(b.column(0))?,
                b: S::column_from_arrow(b.column(1))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Batch::from_partitions(parts))
}

/// What `update_state_by_key` is, with its types.
fn update_state_kind<K: Data, S: Data>() -> String {
    format!(
        "update_state_by_key({} -> {})",
        K::data_type(),
        S::data_type()
    )
}

/// `update_state_by_key` on one exchange partition (distributed mode).
struct UpdateStateOp<K: Data, V: Data, S: Data> {
    update: Arc<UpdateFn<K, V, S>>,
    initial: Option<Batch<(K, S)>>,
    /// Whether each input partition holds each key once: its rows are the groups, looked up
    /// in one pass over the key column, not grouped by hash first.
    unique_input: bool,
}

impl<K: Key, V: Data, S: Data + Clone> PartitionOp<(K, V), (K, S)> for UpdateStateOp<K, V, S> {
    type State = Partition<K, S>;

    fn kind(&self) -> String {
        update_state_kind::<K, S>()
    }

    fn initial(&self, p: u32, of: u32, _first: Time) -> Result<Partition<K, S>> {
        let mut parts = initial_state(self.initial.as_ref(), of as usize)?;
        Ok(parts.swap_remove(p as usize))
    }

    fn apply(
        &self,
        state: &mut Partition<K, S>,
        t: Time,
        input: &PairColumn<K, V>,
    ) -> Result<Option<PairColumn<K, S>>> {
        let input = KeyedInput {
            parts: vec![(&input.a, &input.b)],
        };
        let grouping = Grouping::of(&input, 1, self.unique_input.then_some(1));
        let found = grouping.lookups(0, &input, &state.keys);
        let changes = state.changes(
            &input,
            grouping.groups(0, &input).zip(found),
            t,
            &*self.update,
        );
        state.commit(changes)?;
        Ok(Some(state.snapshot()))
    }

    fn encode(&self, state: &Partition<K, S>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let schema = state_schema::<K, S>(&[]);
        let batch = state_record_batch(&schema, &state.snapshot(), Vec::new())?;
        Ok((schema, vec![batch]))
    }

    fn decode(&self, batches: &[RecordBatch]) -> Result<Partition<K, S>> {
        let pairs = state_pairs::<K, S>(batches)?;
        let mut parts = initial_state(Some(&pairs), 1)?;
        Ok(parts.swap_remove(0))
    }
}

/// `update_state_by_key`'s side of checkpoints: its keys and states.
struct UpdateStateCheckpoint<K: Data, S: Data> {
    cell: Arc<Mutex<StateCell<Partition<K, S>>>>,
    /// The whole state as the last batch emitted it (its columns share the state's key bytes).
    emitted: Arc<Mutex<Option<Batch<(K, S)>>>>,
    partitions: Arc<ShufflePartitions>,
    default_partitions: usize,
}

impl<K: Key, S: Data + Clone> OperatorState for UpdateStateCheckpoint<K, S> {
    fn kind(&self) -> String {
        update_state_kind::<K, S>()
    }

    fn snapshot(&self) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let schema = state_schema::<K, S>(&[]);
        if let Some(emitted) = lock(&self.emitted).as_ref() {
            // The batch's output is the state after it: no second copy.
            let batches = emitted
                .partitions()
                .iter()
                .map(|p| state_record_batch(&schema, p, Vec::new()))
                .collect::<Result<_>>()?;
            return Ok((schema, batches));
        }
        let cell = lock(&self.cell);
        let batches = cell
            .parts
            .iter()
            .flatten()
            .map(|p| state_record_batch(&schema, &p.snapshot(), Vec::new()))
            .collect::<Result<_>>()?;
        Ok((schema, batches))
    }

    fn restore(&self, time: Time, batches: &[RecordBatch]) -> Result<()> {
        let pairs = state_pairs::<K, S>(batches)?;
        let mut cell = lock(&self.cell);
        let n = self.partitions.get(self.default_partitions);
        cell.parts = Some(initial_state(Some(&pairs), n)?);
        cell.last = Some(time);
        *lock(&self.emitted) = None;
        Ok(())
    }

    fn keys(&self) -> usize {
        lock(&self.cell)
            .parts
            .iter()
            .flatten()
            .map(|p| p.keys.len())
            .sum()
    }
}

/// The state partitions at the first batch: empty, or `initial` hashed into `n` partitions.
pub(crate) fn initial_state<K: Key, S: Data + Clone>(
    initial: Option<&Batch<(K, S)>>,
    n: usize,
) -> Result<Vec<Partition<K, S>>> {
    let mut parts: Vec<Partition<K, S>> = (0..n).map(|_| Partition::new()).collect();
    let Some(initial) = initial else {
        return Ok(parts);
    };
    let hasher = key_hash_state();
    let mut by_part: Vec<Vec<(K::Ref<'_>, u64, S)>> = (0..n).map(|_| Vec::new()).collect();
    let mut seen: Vec<HashTable<usize>> = (0..n).map(|_| HashTable::new()).collect();
    for (key, s) in initial.iter() {
        let hash = K::hash_key(key, hasher);
        let p = partition_of(hash, n);
        let list = &mut by_part[p];
        let state = S::to_owned_value(s);
        // A key given twice keeps its last state.
        match seen[p].entry(
            hash,
            |&i| list[i].1 == hash && K::eq_key(list[i].0, key),
            |&i| list[i].1,
        ) {
            hashbrown::hash_table::Entry::Occupied(o) => list[*o.get()].2 = state,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(list.len());
                list.push((key, hash, state));
            }
        }
    }
    for (part, new) in parts.iter_mut().zip(by_part) {
        part.insert(new)?;
    }
    Ok(parts)
}

/// The batch's rows grouped by key per state partition.
pub(crate) enum Grouping {
    /// The stream is already reduced into the state's partitions (each key once per
    /// partition): row `r` of input partition `p` is a group of state partition `p` on its own.
    Rows,
    /// Rows grouped by key, per state partition.
    Groups(Vec<Vec<CoGroup>>),
}

/// The rows of one group (the first holds its key).
pub(crate) enum GroupRows<'g> {
    One(RowRef),
    Many(&'g [RowRef]),
}

impl GroupRows<'_> {
    pub(crate) fn rows(&self) -> &[RowRef] {
        match self {
            GroupRows::One(r) => std::slice::from_ref(r),
            GroupRows::Many(rows) => rows,
        }
    }
}

impl Grouping {
    /// Groups the batch's rows: each row its own group when the stream is already reduced
    /// into the same partitions (nothing to do), else a keyed grouping.
    pub(crate) fn of<K: Key, V: Data>(
        input: &KeyedInput<'_, K, V>,
        n: usize,
        unique_in: Option<usize>,
    ) -> Self {
        if unique_in == Some(n) && input.parts.len() == n {
            return Grouping::Rows;
        }
        let none = KeyedInput::<K, V> { parts: Vec::new() };
        Grouping::Groups(cogroup_rows(input, &none, n))
    }

    /// The groups of state partition `p`, in order.
    pub(crate) fn groups<'g, K: Key, V: Data>(
        &'g self,
        p: usize,
        input: &KeyedInput<'_, K, V>,
    ) -> Box<dyn Iterator<Item = GroupRows<'g>> + 'g> {
        match self {
            Grouping::Rows => {
                let rows = input.parts.get(p).map_or(0, |(keys, _)| keys.len());
                Box::new((0..rows).map(move |row| {
                    GroupRows::One(RowRef {
                        part: p as u32,
                        row: row as u32,
                    })
                }))
            }
            Grouping::Groups(groups) => Box::new(
                groups
                    .get(p)
                    .into_iter()
                    .flatten()
                    .map(|g| GroupRows::Many(&g.left)),
            ),
        }
    }
    /// The hash and the id in `keys` (if held) of every group of state partition `p`, in the
    /// order of [`groups`](Self::groups).
    pub(crate) fn lookups<K: Key, V: Data>(
        &self,
        p: usize,
        input: &KeyedInput<'_, K, V>,
        keys: &KeyTable<K>,
    ) -> Vec<(u64, Option<u32>)> {
        match (self, input.parts.get(p)) {
            (Grouping::Rows, Some((column, _))) => keys.find_column(column),
            _ => self
                .groups(p, input)
                .map(|g| keys.find(row_key(input, g.rows()[0])))
                .collect(),
        }
    }
}

/// The key of a row.
pub(crate) fn row_key<'k, K: Key, V: Data>(input: &KeyedInput<'k, K, V>, r: RowRef) -> K::Ref<'k> {
    input.parts[r.part as usize].0.value(r.row as usize)
}

impl<K: Key, S: Data + Clone> Partition<K, S> {
    /// Makes a batch's changes (and the next states in `next`) the state.
    fn commit(&mut self, changes: Changes<'_, K, S>) -> Result<()> {
        std::mem::swap(&mut self.states, &mut self.next);
        for id in changes.removed {
            self.remove(id);
        }
        self.insert(changes.new)?;
        self.keys.reclaim();
        Ok(())
    }

    /// Calls the update function for every key of this partition that has new values or a
    /// state, writing the held keys' next states into `next` (the states are not changed).
    fn changes<'k, V: Data>(
        &mut self,
        input: &KeyedInput<'k, K, V>,
        groups: impl Iterator<Item = (GroupRows<'k>, (u64, Option<u32>))>,
        t: Time,
        update: &UpdateFn<K, V, S>,
    ) -> Changes<'k, K, S> {
        let Partition {
            keys,
            states,
            next,
            touched,
        } = self;
        next.clear();
        next.resize_with(keys.id_bound(), || None);
        touched.clear();
        touched.resize(keys.id_bound(), false);
        let mut removed = Vec::new();
        let mut new = Vec::new();
        let mut values: Vec<V::Ref<'k>> = Vec::new();
        for (g, found) in groups {
            let rows = g.rows();
            let key = row_key(input, rows[0]);
            values.clear();
            values.extend(rows.iter().map(|&r| input.row_value(r)));
            match found {
                (_, Some(id)) => {
                    let id = id as usize;
                    touched[id] = true;
                    next[id] = update(t, key, &values, states[id].clone());
                    if next[id].is_none() {
                        removed.push(id as u32);
                    }
                }
                (hash, None) => {
                    if let Some(s) = update(t, key, &values, None) {
                        new.push((key, hash, s));
                    }
                }
            }
        }
        for id in keys.ids() {
            let id = id as usize;
            if !touched[id] {
                next[id] = update(t, keys.key(id as u32), &[], states[id].clone());
                if next[id].is_none() {
                    removed.push(id as u32);
                }
            }
        }
        Changes { removed, new }
    }
}
