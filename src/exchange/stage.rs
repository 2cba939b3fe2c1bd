//! One exchange on Kafka: its internal topic (created with `P` partitions, or checked to have
//! them), an idempotent producer that sends each batch's partials, and a consumer in the
//! exchange's own group that reads the exchange partitions this process owns until a batch is
//! complete on all of them.
//!
//! The exchange partitions have their own consumer group (named like the topic), not the source's:
//! the source consumer is polled only between batches (so that a source partition moves only
//! between two batches, `source/kafka/group.rs`), while the exchange consumer is polled while a
//! batch waits for its partials, so it must serve its rebalances then. Separate groups also let
//! a process own exchange partitions without owning a source partition, and the reverse.

use super::config::ExchangeConfig;
use super::pending::{Pending, Received};
use super::records::{key, parse_key};
use crate::closing_consumer::ClosingConsumer;
use crate::error::{Error, Result};
use crate::kafka_admin;
use crate::lock::lock;
use crate::sink::KafkaWriter;
use crate::time::Time;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

/// The largest exchange record (the topic's `max.message.bytes` and the producer's
/// `message.max.bytes`): one source partition's partials for one exchange partition.
const MAX_RECORD_BYTES: &str = "67108864";
/// How long admin requests and the first group assignment may take.
const SETUP_TIMEOUT: StdDuration = StdDuration::from_secs(60);
/// How long one poll of the exchange consumer blocks while a batch waits.
const POLL: StdDuration = StdDuration::from_millis(5);

/// The program's exchanges, opened on first use.
pub(crate) struct Exchanges {
    config: ExchangeConfig,
    stages: Mutex<BTreeMap<usize, Arc<Stage>>>,
}

impl Exchanges {
    pub(crate) fn new(config: ExchangeConfig) -> Self {
        Exchanges {
            config,
            stages: Mutex::default(),
        }
    }

    /// The late batches of every exchange (see [`Stage::receive`]), oldest first.
    pub(crate) fn late_times(&self) -> BTreeSet<Time> {
        lock(&self.stages)
            .values()
            .flat_map(|s| s.late_times())
            .collect()
    }

    /// Drops what is left of late batch `t` after it ran (partials no output asked for); the
    /// exchange partitions left, if any.
    pub(crate) fn discard_late(&self, t: Time) -> Vec<u32> {
        lock(&self.stages)
            .values()
            .flat_map(|s| s.take_late(t))
            .map(|(p, _)| p)
            .collect()
    }

    /// Opens exchanges `0..n` at once, each joining its group on a thread of its own (a join
    /// takes the group's rebalance rounds, seconds each: one after the other, a program with
    /// several exchanges started a minute late).
    pub(crate) fn open_all(&self, n: usize) -> Result<()> {
        let opened: Vec<Result<Stage>> = std::thread::scope(|scope| {
            let joins: Vec<_> = (0..n)
                .map(|id| scope.spawn(move || Stage::open(&self.config, id)))
                .collect();
            joins
                .into_iter()
                .map(|join| {
                    join.join().unwrap_or_else(|_| {
                        Err(Error::Internal("opening an exchange panicked".into()))
                    })
                })
                .collect()
        });
        let mut stages = lock(&self.stages);
        for (id, stage) in opened.into_iter().enumerate() {
            stages.insert(id, Arc::new(stage?));
        }
        Ok(())
    }

    /// Exchange `id`: its topic and consumer, opened (and its group joined) on first use.
    pub(crate) fn stage(&self, id: usize) -> Result<Arc<Stage>> {
        let mut stages = lock(&self.stages);
        if let Some(s) = stages.get(&id) {
            return Ok(s.clone());
        }
        let stage = Arc::new(Stage::open(&self.config, id)?);
        stages.insert(id, stage.clone());
        Ok(stage)
    }
}

/// Notes that the group assigned this member partitions (or none) at least once.
struct StageContext {
    joined: AtomicBool,
}

impl ClientContext for StageContext {}

impl ConsumerContext for StageContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!("exchange: assigned partitions {:?}", partitions_of(tpl));
                self.joined.store(true, Ordering::Release);
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!("exchange: revoked partitions {:?}", partitions_of(tpl))
            }
            Rebalance::Error(e) => tracing::error!("exchange: rebalance failed: {e}"),
        }
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

/// One exchange (see the module documentation).
pub(crate) struct Stage {
    topic: String,
    partitions: u32,
    wait: StdDuration,
    writer: KafkaWriter,
    consumer: ClosingConsumer<StageContext>,
    /// The client settings, for reading a partition again ([`replay`](Self::replay)).
    config_client: rdkafka::ClientConfig,
    /// By exchange partition: what was read and not yet taken.
    pending: Mutex<BTreeMap<u32, Pending>>,
    /// Late batches (see [`Stage::receive`]): by batch time, the partials of the exchange
    /// partitions this member took over unfinished, until the batch runs again for them.
    late: Mutex<BTreeMap<Time, Vec<(u32, Vec<Vec<u8>>)>>>,
    /// Earlier exchanges' late batches whose share this exchange has forwarded, with the
    /// partitions forwarded (until they run).
    forwarded: Mutex<BTreeMap<Time, Vec<u32>>>,
    /// `(partition, offset)` positions read again after an offset gap, each at most once (see
    /// [`move_back`](Self::move_back)).
    moved_back: Mutex<BTreeSet<(u32, i64)>>,
    /// Where the partitions' last taken batch ends, and that batch, committed once that
    /// batch's outputs completed (at the next `receive`): a member that dies between taking a
    /// batch and writing its outputs leaves the batch to the partitions' next owner.
    taken: Mutex<Vec<(u32, i64, Option<Time>)>>,
    /// By owned exchange partition: when the group assigned it to this member, as a count of
    /// assignments (a partition lost and assigned again gets a new one).
    assigned: Mutex<BTreeMap<u32, u64>>,
    /// Assignments so far (see `assigned`).
    assignments: std::sync::atomic::AtomicU64,
    /// The companion topic `<topic>-taken`: the offset committed for its partition `p` is the
    /// latest batch taken on exchange partition `p` (in milliseconds), committed with `p`'s
    /// position so that a next owner reading from that position knows which of the batches
    /// whose records lie after it were taken already (records of a later batch can come before
    /// the last records of an earlier one). No record is written to it.
    taken_topic: String,
}

/// For every owned partition, the first record not taken yet and the latest batch taken.
fn commit_positions(pending: &BTreeMap<u32, Pending>) -> Vec<(u32, i64, Option<Time>)> {
    pending
        .iter()
        .filter_map(|(&p, buffer)| {
            buffer
                .commit_offset()
                .map(|o| (p, o, buffer.taken_through()))
        })
        .collect()
}

/// Partials by exchange partition: the record values in source partition order.
pub(crate) type Partials = Vec<(u32, Vec<Vec<u8>>)>;

impl Stage {
    /// Creates (or checks) exchange `id`'s topic, and joins its group.
    fn open(config: &ExchangeConfig, id: usize) -> Result<Stage> {
        let topic = format!("{}-{id}-exchange", config.app_id);
        let client = config.client_config();
        let p = config.partitions;
        kafka_admin::create_topic(
            &client,
            &topic,
            p as i32,
            &[("max.message.bytes", MAX_RECORD_BYTES)],
            SETUP_TIMEOUT,
        )?;
        let stored =
            kafka_admin::partition_count(&client, &topic, SETUP_TIMEOUT)?.ok_or_else(|| {
                Error::kafka_failure(
                    format!("creating exchange topic {topic}"),
                    "the topic does not exist after it was created",
                )
            })?;
        if stored as u32 != p {
            return Err(Error::ExchangePartitionsChanged {
                topic,
                stored: stored as u32,
                configured: p,
            });
        }
        let taken_topic = format!("{topic}-taken");
        kafka_admin::create_topic(&client, &taken_topic, p as i32, &[], SETUP_TIMEOUT)?;
        let mut producer = client.clone();
        producer
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .set("message.max.bytes", MAX_RECORD_BYTES);
        let writer = KafkaWriter::new(&producer, &topic)?;
        let mut reader = client.clone();
        reader
            .set("group.id", &topic)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("fetch.wait.max.ms", "5")
            .set("max.partition.fetch.bytes", MAX_RECORD_BYTES)
            .set("fetch.max.bytes", MAX_RECORD_BYTES);
        let consumer: BaseConsumer<StageContext> = reader
            .create_with_context(StageContext {
                joined: AtomicBool::new(false),
            })
            .map_err(|e| Error::kafka(format!("creating a consumer of {topic}"), e))?;
        consumer
            .subscribe(&[&topic])
            .map_err(|e| Error::kafka(format!("subscribing to {topic}"), e))?;
        let consumer = ClosingConsumer::new(consumer, format!("exchange topic {topic}"));
        let stage = Stage {
            topic,
            partitions: p,
            wait: config.wait.to_std(),
            writer,
            consumer,
            config_client: client,
            pending: Mutex::default(),
            late: Mutex::default(),
            forwarded: Mutex::default(),
            moved_back: Mutex::default(),
            taken: Mutex::default(),
            assigned: Mutex::default(),
            assignments: Default::default(),
            taken_topic,
        };
        stage.join()?;
        Ok(stage)
    }

    /// Waits for the group's first assignment, so that every exchange partition has an owner
    /// before this member sends anything (records sent before the partition had an owner would be
    /// read by a first owner already past their batch).
    fn join(&self) -> Result<()> {
        let deadline = Instant::now() + SETUP_TIMEOUT;
        let mut pending = lock(&self.pending);
        while !self.consumer.context().joined.load(Ordering::Acquire) {
            if Instant::now() > deadline {
                return Err(Error::kafka_failure(
                    format!("joining the consumer group of {}", self.topic),
                    format!("no assignment within {} s", SETUP_TIMEOUT.as_secs()),
                ));
            }
            self.read(&mut pending)?;
        }
        tracing::info!("exchange {}: joined its group", self.topic);
        Ok(())
    }

    /// After joining: the earliest batch time of a record waiting in the partitions this member
    /// owns, read up to their ends (see `Core::first_distributed_batch`).
    pub(crate) fn earliest_pending(&self) -> Result<Option<Time>> {
        let deadline = Instant::now() + SETUP_TIMEOUT;
        let mut pending = lock(&self.pending);
        loop {
            self.read(&mut pending)?;
            let mut caught_up = true;
            for (&p, buffer) in pending.iter() {
                let (low, high) = self
                    .consumer
                    .fetch_watermarks(&self.topic, p as i32, SETUP_TIMEOUT)
                    .map_err(|e| Error::kafka(format!("the end of {}-{p}", self.topic), e))?;
                let position = match self.consumer.position() {
                    Ok(tpl) => tpl
                        .find_partition(&self.topic, p as i32)
                        .and_then(|e| e.offset().to_raw()),
                    Err(_) => None,
                };
                let read = buffer
                    .next_offset()
                    .or(position.filter(|&o| o >= 0))
                    .unwrap_or(low);
                caught_up &= read >= high;
            }
            if caught_up || Instant::now() > deadline {
                return Ok(pending.values().filter_map(Pending::earliest).min());
            }
        }
    }

    /// The exchange partitions `P`.
    pub(crate) fn partitions(&self) -> u32 {
        self.partitions
    }

    /// Sends batch `t`'s partials: for each source partition (of `sources`), one record per
    /// exchange partition (`values[p]`), and waits until every one is acknowledged.
    pub(crate) fn send(&self, t: Time, sources: u32, parts: &[(u32, Vec<Vec<u8>>)]) -> Result<()> {
        let records = self.writer.records();
        for (source, values) in parts {
            let key = key(t, *source, sources);
            for (p, value) in values.iter().enumerate() {
                records.send(Some(p as i32), Some(&key), value)?;
            }
        }
        let delivered = records.wait()?;
        tracing::info!(
            "exchange {}: batch {t} sent {} records, {} bytes",
            self.topic,
            delivered.records,
            delivered.bytes
        );
        Ok(())
    }

    /// Batch `t`'s partials of every exchange partition this member owns, once the batch is
    /// complete on all of them (see `pending.rs`): by exchange partition, the record values in
    /// source partition order. Between polls, `pump` gets the chance to send later batches'
    /// partials (so that a member whose batch waits still feeds the others). Fails after the
    /// configured wait, naming the source partitions that did not reach `t`.
    ///
    /// A partition taken over from a member that died may hold records of batches before `t`
    /// that its previous owner never finished and this member ran without it: those batches'
    /// partials are kept as late batches ([`late_times`](Self::late_times)), which the scheduler
    /// runs again, for those partitions only, after batch `t`.
    pub(crate) fn receive(
        &self,
        t: Time,
        sources: u32,
        pump: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Partials> {
        self.commit_taken();
        let deadline = Instant::now() + self.wait;
        loop {
            let mut pending = lock(&self.pending);
            self.read(&mut pending)?;
            if pending.values().all(|p| p.is_complete(t, sources)) {
                let mut late = lock(&self.late);
                for (&p, buffer) in pending.iter_mut() {
                    for old in buffer.older_than(t) {
                        tracing::info!(
                            "exchange {}: partition {p} holds batch {old}, which its previous owner \
                             did not finish: it runs again here for that partition",
                            self.topic
                        );
                        late.entry(old).or_default().push((p, buffer.take(old)));
                    }
                }
                drop(late);
                let taken: Partials = pending
                    .iter_mut()
                    .map(|(&p, buffer)| (p, buffer.take(t)))
                    .collect();
                *lock(&self.taken) = commit_positions(&pending);
                return Ok(taken);
            }
            if Instant::now() > deadline {
                let waiting: Vec<String> = pending
                    .iter()
                    .filter(|(_, b)| !b.is_complete(t, sources))
                    .map(|(p, b)| format!("partition {p} waits for {:?}", b.missing(t, sources)))
                    .collect();
                return Err(Error::IllegalState(format!(
                    "exchange {}: batch {t} is not complete after {} s: {} (source partitions \
                     without an owner, or an owner that stopped sending)",
                    self.topic,
                    self.wait.as_secs(),
                    waiting.join("; ")
                )));
            }
            drop(pending);
            pump()?;
        }
    }

    /// The times of the late batches waiting to run (see [`receive`](Self::receive)).
    pub(crate) fn late_times(&self) -> Vec<Time> {
        lock(&self.late).keys().copied().collect()
    }

    /// Takes late batch `t`'s partials (none if it has none here).
    pub(crate) fn take_late(&self, t: Time) -> Partials {
        lock(&self.forwarded).remove(&t);
        lock(&self.late).remove(&t).unwrap_or_default()
    }

    /// Late batch `t`'s partials, left for the late batch to take.
    pub(crate) fn peek_late(&self, t: Time) -> Partials {
        lock(&self.late).get(&t).cloned().unwrap_or_default()
    }

    /// Whether this exchange is to forward an earlier exchange's late batch `t` of the earlier
    /// exchange's partitions `from` now: the first time it asks with those partitions (another
    /// partition taken over later can add to a late batch; see `Exchange::forward_late`).
    pub(crate) fn forwards(&self, t: Time, from: &[u32]) -> bool {
        let mut forwarded = lock(&self.forwarded);
        if forwarded.get(&t).is_some_and(|f| f == from) {
            return false;
        }
        forwarded.insert(t, from.to_vec());
        true
    }

    /// Reads what the consumer has (serving rebalances), and keeps the buffers of exactly the
    /// partitions the group assigns this member.
    fn read(&self, pending: &mut BTreeMap<u32, Pending>) -> Result<()> {
        let mut timeout = POLL;
        while let Some(message) = self.consumer.poll(timeout) {
            timeout = StdDuration::ZERO;
            let m = message.map_err(|e| Error::kafka(format!("reading {}", self.topic), e))?;
            let (time, source, _) = parse_key(m.key().unwrap_or_default())?;
            let p = m.partition() as u32;
            let buffer = self.buffer(pending, p);
            if let Some(next) = buffer.next_offset() {
                if m.offset() < next {
                    continue; // read already, before moving back
                }
                if m.offset() > next && lock(&self.moved_back).insert((p, next)) {
                    self.move_back(p, next, m.offset());
                    continue;
                }
            }
            buffer.add(Received {
                time,
                source,
                offset: m.offset(),
                payload: m.payload().unwrap_or_default().to_vec(),
            });
        }
        let owned: BTreeSet<u32> = self
            .consumer
            .assignment()
            .map_err(|e| Error::kafka(format!("the assignment of {}", self.topic), e))?
            .elements()
            .iter()
            .map(|e| e.partition() as u32)
            .collect();
        pending.retain(|p, _| owned.contains(p));
        let mut assigned = lock(&self.assigned);
        assigned.retain(|p, _| owned.contains(p));
        for p in owned {
            self.buffer(pending, p);
            assigned
                .entry(p)
                .or_insert_with(|| self.assignments.fetch_add(1, Ordering::Relaxed));
        }
        Ok(())
    }

    /// When exchange partition `p` was assigned to this member (`None` if it is not owned): a
    /// stateful operator that holds `p`'s state from another assignment holds it stale (the
    /// partition's other owners moved it on meanwhile).
    pub(crate) fn assignment(&self, p: u32) -> Option<u64> {
        lock(&self.assigned).get(&p).copied()
    }

    /// Where partition `p`'s records of the batches after the last one taken start: what a
    /// snapshot of state covering that batch records, so that a next owner reads them again.
    pub(crate) fn resume_offset(&self, p: u32) -> Option<i64> {
        lock(&self.pending).get(&p).and_then(Pending::commit_offset)
    }

    /// Partition `p`'s records of the batches after `after` and before `before`, read again
    /// from offset `from` (`None`: the partition's first record) up to what this member has
    /// read: by batch time, the record values in source partition order, a `(batch, source)`
    /// read twice applied once (as `pending.rs` does). For a stateful operator restoring `p`
    /// from a snapshot covering `after`.
    pub(crate) fn replay(
        &self,
        p: u32,
        from: Option<i64>,
        after: Option<Time>,
        before: Time,
    ) -> Result<BTreeMap<Time, Vec<Vec<u8>>>> {
        let until = lock(&self.pending).get(&p).and_then(Pending::next_offset);
        let Some(until) = until else {
            return Ok(BTreeMap::new());
        };
        let records = kafka_admin::read_partition(
            &self.config_client,
            &self.topic,
            p as i32,
            from,
            Some(until),
            SETUP_TIMEOUT,
        )?;
        let mut by_time: BTreeMap<Time, BTreeMap<u32, Vec<u8>>> = BTreeMap::new();
        for r in records {
            let (time, source, _) = parse_key(&r.key)?;
            if time < before && after.is_none_or(|a| time > a) {
                by_time
                    .entry(time)
                    .or_default()
                    .entry(source)
                    .or_insert(r.value);
            }
        }
        Ok(by_time
            .into_iter()
            .map(|(t, by_source)| (t, by_source.into_values().collect()))
            .collect())
    }

    /// The buffer of owned partition `p`; a new one starts after the batches its previous
    /// owner took (see `taken_topic`).
    fn buffer<'a>(&self, pending: &'a mut BTreeMap<u32, Pending>, p: u32) -> &'a mut Pending {
        match pending.entry(p) {
            Entry::Occupied(buffer) => buffer.into_mut(),
            Entry::Vacant(slot) => {
                let mut wanted = TopicPartitionList::new();
                wanted.add_partition(&self.taken_topic, p as i32);
                let through = match self.consumer.committed_offsets(wanted, SETUP_TIMEOUT) {
                    Ok(committed) => committed
                        .find_partition(&self.taken_topic, p as i32)
                        .map(|e| e.offset()),
                    Err(e) => {
                        // Without it, batches taken before whose records lie after the
                        // position would run again as late batches with those records only.
                        tracing::warn!(
                            "exchange {}: partition {p}'s last taken batch is not known ({e})",
                            self.topic
                        );
                        None
                    }
                };
                slot.insert(match through {
                    Some(Offset::Offset(ms)) => Pending::after_handover(Time::from_millis(ms)),
                    _ => Pending::default(),
                })
            }
        }
    }

    /// An exchange partition gave offset `read` where `next` was due. Its offsets have no gaps
    /// (records written by idempotent producers, no transactions, no compaction), so a record
    /// was passed over: a broker can make a later append visible before an earlier one that ran
    /// at the same time (tansu does, when two members send to one partition at once). Reading
    /// again from `next` finds it; each position is read again at most once
    /// ([`moved_back`](Self::moved_back)), so a broker that does leave gaps costs one fetch each.
    fn move_back(&self, partition: u32, next: i64, read: i64) {
        tracing::warn!(
            "exchange {}: partition {partition} gave offset {read} where {next} was due; reading \
             again from {next}",
            self.topic
        );
        if let Err(e) = self.consumer.seek(
            &self.topic,
            partition as i32,
            Offset::Offset(next),
            SETUP_TIMEOUT,
        ) {
            tracing::warn!(
                "exchange {}: moving back in partition {partition} failed: {e}",
                self.topic
            );
        }
    }

    /// Commits where the batches taken so far end (see `taken`). Called when the next batch
    /// receives: by then the outputs of the batch that took them completed.
    fn commit_taken(&self) {
        let taken = std::mem::take(&mut *lock(&self.taken));
        let mut tpl = TopicPartitionList::new();
        for (p, offset, through) in taken {
            let mut add = |topic: &str, offset: i64| {
                tpl.add_partition_offset(topic, p as i32, Offset::Offset(offset))
                    .is_ok()
            };
            if !add(&self.topic, offset)
                || through.is_some_and(|t| !add(&self.taken_topic, t.as_millis()))
            {
                return;
            }
        }
        if tpl.count() > 0
            && let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync)
        {
            tracing::warn!("exchange {}: commit failed: {e}", self.topic);
        }
    }
}
