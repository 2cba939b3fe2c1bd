//! Stateful operators in distributed mode: state kept per exchange partition, owned with the
//! partition, snapshotted to a Kafka changelog and restored from it by whichever process owns the
//! partition next (ARCHITECTURE.md, "State that moves with its partition").
//!
//! An operator's input comes through one or more exchanges, so its batch's partitions are
//! exchange partitions (labelled by [`Origin`]). For each one this process owns, the operator
//! keeps a [`PartitionOp::State`] and the last batch applied to it. A partition seen for the first
//! time (or assigned again after it was lost) is restored before its batch is applied: the latest
//! snapshot in the operator's changelog that decodes, then the partition's records of every batch
//! after the snapshot and before this one, read again from the exchange topics and computed again
//! through the operators between the exchange and this one ([`BatchContext::replaying`]). After a
//! batch at a multiple of the snapshot interval completes without error, the batch's partitions
//! are snapshotted, with where each exchange partition's later records start.
//!
//! Exactly once: a batch is applied to a partition's state only if it is after the last one
//! applied, so a batch that a restored snapshot already covers is not applied again (and not
//! emitted again: snapshots are written after their batch's outputs were). Outputs are written
//! per `(batch, exchange partition)`, so a batch its previous owner emitted and this process
//! emits again replaces its part with the same content.

use super::DStream;
use super::node::Node;
use crate::context::{BatchContext, Distributed, PartitionedState, Replayed};
use crate::data::{Batch, Data, Origin};
use crate::error::{Error, Result};
use crate::exchange::{Snapshot, Stage};
use crate::lock::lock;
use crate::time::Time;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

/// What a stateful operator does to one exchange partition.
pub(crate) trait PartitionOp<I: Data, O: Data>: Send + Sync + 'static {
    /// One partition's state.
    type State: Send;
    /// What the operator is, with its types: a snapshot is restored only into the same kind.
    fn kind(&self) -> String;
    /// Partition `p`'s state (of `of` partitions) before its first batch, `first`.
    fn initial(&self, p: u32, of: u32, first: Time) -> Result<Self::State>;
    /// Applies batch `t`'s input to the state; the operator's output at `t`, if it has one
    /// then. Either applies the whole batch or changes nothing and fails.
    fn apply(
        &self,
        state: &mut Self::State,
        t: Time,
        input: &I::Column,
    ) -> Result<Option<O::Column>>;
    /// The state as record batches of one schema.
    fn encode(&self, state: &Self::State) -> Result<(SchemaRef, Vec<RecordBatch>)>;
    /// The state [`encode`](Self::encode) made.
    fn decode(&self, batches: &[RecordBatch]) -> Result<Self::State>;
}

/// One owned partition's state.
struct Held<S, C> {
    state: S,
    /// The last batch applied.
    through: Option<Time>,
    /// The partition's assignment by each exchange (see [`Stage::assignment`]): a partition
    /// assigned again is restored again.
    assignment: Vec<u64>,
    /// Outputs at late batch times (see `Core::run_late_batches`), computed while restoring,
    /// until the late batch emits them.
    late: BTreeMap<Time, C>,
}

/// A stateful operator's partitions in distributed mode (see the module documentation).
pub(crate) struct Partitioned<I: Data, O: Data, Op: PartitionOp<I, O>> {
    op: Op,
    parent: Arc<Node<I>>,
    /// The exchanges its input comes through.
    exchanges: Vec<usize>,
    /// The operator's node, once built.
    node: OnceLock<usize>,
    held: Mutex<BTreeMap<u32, Held<Op::State, O::Column>>>,
    /// The last batch time fed.
    fed: Mutex<Option<Time>>,
    /// Outputs fed and not yet asked for, by batch time.
    outputs: Mutex<BTreeMap<Time, Batch<O>>>,
    /// Snapshots taken after a batch, written once the batch completed.
    due: Mutex<Vec<(u32, Snapshot)>>,
}

impl<I: Data, O: Data, Op: PartitionOp<I, O>> Partitioned<I, O, Op> {
    /// `op` on `parent`'s batches, whose partitions are those of `exchanges`.
    pub(crate) fn new(op: Op, parent: Arc<Node<I>>, exchanges: BTreeSet<usize>) -> Self {
        Partitioned {
            op,
            parent,
            exchanges: exchanges.into_iter().collect(),
            node: OnceLock::new(),
            held: Mutex::default(),
            fed: Mutex::default(),
            outputs: Mutex::default(),
            due: Mutex::default(),
        }
    }

    fn node(&self) -> Result<usize> {
        self.node
            .get()
            .copied()
            .ok_or_else(|| Error::Internal("a stateful operator without its node".into()))
    }

    /// The operator's batch at `t` in distributed mode: what [`feed`](Self::feed) computed at
    /// `t` (windows emit only at their slides), or in a late batch [`late`](Self::late)'s.
    pub(crate) fn compute(&self, t: Time, ctx: &BatchContext) -> Result<Option<Batch<O>>> {
        if ctx.is_late() {
            return self.late(t, ctx);
        }
        self.feed(t, ctx)?;
        Ok(lock(&self.outputs).remove(&t))
    }

    /// Applies the input's batch at `t` to each partition it holds (restoring partitions first
    /// seen), once per batch time; keeps the output at `t` for [`compute`](Self::compute).
    fn feed(&self, t: Time, ctx: &BatchContext) -> Result<()> {
        {
            let mut fed = lock(&self.fed);
            if fed.is_some_and(|f| f >= t) {
                return Ok(());
            }
            *fed = Some(t);
        }
        let distributed = ctx.distributed().expect("called in distributed mode");
        let stages = self.stages(distributed)?;
        let Some(batch) = self.parent.get_or_compute(t, ctx)? else {
            return Ok(());
        };
        let origin = labels(&batch)?;
        let mut held = lock(&self.held);
        held.retain(|&p, h| assignment(&stages, p).as_ref() == Some(&h.assignment));
        let missing: Vec<u32> = origin
            .ids
            .iter()
            .copied()
            .filter(|p| !held.contains_key(p))
            .collect();
        held.extend(self.restore_all(&stages, &missing, origin.of, t, ctx)?);
        let mut ids = Vec::new();
        let mut outputs = Vec::new();
        for (input, &p) in batch.partitions().iter().zip(&origin.ids) {
            let h = self.held_at(&mut held, &stages, p, origin.of, t, ctx)?;
            if let Some(through) = h.through.filter(|&d| d >= t) {
                tracing::info!(
                    "{}: partition {p}'s state covers batch {t} already (restored after \
                     {through}): its previous owner applied and emitted it",
                    self.op.kind()
                );
                continue;
            }
            let out = self.op.apply(&mut h.state, t, input)?;
            h.through = Some(t);
            if t.as_millis() % distributed.snapshot_every.as_millis() == 0 {
                let snapshot = self.snapshot(&h.state, t, p, &stages)?;
                lock(&self.due).push((p, snapshot));
            }
            if let Some(out) = out {
                ids.push(p);
                outputs.push(out);
            }
        }
        if !ids.is_empty() {
            lock(&self.outputs).insert(t, labelled(outputs, origin.of, ids));
        }
        Ok(())
    }

    /// The stages of the exchanges the input comes through.
    fn stages(&self, distributed: &Distributed) -> Result<Vec<Arc<Stage>>> {
        // `start` refused an operator with none.
        self.exchanges
            .iter()
            .map(|&e| distributed.exchanges.stage(e))
            .collect()
    }

    /// A late batch at `t` (or a forwarding one): for each late partition, the output at `t`
    /// computed when it was restored, else the batch applied now (restoring the partition
    /// first if it is not held).
    fn late(&self, t: Time, ctx: &BatchContext) -> Result<Option<Batch<O>>> {
        let distributed = ctx.distributed().expect("called in distributed mode");
        let stages = self.stages(distributed)?;
        // Computing the input takes the exchanges' late partials (reads them, forwarding).
        let Some(batch) = self.parent.get_or_compute(t, ctx)? else {
            return Ok(None);
        };
        let origin = labels(&batch)?;
        let mut held = lock(&self.held);
        let mut ids = Vec::new();
        let mut outputs = Vec::new();
        for (input, &p) in batch.partitions().iter().zip(&origin.ids) {
            let stale = held
                .get(&p)
                .is_some_and(|h| assignment(&stages, p).as_ref() != Some(&h.assignment));
            if stale {
                held.remove(&p);
            }
            let h = self.held_at(&mut held, &stages, p, origin.of, t, ctx)?;
            if !h.late.contains_key(&t) && h.through.is_none_or(|d| d < t) {
                if let Some(out) = self.op.apply(&mut h.state, t, input)? {
                    h.late.insert(t, out);
                }
                h.through = Some(t);
            }
            let out = if ctx.is_forwarding() {
                h.late.get(&t).cloned()
            } else {
                h.late.remove(&t)
            };
            if let Some(out) = out {
                ids.push(p);
                outputs.push(out);
            }
        }
        Ok((!ids.is_empty()).then(|| labelled(outputs, origin.of, ids)))
    }

    /// Partition `p`'s state, restored first if it is not held.
    fn held_at<'h>(
        &self,
        held: &'h mut BTreeMap<u32, Held<Op::State, O::Column>>,
        stages: &[Arc<Stage>],
        p: u32,
        of: u32,
        t: Time,
        ctx: &BatchContext,
    ) -> Result<&'h mut Held<Op::State, O::Column>> {
        Ok(match held.entry(p) {
            Entry::Occupied(h) => h.into_mut(),
            Entry::Vacant(slot) => slot.insert(self.restore(stages, p, of, t, ctx)?),
        })
    }

    /// Partitions `ps` restored before batch `t`, at once (each one's restore is mostly
    /// waiting for the broker).
    fn restore_all(
        &self,
        stages: &[Arc<Stage>],
        ps: &[u32],
        of: u32,
        t: Time,
        ctx: &BatchContext,
    ) -> Result<Vec<(u32, Held<Op::State, O::Column>)>> {
        std::thread::scope(|scope| {
            let restores: Vec<_> = ps
                .iter()
                .map(|&p| scope.spawn(move || (p, self.restore(stages, p, of, t, ctx))))
                .collect();
            restores
                .into_iter()
                .map(|r| {
                    let (p, held) = r.join().map_err(|_| {
                        Error::Internal(format!(
                            "restoring a partition of {} panicked",
                            self.op.kind()
                        ))
                    })?;
                    Ok((p, held?))
                })
                .collect()
        })
    }

    /// Partition `p`'s state before batch `t`: its latest snapshot that decodes (before `t`),
    /// and every batch after it read again from the exchanges.
    fn restore(
        &self,
        stages: &[Arc<Stage>],
        p: u32,
        of: u32,
        t: Time,
        ctx: &BatchContext,
    ) -> Result<Held<Op::State, O::Column>> {
        let distributed = ctx.distributed().expect("called in distributed mode");
        let kind = self.op.kind();
        let assignment = assignment(stages, p).ok_or_else(|| {
            Error::Internal(format!(
                "{kind}: partition {p} is not owned by this process"
            ))
        })?;
        let changelog = distributed.changelog(self.node()?)?;
        let started = std::time::Instant::now();
        let records = changelog.records(p)?;
        let mut restored: Option<(Snapshot, Op::State)> = None;
        for record in records.iter().rev() {
            let snapshot = match Snapshot::decode(&record.key, &record.value) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(
                        "{kind}: the snapshot of partition {p} at offset {} of {} is not used \
                         ({e}); falling back to the one before it",
                        record.offset,
                        changelog.topic()
                    );
                    continue;
                }
            };
            if snapshot.kind != kind {
                return Err(Error::Checkpoint(
                    crate::checkpoint::CheckpointError::Incompatible {
                        operator: changelog.topic().to_string(),
                        reason: format!(
                            "the state was written by {}, this program's operator is {kind} \
                             (give the new operator another name with checkpoint_name)",
                            snapshot.kind
                        ),
                    },
                ));
            }
            if snapshot.time >= t {
                // Written by a process that ran ahead of this one (it owned the partition at
                // later batches): this process runs batch `t` behind it.
                continue;
            }
            match self.op.decode(&snapshot.batches) {
                Ok(state) => {
                    restored = Some((snapshot, state));
                    break;
                }
                Err(e) => tracing::warn!(
                    "{kind}: the snapshot of partition {p} after batch {} does not decode ({e}); \
                     falling back to the one before it",
                    snapshot.time
                ),
            }
        }
        let (after, positions, state) = match restored {
            Some((s, state)) => (Some(s.time), s.positions, Some(state)),
            None => {
                if !records.is_empty() {
                    tracing::warn!(
                        "{kind}: no snapshot of partition {p} before batch {t} is usable: \
                         restoring it from the exchanges' whole history"
                    );
                }
                (None, Vec::new(), None)
            }
        };
        let mut replayed: BTreeMap<Time, Replayed> = BTreeMap::new();
        for (&e, stage) in self.exchanges.iter().zip(stages) {
            let from = positions.iter().find(|(x, _)| *x == e).map(|(_, o)| *o);
            for (time, values) in stage.replay(p, from, after, t)? {
                replayed
                    .entry(time)
                    .or_default()
                    .insert(e, vec![(p, values)]);
            }
        }
        let mut state = match state {
            Some(state) => state,
            None => {
                let first = replayed.keys().next().copied().unwrap_or(t);
                self.op.initial(p, of, first)?
            }
        };
        let late_times = distributed.exchanges.late_times();
        let mut through = after;
        let mut late = BTreeMap::new();
        let batches = replayed.len();
        for (time, partials) in replayed {
            let again = self
                .parent
                .get_or_compute(time, &ctx.replaying(time, partials))?;
            let Some(batch) = again else { continue };
            let Some(input) = partition(&batch, p) else {
                continue;
            };
            let out = self.op.apply(&mut state, time, input)?;
            through = Some(time);
            if let Some(out) = out.filter(|_| late_times.contains(&time)) {
                late.insert(time, out);
            }
        }
        tracing::info!(
            "{kind}: partition {p} restored in {:.1} ms from {} and {batches} batch(es) read \
             again",
            started.elapsed().as_secs_f64() * 1e3,
            after.map_or_else(
                || "no snapshot".to_string(),
                |a| format!("the snapshot after batch {a}")
            ),
        );
        Ok(Held {
            state,
            through,
            assignment,
            late,
        })
    }

    /// Partition `p`'s state after batch `t`, with where each exchange partition's later
    /// records start.
    fn snapshot(
        &self,
        state: &Op::State,
        t: Time,
        p: u32,
        stages: &[Arc<Stage>],
    ) -> Result<Snapshot> {
        let (schema, batches) = self.op.encode(state)?;
        let positions = self
            .exchanges
            .iter()
            .zip(stages)
            .filter_map(|(&e, stage)| stage.resume_offset(p).map(|o| (e, o)))
            .collect();
        Ok(Snapshot {
            time: t,
            positions,
            kind: self.op.kind(),
            schema,
            batches,
        })
    }
}

impl<O: Data> DStream<O> {
    /// Makes `op` the state, in distributed mode, of the stateful operator computing this
    /// stream.
    pub(crate) fn keep_state_per_partition<I: Data, Op: PartitionOp<I, O>>(
        &self,
        op: Arc<Partitioned<I, O, Op>>,
    ) {
        let _ = op.node.set(self.node.id);
        self.ctx.core.add_partitioned_state(self.node.id, op);
    }
}

impl<I: Data, O: Data, Op: PartitionOp<I, O>> PartitionedState for Partitioned<I, O, Op> {
    fn feed(&self, t: Time, ctx: &BatchContext) -> Result<()> {
        Partitioned::feed(self, t, ctx)
    }

    fn batch_completed(&self, distributed: &Distributed, t: Time, failed: bool) {
        lock(&self.outputs).retain(|&o, _| o > t);
        let due: Vec<(u32, Snapshot)> = std::mem::take(&mut *lock(&self.due));
        if failed || due.is_empty() {
            return;
        }
        let Ok(changelog) = self.node().and_then(|n| distributed.changelog(n)) else {
            return;
        };
        changelog.write(due);
    }
}

/// Partition `p`'s assignment by each of `stages` (`None` if one of them does not own it).
fn assignment(stages: &[Arc<Stage>], p: u32) -> Option<Vec<u64>> {
    stages.iter().map(|s| s.assignment(p)).collect()
}

/// The partition labels of a stateful operator's input.
fn labels<T: Data>(batch: &Batch<T>) -> Result<Origin> {
    batch.origin().cloned().ok_or_else(|| {
        Error::Internal("a stateful operator's input is not labelled by partition".into())
    })
}

/// The partition of `batch` labelled `p`.
fn partition<T: Data>(batch: &Batch<T>, p: u32) -> Option<&T::Column> {
    let origin = batch.origin()?;
    let i = origin.ids.iter().position(|&id| id == p)?;
    batch.partitions().get(i)
}

/// `outputs` as a batch of exchange partitions `ids` (of `of`).
fn labelled<O: Data>(outputs: Vec<O::Column>, of: u32, ids: Vec<u32>) -> Batch<O> {
    Batch::from_partitions(outputs).with_origin(Arc::new(Origin {
        of,
        ids,
        resent: Default::default(),
    }))
}
