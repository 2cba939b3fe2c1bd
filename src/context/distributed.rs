//! Distributed mode on the context's side ([`StreamingContext::distribute`]): the setting, what
//! `start` checks, and what a batch's computations reach through their [`BatchContext`].

use super::input::Input;
use super::scheduler::{job_error, panic_error};
use super::{BatchContext, Clock, Core, StreamingContext};
use crate::dstream::node::AnyNode;
use crate::error::{Error, Result};
use crate::exchange::{Changelog, ExchangeConfig, Exchanges, Partials};
use crate::lock::lock;
use crate::time::Time;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Operators that a distributed program cannot run yet: their results need every key of a
/// batch, or of several batches, in one place; but `update_state_by_key`, `map_with_state` and
/// the keyed windows (`reduce_by_key_and_window`, `count_by_value_and_window`,
/// `group_by_key_and_window`) keep their state per exchange partition
/// (`dstream/partitioned.rs`) and run.
const LOCAL_ONLY: &[&str] = &[
    "StateDStream",
    "MapWithStateDStream",
    "StateSnapshotsDStream",
    "WindowedDStream",
    "ReducedWindowedDStream",
    "RepartitionedDStream",
    "TransformedDStream",
    "ReducedDStream",
    "CountDStream",
];

/// Partials read again from exchange topics, by exchange id (see [`BatchContext::replaying`]).
pub(crate) type Replayed = BTreeMap<usize, Partials>;

/// How long listing the job's topics may take at start.
const SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What a distributed program's batches use: its exchanges, the clock (to send later batches'
/// partials while a batch waits), and its inputs (asked before a batch's partials are sent).
pub(crate) struct Distributed {
    pub(crate) exchanges: Exchanges,
    pub(crate) clock: Arc<dyn Clock>,
    inputs: Vec<Arc<dyn Input>>,
    sending: Mutex<Sending>,
    /// Set by an immediate stop: a batch waiting for partials gives up at once.
    stopping: AtomicBool,
    /// By node id, the changelog of each stateful operator (see `dstream/partitioned.rs`).
    changelogs: BTreeMap<usize, Arc<Changelog>>,
    /// How often stateful operators snapshot their partitions: at the batch times that are
    /// multiples of it.
    pub(crate) snapshot_every: crate::time::Duration,
    /// The stateful operators whose state is kept per exchange partition.
    stateful: Vec<Arc<dyn PartitionedState>>,
}

/// A stateful operator whose state is kept per exchange partition (`dstream/partitioned.rs`).
pub(crate) trait PartitionedState: Send + Sync {
    /// Applies the input's batch at `t` (every batch, whether or not the operator emits then:
    /// a window's input is applied batch by batch).
    fn feed(&self, t: Time, ctx: &BatchContext) -> Result<()>;
    /// Batch `t` completed: writes the snapshots due at `t`, unless it `failed` (then drops
    /// them: a partition's next owner runs the batch again from the previous snapshot).
    fn batch_completed(&self, distributed: &Distributed, t: Time, failed: bool);
}

/// What was decided and done for the batches not completed yet. A batch waiting for its
/// partials sends later batches' partials meanwhile, any number of them, so nothing here is
/// forgotten before its batch completes: a batch sent twice, or sent after its records were
/// given back, would count its records twice.
#[derive(Default)]
struct Sending {
    /// By batch time: whether the inputs let the batch's partials be sent.
    decisions: BTreeMap<Time, bool>,
    /// The (batch time, exchange id) pairs whose partials were sent, or are being sent.
    claimed: BTreeSet<(Time, usize)>,
    /// The last completed batch: nothing at or before it is sent any more.
    completed: Option<Time>,
}

impl Distributed {
    /// The changelog of the stateful operator computing node `node`.
    pub(crate) fn changelog(&self, node: usize) -> Result<&Arc<Changelog>> {
        self.changelogs.get(&node).ok_or_else(|| {
            Error::Internal(format!(
                "node {node} has no changelog (not registered at start)"
            ))
        })
    }

    /// Whether batch `t`'s partials may be sent, asked before each exchange sends them: the first
    /// time, every input commits where its batch at `t` ends (a Kafka stream in group mode), and
    /// a failed commit keeps the batch's records out of every exchange (its source partitions'
    /// next batches read them again). Every exchange of the program gets the same answer until
    /// the batch completes.
    pub(crate) fn may_send(&self, t: Time) -> bool {
        let mut sending = lock(&self.sending);
        if let Some(&decided) = sending.decisions.get(&t) {
            return decided;
        }
        // Only a Kafka stream in group mode commits (and an exchange takes one such stream).
        let decided = self.inputs.iter().all(|input| input.exchanging(t));
        sending.decisions.insert(t, decided);
        decided
    }

    /// Whether exchange `id` is to send batch `t`'s partials now: the first time it asks
    /// before the batch completes (it may ask while an earlier batch waits, and again when `t`
    /// runs).
    pub(crate) fn claim_send(&self, id: usize, t: Time) -> bool {
        let mut sending = lock(&self.sending);
        sending.completed.is_none_or(|done| t > done) && sending.claimed.insert((t, id))
    }

    /// Exchange `id` could not send batch `t`'s partials: a later ask sends them.
    pub(crate) fn release_send(&self, id: usize, t: Time) {
        lock(&self.sending).claimed.remove(&(t, id));
    }

    /// An immediate stop: a batch waiting for its partials stops waiting (it fails, and the
    /// exchange partitions' next owners run it).
    pub(crate) fn stop_waiting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether an immediate stop asked batches to stop waiting.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Batch `t` completed: what was decided and sent for it and earlier batches is forgotten,
    /// and none of them is sent any more. Then, unless it `failed`, the stateful operators
    /// write the snapshots due at `t` (its outputs are written: a partition's next owner
    /// restoring one of them does not write its outputs again).
    pub(crate) fn batch_completed(&self, t: Time, failed: bool) {
        {
            let mut sending = lock(&self.sending);
            sending.decisions.retain(|&d, _| d > t);
            sending.claimed.retain(|&(c, _)| c > t);
            sending.completed = Some(sending.completed.map_or(t, |done| done.max(t)));
        }
        for op in &self.stateful {
            op.batch_completed(self, t, failed);
        }
    }

    /// At the start of batch `t`: every stateful operator applies its input's batch.
    pub(crate) fn feed(&self, t: Time, ctx: &BatchContext) -> Result<()> {
        self.stateful.iter().try_for_each(|op| op.feed(t, ctx))
    }

    /// Batch `t`'s partials could not all be sent after its inputs committed: they give its
    /// records back, to be sent again under `t` by the next batch (duplicates of what did go
    /// are applied once).
    pub(crate) fn not_sent(&self, t: Time) {
        for input in &self.inputs {
            input.not_exchanged(t);
        }
    }
}

impl StreamingContext {
    /// Runs this program as one of many processes of a distributed job (see [`ExchangeConfig`]
    /// and ARCHITECTURE.md, "Running on many machines"): keyed per-batch operations
    /// (`reduce_by_key`, `count_by_value`, `combine_by_key`, `group_by_key`, `cogroup` and the
    /// joins) exchange their partial results through Kafka, and everything after them runs on the exchange partitions this process
    /// owns. The input must be a Kafka stream in group mode ([`KafkaConfig::group`](crate::source::KafkaConfig::group))
    /// on one topic. `start` refuses operators a distributed program cannot run yet (state,
    /// windows, `repartition`, `transform`, whole-batch `reduce` and `count`).
    ///
    /// ```no_run
    /// use dstreams::prelude::*;
    /// use dstreams::ExchangeConfig;
    /// use dstreams::source::KafkaConfig;
    /// let ssc = StreamingContext::new(Seconds(1));
    /// ssc.distribute(ExchangeConfig::new("kafka:9092", "word-count").partitions(8));
    /// let lines = ssc.kafka_stream(KafkaConfig::new("kafka:9092", ["lines"]).group("word-count"));
    /// let counts = lines.split(Separators::Space).count_by_value();
    /// counts.save_as_text_files("/shared/counts", "");
    /// ssc.start()?;
    /// ssc.await_termination()?;
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn distribute(&self, config: ExchangeConfig) {
        *lock(&self.core.exchange_config) = Some(config);
    }
}

impl Core {
    /// The distributed mode setting, when the program is distributed.
    pub(crate) fn exchange_config(&self) -> Option<ExchangeConfig> {
        lock(&self.exchange_config).clone()
    }

    /// The next exchange operator's id (its place among the program's exchanges).
    pub(crate) fn next_exchange_id(&self) -> usize {
        self.exchange_ids
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Notes that node `node` runs exchange `exchange`.
    pub(crate) fn note_exchange(&self, node: usize, exchange: usize) {
        lock(&self.exchange_nodes).insert(node, exchange);
    }

    /// The exchanges nearest `node` (its partitions are theirs): the first exchange on each
    /// path up from it, itself included.
    pub(crate) fn exchanges_from(&self, node: &dyn AnyNode) -> BTreeSet<usize> {
        let exchanges = lock(&self.exchange_nodes);
        let mut found = BTreeSet::new();
        let mut todo: Vec<&dyn AnyNode> = vec![node];
        while let Some(n) = todo.pop() {
            match exchanges.get(&n.id()) {
                Some(&e) => {
                    found.insert(e);
                }
                None => todo.extend(n.parents().iter().map(|p| &**p)),
            }
        }
        found
    }

    /// At `start`: refuses what a distributed program cannot run, and makes its [`Distributed`].
    pub(super) fn start_distributed(&self) -> Result<()> {
        let Some(config) = lock(&self.exchange_config).clone() else {
            return Ok(());
        };
        if config.partitions == 0 {
            return Err(Error::InvalidArgument(
                "a distributed job needs at least one exchange partition".into(),
            ));
        }
        let graph = lock(&self.graph);
        let partitioned: BTreeSet<usize> = lock(&self.partitioned_state)
            .iter()
            .map(|(node, _)| *node)
            .collect();
        let mut refused: Vec<&str> = graph
            .nodes
            .iter()
            .filter(|n| LOCAL_ONLY.contains(&n.name()) && !partitioned.contains(&n.id()))
            .map(|n| n.name())
            .collect();
        refused.dedup();
        let unkeyed: Vec<&str> = graph
            .nodes
            .iter()
            .filter(|n| partitioned.contains(&n.id()) && self.exchanges_from(&***n).is_empty())
            .map(|n| n.name())
            .collect();
        if !unkeyed.is_empty() {
            return Err(Error::Unsupported(format!(
                "in a distributed program (StreamingContext::distribute) state and keyed windows \
                 are kept per exchange partition, so their input must come from a keyed \
                 operation (reduce_by_key, count_by_value, combine_by_key, group_by_key, a \
                 join): {} read(s) batches cut by source partition",
                unkeyed.join(", ")
            )));
        }
        if !refused.is_empty() {
            return Err(Error::Unsupported(format!(
                "a distributed program (StreamingContext::distribute) cannot run {} yet: \
                 state_snapshots, windows of whole elements (window, count_by_window, \
                 reduce_by_window, ...), repartition, transform and whole-batch results need \
                 every element in one process",
                refused.join(", ")
            )));
        }
        if lock(&self.checkpointing).dir.is_some() {
            return Err(Error::Unsupported(
                "a distributed program keeps its positions in Kafka (group offsets and exchange \
                 topics) and cannot use a checkpoint directory yet"
                    .into(),
            ));
        }
        let inputs = graph.inputs.clone();
        drop(graph);
        let changelogs = self.open_changelogs(&config)?;
        let distributed = Distributed {
            exchanges: Exchanges::new(config),
            clock: self.clock.clone(),
            inputs,
            sending: Mutex::default(),
            stopping: AtomicBool::new(false),
            changelogs,
            snapshot_every: lock(&self.checkpointing).interval(self.batch_interval),
            stateful: lock(&self.partitioned_state)
                .iter()
                .map(|(_, op)| op.clone())
                .collect(),
        };
        // Every exchange joins its group before the first batch time is chosen (see
        // `first_batch`).
        let exchanges = self.exchange_ids.load(std::sync::atomic::Ordering::Relaxed);
        distributed.exchanges.open_all(exchanges)?;
        let _ = self.distributed.set(Arc::new(distributed));
        Ok(())
    }

    /// Registers `op`, computing node `node`, as a stateful operator whose state is kept per
    /// exchange partition in distributed mode.
    pub(crate) fn add_partitioned_state(&self, node: usize, op: Arc<dyn PartitionedState>) {
        lock(&self.partitioned_state).push((node, op));
    }

    /// Opens the changelog of every stateful operator, named by its stable id: the name given
    /// with `checkpoint_name`, else `op<n>` (its place among the stateful operators, in build
    /// order). Changelogs of operators this program does not have are named in a warning.
    fn open_changelogs(&self, config: &ExchangeConfig) -> Result<BTreeMap<usize, Arc<Changelog>>> {
        let nodes: Vec<usize> = lock(&self.partitioned_state)
            .iter()
            .map(|(node, _)| *node)
            .collect();
        let checkpointing = lock(&self.checkpointing);
        let mut ids = Vec::with_capacity(nodes.len());
        for (i, &node) in nodes.iter().enumerate() {
            let id = match checkpointing.name_of(node) {
                Some(name) => {
                    if !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                    {
                        return Err(Error::InvalidArgument(format!(
                            "checkpoint_name({name:?}): in distributed mode a stateful \
                             operator's name is part of a Kafka topic's name, so it may hold \
                             only ASCII letters, digits, '.', '_' and '-'"
                        )));
                    }
                    name.to_string()
                }
                None => format!("op{i}"),
            };
            ids.push((node, id));
        }
        drop(checkpointing);
        let mut changelogs = BTreeMap::new();
        for (node, id) in &ids {
            changelogs.insert(*node, Arc::new(Changelog::open(config, id)?));
        }
        let mine: BTreeSet<String> = changelogs.values().map(|c| c.topic().to_string()).collect();
        match crate::kafka_admin::topic_names(&config.client_config(), SETUP_TIMEOUT) {
            Ok(topics) => {
                let prefix = format!("{}-", config.app_id);
                for topic in topics {
                    if topic.starts_with(&prefix)
                        && topic.ends_with("-state")
                        && !mine.contains(&topic)
                    {
                        tracing::warn!(
                            "the state in {topic} is not restored: no stateful operator of this \
                             program has that id (it was removed, or renamed: give it its old \
                             name with checkpoint_name; unnamed operators are op0, op1, ... in \
                             build order)"
                        );
                    }
                }
            }
            Err(e) => tracing::warn!("the job's state topics could not be listed: {e}"),
        }
        Ok(changelogs)
    }

    /// The zero time of a run whose first batch is `first`: the batch before it, but in
    /// distributed mode the latest multiple of every node's slide before `first`, so that
    /// windows slide on the same grid in every process of the job.
    pub(super) fn zero_before(&self, first: Time) -> Time {
        let before = first - self.batch_interval;
        if self.distributed.get().is_none() {
            return before;
        }
        let grid = lock(&self.graph).nodes.iter().fold(1, |l, node| {
            let slide = node.slide().as_millis().max(1);
            l / crate::window::gcd(l, slide) * slide
        });
        Time::from_millis(before.as_millis().div_euclid(grid) * grid)
    }

    /// Distributed mode: the first batch time when the exchange partitions this process was
    /// assigned hold records of an earlier batch that no member took yet (the job's other
    /// processes started earlier): this process runs its batches from there, late, so that it
    /// never skips a batch of the job.
    pub(super) fn first_distributed_batch(&self) -> Result<Option<Time>> {
        let Some(distributed) = self.distributed.get() else {
            return Ok(None);
        };
        let exchanges = self.exchange_ids.load(std::sync::atomic::Ordering::Relaxed);
        let mut first: Option<Time> = None;
        for id in 0..exchanges {
            if let Some(t) = distributed.exchanges.stage(id)?.earliest_pending()? {
                first = Some(first.map_or(t, |f| f.min(t)));
            }
        }
        Ok(first)
    }
}

impl BatchContext {
    /// Distributed mode's exchanges and clock, when the program is distributed.
    pub(crate) fn distributed(&self) -> Option<&Arc<Distributed>> {
        self.distributed.as_ref()
    }

    /// A late batch of `core`'s program at `time` (see [`Core::run_late_batches`]).
    fn late_of(core: &Core, time: Time, zero_time: Time) -> Self {
        BatchContext {
            late: true,
            ..BatchContext::of(core, time, zero_time)
        }
    }

    /// Whether this is a late batch: nodes compute afresh (their batch of this time, if still
    /// held, is the one that ran without the late partitions), inputs give nothing, and
    /// exchanges give the late partitions' merged partials.
    pub(crate) fn is_late(&self) -> bool {
        self.late
    }

    /// Late batch `t` of this batch's program, computed only to forward the late partitions'
    /// share to a later exchange (`Exchange::forward_late`): exchanges give the late partials
    /// without taking them, so the late batch itself still runs them afterwards.
    pub(crate) fn forwarding_late(&self, t: Time) -> BatchContext {
        BatchContext {
            time: t,
            zero_time: self.zero_time,
            batch_interval: self.batch_interval,
            parallelism: self.parallelism,
            inputs: Mutex::default(),
            distributed: self.distributed.clone(),
            late: true,
            forwarding: true,
            replayed: None,
        }
    }

    /// Past batch `t` of this batch's program computed again from `replayed` partials (see
    /// [`replayed`](Self::replayed)): like a forwarding late batch, nothing is taken or kept.
    pub(crate) fn replaying(&self, t: Time, replayed: Replayed) -> BatchContext {
        BatchContext {
            replayed: Some(Arc::new(replayed)),
            ..self.forwarding_late(t)
        }
    }

    /// In a batch computed again to restore state: the partials exchange `id` gives (`None`
    /// in any other batch; an empty list when the exchange has none to give).
    pub(crate) fn replayed(&self, id: usize) -> Option<Partials> {
        let replayed = self.replayed.as_ref()?;
        Some(replayed.get(&id).cloned().unwrap_or_default())
    }

    /// Whether this late batch only forwards (see [`forwarding_late`](Self::forwarding_late)).
    pub(crate) fn is_forwarding(&self) -> bool {
        self.forwarding
    }
}

impl Core {
    /// Distributed mode, after each batch: runs the late batches the exchanges found (exchange
    /// partitions taken over from a member that died, holding batches this member had already
    /// run without them): each output operation again at that time, over those partitions only,
    /// so their outputs (`part-<exchange partition>`) are written as their previous owner would
    /// have. Failures are reported like a batch's; listeners are not told (the batch completed
    /// before).
    pub(super) fn run_late_batches(&self, zero: Time) {
        let Some(distributed) = self.distributed.get() else {
            return;
        };
        for t in distributed.exchanges.late_times() {
            tracing::info!("distributed: running late batch {t}");
            let ctx = BatchContext::late_of(self, t, zero);
            let outputs = lock(&self.graph).outputs.clone();
            for op in outputs {
                let run = || (op.generate)(t, &ctx).and_then(|job| job.map_or(Ok(()), |job| job()));
                match catch_unwind(AssertUnwindSafe(run)) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => self.report_error(job_error(t, &op.name, e)),
                    Err(p) => self.report_error(panic_error(t, &op.name, p)),
                }
            }
            let left = distributed.exchanges.discard_late(t);
            if !left.is_empty() {
                tracing::warn!(
                    "distributed: late batch {t} left exchange partitions {left:?} unused (no \
                     output of the program reads them at that time)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::clock::ManualClock;

    /// An input whose commits fail for the batch times in `refused`, counting every commit.
    struct Committing {
        refused: BTreeSet<Time>,
        commits: Mutex<Vec<Time>>,
    }

    impl Input for Committing {
        fn kind(&self) -> &'static str {
            "committing"
        }
        fn save(&self, _since: Time, _upto: Time) -> Vec<String> {
            Vec::new()
        }
        fn restore(&self, _entries: &[String]) -> Result<()> {
            Ok(())
        }
        fn exchanging(&self, t: Time) -> bool {
            lock(&self.commits).push(t);
            !self.refused.contains(&t)
        }
    }

    fn distributed(refused: &[i64]) -> (Distributed, Arc<Committing>) {
        let input = Arc::new(Committing {
            refused: refused.iter().map(|&ms| Time::from_millis(ms)).collect(),
            commits: Mutex::default(),
        });
        let d = Distributed {
            exchanges: Exchanges::new(ExchangeConfig::new("127.0.0.1:1", "test")),
            clock: Arc::new(ManualClock::new(Time::from_millis(0))),
            inputs: vec![input.clone()],
            sending: Mutex::default(),
            stopping: AtomicBool::new(false),
            changelogs: BTreeMap::new(),
            snapshot_every: crate::time::Duration::seconds(10),
            stateful: Vec::new(),
        };
        (d, input)
    }

    #[test]
    fn a_batch_sent_ahead_many_batches_before_it_runs_is_not_sent_again() {
        let (d, input) = distributed(&[]);
        let t = |ms| Time::from_millis(ms);
        // Batch 100 waits while a hundred later batches are sent ahead.
        assert!(d.claim_send(0, t(100)));
        for ms in (200..=10_100).step_by(100) {
            assert!(d.claim_send(0, t(ms)));
            assert!(d.may_send(t(ms)));
        }
        d.batch_completed(t(100), false);
        // When each of them runs, it is not sent again, and its inputs commit once.
        for ms in (200..=10_100).step_by(100) {
            assert!(!d.claim_send(0, t(ms)), "batch {ms} sent twice");
            assert!(d.may_send(t(ms)));
            d.batch_completed(t(ms), false);
        }
        assert_eq!(lock(&input.commits).len(), 100);
        // A second exchange sends its own partials once; nothing completed is sent any more.
        assert!(d.claim_send(1, t(10_200)) && !d.claim_send(1, t(10_200)));
        assert!(!d.claim_send(0, t(10_100)));
    }

    #[test]
    fn a_batch_whose_commit_failed_stays_unsent_until_it_completes() {
        let (d, input) = distributed(&[300]);
        let t = |ms| Time::from_millis(ms);
        assert!(d.claim_send(0, t(300)));
        assert!(!d.may_send(t(300)));
        for ms in (400..=20_000).step_by(100) {
            d.claim_send(0, t(ms));
            d.may_send(t(ms));
        }
        // Asked again by another exchange much later: the same answer, no second commit.
        assert!(!d.may_send(t(300)));
        assert_eq!(
            lock(&input.commits)
                .iter()
                .filter(|&&c| c == t(300))
                .count(),
            1
        );
        d.batch_completed(t(300), false);
        assert!(!d.claim_send(0, t(300)));
    }

    #[test]
    fn a_send_that_failed_is_claimed_again() {
        let (d, _) = distributed(&[]);
        let t = Time::from_millis(500);
        assert!(d.claim_send(0, t));
        d.release_send(0, t);
        assert!(d.claim_send(0, t));
    }
}
