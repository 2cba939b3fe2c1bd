//! Group mode ([`KafkaConfig::group`]): the stream's consumer subscribes to its topics as a
//! member of a consumer group, whose coordinator assigns it partitions and moves them between
//! members as members join, leave or die. The consumer's context ([`SourceContext`]) serves the
//! rebalances; the batch thread applies them to the stream's partitions before planning.
//!
//! # Revocation, and why it cannot deadlock
//!
//! librdkafka runs the rebalance callback inside `poll`, on the thread that polls: here the
//! executor thread, which runs one batch at a time. In group mode that thread polls at one place
//! only, when a new batch drains what the consumer fetched, before the batch's ranges are
//! planned, because
//!
//! - a batch's ranges cover only records already fetched (each partition's `until` is the end of
//!   what the drain took), so a batch never waits on the consumer for the rest of its ranges
//!   (the waiting `Reader::fill` does outside group mode is skipped), and
//! - each completed batch commits its ranges synchronously in its completion listener, which the
//!   executor runs before it starts the next batch.
//!
//! So whenever the callback runs, every batch that planned ranges has completed and been
//! committed, and no batch waits for records: a revoked partition is let go at once. The
//! callback never waits for a batch, so there is nothing to deadlock on, and the partition's next
//! owner starts exactly where this member's last batch stopped. Records fetched and not yet
//! planned go with the partition (its next owner fetches them again from the committed offset).
//! The price is that a member serves a rebalance only when its next batch starts, so a rebalance
//! waits up to a batch interval (or a batch's processing time, if longer) for it, within
//! `max.poll.interval.ms` (librdkafka's default: 5 minutes). A batch whose output failed is not
//! committed (as outside group mode), so the partition's next owner reads its ranges again; a
//! member killed while a batch runs likewise has that batch's ranges read again by the next
//! owners: at-least-once across a kill, exactly-once across a clean hand-over whose commits
//! succeeded (a failed commit is logged and not retried: a later revocation still lets the
//! partition go, and its next owner reads that batch's ranges again).
//!
//! # Where an assigned partition starts
//!
//! At the group's committed offset for it; only when the group has none, at
//! [`KafkaConfig::starting_offsets`] (the broker's oldest or latest offset), and that start is
//! committed at once, so the group knows a position for every partition one of its members has
//! read, and a later owner never falls back to "latest" past records nobody read. The callback
//! looks the positions up and assigns the partitions in the consumer at those explicit offsets,
//! so fetching begins exactly where the first range starts. If a lookup fails (coordinator or
//! broker unreachable), the partitions stay unassigned in the consumer, with a warning, and each
//! later batch tries again before planning: a partition is never read from a guessed position.
//! Commit metadata is not used (some brokers, tansu among them, do not keep it).

use super::arena::PartitionState;
use super::config::{KafkaConfig, StartingOffsets, client_config};
use super::lag::HighWatermarks;
use super::plan::OffsetRange;
use super::stream::{KafkaSource, State};
use super::{Key, kafka_error};
use crate::data::Origin;
use crate::error::{Error, Result};
use crate::exchange::{ExchangeConfig, Handover, Logged};
use crate::lock::lock;
use crate::time::Time;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaResult, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration as StdDuration;

/// The stream's consumer.
pub(super) type KafkaConsumer = BaseConsumer<SourceContext>;

/// Creates a consumer of `config` (its context serves rebalances, which only group mode has).
pub(super) fn create_consumer(config: &KafkaConfig) -> KafkaResult<KafkaConsumer> {
    client_config(config).create_with_context(SourceContext {
        starting_offsets: config.starting_offsets,
        request_timeout: config.request_timeout.to_std(),
        rebalance: Mutex::default(),
        watermarks: HighWatermarks::default(),
        distributed: OnceLock::new(),
        handover: OnceLock::new(),
    })
}

/// Where a partition without a position starts by `starting`: the broker's oldest or latest
/// offset.
pub(super) fn starting_offset(
    consumer: &KafkaConsumer,
    starting: StartingOffsets,
    timeout: StdDuration,
    topic: &str,
    partition: i32,
) -> KafkaResult<i64> {
    let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
    Ok(match starting {
        StartingOffsets::Earliest => low,
        StartingOffsets::Latest => high,
    })
}

/// A partition the batch thread must add or drop.
enum Change {
    /// Assigned in the consumer at this offset; in distributed mode, with the range its
    /// previous owner committed last and may not have sent, which starts there.
    Started(Key, i64, Option<Logged>),
    Revoked(Key),
}

/// What the rebalance callback hands to the batch thread.
#[derive(Default)]
struct Rebalances {
    /// Assigned by the group, not yet in the consumer: where they start is not known yet.
    waiting: Vec<Key>,
    /// In the order the callbacks made them.
    changes: Vec<Change>,
}

/// The consumer's context: serves rebalances (see the module documentation) and keeps the
/// partitions' high watermarks from librdkafka's statistics (`lag.rs`).
pub(super) struct SourceContext {
    starting_offsets: StartingOffsets,
    request_timeout: StdDuration,
    rebalance: Mutex<Rebalances>,
    pub(super) watermarks: HighWatermarks,
    /// Distributed mode's setting (set when the context starts).
    pub(super) distributed: OnceLock<ExchangeConfig>,
    /// Distributed mode's hand-over topics, opened on first use.
    handover: OnceLock<Arc<Handover>>,
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        self.watermarks.update(&statistics);
    }
}

impl ConsumerContext for SourceContext {
    /// Runs inside `poll` on the batch thread, when no batch has uncommitted ranges: assigned
    /// partitions start at their positions, revoked ones are let go at once.
    fn rebalance(
        &self,
        consumer: &KafkaConsumer,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let keys: Vec<Key> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                tracing::info!("Kafka group: assigned {}", names(&keys));
                lock(&self.rebalance).waiting.extend(keys);
                // librdkafka waits for an assign call after every assignment, even an empty one
                // or one whose positions are not known yet.
                if !self.start_waiting(consumer)
                    && let Err(e) = consumer.incremental_assign(&TopicPartitionList::new())
                {
                    tracing::error!("Kafka group: completing an assignment: {e}");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let how = if consumer.assignment_lost() {
                    "lost"
                } else {
                    "revoked"
                };
                tracing::info!("Kafka group: {how} {}", names(&keys));
                self.release(consumer, keys);
            }
            other => {
                // librdkafka's rule for a failed rebalance: clear the assignment.
                tracing::error!(
                    "Kafka group: rebalance failed ({}); dropping every partition until the next assignment",
                    RDKafkaErrorCode::from(other)
                );
                let mut all = lock(&self.rebalance).waiting.clone();
                if let Ok(assigned) = consumer.assignment() {
                    all.extend(
                        assigned
                            .elements()
                            .iter()
                            .map(|e| (e.topic().to_string(), e.partition())),
                    );
                }
                self.release(consumer, all);
            }
        }
    }
}

impl SourceContext {
    /// Lets `keys` go: out of the consumer (those it has) and, through the changes, out of the
    /// stream.
    fn release(&self, consumer: &KafkaConsumer, keys: Vec<Key>) {
        let mut rebalance = lock(&self.rebalance);
        rebalance.waiting.retain(|k| !keys.contains(k));
        let assigned: Vec<Key> = consumer
            .assignment()
            .map(|a| {
                a.elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect()
            })
            .unwrap_or_default();
        let mut release = TopicPartitionList::new();
        for (topic, p) in keys.iter().filter(|k| assigned.contains(k)) {
            release.add_partition(topic, *p);
        }
        if let Err(e) = consumer.incremental_unassign(&release) {
            tracing::error!("Kafka group: letting {} go: {e}", names(&keys));
        }
        rebalance
            .changes
            .extend(keys.into_iter().map(Change::Revoked));
    }

    /// Starts the partitions waiting for their positions (on failure they wait for the next
    /// try); whether any were assigned in the consumer.
    fn start_waiting(&self, consumer: &KafkaConsumer) -> bool {
        let mut rebalance = lock(&self.rebalance);
        if rebalance.waiting.is_empty() {
            return false;
        }
        match self.start(consumer, &rebalance.waiting) {
            Ok(started) => {
                rebalance.waiting.clear();
                rebalance.changes.extend(
                    started
                        .into_iter()
                        .map(|(k, o, unsent)| Change::Started(k, o, unsent)),
                );
                true
            }
            Err(e) => {
                tracing::warn!(
                    "Kafka group: where {} start is not known ({e}); trying again at the next batch",
                    names(&rebalance.waiting)
                );
                false
            }
        }
    }

    /// Looks up where `keys` start (the group's committed offsets, else `starting_offsets`),
    /// assigns them in the consumer there, and commits the starts the group did not have. In
    /// distributed mode a partition starts at its last committed range instead, to send it
    /// again under its batch (`exchange/handover.rs`).
    fn start(&self, consumer: &KafkaConsumer, keys: &[Key]) -> Result<Vec<Started>> {
        let failed = kafka_error("starting assigned partitions");
        let handover = match keys.first() {
            Some((topic, _)) => self.handover(consumer, topic)?,
            None => None,
        };
        let mut wanted = TopicPartitionList::new();
        for (topic, p) in keys {
            wanted.add_partition(topic, *p);
            if let Some(handover) = handover {
                handover.add_to_lookup(&mut wanted, *p);
            }
        }
        let committed = consumer
            .committed_offsets(wanted, self.request_timeout)
            .map_err(failed)?;
        let mut starts = Vec::new();
        let mut assign = TopicPartitionList::new();
        let mut first = TopicPartitionList::new();
        for (topic, p) in keys {
            let (topic, p) = (topic.as_str(), *p);
            let e = committed.find_partition(topic, p).ok_or_else(|| {
                Error::kafka_failure(
                    "starting assigned partitions",
                    format!("no committed offset was returned for {topic}-{p}"),
                )
            })?;
            e.error()
                .map_err(kafka_error("starting assigned partitions"))?;
            let (start, unsent) = match e.offset() {
                Offset::Offset(o) => {
                    let unsent = handover.and_then(|h| h.last_range(&committed, p, o));
                    (unsent.map_or(o, |u| u.from), unsent)
                }
                _ => {
                    let o = starting_offset(
                        consumer,
                        self.starting_offsets,
                        self.request_timeout,
                        topic,
                        p,
                    )
                    .map_err(kafka_error("looking up a starting offset"))?;
                    first
                        .add_partition_offset(topic, p, Offset::Offset(o))
                        .map_err(kafka_error("starting assigned partitions"))?;
                    (o, None)
                }
            };
            assign
                .add_partition_offset(topic, p, Offset::Offset(start))
                .map_err(kafka_error("starting assigned partitions"))?;
            starts.push(((topic.to_string(), p), start, unsent));
        }
        consumer
            .incremental_assign(&assign)
            .map_err(kafka_error("assigning partitions"))?;
        for ((topic, p), start, unsent) in &starts {
            match unsent {
                Some(u) => tracing::info!(
                    "Kafka group: {topic}-{p} reads from offset {start}: offsets {}..{} were \
                     committed last, as batch {}, maybe without being sent; they are sent again \
                     under that batch",
                    u.from,
                    u.until,
                    u.time
                ),
                None => tracing::info!("Kafka group: {topic}-{p} reads from offset {start}"),
            }
        }
        if first.count() > 0
            && let Err(e) = consumer.commit(&first, CommitMode::Sync)
        {
            // The first completed batch commits it too.
            tracing::warn!("Kafka group: committing the starting offsets failed: {e}");
        }
        Ok(starts)
    }

    /// Distributed mode's hand-over topics (`None` outside distributed mode), opened with one
    /// partition per partition of `topic` the first time they are needed.
    pub(super) fn handover(
        &self,
        consumer: &KafkaConsumer,
        topic: &str,
    ) -> Result<Option<&Handover>> {
        let Some(config) = self.distributed.get() else {
            return Ok(None);
        };
        if let Some(handover) = self.handover.get() {
            return Ok(Some(handover));
        }
        let sources = partition_count(consumer, topic, self.request_timeout)?;
        let handover = Arc::new(Handover::open(config, sources)?);
        Ok(Some(self.handover.get_or_init(|| handover)))
    }
}

/// A partition started by [`SourceContext::start`]: where it starts, and the range it sends
/// again, if any.
type Started = (Key, i64, Option<Logged>);

/// How many partitions `topic` has (0 when it does not exist).
fn partition_count(consumer: &KafkaConsumer, topic: &str, timeout: StdDuration) -> Result<u32> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(kafka_error("reading the source topic's partition count"))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len()) as u32)
}

/// `topic-partition, ...`.
fn names(keys: &[Key]) -> String {
    keys.iter()
        .map(|(t, p)| format!("{t}-{p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl KafkaSource {
    /// In group mode on one topic, which of the topic's partitions a batch of `ranges` holds (its
    /// [`Origin`]: what an exchange labels the batch's records with, and counts to know a batch
    /// complete). The topic's partition count is read once it has partitions: a topic that grows
    /// later is an error, since exchanges count on a fixed number of source partitions.
    pub(super) fn origin(&self, t: Time, ranges: &[OffsetRange]) -> Result<Option<Arc<Origin>>> {
        let [topic] = self.config.topics.as_slice() else {
            return Ok(None);
        };
        if !self.config.group_mode {
            return Ok(None);
        }
        let of = match self.topic_partitions.get() {
            Some(&n) => n,
            None => {
                let n =
                    partition_count(&self.consumer, topic, self.config.request_timeout.to_std())?;
                if n == 0 {
                    // Not there yet: the batch is not labelled (an exchange refuses it).
                    return Ok(None);
                }
                *self.topic_partitions.get_or_init(|| n)
            }
        };
        let ids: Vec<u32> = ranges.iter().map(|r| r.partition as u32).collect();
        if let Some(&beyond) = ids.iter().find(|&&p| p >= of) {
            return Err(Error::IllegalState(format!(
                "Kafka topic {topic} grew while the job ran (partition {beyond}, {of} partitions \
                 at the start): a distributed job counts on a fixed number of source partitions"
            )));
        }
        let resent = lock(&self.state)
            .resent
            .get(&t)
            .cloned()
            .unwrap_or_default();
        Ok(Some(Arc::new(Origin { of, ids, resent })))
    }

    /// Joins the group: subscribes to the topics (when the context starts).
    pub(super) fn subscribe(&self) -> Result<()> {
        let topics: Vec<&str> = self.config.topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&topics)
            .map_err(kafka_error("subscribing to the topics"))
    }

    /// Applies what rebalances changed (partitions still waiting for their positions are tried
    /// again first): revoked partitions go with their fetched records, started ones join at
    /// their start. Whether anything changed.
    pub(super) fn rebalanced(&self, st: &mut State) -> bool {
        let context = self.consumer.context();
        context.start_waiting(&self.consumer);
        let changes = std::mem::take(&mut lock(&context.rebalance).changes);
        for change in &changes {
            match change {
                Change::Revoked(key) => {
                    st.partitions.remove(key);
                }
                Change::Started(key, start, unsent) => {
                    st.partitions.insert(
                        key.clone(),
                        PartitionState {
                            next: *start,
                            unsent: *unsent,
                            handed_over_at: unsent.map(|u| u.time),
                            ..PartitionState::default()
                        },
                    );
                }
            }
        }
        !changes.is_empty()
    }
}
