//! `update_state_by_key` (Spark's `StateDStream`): per-key state carried from batch to batch.
//!
//! The state of each of `n` hash partitions is a [`KeyTable`] (keys copied once, when they first
//! get a state) and a vector of states by key id. A batch groups its values by key, calls the
//! update function for every key with new values or a state (Spark's rule), and only then
//! commits the results: a batch whose function panicked or failed leaves the state as it was.

use super::DStream;
use super::node::{AnyNode, lock};
use crate::data::key_table::KeyTable;
use crate::data::{Batch, Column, ColumnBuilder, Data, Key, PairColumn, Sources, key_hash_state};
use crate::error::Result;
use crate::kernels::hash::partition_of;
use crate::kernels::shuffle::{CoGroup, KeyedInput, RowRef, cogroup_rows};
use crate::time::{Duration, Time};
use hashbrown::HashTable;
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

/// The update function of `update_state_by_key_with_time`: batch time, key, the key's
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
}

impl<K: Key, S: Data + Clone> Partition<K, S> {
    pub(crate) fn new() -> Self {
        Partition {
            keys: KeyTable::new(),
            states: Vec::new(),
        }
    }

    /// Adds keys that have no state yet with their states; returns their ids.
    pub(crate) fn insert(&mut self, new: Vec<(K::Ref<'_>, u64, S)>) -> Vec<u32> {
        let mut states = Vec::with_capacity(new.len());
        let ids = self
            .keys
            .insert_new(new.into_iter().map(|(key, hash, state)| {
                states.push(state);
                (key, hash)
            }));
        self.states.resize_with(self.keys.id_bound(), || None);
        for (&id, state) in ids.iter().zip(states) {
            self.states[id as usize] = Some(state);
        }
        ids
    }

    /// Forgets a key and its state.
    pub(crate) fn remove(&mut self, id: u32) {
        self.keys.remove(id);
        self.states[id as usize] = None;
    }

    /// The state as a partition of `(key, state)` pairs.
    pub(crate) fn snapshot(&self) -> PairColumn<K, S> {
        let mut keys = K::Builder::new(self.keys.len(), &self.keys.sources());
        let mut states = S::Builder::new(self.keys.len(), &Sources::none());
        for id in self.keys.ids() {
            keys.push_ref(self.keys.key(id));
            states.push(
                self.states[id as usize]
                    .clone()
                    .expect("every key held has a state"),
            );
        }
        PairColumn {
            a: keys.finish(),
            b: states.finish(),
        }
    }
}

/// What one batch does to one partition, computed before anything is changed.
struct Changes<'k, K: Data, S> {
    /// Keys held: their new state, or `None` to remove them.
    held: Vec<(u32, Option<S>)>,
    /// Keys that get their first state.
    new: Vec<(K::Ref<'k>, u64, S)>,
}

impl<K: Key, V: Data> DStream<(K, V)> {
    /// Spark's `updateStateByKey`: a state per key, updated every batch by
    /// `update(new_values, previous_state)` for every key that has new values **or** a state
    /// (keys without new values get an empty slice, as in Spark); returning `None` removes the
    /// key. The result is the whole state after each batch.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Duration::seconds(1)).unwrap();
    /// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None).unwrap();
    /// let running = pairs.update_state_by_key(|counts: &[i64], total: Option<i64>| {
    ///     Some(total.unwrap_or(0) + counts.iter().sum::<i64>())
    /// })?;
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn update_state_by_key<S, F>(&self, update: F) -> Result<DStream<(K, S)>>
    where
        S: Data + Clone,
        F: Fn(&[V::Ref<'_>], Option<S>) -> Option<S> + Send + Sync + 'static,
    {
        self.update_state_by_key_with_partitions(update, self.ctx.default_parallelism())
    }

    /// [`update_state_by_key`](Self::update_state_by_key) with `num_partitions` state partitions.
    pub fn update_state_by_key_with_partitions<S, F>(
        &self,
        update: F,
        num_partitions: usize,
    ) -> Result<DStream<(K, S)>>
    where
        S: Data + Clone,
        F: Fn(&[V::Ref<'_>], Option<S>) -> Option<S> + Send + Sync + 'static,
    {
        self.update_state_by_key_with_time(
            move |_, _, values, state| update(values, state),
            num_partitions,
            None,
        )
    }

    /// [`update_state_by_key`](Self::update_state_by_key) starting from `initial` state (Spark's
    /// `initialRDD`).
    pub fn update_state_by_key_with_initial<S, F>(
        &self,
        update: F,
        num_partitions: usize,
        initial: Batch<(K, S)>,
    ) -> Result<DStream<(K, S)>>
    where
        S: Data + Clone,
        F: Fn(&[V::Ref<'_>], Option<S>) -> Option<S> + Send + Sync + 'static,
    {
        self.update_state_by_key_with_time(
            move |_, _, values, state| update(values, state),
            num_partitions,
            Some(initial),
        )
    }

    /// The most general form (Spark's `updateStateByKey((Time, K, Seq[V], Option[S]) =>
    /// Option[S], ...)`): the function also gets the batch time and the key.
    pub fn update_state_by_key_with_time<S, F>(
        &self,
        update: F,
        num_partitions: usize,
        initial: Option<Batch<(K, S)>>,
    ) -> Result<DStream<(K, S)>>
    where
        S: Data + Clone,
        F: Fn(Time, K::Ref<'_>, &[V::Ref<'_>], Option<S>) -> Option<S> + Send + Sync + 'static,
    {
        let n = num_partitions.max(1);
        let parent = self.node.clone();
        let unique_in = self.keys_unique_in;
        let state = Mutex::new(None::<Vec<Partition<K, S>>>);
        let update: Arc<UpdateFn<K, V, S>> = Arc::new(update);
        DStream::create(
            &self.ctx,
            "StateDStream",
            self.slide_duration(),
            vec![self.node.clone() as Arc<dyn AnyNode>],
            Duration::default(),
            Box::new(move |t, ctx| {
                let batch = parent.get_or_compute(t, ctx)?;
                let mut guard = lock(&state);
                if guard.is_none() {
                    if batch.is_none() && initial.is_none() {
                        return Ok(None); // Spark: no previous state and no parent RDD, no RDD
                    }
                    *guard = Some(initial_state(initial.as_ref(), n));
                }
                let parts = guard.as_mut().expect("state was just created");
                let empty = Batch::<(K, V)>::from_partitions(Vec::new());
                let batch = batch.as_ref().unwrap_or(&empty);
                let input = KeyedInput {
                    parts: batch.partitions().iter().map(|p| (&p.a, &p.b)).collect(),
                };
                let groups = group_rows(&input, n, unique_in);
                // Compute every partition's changes first; commit only if all succeeded.
                let changes: Vec<Changes<'_, K, S>> = parts
                    .par_iter()
                    .zip(groups.par_iter())
                    .map(|(part, groups)| changes_of(part, &input, groups, t, &*update))
                    .collect();
                parts
                    .par_iter_mut()
                    .zip(changes.into_par_iter())
                    .for_each(|(part, ch)| {
                        for (id, s) in ch.held {
                            match s {
                                Some(s) => part.states[id as usize] = Some(s),
                                None => part.remove(id),
                            }
                        }
                        part.insert(ch.new);
                        part.keys.reclaim();
                    });
                Ok(Some(Batch::from_partitions(
                    parts.par_iter().map(Partition::snapshot).collect(),
                )))
            }),
        )
    }
}

/// The state partitions at the first batch: empty, or `initial` hashed into `n` partitions.
pub(crate) fn initial_state<K: Key, S: Data + Clone>(
    initial: Option<&Batch<(K, S)>>,
    n: usize,
) -> Vec<Partition<K, S>> {
    let mut parts: Vec<Partition<K, S>> = (0..n).map(|_| Partition::new()).collect();
    let Some(initial) = initial else {
        return parts;
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
        part.insert(new);
    }
    parts
}

/// The batch's rows grouped by key per state partition: each row its own group when the stream
/// is already reduced into the same partitions, else a keyed grouping.
pub(crate) fn group_rows<K: Key, V: Data>(
    input: &KeyedInput<'_, K, V>,
    n: usize,
    unique_in: Option<usize>,
) -> Vec<Vec<CoGroup>> {
    if unique_in == Some(n) && input.parts.len() == n {
        let hasher = key_hash_state();
        return input
            .parts
            .par_iter()
            .enumerate()
            .map(|(p, (keys, _))| {
                (0..keys.len())
                    .map(|row| CoGroup {
                        hash: K::hash_key(keys.value(row), hasher),
                        left: vec![RowRef {
                            part: p as u32,
                            row: row as u32,
                        }],
                        right: Vec::new(),
                    })
                    .collect()
            })
            .collect();
    }
    let none = KeyedInput::<K, V> { parts: Vec::new() };
    cogroup_rows(input, &none, n)
}

/// Calls the update function for every key of one partition that has new values or a state.
fn changes_of<'k, K: Key, V: Data, S: Data + Clone>(
    part: &Partition<K, S>,
    input: &KeyedInput<'k, K, V>,
    groups: &[CoGroup],
    t: Time,
    update: &UpdateFn<K, V, S>,
) -> Changes<'k, K, S> {
    let none = KeyedInput::<K, V> { parts: Vec::new() };
    let mut touched = vec![false; part.keys.id_bound()];
    let mut held = Vec::new();
    let mut new = Vec::new();
    let mut values: Vec<V::Ref<'k>> = Vec::new();
    for g in groups {
        let key = input.group_key(&none, g);
        values.clear();
        values.extend(g.left.iter().map(|&r| input.row_value(r)));
        match part.keys.find(g.hash, key) {
            Some(id) => {
                touched[id as usize] = true;
                let prev = part.states[id as usize].clone();
                held.push((id, update(t, key, &values, prev)));
            }
            None => {
                if let Some(s) = update(t, key, &values, None) {
                    new.push((key, g.hash, s));
                }
            }
        }
    }
    for id in part.keys.ids() {
        if !touched[id as usize] {
            let prev = part.states[id as usize].clone();
            held.push((id, update(t, part.keys.key(id), &[], prev)));
        }
    }
    Changes { held, new }
}
