//! Kafka topics as dstreams needs them: created when missing (an existing one is used as it
//! is), their partition count read back, and one partition's records read whole, for
//! `dstreams kafka-produce --create` and for the internal topics of distributed mode
//! (`exchange`: exchange topics read again to restore state, state changelogs).

use crate::error::{Error, Result};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// An admin client on `config`'s brokers.
fn admin(config: &ClientConfig) -> Result<AdminClient<DefaultClientContext>> {
    config
        .create()
        .map_err(|e| Error::kafka(format!("connecting to {}", brokers(config)), e))
}

fn brokers(config: &ClientConfig) -> &str {
    config.get("bootstrap.servers").unwrap_or("the brokers")
}

/// Creates `topic` with `partitions` partitions (replication factor 1) and the topic
/// `settings`; a topic that already exists is left as it is (whatever its partition count: read
/// it with [`partition_count`]).
pub fn create_topic(
    config: &ClientConfig,
    topic: &str,
    partitions: i32,
    settings: &[(&str, &str)],
    timeout: Duration,
) -> Result<()> {
    let admin = admin(config)?;
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in settings {
        new_topic = new_topic.set(key, value);
    }
    let context = || format!("creating topic {topic} on {}", brokers(config));
    let results = block_on(admin.create_topics([&new_topic], &options))
        .map_err(|e| Error::kafka(context(), e))?;
    for result in results {
        match result {
            Ok(_) => tracing::info!("created topic {topic} with {partitions} partitions"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::info!("topic {topic} already exists")
            }
            Err((_, code)) => return Err(Error::kafka(context(), KafkaError::AdminOp(code))),
        }
    }
    Ok(())
}

/// The partition count of `topic`; `None` when the broker says it does not exist.
pub fn partition_count(
    config: &ClientConfig,
    topic: &str,
    timeout: Duration,
) -> Result<Option<i32>> {
    let admin = admin(config)?;
    let context = || {
        format!(
            "reading the metadata of topic {topic} from {}",
            brokers(config)
        )
    };
    let metadata = admin
        .inner()
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| Error::kafka(context(), e))?;
    let found = metadata.topics().iter().find(|t| t.name() == topic);
    match found.map(|t| (t.error(), t.partitions().len())) {
        Some((None, n)) if n > 0 => Ok(Some(n as i32)),
        None
        | Some((
            Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART),
            _,
        )) => Ok(None),
        Some((Some(error), _)) => Err(Error::kafka_failure(
            context(),
            RDKafkaErrorCode::from(error),
        )),
        Some((None, _)) => Ok(None),
    }
}

/// The names of the topics the brokers at `config` hold.
pub(crate) fn topic_names(config: &ClientConfig, timeout: Duration) -> Result<Vec<String>> {
    let admin = admin(config)?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, timeout)
        .map_err(|e| Error::kafka(format!("listing the topics of {}", brokers(config)), e))?;
    Ok(metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .collect())
}

/// One record of a partition read by [`read_partition`].
#[derive(Debug)]
pub(crate) struct StoredRecord {
    pub(crate) offset: i64,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
}

/// The records of `topic`'s partition `partition` from `from` (`None`: its first record) up to
/// `until` (exclusive; `None`: its end when the read starts), read by a consumer assigned the
/// partition (joining no group, committing nothing). Fails when they are not all read within
/// `timeout`.
pub(crate) fn read_partition(
    config: &ClientConfig,
    topic: &str,
    partition: i32,
    from: Option<i64>,
    until: Option<i64>,
    timeout: Duration,
) -> Result<Vec<StoredRecord>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    let context = || format!("reading {topic}-{partition}");
    let mut reader = config.clone();
    // A group id the consumer never joins (it is assigned the partition) nor commits to;
    // librdkafka wants one all the same.
    reader
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .set("max.partition.fetch.bytes", "67108864")
        .set("fetch.max.bytes", "67108864");
    let consumer: BaseConsumer = reader.create().map_err(|e| Error::kafka(context(), e))?;
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, timeout)
        .map_err(|e| Error::kafka(context(), e))?;
    let start = from.unwrap_or(low).max(low);
    let end = until.unwrap_or(high);
    if start >= end {
        return Ok(Vec::new());
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(start))
        .map_err(|e| Error::kafka(context(), e))?;
    consumer
        .assign(&tpl)
        .map_err(|e| Error::kafka(context(), e))?;
    let deadline = std::time::Instant::now() + timeout;
    let mut records = Vec::new();
    let mut next = start;
    while next < end {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(Error::kafka_failure(
                context(),
                format!(
                    "offsets {next}..{end} not read within {} s",
                    timeout.as_secs()
                ),
            ));
        }
        let Some(message) = consumer.poll(left.min(Duration::from_millis(100))) else {
            continue;
        };
        let m = message.map_err(|e| Error::kafka(context(), e))?;
        if m.offset() < next {
            continue;
        }
        next = m.offset() + 1;
        if m.offset() < end {
            records.push(StoredRecord {
                offset: m.offset(),
                key: m.key().unwrap_or_default().to_vec(),
                value: m.payload().unwrap_or_default().to_vec(),
            });
        }
    }
    Ok(records)
}

/// Runs a future to completion on this thread. rdkafka's admin operations are futures completed
/// by the admin client's own polling thread; dstreams has no async runtime, and this is all one
/// needs (the thread sleeps until the future's waker unparks it).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_waits_for_a_future_completed_on_another_thread() {
        let (tx, rx) = std::sync::mpsc::channel::<Waker>();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let future = std::future::poll_fn(move |cx| {
            if flag.load(std::sync::atomic::Ordering::Acquire) {
                Poll::Ready(42)
            } else {
                let _ = tx.send(cx.waker().clone());
                Poll::Pending
            }
        });
        let helper = std::thread::spawn(move || {
            let waker = rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            done.store(true, std::sync::atomic::Ordering::Release);
            waker.wake();
        });
        assert_eq!(block_on(future), 42);
        helper.join().unwrap();
    }
}
