//! Spark Streaming's example programs, one to one.

use super::stats::RunStats;
use clap::Subcommand;
use dstreams::prelude::*;
use dstreams::source::ReceiverConfig;
use dstreams::source::{KafkaConfig, StartingOffsets};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Subcommand)]
pub enum Example {
    /// Spark's QueueStream: batches of the integers 1..=1000 from a queue, counted by `x % 10`.
    /// Stops by itself once the queue is drained.
    QueueStream {
        /// How many batches to queue.
        #[arg(long, default_value_t = 30)]
        batches: usize,
        /// Batch interval (e.g. 1s, 500ms).
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: Duration,
        /// Run batches back to back instead of once per interval.
        #[arg(long)]
        fast: bool,
    },
    /// Spark's NetworkWordCount: counts the words of the lines a TCP server sends, every second
    /// (try `nc -lk 9999` in another terminal).
    NetworkWordCount {
        /// The server's host.
        host: String,
        /// The server's port.
        port: u16,
        /// Batch interval.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: Duration,
        /// Checkpoint into CHECKPOINT and resume from it (through get_or_create): batches after
        /// the checkpoint run again, and their saved outputs are replaced.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Checkpoint every N batches (default: every batch).
        #[arg(long, value_name = "N", requires = "checkpoint")]
        checkpoint_every: Option<i64>,
        /// Keep a receiver write-ahead log under the checkpoint directory (Spark's
        /// spark.streaming.receiver.writeAheadLog.enable): lines sealed into a batch survive a
        /// crash and batches run again after a restart hold the same lines. Needs --checkpoint.
        #[arg(long)]
        wal: bool,
        /// Also save each batch's counts with save_as_text_files(PREFIX).
        #[arg(long)]
        output: Option<String>,
    },
    /// Spark's StatefulNetworkWordCount: the running count of every word a TCP server sends,
    /// with `map_with_state`, starting from hello = 1 and world = 1; prints each batch's
    /// updated words.
    StatefulNetworkWordCount {
        /// The server's host.
        host: String,
        /// The server's port.
        port: u16,
        /// Batch interval.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: Duration,
        /// Checkpoint directory (Spark's example uses "."; default: a temporary directory).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Spark's DirectKafkaWordCount: counts the words of the records of TOPIC (one line per
    /// record) every interval, read with the direct Kafka stream.
    KafkaWordCount {
        /// `bootstrap.servers`, e.g. 127.0.0.1:9092.
        brokers: String,
        /// The topic.
        topic: String,
        /// Batch interval.
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        interval: Duration,
        /// Start at the oldest records instead of the newest.
        #[arg(long)]
        from_beginning: bool,
        /// Records per second per partition at most.
        #[arg(long)]
        max_rate_per_partition: Option<u64>,
        /// Checkpoint into DIR and resume from it (each batch's offset ranges are logged there).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Checkpoint every N batches (default: every batch).
        #[arg(long, value_name = "N", requires = "checkpoint")]
        checkpoint_every: Option<i64>,
        /// Save each batch's counts with save_as_text_files(PREFIX) instead of printing them.
        #[arg(long)]
        output: Option<String>,
        /// Commit each batch's offsets to the consumer group once its outputs completed.
        #[arg(long)]
        commit: bool,
        /// Read this many records, batches back to back, then stop and print throughput and
        /// latency figures (as `replay` does): for replaying a topic and for benchmarks.
        #[arg(long, value_name = "N")]
        records: Option<u64>,
        /// With --records: write the summary as one JSON object to this file.
        #[arg(long, requires = "records")]
        stats_json: Option<PathBuf>,
        /// Adapt the records per batch to the processing rate (Spark's backpressure).
        #[arg(long)]
        backpressure: bool,
        /// A librdkafka consumer setting, KEY=VALUE (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        client: Vec<String>,
    },
    /// Spark's HdfsWordCount: counts the words of new text files moved into DIR, every 2 s.
    TextFileWordCount {
        /// The directory to watch (files must be moved in atomically).
        dir: PathBuf,
        /// Batch interval.
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        interval: Duration,
        /// Checkpoint into CHECKPOINT and resume from it: a restarted run reads neither a file
        /// twice nor misses one that arrived while it was down.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Also save each batch's counts with save_as_text_files(PREFIX).
        #[arg(long)]
        output: Option<String>,
    },
    /// Spark's RecoverableNetworkWordCount: word counts of the lines a TCP server sends, words
    /// "a", "b" and "c" dropped and counted, each batch's counts appended to OUTPUT_FILE; run it
    /// again after a crash and it resumes from CHECKPOINT_DIR (lines received but not yet in a
    /// completed batch are lost unless --wal is given; lines not yet in a batch are lost either
    /// way).
    RecoverableNetworkWordCount {
        /// The server's host.
        host: String,
        /// The server's port.
        port: u16,
        /// Where checkpoints go and are recovered from.
        checkpoint_dir: PathBuf,
        /// The file each batch's counts are appended to.
        output_file: PathBuf,
        /// Batch interval.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: Duration,
        /// Keep a receiver write-ahead log in CHECKPOINT_DIR (Spark's
        /// spark.streaming.receiver.writeAheadLog.enable).
        #[arg(long)]
        wal: bool,
    },
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    Duration::parse(text).map_err(|e| e.to_string())
}

pub fn run(example: Example) -> Result<()> {
    match example {
        Example::QueueStream {
            batches,
            interval,
            fast,
        } => queue_stream(batches, interval, fast),
        Example::TextFileWordCount {
            dir,
            interval,
            checkpoint,
            output,
        } => text_file_word_count(&dir, interval, checkpoint, output),
        Example::KafkaWordCount {
            brokers,
            topic,
            interval,
            from_beginning,
            max_rate_per_partition,
            checkpoint,
            checkpoint_every,
            output,
            commit,
            records,
            stats_json,
            backpressure,
            client,
        } => {
            let mut config = KafkaConfig::new(brokers, [topic]).commit_offsets(commit);
            for kv in client {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    Error::Unsupported(format!("--config {kv:?}: expected KEY=VALUE"))
                })?;
                config = config.set(k, v);
            }
            if backpressure {
                config = config.backpressure(None);
            }
            if from_beginning {
                config = config.starting_offsets(StartingOffsets::Earliest);
            }
            if let Some(rate) = max_rate_per_partition {
                config = config.max_rate_per_partition(rate);
            }
            match records {
                Some(n) => kafka_word_count_finite(config.max_records(n), interval, stats_json),
                None => kafka_word_count(config, interval, checkpoint, checkpoint_every, output),
            }
        }
        Example::RecoverableNetworkWordCount {
            host,
            port,
            checkpoint_dir,
            output_file,
            interval,
            wal,
        } => recoverable_network_word_count(
            &host,
            port,
            &checkpoint_dir,
            &output_file,
            interval,
            wal,
        ),
        Example::NetworkWordCount {
            host,
            port,
            interval,
            checkpoint,
            checkpoint_every,
            wal,
            output,
        } => network_word_count(
            &host,
            port,
            interval,
            NetworkOptions {
                checkpoint,
                checkpoint_every,
                wal,
                output,
            },
        ),
        Example::StatefulNetworkWordCount {
            host,
            port,
            interval,
            checkpoint,
        } => stateful_network_word_count(&host, port, interval, checkpoint),
    }
}

/// Spark's `QueueStream` example: `map(x => (x % 10, 1)).reduceByKey(_ + _).print()`.
fn queue_stream(batches: usize, interval: Duration, fast: bool) -> Result<()> {
    let mut builder = StreamingContext::builder(interval).stop_when_exhausted(true);
    if fast {
        builder = builder.clock(Arc::new(FastClock::new(Time::from_millis(0))));
    }
    let ssc = builder.build()?;
    let queue: Vec<Batch<i64>> = (0..batches)
        .map(|_| Batch::from_vec((1..=1000).collect(), 10))
        .collect();
    let input = ssc.queue_stream(queue, true, None)?;
    let reduced = input
        .map(|x, out| out.push((x % 10, 1)))?
        .reduce_by_key(|a, b| a + b)?;
    reduced.pprint(10)?;
    ssc.start()?;
    // Returns once the queue is drained and its last batch printed.
    ssc.await_termination()
}

/// Words of a line as Java's `split(" ")` gives them.
fn words(line: &str) -> impl Iterator<Item = &str> {
    super::replay::split_like_java(line)
}

/// What `network-word-count` adds to Spark's example.
struct NetworkOptions {
    checkpoint: Option<PathBuf>,
    checkpoint_every: Option<i64>,
    wal: bool,
    output: Option<String>,
}

/// The receiver configuration: the default, with the write-ahead log if asked for.
fn receiver_config(wal: bool) -> ReceiverConfig {
    ReceiverConfig {
        write_ahead_log: wal,
        ..ReceiverConfig::default()
    }
}

/// Spark's `NetworkWordCount`: `socketTextStream(host, port).flatMap(_.split(" ")).map((_, 1)).reduceByKey(_ + _).print()`,
/// with checkpoints, a write-ahead log and saved outputs when asked.
fn network_word_count(
    host: &str,
    port: u16,
    interval: Duration,
    options: NetworkOptions,
) -> Result<()> {
    let build = || -> Result<StreamingContext> {
        let ssc = StreamingContext::new(interval)?;
        let lines = ssc.socket_text_stream_with(host, port, receiver_config(options.wal))?;
        let counts = word_count(&lines)?;
        if let Some(n) = options.checkpoint_every {
            counts.checkpoint(interval * n)?;
        }
        counts.pprint(10)?;
        if let Some(prefix) = &options.output {
            counts.save_as_text_files(prefix, "")?;
        }
        Ok(ssc)
    };
    run_resumable(options.checkpoint.as_deref(), build)
}

/// Spark's `StatefulNetworkWordCount`: `(word, 1)` pairs through `mapWithState` with a mapping
/// function that adds the record to the state and emits `(word, sum)`, from an initial state of
/// `(hello, 1), (world, 1)`.
fn stateful_network_word_count(
    host: &str,
    port: u16,
    interval: Duration,
    checkpoint: Option<PathBuf>,
) -> Result<()> {
    let ssc = StreamingContext::new(interval)?;
    ssc.checkpoint(checkpoint.unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "dstreams-stateful-network-word-count-{}",
            std::process::id()
        ))
    }))?;
    let initial = Batch::from_vec(vec![("hello".to_string(), 1), ("world".to_string(), 1)], 2);
    let lines = ssc.socket_text_stream(host, port)?;
    let pairs = lines
        .flat_map(|line, out| words(line).for_each(|w| out.push(w)))?
        .map(|w, out| out.push((w, 1)))?;
    let spec = StateSpec::function(|word: &str, one: Option<i32>, state: &mut State<i32>| {
        let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
        state.update(sum)?;
        Ok((word.to_string(), sum))
    })
    .initial_state(initial);
    pairs.map_with_state(spec)?.pprint(10)?;
    ssc.start()?;
    ssc.await_termination()
}

/// `flatMap(_.split(" ")).map((_, 1)).reduceByKey(_ + _)`.
fn word_count(lines: &DStream<String>) -> Result<DStream<(String, i32)>> {
    lines
        .flat_map(|line, out| words(line).for_each(|w| out.push(w)))?
        .map(|w, out| out.push((w, 1)))?
        .reduce_by_key(|a, b| a + b)
}

/// Spark's `HdfsWordCount`: `textFileStream(dir).flatMap(_.split(" ")).map((_, 1)).reduceByKey(_ + _).print()`,
/// with checkpoints and saved outputs when asked.
fn text_file_word_count(
    dir: &Path,
    interval: Duration,
    checkpoint: Option<PathBuf>,
    output: Option<String>,
) -> Result<()> {
    let build = || -> Result<StreamingContext> {
        let ssc = StreamingContext::new(interval)?;
        let lines = ssc.text_file_stream(dir)?;
        let counts = word_count(&lines)?;
        counts.pprint(10)?;
        if let Some(prefix) = &output {
            counts.save_as_text_files(prefix, "")?;
        }
        Ok(ssc)
    };
    run_resumable(checkpoint.as_deref(), build)
}

/// Words Spark's `RecoverableNetworkWordCount` drops (its broadcast `WordExcludeList`).
const EXCLUDED: [&str; 3] = ["a", "b", "c"];

/// Spark's `RecoverableNetworkWordCount`: created through `get_or_create`; each batch's counts
/// without the excluded words are printed as `Counts at time <t> [(w,n), ...]` and appended to
/// `output_file`; the dropped words are counted (an accumulator in Spark, reset on restart as
/// Spark's is).
fn recoverable_network_word_count(
    host: &str,
    port: u16,
    checkpoint_dir: &Path,
    output_file: &Path,
    interval: Duration,
    wal: bool,
) -> Result<()> {
    let dropped = Arc::new(AtomicU64::new(0));
    let output_file = output_file.to_path_buf();
    let ssc = StreamingContext::get_or_create(checkpoint_dir, || {
        let ssc = StreamingContext::new(interval)?;
        let lines = ssc.socket_text_stream_with(host, port, receiver_config(wal))?;
        let counts = word_count(&lines)?;
        let dropped = dropped.clone();
        counts.foreach_batch(move |batch, time| {
            let mut kept = Vec::new();
            for (word, count) in batch.iter() {
                if EXCLUDED.contains(&word) {
                    dropped.fetch_add(count as u64, Ordering::Relaxed);
                } else {
                    kept.push(format!("({word},{count})"));
                }
            }
            let line = format!("Counts at time {time} [{}]", kept.join(", "));
            println!("{line}");
            println!(
                "Dropped {} word(s) totally",
                dropped.load(Ordering::Relaxed)
            );
            let path = std::path::absolute(&output_file).unwrap_or_else(|_| output_file.clone());
            println!("Appending to {}", path.display());
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            writeln!(file, "{line}")
                .map_err(|e| Error::io(format!("appending to {}", path.display()), e))
        })?;
        Ok(ssc)
    })?;
    ssc.start()?;
    ssc.await_termination()
}

/// Spark's `DirectKafkaWordCount`: `createDirectStream(...).map(_.value).flatMap(_.split(" "))
/// .map((_, 1L)).reduceByKey(_ + _).print()`, on the kernels (`split` + `count_by_value`).
fn kafka_word_count(
    config: KafkaConfig,
    interval: Duration,
    checkpoint: Option<PathBuf>,
    checkpoint_every: Option<i64>,
    output: Option<String>,
) -> Result<()> {
    let build = || -> Result<StreamingContext> {
        let ssc = StreamingContext::new(interval)?;
        let counts = ssc
            .kafka_stream(config.clone())?
            .split(Separators::Space)?
            .count_by_value()?;
        if let Some(n) = checkpoint_every {
            counts.checkpoint(interval * n)?;
        }
        match &output {
            Some(prefix) => counts.save_as_text_files(prefix, "")?,
            None => counts.pprint(10)?,
        }
        Ok(ssc)
    };
    run_resumable(checkpoint.as_deref(), build)
}

/// `kafka-word-count --records N`: the same word count over the next `n` records, batches back
/// to back, with `replay`'s summary.
fn kafka_word_count_finite(
    config: KafkaConfig,
    interval: Duration,
    stats_json: Option<PathBuf>,
) -> Result<()> {
    let stats = Arc::new(RunStats::new(0));
    let ssc = StreamingContext::builder(interval)
        .clock(Arc::new(FastClock::new(Time::from_millis(0))))
        .stop_when_exhausted(true)
        .build()?;
    ssc.add_streaming_listener(stats.clone());
    let counts = ssc
        .kafka_stream(config)?
        .split(Separators::Space)?
        .count_by_value()?;
    stats.count_words(&counts)?;
    ssc.start()?;
    let result = ssc.await_termination();
    let summary = stats.summary();
    print!("{}", summary.to_text());
    if let Some(path) = &stats_json {
        std::fs::write(path, summary.to_json("kafka-word-count"))
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    result
}

/// Builds the program (through `get_or_create` when there is a checkpoint directory: it resumes
/// from its newest checkpoint), starts it and waits for it to end.
fn run_resumable(
    checkpoint: Option<&Path>,
    build: impl FnOnce() -> Result<StreamingContext>,
) -> Result<()> {
    let ssc = match checkpoint {
        Some(cp) => StreamingContext::get_or_create(cp, build)?,
        None => build()?,
    };
    ssc.start()?;
    ssc.await_termination()
}
