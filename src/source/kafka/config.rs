//! How a Kafka stream connects and reads: [`KafkaConfig`] and the librdkafka settings made of it.

use super::lag::STATISTICS_INTERVAL_MS;
use crate::source::file_stream::Utf8Policy;
use crate::time::Duration;
use rdkafka::config::ClientConfig;

/// Where a partition without a position starts reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartingOffsets {
    /// At the oldest record the broker keeps.
    Earliest,
    /// At the end: only records produced from now on (Kafka's default).
    #[default]
    Latest,
}

/// How a Kafka stream connects and reads.
///
/// ```
/// use dstreams::source::{KafkaConfig, StartingOffsets};
/// let config = KafkaConfig::new("127.0.0.1:9092", ["lines"])
///     .starting_offsets(StartingOffsets::Earliest)
///     .max_rate_per_partition(10_000);
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The topics to read (all their partitions, found again every batch), unless
    /// `assignment` names the partitions.
    pub topics: Vec<String>,
    /// Spark's `ConsumerStrategies.Assign`: exactly these partitions (topic, partition), each
    /// from the given offset or, with `None`, from `starting_offsets`. Empty: every partition of
    /// `topics` (Spark's `Subscribe`).
    pub assignment: Vec<(String, i32, Option<i64>)>,
    /// The consumer group (`group.id`; offsets are committed there with `commit_offsets`).
    pub group_id: String,
    /// Group mode ([`group`](Self::group)): subscribe to `topics` as a member of `group_id`,
    /// reading the partitions the group assigns this member, instead of every partition.
    pub group_mode: bool,
    /// Where partitions without a position start.
    pub starting_offsets: StartingOffsets,
    /// Records per second per partition at most (Spark's `maxRatePerPartition`); `None`:
    /// everything available.
    pub max_rate_per_partition: Option<u64>,
    /// Commit each batch's ranges to the group once its outputs completed (always, and
    /// synchronously, in group mode).
    pub commit_offsets: bool,
    /// Adapt the records per batch to what the batches can process (Spark's
    /// `spark.streaming.backpressure.enabled` with its PID estimator), never above
    /// `max_rate_per_partition`; the rate is shared among partitions by their lag.
    pub backpressure: bool,
    /// Records per second (all partitions) before backpressure has an estimate (Spark's
    /// `spark.streaming.backpressure.initialRate`).
    pub initial_rate: Option<u64>,
    /// How long a batch waits for records of its ranges that were not fetched yet.
    pub fetch_timeout: Duration,
    /// How long a metadata or offsets request may take before the batch goes on without it.
    pub request_timeout: Duration,
    /// How long the brokers may go without answering a metadata request before a batch fails
    /// with [`Error::Kafka`](crate::Error::Kafka) saying so (until then each batch takes what
    /// was already fetched, with a warning at most every 10 s).
    pub unreachable_timeout: Duration,
    /// What to do with record values that are not UTF-8.
    pub utf8: Utf8Policy,
    /// A finite read: the stream ends after this many records in all (the context stops by
    /// itself with `stop_when_exhausted`), for replaying a topic and for benchmarks. `None`:
    /// endless, as Spark's.
    pub max_records: Option<u64>,
    /// More librdkafka settings (`key`, `value`), applied last.
    pub client: Vec<(String, String)>,
}

impl KafkaConfig {
    /// Reads `topics` from `brokers` with the defaults: group `dstreams`, latest offsets, no rate
    /// limit, no commits, 60 s fetch timeout, 5 s request timeout, brokers unreachable for 60 s
    /// fail the batch, invalid UTF-8 fails the batch.
    pub fn new(
        brokers: impl Into<String>,
        topics: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            assignment: Vec::new(),
            group_id: "dstreams".to_string(),
            group_mode: false,
            starting_offsets: StartingOffsets::Latest,
            max_rate_per_partition: None,
            commit_offsets: false,
            backpressure: false,
            initial_rate: None,
            fetch_timeout: Duration::seconds(60),
            request_timeout: Duration::seconds(5),
            unreachable_timeout: Duration::seconds(60),
            utf8: Utf8Policy::Fail,
            max_records: None,
            client: Vec::new(),
        }
    }
    /// Reads exactly these partitions (Spark's `Assign`): `(topic, partition, from offset)`, `None`
    /// for `starting_offsets`; their topics are read only through them.
    ///
    /// ```
    /// use dstreams::source::KafkaConfig;
    /// let config = KafkaConfig::assigned("127.0.0.1:9092", [("lines", 0, Some(1_000)), ("lines", 2, None)]);
    /// assert_eq!(config.topics, ["lines"]);
    /// ```
    pub fn assigned<'a>(
        brokers: impl Into<String>,
        partitions: impl IntoIterator<Item = (&'a str, i32, Option<i64>)>,
    ) -> Self {
        let assignment: Vec<(String, i32, Option<i64>)> = partitions
            .into_iter()
            .map(|(t, p, o)| (t.to_string(), p, o))
            .collect();
        let mut topics: Vec<String> = assignment.iter().map(|(t, _, _)| t.clone()).collect();
        topics.dedup();
        let mut config = KafkaConfig::new(brokers, topics);
        config.assignment = assignment;
        config
    }
    /// Sets [`starting_offsets`](Self::starting_offsets).
    pub fn starting_offsets(mut self, s: StartingOffsets) -> Self {
        self.starting_offsets = s;
        self
    }
    /// Sets [`max_rate_per_partition`](Self::max_rate_per_partition).
    pub fn max_rate_per_partition(mut self, records_per_second: u64) -> Self {
        self.max_rate_per_partition = Some(records_per_second);
        self
    }
    /// Sets [`group_id`](Self::group_id).
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.group_id = group.into();
        self
    }
    /// Group mode: the stream subscribes to its topics as a member of the consumer group
    /// `app_id` (`group.id`), and the group assigns it partitions (the
    /// `cooperative-sticky` assignor: a rebalance moves only the partitions that change owner).
    /// Every process of an application that reads with the same `app_id` gets a share of the
    /// partitions, and a member that leaves or dies has its partitions taken over by the others.
    ///
    /// A partition the group assigns starts at the group's committed offset for it, or, when the
    /// group has none, at [`starting_offsets`](Self::starting_offsets) (and that start is
    /// committed at once, so a later owner continues from it). Each completed batch's ranges are
    /// committed synchronously (commits are always on in group mode), and a partition the group
    /// takes away is let go only once every batch that read it completed and was committed: a
    /// clean hand-over reads every record once. A member killed while a batch runs has that
    /// batch's ranges read again by the partitions' next owner (at-least-once across a kill).
    /// The group's committed offsets are the positions: group mode refuses a checkpoint
    /// directory, and combining it with an [`assigned`](Self::assigned) list or another
    /// `partition.assignment.strategy` is refused too. ARCHITECTURE.md ("Kafka") explains why a
    /// revocation never waits on a batch and so cannot deadlock.
    ///
    /// ```
    /// use dstreams::source::{KafkaConfig, StartingOffsets};
    /// // Start this program on several machines: each reads its share of the partitions.
    /// let config = KafkaConfig::new("127.0.0.1:9092", ["lines"])
    ///     .group("word-count")
    ///     .starting_offsets(StartingOffsets::Earliest) // only where the group has no offset
    ///     .set("session.timeout.ms", "6000"); // how soon a dead member's partitions move
    /// assert!(config.group_mode && config.commit_offsets);
    /// assert_eq!(config.group_id, "word-count");
    /// ```
    pub fn group(mut self, app_id: impl Into<String>) -> Self {
        self.group_id = app_id.into();
        self.group_mode = true;
        self.commit_offsets = true;
        self
    }
    /// Sets [`commit_offsets`](Self::commit_offsets).
    pub fn commit_offsets(mut self, yes: bool) -> Self {
        self.commit_offsets = yes;
        self
    }
    /// Sets [`fetch_timeout`](Self::fetch_timeout) and [`request_timeout`](Self::request_timeout).
    pub fn timeouts(mut self, fetch: impl Into<Duration>, request: impl Into<Duration>) -> Self {
        self.fetch_timeout = fetch.into();
        self.request_timeout = request.into();
        self
    }
    /// Sets [`unreachable_timeout`](Self::unreachable_timeout).
    pub fn unreachable_timeout(mut self, limit: impl Into<Duration>) -> Self {
        self.unreachable_timeout = limit.into();
        self
    }
    /// Turns [`backpressure`](Self::backpressure) on, starting at `initial_rate` records per
    /// second if given.
    pub fn backpressure(mut self, initial_rate: Option<u64>) -> Self {
        self.backpressure = true;
        self.initial_rate = initial_rate;
        self
    }
    /// Sets [`max_records`](Self::max_records).
    pub fn max_records(mut self, n: u64) -> Self {
        self.max_records = Some(n);
        self
    }
    /// Sets a librdkafka setting.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.client.push((key.into(), value.into()));
        self
    }
}

pub(super) fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "10")
        // Only group mode subscribes; an assigning consumer never takes part in a rebalance.
        .set("partition.assignment.strategy", "cooperative-sticky")
        // Prefetch deeper than librdkafka's defaults (100 k messages, 64 MiB per partition): with
        // them the fetcher keeps pausing while a batch drains its queue, and a 256 MiB topic read
        // at 34 MB/s instead of 105 (BENCHMARKS.md, "Kafka").
        .set("queued.min.messages", "1000000")
        .set("queued.max.messages.kbytes", "131072")
        // The partitions' high watermarks, for each batch's lag (`lag.rs`).
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS)
        .set(
            "auto.offset.reset",
            // Direct mode assigns numeric offsets only: a position out of the broker's range
            // means the topic was damaged, an error (`Error::KafkaOffsetsOutOfRange`), as Spark's
            // executors use "none". Group mode starts partitions without a committed offset here.
            match (config.group_mode, config.starting_offsets) {
                (false, _) => "error",
                (true, StartingOffsets::Earliest) => "earliest",
                (true, StartingOffsets::Latest) => "latest",
            },
        );
    for (k, v) in &config.client {
        c.set(k, v);
    }
    c
}
