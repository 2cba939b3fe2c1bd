//! A node of the DStream graph: how to compute its batch for a time, memoised per batch time and
//! forgotten after its remember duration (Spark's `generatedRDDs` and `clearMetadata`).

use super::fusion::{Chain, Narrow};
use crate::context::BatchContext;
use crate::data::{Batch, Data};
use crate::error::Result;
use crate::kernels::tokenize::Separators;
use crate::lock::lock;
use crate::time::{Duration, Time};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// How a node computes its batch at a valid time.
pub(crate) type ComputeFn<T> =
    Box<dyn Fn(Time, &BatchContext) -> Result<Option<Batch<T>>> + Send + Sync>;

/// The untyped face of a node, for walking the graph.
pub(crate) trait AnyNode: Send + Sync {
    /// The node's id in its graph.
    fn id(&self) -> usize;
    /// The nodes it computes its batches from.
    fn parents(&self) -> &[Arc<dyn AnyNode>];
    /// The node's name (Spark's DStream class name).
    fn name(&self) -> &str;
    /// The interval of its batches.
    fn slide(&self) -> Duration;
    /// Raises how long this node keeps its batches, and its parents' accordingly.
    fn remember_at_least(&self, duration: Duration);
    /// How long this node keeps its batches.
    fn remember_duration(&self) -> Duration;
    /// Forgets batches with `time <= now - remember`.
    fn clear_old(&self, now: Time);
    /// The times whose batches are held (for tests of clean-up).
    fn remembered_times(&self) -> Vec<Time>;
    /// Counts one more reader of this node's batches (a child node or an output operation).
    fn add_consumer(&self);
}

/// A shuffle's number of output partitions: what `with_partitions` set, else the context's
/// default parallelism. Read when batches are computed, so it can be set after the operator is
/// built (and before the context starts).
#[derive(Default)]
pub(crate) struct ShufflePartitions(AtomicUsize);

impl ShufflePartitions {
    pub(crate) fn set(&self, n: usize) {
        self.0.store(n, Ordering::Relaxed);
    }
    /// The partition count, `default` when none was set.
    pub(crate) fn get(&self, default: usize) -> usize {
        match self.0.load(Ordering::Relaxed) {
            0 => default.max(1),
            n => n,
        }
    }
}

/// How a node's batches are partitioned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Partitioning {
    /// As the source or parent cut them: nothing to rely on.
    #[default]
    BySource,
    /// By the engine's key hash (`partition_of`) into the node's partition count; with `unique`,
    /// every batch holds each key once (a per-batch reduction's output).
    ByKey { unique: bool },
}

/// What the plan knows about a node's batches: the properties fusions, windows, state and
/// exchanges read from the node that produces a stream, instead of re-deriving them.
#[derive(Default)]
pub(crate) struct Plan {
    /// Set for operators that choose their number of partitions (shuffles, keyed windows,
    /// state): what `with_partitions` sets.
    pub(crate) partitions: Option<Arc<ShufflePartitions>>,
    pub(crate) partitioning: Partitioning,
    /// Set for `split`: the lines whose words these are, as views, and the separators, so that
    /// `count_by_value` right after it tokenizes and counts in one pass.
    pub(crate) words_of: Option<(Arc<Node<String>>, Separators)>,
}

impl Plan {
    /// The plan of an operator with `partitions` partitions, partitioned as `partitioning`.
    pub(crate) fn partitioned(
        partitions: &Arc<ShufflePartitions>,
        partitioning: Partitioning,
    ) -> Plan {
        Plan {
            partitions: Some(partitions.clone()),
            partitioning,
            words_of: None,
        }
    }

    /// Whether every partition of a batch holds each of its keys once (a per-batch reduction's
    /// output, or in distributed mode an exchange partition's merged partials).
    pub(crate) fn unique_keys(&self) -> bool {
        matches!(self.partitioning, Partitioning::ByKey { unique: true })
    }

    /// `Some(n)` when every batch holds each key once, in partition `partition_of(hash, n)` of
    /// `n`: a keyed window or state can take such batches as they are.
    pub(crate) fn unique_key_partitions(&self, default: usize) -> Option<usize> {
        match (&self.partitions, self.partitioning) {
            (Some(p), Partitioning::ByKey { unique: true }) => Some(p.get(default)),
            _ => None,
        }
    }
}

/// A typed node.
pub(crate) struct Node<T: Data> {
    pub(crate) id: usize,
    pub(crate) name: String,
    pub(crate) slide: Duration,
    pub(crate) plan: Plan,
    pub(crate) parents: Vec<Arc<dyn AnyNode>>,
    /// What parents must keep beyond this node's remember duration (a window's length).
    pub(crate) parent_extra_remember: Duration,
    compute: ComputeFn<T>,
    generated: Mutex<BTreeMap<Time, Batch<T>>>,
    remember: Mutex<Duration>,
    /// The child nodes and output operations that read this node's batches.
    consumers: AtomicUsize,
    /// Set for a narrow operator (`map`, `filter`, ...): its per-element form, so that its only
    /// consumer can run it fused with the operators around it (`fusion.rs`).
    narrow: OnceLock<Arc<dyn Narrow<T>>>,
}

impl<T: Data> Node<T> {
    pub(crate) fn new(
        id: usize,
        name: impl Into<String>,
        slide: Duration,
        parents: Vec<Arc<dyn AnyNode>>,
        parent_extra_remember: Duration,
        plan: Plan,
        compute: ComputeFn<T>,
    ) -> Self {
        for p in &parents {
            p.add_consumer();
        }
        Node {
            id,
            name: name.into(),
            slide,
            plan,
            parents,
            parent_extra_remember,
            compute,
            generated: Mutex::new(BTreeMap::new()),
            remember: Mutex::new(slide),
            consumers: AtomicUsize::new(0),
            narrow: OnceLock::new(),
        }
    }

    /// Marks this node as the narrow operator `op` (once, when it is built).
    pub(crate) fn set_narrow(&self, op: Arc<dyn Narrow<T>>) {
        let _ = self.narrow.set(op);
    }

    /// This node's elements at `time` as a chain for its consumer to run fused, when this
    /// node is a narrow operator that nothing else reads and whose batch at `time` is not
    /// already computed; `None` otherwise (the consumer then reads the batch, computed and
    /// memoised once for all readers).
    pub(crate) fn fused(
        &self,
        time: Time,
        ctx: &BatchContext,
    ) -> Result<Option<Box<dyn Chain<T>>>> {
        match self.narrow.get() {
            Some(op)
                if self.consumers.load(Ordering::Relaxed) == 1
                    && !lock(&self.generated).contains_key(&time) =>
            {
                op.chain_at(time, ctx)
            }
            _ => Ok(None),
        }
    }

    /// Spark's `isTimeValid`: after the zero time and on this node's slide grid.
    pub(crate) fn is_time_valid(&self, time: Time, zero: Time) -> bool {
        time > zero && (time - zero).is_multiple_of(self.slide)
    }

    /// Spark's `getOrCompute`: the memoised batch, or compute it if `time` is valid. A late
    /// batch (distributed mode) computes afresh and keeps nothing.
    pub(crate) fn get_or_compute(
        &self,
        time: Time,
        ctx: &BatchContext,
    ) -> Result<Option<Batch<T>>> {
        if ctx.is_late() {
            // On the slide grid; possibly before this process's zero time (it started after the
            // batch, whose exchange partitions it took over).
            if !(time - ctx.zero_time).is_multiple_of(self.slide) {
                return Ok(None);
            }
            return Ok((self.compute)(time, ctx)?.map(|b| b.at(time)));
        }
        if let Some(b) = lock(&self.generated).get(&time) {
            return Ok(Some(b.clone()));
        }
        if !self.is_time_valid(time, ctx.zero_time) {
            return Ok(None);
        }
        let computed = (self.compute)(time, ctx)?.map(|b| b.at(time));
        if let Some(b) = &computed {
            lock(&self.generated).insert(time, b.clone());
        }
        Ok(computed)
    }
}

impl<T: Data> AnyNode for Node<T> {
    fn id(&self) -> usize {
        self.id
    }
    fn parents(&self) -> &[Arc<dyn AnyNode>] {
        &self.parents
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn slide(&self) -> Duration {
        self.slide
    }
    fn remember_at_least(&self, duration: Duration) {
        let mine = {
            let mut r = lock(&self.remember);
            if duration > *r {
                *r = duration;
            }
            *r
        };
        for p in &self.parents {
            p.remember_at_least(mine + self.parent_extra_remember);
        }
    }
    fn remember_duration(&self) -> Duration {
        *lock(&self.remember)
    }
    fn clear_old(&self, now: Time) {
        let remember = *lock(&self.remember);
        let cutoff = now - remember;
        lock(&self.generated).retain(|t, _| *t > cutoff);
    }
    fn remembered_times(&self) -> Vec<Time> {
        lock(&self.generated).keys().copied().collect()
    }
    fn add_consumer(&self) {
        self.consumers.fetch_add(1, Ordering::Relaxed);
    }
}
