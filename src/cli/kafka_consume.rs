//! `dstreams kafka-consume`: reads a topic with a plain rdkafka consumer and nothing else (no
//! batches, no copies, no word count), and reports the throughput: the reference the Kafka
//! source's throughput is measured against (`scripts/bench-kafka`), and a quick check of what a
//! broker delivers to one consumer.

use super::kafka_produce::parse_property;
use clap::Args;
use dstreams::rdkafka::consumer::{BaseConsumer, Consumer};
use dstreams::rdkafka::{ClientConfig, Offset, TopicPartitionList};
use dstreams::{Error, Result, kafka_admin};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct KafkaConsumeArgs {
    /// The brokers' addresses (librdkafka's bootstrap.servers), e.g. 127.0.0.1:9092.
    brokers: String,
    /// The topic to read, every partition from its oldest record.
    topic: String,
    /// Stop after this many records (all partitions).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Give up when no record arrives for this many seconds (a topic with fewer records than
    /// --records).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    /// A librdkafka consumer property, e.g. --config fetch.wait.max.ms=10 (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_property)]
    properties: Vec<(String, String)>,
}

pub fn run(args: KafkaConsumeArgs) -> Result<()> {
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", "dstreams-kafka-consume")
        .set("enable.auto.commit", "false")
        // A topic that does not exist is an error here, not something the broker makes up.
        .set("allow.auto.create.topics", "false");
    for (key, value) in &args.properties {
        config.set(key, value);
    }
    let broker_error = |e| Error::kafka(format!("reading topic {}", args.topic), e);
    let Some(partitions) = kafka_admin::partition_count(&config, &args.topic, timeout)? else {
        return Err(Error::kafka_failure(
            format!("reading topic {}", args.topic),
            "the topic does not exist",
        ));
    };
    let consumer: BaseConsumer = config.create().map_err(broker_error)?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(&args.topic, p, Offset::Beginning)
            .map_err(broker_error)?;
    }
    consumer.assign(&assignment).map_err(broker_error)?;

    let started = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    while records < args.records {
        match consumer.poll(timeout) {
            None => {
                return Err(Error::kafka_failure(
                    format!("reading topic {}", args.topic),
                    format!(
                        "no record for {} s after {records} of {}",
                        timeout.as_secs(),
                        args.records
                    ),
                ));
            }
            Some(Err(e)) => tracing::warn!("Kafka: {e}"),
            Some(Ok(m)) => {
                records += 1;
                // As a text file of the values would have them: one line each.
                bytes += m.payload_len() as u64 + 1;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    super::print_out(&format!(
        "kafka-consume: {records} records, {bytes} bytes from topic {} ({partitions} partitions) in {seconds:.3} s: {:.1} MB/s, {:.0} records/s\n",
        args.topic,
        bytes as f64 / 1e6 / seconds,
        records as f64 / seconds,
    ))?;
    Ok(())
}
