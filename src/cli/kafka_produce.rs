//! `dstreams kafka-produce`: loads text files into a Kafka topic, one record per line, for tests
//! and benchmarks of Kafka pipelines.

use clap::Args;
use dstreams::rdkafka::ClientConfig;
use dstreams::{Error, KafkaWriter, Result, kafka_admin};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct KafkaProduceArgs {
    /// The brokers' addresses (librdkafka's bootstrap.servers), e.g. 127.0.0.1:9092.
    brokers: String,
    /// The topic to write to.
    topic: String,
    /// Text files; every line (without its line end) becomes one record's value, no key. Lines
    /// are dealt to the partitions in chunks (see --chunk-lines), so each partition holds its
    /// lines in file order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Lines per chunk: line n (counted from 0 over all files) goes to partition
    /// (n / K) % partitions. 1 deals single lines round-robin, at about half the throughput
    /// (librdkafka's per-partition queues of interleaved records cost twice the CPU).
    #[arg(long, value_name = "K", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    chunk_lines: u64,
    /// The topic's partition count: with --create, the count to create it with (default 1);
    /// without, the count the topic must have (default: whatever it has).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    partitions: Option<i32>,
    /// Create the topic first (replication factor 1). A topic that already exists with the same
    /// partition count is used as it is.
    #[arg(long)]
    create: bool,
    /// How long to wait for the broker, in seconds: for metadata, for creating the topic, and
    /// for each record's delivery (librdkafka's message.timeout.ms).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    /// A librdkafka producer property, e.g. --config compression.type=lz4 (repeatable; overrides
    /// the defaults linger.ms=5, batch.size=1000000, queue.buffering.max.messages=1000000,
    /// queue.buffering.max.kbytes=262144).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_property)]
    properties: Vec<(String, String)>,
}

pub(super) fn parse_property(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

pub fn run(args: KafkaProduceArgs) -> Result<()> {
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.brokers)
        // Batches of many lines: the settings the reference measurements used (141-160 MB/s
        // into tansu on loopback), a bounded queue so hundreds of MB do not sit in memory.
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "262144")
        .set("message.timeout.ms", timeout.as_millis().to_string())
        // A topic that does not exist is an error here, not something the broker makes up.
        .set("allow.auto.create.topics", "false");
    for (key, value) in &args.properties {
        config.set(key, value);
    }
    let partitions = prepare_topic(&config, &args, timeout)?;
    let writer = KafkaWriter::new(&config, &args.topic)?;

    let started = Instant::now();
    let pending = writer.records();
    let mut line_no: u64 = 0;
    let mut line = Vec::with_capacity(1 << 12);
    for path in &args.files {
        let read_error = |e| Error::io(format!("reading {}", path.display()), e);
        let file = File::open(path).map_err(read_error)?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let first = line_no;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(read_error)? == 0 {
                break;
            }
            let value = trim_line_end(&line);
            let partition = ((line_no / args.chunk_lines) % partitions as u64) as i32;
            pending.send(Some(partition), None, value)?;
            line_no += 1;
        }
        tracing::info!("{}: {} lines sent", path.display(), line_no - first);
    }
    let delivered = pending.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    super::print_out(&format!(
        "kafka-produce: {} records, {} bytes into topic {} ({} partitions) in {:.3} s: {:.1} MB/s, {:.0} records/s\n",
        delivered.records,
        delivered.bytes,
        args.topic,
        partitions,
        seconds,
        delivered.bytes as f64 / 1e6 / seconds,
        delivered.records as f64 / seconds,
    ))?;
    Ok(())
}

/// A line without its `\n` or `\r\n`.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Creates the topic if asked, and returns its partition count (checked against
/// `--partitions`).
fn prepare_topic(config: &ClientConfig, args: &KafkaProduceArgs, timeout: Duration) -> Result<i32> {
    let topic = args.topic.as_str();
    if args.create {
        kafka_admin::create_topic(config, topic, args.partitions.unwrap_or(1), &[], timeout)?;
    }
    let context = || {
        format!(
            "reading the metadata of topic {topic} from {}",
            args.brokers
        )
    };
    let Some(count) = kafka_admin::partition_count(config, topic, timeout)? else {
        return Err(Error::kafka_failure(
            context(),
            "the topic does not exist (pass --create to create it)",
        ));
    };
    if let Some(want) = args.partitions.filter(|&want| want != count) {
        return Err(Error::kafka_failure(
            context(),
            format!("the topic has {count} partitions, --partitions says {want}"),
        ));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_are_trimmed() {
        assert_eq!(trim_line_end(b"a b\n"), b"a b");
        assert_eq!(trim_line_end(b"a b\r\n"), b"a b");
        assert_eq!(trim_line_end(b"last"), b"last");
        assert_eq!(trim_line_end(b"\n"), b"");
    }

    #[test]
    fn properties_are_key_value() {
        assert_eq!(
            parse_property("acks=1"),
            Ok(("acks".to_string(), "1".to_string()))
        );
        assert_eq!(
            parse_property("client.id=a=b"),
            Ok(("client.id".to_string(), "a=b".to_string()))
        );
        assert!(parse_property("acks").is_err());
        assert!(parse_property("=1").is_err());
    }
}
