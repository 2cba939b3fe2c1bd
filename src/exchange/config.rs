//! [`ExchangeConfig`]: the one setting that makes a program distributed.

use crate::time::Duration;
use rdkafka::ClientConfig;

/// Distributed mode's setting ([`StreamingContext::distribute`](crate::StreamingContext::distribute)):
/// the Kafka cluster whose internal topics carry the exchanges, the application's id (prefix
/// of those topics and of their consumer groups: every process of the job uses the same one),
/// and the number of exchange partitions `P`, the job's maximum parallelism after an exchange.
///
/// `P` is chosen at the job's first start and stored as the partition count of each exchange
/// topic: a later start with another `P` is refused with
/// [`Error::ExchangePartitionsChanged`](crate::Error::ExchangePartitionsChanged).
///
/// ```
/// use dstreams::ExchangeConfig;
/// use dstreams::Seconds;
/// let config = ExchangeConfig::new("127.0.0.1:9092", "word-count")
///     .partitions(8)
///     .wait(Seconds(60));
/// assert_eq!(config.partitions, 8);
/// ```
#[derive(Clone, Debug)]
pub struct ExchangeConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The application id: exchange topics are `<app_id>-<n>-exchange`.
    pub app_id: String,
    /// Exchange partitions `P` (default 8).
    pub partitions: u32,
    /// How long a batch waits for its exchange partitions to be complete before it fails, naming
    /// the source partitions it waits for (default 120 s: more than a group's session timeout,
    /// so a dead member's partitions can move first).
    pub wait: Duration,
    /// How long the state changelogs (`<app_id>-<operator>-state`) keep a snapshot once a
    /// later one exists (their `retention.ms`, default 24 h); a partition's latest snapshot is
    /// kept whatever this says.
    pub state_retention: Duration,
    /// More librdkafka settings (`key`, `value`) for the exchanges' producers and consumers.
    pub client: Vec<(String, String)>,
}

impl ExchangeConfig {
    /// Exchanges through the Kafka cluster at `brokers` for the application `app_id`.
    pub fn new(brokers: impl Into<String>, app_id: impl Into<String>) -> Self {
        ExchangeConfig {
            brokers: brokers.into(),
            app_id: app_id.into(),
            partitions: 8,
            wait: Duration::seconds(120),
            state_retention: Duration::seconds(24 * 3600),
            client: Vec::new(),
        }
    }
    /// Sets [`partitions`](Self::partitions).
    pub fn partitions(mut self, p: u32) -> Self {
        self.partitions = p;
        self
    }
    /// Sets [`wait`](Self::wait).
    pub fn wait(mut self, wait: impl Into<Duration>) -> Self {
        self.wait = wait.into();
        self
    }
    /// Sets [`state_retention`](Self::state_retention).
    pub fn state_retention(mut self, retention: impl Into<Duration>) -> Self {
        self.state_retention = retention.into();
        self
    }
    /// Sets a librdkafka setting.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.client.push((key.into(), value.into()));
        self
    }

    /// The librdkafka settings shared by producers, consumers and the admin client.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in &self.client {
            c.set(k, v);
        }
        c
    }
}
