//! `kafka_stream` and `kafka_record_stream`: the source behind them (a new batch is planned,
//! logged, fetched and taken; a logged one re-read), its checkpoint entries, and the listeners
//! for backpressure and offset commits.

use super::arena::{PartitionState, Taken};
use super::columns::{KafkaRecord, RecordShape};
use super::config::KafkaConfig;
use super::group::{SourceContext, create_consumer};
use super::outage::Outage;
use super::plan::{OffsetRange, describe};
use super::range_log::{logged, write_ranges};
use super::reader::Reader;
use super::{Key, kafka_error};
use crate::closing_consumer::ClosingConsumer;
use crate::context::{Input, StreamingContext, StreamingListener};
use crate::data::Batch;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::source::input::{described, input_stream, unavailable_input};
use crate::source::rate::PidRateEstimator;
use crate::time::Time;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

pub(super) struct State {
    pub(super) partitions: BTreeMap<Key, PartitionState>,
    /// Ranges of the batches of this run and of logged batches, by time.
    pub(super) ranges: BTreeMap<Time, Vec<OffsetRange>>,
    /// Where range files go (with a checkpoint directory).
    pub(super) log: Option<PathBuf>,
    /// Whether the consumer's assignment matches `partitions`.
    pub(super) assigned: bool,
    /// Records handed to new batches so far (for `max_records`).
    pub(super) records: u64,
    /// Distributed mode: by batch time, the partitions whose range in that batch is one their
    /// previous owner committed under an earlier batch time (`exchange/handover.rs`), with it.
    pub(super) resent: BTreeMap<Time, BTreeMap<u32, Time>>,
    /// Whether (and since when) metadata requests go unanswered.
    pub(super) outage: Outage,
    /// The consumer reported a position out of the broker's range (direct mode): the next batch
    /// fails with [`Error::KafkaOffsetsOutOfRange`].
    pub(super) out_of_range: bool,
}

pub(super) struct KafkaSource {
    pub(super) config: KafkaConfig,
    pub(super) consumer: ClosingConsumer<SourceContext>,
    /// Whether records' keys are kept (a stream of records, not of values).
    pub(super) keys: bool,
    pub(super) state: Mutex<State>,
    /// The backpressure rate (records per second, all partitions), once there is one.
    pub(super) rate: Mutex<Option<f64>>,
    pub(super) input_id: OnceLock<String>,
    /// In group mode on one topic: the topic's partition count, read once (see `group.rs`).
    pub(super) topic_partitions: OnceLock<u32>,
    /// Distributed mode: batches are committed just before their records are sent to an
    /// exchange, not when completed.
    exchanged: AtomicBool,
    pub(super) core: Weak<crate::context::Core>,
}

impl KafkaSource {
    /// Re-reads logged ranges with a consumer of their own (after recovery).
    fn reread(&self, ranges: &[OffsetRange]) -> Result<Vec<Taken>> {
        let consumer = create_consumer(&self.config)
            .map_err(kafka_error("creating a consumer to re-read a batch"))?;
        let mut tpl = TopicPartitionList::new();
        let mut st = State {
            partitions: BTreeMap::new(),
            ranges: BTreeMap::new(),
            log: None,
            assigned: true,
            records: 0,
            resent: BTreeMap::new(),
            outage: Outage::default(),
            out_of_range: false,
        };
        for r in ranges.iter().filter(|r| r.until > r.from) {
            tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.from))
                .map_err(kafka_error("re-reading a batch"))?;
            st.partitions.insert(
                (r.topic.clone(), r.partition),
                PartitionState {
                    next: r.from,
                    ..PartitionState::default()
                },
            );
        }
        consumer
            .assign(&tpl)
            .map_err(kafka_error("re-reading a batch"))?;
        let reader = Reader {
            consumer: &consumer,
            config: &self.config,
            keys: self.keys,
        };
        reader.fill(&mut st, ranges)?;
        for r in ranges.iter().filter(|r| r.until <= r.from) {
            st.partitions.insert(
                (r.topic.clone(), r.partition),
                PartitionState {
                    next: r.from,
                    ..PartitionState::default()
                },
            );
        }
        Ok(reader.take(&mut st, ranges))
    }

    /// The batch at `t`: a logged or earlier batch re-read with its ranges, or a new one.
    fn batch(&self, t: Time, batch_secs: f64) -> Result<(Vec<Taken>, Vec<OffsetRange>)> {
        let mut st = lock(&self.state);
        if let Some(ranges) = st.ranges.get(&t).cloned() {
            drop(st);
            tracing::info!(
                "Kafka batch {t} re-read with its ranges {}",
                describe(&ranges)
            );
            return Ok((self.reread(&ranges)?, ranges));
        }
        if let Some((&last, _)) = st.ranges.last_key_value()
            && t < last
        {
            return Err(Error::IllegalState(format!(
                "the Kafka stream cannot re-create its batch at {t}: its ranges are no longer known"
            )));
        }
        if !self.config.group_mode {
            self.discover(&mut st)?;
            self.assign(&mut st)?;
        }
        let ranges = self.plan(&mut st, t, batch_secs);
        if st.out_of_range {
            return Err(self.reader().out_of_range(&st));
        }
        if let Some(dir) = st.log.clone() {
            write_ranges(&dir, t, &ranges)?;
        }
        if !self.config.group_mode {
            // In group mode the ranges hold only fetched records: nothing to wait for.
            self.reader().fill(&mut st, &ranges)?;
        }
        let batch = self.reader().take(&mut st, &ranges);
        self.note_resent(&mut st, t, &ranges);
        st.records += ranges
            .iter()
            .map(|r| (r.until - r.from) as u64)
            .sum::<u64>();
        st.ranges.insert(t, ranges.clone());
        Ok((batch, ranges))
    }
}

struct KafkaInput(Arc<KafkaSource>);

/// A Kafka stream's checkpoint: `next TOPIC PARTITION OFFSET` for every partition (the ranges of
/// batches are in their range files).
impl Input for KafkaInput {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    /// Distributed mode: before any of the batch's records is sent on, its ranges are logged
    /// for the partitions' next owners and committed (`distributed.rs`).
    fn exchanging(&self, t: Time) -> bool {
        if !self.0.config.group_mode {
            return true;
        }
        self.0.exchanged.store(true, Ordering::Relaxed);
        self.0.before_exchange(t)
    }

    fn not_exchanged(&self, t: Time) {
        if self.0.config.group_mode {
            self.0.give_back(t, true);
        }
    }

    fn start(&self) -> Result<()> {
        self.0.open_log()?;
        if self.0.config.group_mode {
            if let Some(config) = self.0.core.upgrade().and_then(|c| c.exchange_config()) {
                let _ = self.0.consumer.context().distributed.set(config);
            }
            self.0.subscribe()?;
        } else {
            // Spark's direct stream fixes its starting offsets when it starts
            // (`DirectKafkaInputDStream.start`): records produced between the start and the
            // first batch belong to the first batch, also from the latest offsets.
            self.0.discover(&mut lock(&self.0.state))?;
        }
        Ok(())
    }
    fn is_exhausted(&self) -> bool {
        self.0
            .config
            .max_records
            .is_some_and(|m| lock(&self.0.state).records >= m)
    }

    fn save(&self, _since: Time, _upto: Time) -> Vec<String> {
        lock(&self.0.state)
            .partitions
            .iter()
            .map(|((topic, p), s)| format!("next {topic} {p} {}", s.next))
            .collect()
    }

    fn restore(&self, entries: &[String]) -> Result<()> {
        let mut st = lock(&self.0.state);
        for e in entries {
            let parsed = e.strip_prefix("next ").and_then(|rest| {
                let mut f = rest.split(' ');
                let topic = f.next()?.to_string();
                let p: i32 = f.next()?.parse().ok()?;
                let next: i64 = f.next()?.parse().ok()?;
                Some((topic, p, next))
            });
            let (topic, p, next) = parsed.ok_or_else(|| {
                Error::corrupt_checkpoint(format!("Kafka entry {e:?} is malformed"))
            })?;
            st.partitions.entry((topic, p)).or_default().next = next;
        }
        st.assigned = false;
        Ok(())
    }

    fn forget_before(&self, t: Time) {
        let mut st = lock(&self.0.state);
        if st.log.is_none() {
            // Without range files nothing re-reads old batches; keep the newest for ordering.
            let newest = st.ranges.keys().next_back().copied();
            st.ranges.retain(|at, _| *at > t || Some(*at) == newest);
        }
        st.resent.retain(|at, _| *at > t);
    }

    fn checkpoint_written(&self, t: Time) {
        let mut st = lock(&self.0.state);
        let newest = st.ranges.keys().next_back().copied();
        st.ranges.retain(|at, _| *at > t || Some(*at) == newest);
        if let Some(dir) = &st.log
            && let Ok(files) = logged(dir)
        {
            for (at, path) in files {
                if at <= t {
                    let _ = fs::remove_file(path);
                }
            }
        }
    }
}

/// Estimates the rate the batches can process after each batch (Spark's `RateController` with
/// its PID estimator).
struct Backpressure {
    source: Arc<KafkaSource>,
    stream_id: usize,
    pid: Mutex<PidRateEstimator>,
}

impl StreamingListener for Backpressure {
    fn on_batch_completed(&self, info: &crate::BatchInfo) {
        if let Some(rate) = lock(&self.pid).compute_after(info, self.stream_id) {
            tracing::debug!(rate, "Kafka backpressure rate update");
            *lock(&self.source.rate) = Some(rate);
        }
    }
}

/// Commits each completed batch's ranges to the consumer group (Spark's `commitAsync`; in group
/// mode synchronously, before the next batch starts, so a partition is let go only with its
/// ranges committed).
struct Committer(Arc<KafkaSource>);

impl StreamingListener for Committer {
    fn on_batch_completed(&self, info: &crate::BatchInfo) {
        let failed = info
            .output_operation_infos
            .values()
            .any(|o| o.failure_reason.is_some());
        // In distributed mode batches are committed before their records are exchanged (and later
        // batches may have been by now).
        if failed || self.0.exchanged.load(Ordering::Relaxed) {
            return;
        }
        let mode = if self.0.config.group_mode {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        if let Err(e) = self.0.commit(info.batch_time, mode) {
            tracing::warn!(
                "Kafka: committing the offsets of batch {} failed: {e}",
                info.batch_time
            );
        }
    }
}

impl KafkaSource {
    /// Commits the ranges of batch `t` to the consumer group.
    pub(super) fn commit(&self, t: Time, mode: CommitMode) -> KafkaResult<()> {
        let ranges = lock(&self.state).ranges.get(&t).cloned();
        let Some(ranges) = ranges.filter(|r| !r.is_empty()) else {
            return Ok(());
        };
        let mut tpl = TopicPartitionList::new();
        for r in &ranges {
            tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.until))?;
        }
        self.consumer.commit(&tpl, mode)
    }
}

impl StreamingContext {
    /// Spark's direct Kafka stream: each batch reads a defined offset range of every partition of
    /// `config.topics`, one batch partition per Kafka partition, record values as strings (a
    /// null value as an empty string); see the module documentation for how ranges are chosen
    /// and recovered. The stream reports each batch's ranges (metadata `"offsets"`).
    ///
    /// ```no_run
    /// use dstreams::prelude::*;
    /// use dstreams::source::{KafkaConfig, StartingOffsets};
    /// let ssc = StreamingContext::new(Seconds(2));
    /// let config = KafkaConfig::new("127.0.0.1:9092", ["lines"])
    ///     .starting_offsets(StartingOffsets::Earliest)
    ///     .max_rate_per_partition(100_000);
    /// let counts = ssc.kafka_stream(config).split(Separators::Space).count_by_value();
    /// counts.print();
    /// ssc.start()?;
    /// ssc.await_termination()?;
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    #[track_caller]
    pub fn kafka_stream(&self, config: KafkaConfig) -> DStream<String> {
        self.kafka_stream_of::<String>(config)
    }

    /// [`kafka_stream`](Self::kafka_stream) with each record's key, timestamp and headers
    /// ([`KafkaRecord`]): Spark's `ConsumerRecord`. The partition and offset of a record are its
    /// batch partition and its place in the batch's range (metadata `"offsets"`).
    #[track_caller]
    pub fn kafka_record_stream(&self, config: KafkaConfig) -> DStream<KafkaRecord> {
        self.kafka_stream_of::<KafkaRecord>(config)
    }

    /// A Kafka stream; a configuration without topics, or one librdkafka refuses, is reported
    /// by `start`.
    #[track_caller]
    fn kafka_stream_of<T: RecordShape>(&self, config: KafkaConfig) -> DStream<T> {
        const NAME: &str = "DirectKafkaInputDStream";
        if config.topics.is_empty() {
            self.refuse(
                "kafka_stream",
                Error::InvalidArgument("kafka_stream needs at least one topic".into()),
            );
            return unavailable_input(self, NAME);
        }
        if config.group_mode {
            let refused = if !config.assignment.is_empty() {
                Some("subscribes to topics: it cannot read an assigned list of partitions")
            } else if config
                .client
                .iter()
                .any(|(k, _)| k == "partition.assignment.strategy")
            {
                Some(
                    "uses the cooperative-sticky assignor: partition.assignment.strategy cannot be set",
                )
            } else {
                None
            };
            if let Some(why) = refused {
                self.refuse(
                    "kafka_stream",
                    Error::InvalidArgument(format!("a Kafka stream in group mode {why}")),
                );
                return unavailable_input(self, NAME);
            }
        }
        let consumer = match create_consumer(&config) {
            Ok(c) => c,
            Err(e) => {
                self.refuse(
                    "kafka_stream",
                    kafka_error("creating the Kafka consumer")(e),
                );
                return unavailable_input(self, NAME);
            }
        };
        let commit = config.commit_offsets || config.group_mode;
        let backpressure = config.backpressure;
        let config_rate = config
            .initial_rate
            .filter(|_| config.backpressure)
            .map(|r| r as f64);
        let consumer = ClosingConsumer::new(
            consumer,
            format!("Kafka topics {}", config.topics.join(", ")),
        );
        let source = Arc::new(KafkaSource {
            config,
            consumer,
            keys: T::KEYS,
            state: Mutex::new(State {
                partitions: BTreeMap::new(),
                ranges: BTreeMap::new(),
                log: None,
                assigned: false,
                records: 0,
                resent: BTreeMap::new(),
                outage: Outage::default(),
                out_of_range: false,
            }),
            input_id: OnceLock::new(),
            topic_partitions: OnceLock::new(),
            exchanged: AtomicBool::new(false),
            rate: Mutex::new(config_rate),
            core: Arc::downgrade(&self.core),
        });
        let reader = source.clone();
        let input = Arc::new(KafkaInput(source.clone()));
        let stream = input_stream(self, NAME, input, move |t, bctx| {
            let secs = bctx.batch_interval().as_millis() as f64 / 1000.0;
            let (records, ranges) = reader.batch(t, secs)?;
            let policy = reader.config.utf8;
            let parts = records
                .into_iter()
                .zip(&ranges)
                .map(|(recs, r)| T::column(recs, r, policy))
                .collect::<Result<Vec<_>>>()?;
            let mut batch = Batch::from_partitions(parts);
            if let Some(origin) = reader.origin(t, &ranges)? {
                batch = batch.with_origin(origin);
            }
            let mut metadata = described(format!("Kafka {}", reader.config.topics.join(", ")));
            metadata.insert("offsets".to_string(), describe(&ranges));
            if let Some((total, each)) = reader.consumer.context().watermarks.lag(&ranges) {
                metadata.insert("lag".to_string(), total.to_string());
                metadata.insert("lag.partitions".to_string(), each);
            }
            // As a text file of the values would have them: one line each.
            let bytes: usize = batch.iter().map(T::line_bytes).sum();
            metadata.insert("bytes".to_string(), bytes.to_string());
            Ok((batch, metadata))
        });
        if let Some(id) = lock(&self.core.checkpointing).input_id_of(stream.node.id) {
            let _ = source.input_id.set(id);
        }
        if backpressure {
            match PidRateEstimator::with_defaults(self.batch_interval().as_millis()) {
                Ok(pid) => self.add_streaming_listener(Arc::new(Backpressure {
                    source: source.clone(),
                    stream_id: stream.node.id,
                    pid: Mutex::new(pid),
                })),
                Err(e) => self.refuse("kafka_stream", e),
            }
        }
        if commit {
            self.add_streaming_listener(Arc::new(Committer(source)));
        }
        stream
    }
}
