//! Spark Streaming's example programs, one to one.

use super::replay::{running_count, windowed_counts};
use super::stats::{RunStats, StatsJson};
use super::ui::UiArgs;
use clap::Subcommand;
use dstreams::ExchangeConfig;
use dstreams::UiConfig;
use dstreams::prelude::*;
use dstreams::source::{KafkaConfig, StartingOffsets};
use dstreams::source::{ReceiverConfig, Utf8Policy};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        /// Checkpoint every N batches (default: every batch; with --stateful, every 10 s). In
        /// distributed mode: snapshot the state to Kafka every N batches.
        #[arg(long, value_name = "N")]
        checkpoint_every: Option<i64>,
        #[command(flatten)]
        receiver: ReceiverArgs,
        /// Also save each batch's counts with save_as_text_files(PREFIX).
        #[arg(long)]
        output: Option<String>,
        #[command(flatten)]
        running_and_windowed: RunningAndWindowed,
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
        /// Checkpoint every N batches (default: every batch; with --stateful, every 10 s). In
        /// distributed mode: snapshot the state to Kafka every N batches.
        #[arg(long, value_name = "N")]
        checkpoint_every: Option<i64>,
        /// Save each batch's counts with save_as_text_files(PREFIX) instead of printing them.
        #[arg(long)]
        output: Option<String>,
        /// Instead of the counts, each count with the words that have it in the batch
        /// (`counts.map(|(w, c)| (c, w)).group_by_key()`: in distributed mode a second keyed
        /// operation after the first, through a second exchange).
        #[arg(long, conflicts_with_all = ["stateful", "window"])]
        by_count: bool,
        #[command(flatten)]
        running_and_windowed: RunningAndWindowed,
        /// Commit each batch's offsets to the consumer group once its outputs completed.
        #[arg(long)]
        commit: bool,
        /// Group mode: read as a member of the consumer group APP, which assigns this process
        /// its share of the topic's partitions (start the command several times with the same
        /// APP); positions are the group's committed offsets (--from-beginning only where the
        /// group has none).
        #[arg(long, value_name = "APP", conflicts_with = "checkpoint")]
        group: Option<String>,
        /// Distributed mode (with --group): the counts are combined per source partition and
        /// exchanged through Kafka in P exchange partitions (topic `APP-0-exchange`), so the
        /// processes started with the same APP are one job; each saves or prints the counts of
        /// the exchange partitions it owns. P is fixed at the job's first start.
        #[arg(long, value_name = "P", requires = "group", conflicts_with = "records", value_parser = clap::value_parser!(u32).range(1..))]
        exchange_partitions: Option<u32>,
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
        /// How long the brokers may go without answering before the job fails with an error
        /// saying so (until then, each batch takes what was already fetched).
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
        broker_timeout: Duration,
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
        #[command(flatten)]
        receiver: ReceiverArgs,
    },
    /// Spark's SqlNetworkWordCount, with Arrow in place of Spark SQL: every batch's words as an
    /// Arrow table, counted by word and printed as a table.
    SqlNetworkWordCount {
        /// The server's host.
        host: String,
        /// The server's port.
        port: u16,
        /// Batch interval.
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        interval: Duration,
    },
    /// Spark's CustomReceiver: a receiver written against the Receiver API that reads lines
    /// from a TCP server, and a word count over them.
    CustomReceiver {
        /// The server's host.
        host: String,
        /// The server's port.
        port: u16,
        /// Batch interval.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: Duration,
    },
}

/// The running and windowed counts a word-count example can add to its per-batch counts.
#[derive(clap::Args)]
pub struct RunningAndWindowed {
    /// Also each word's running count since the job started (`update_state_by_key`), saved with
    /// suffix `state` (`PREFIX-<t>.state`). In Kafka's distributed mode the state is kept per
    /// exchange partition and moves with it (changelog topic `APP-op0-state`).
    #[arg(long)]
    stateful: bool,
    /// Also each word's count over the last K batches, every S batches
    /// (`reduce_by_key_and_window` with the inverse function, zero counts dropped), saved with
    /// suffix `window`.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(i64).range(1..))]
    window: Option<i64>,
    /// The window's slide in batches (default 1).
    #[arg(long, value_name = "S", requires = "window", value_parser = clap::value_parser!(i64).range(1..))]
    slide: Option<i64>,
}

impl RunningAndWindowed {
    /// Adds the running counts (`--stateful`) and the windowed counts (`--window`) of the
    /// per-batch `counts`, saved under `output` with suffixes `state` and `window`, or printed.
    fn add_to(&self, counts: &DStream<(String, i64)>, output: &Option<String>) {
        if self.stateful {
            let totals = counts.update_state_by_key(running_count);
            save_or_print_as(&totals, output, "state");
        }
        if let Some(k) = self.window {
            let windowed = windowed_counts(counts, k, self.slide.unwrap_or(1));
            save_or_print_as(&windowed, output, "window");
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    Duration::parse(text).map_err(|e| e.to_string())
}

// The programs of `examples/`, one file each as Spark has them; each file's `main` is its own
// entry point when run with `cargo run --example`, and unused here.
#[allow(dead_code)]
#[path = "../../examples/custom_receiver.rs"]
mod custom_receiver;
#[allow(dead_code)]
#[path = "../../examples/direct_kafka_word_count.rs"]
mod direct_kafka_word_count;
#[allow(dead_code)]
#[path = "../../examples/hdfs_word_count.rs"]
mod hdfs_word_count;
#[allow(dead_code)]
#[path = "../../examples/network_word_count.rs"]
mod network_word_count;
#[allow(dead_code)]
#[path = "../../examples/queue_stream.rs"]
mod queue_stream;
#[allow(dead_code)]
#[path = "../../examples/recoverable_network_word_count.rs"]
mod recoverable_network_word_count;
#[allow(dead_code)]
#[path = "../../examples/sql_network_word_count.rs"]
mod sql_network_word_count;
#[allow(dead_code)]
#[path = "../../examples/stateful_network_word_count.rs"]
mod stateful_network_word_count;

pub fn run(example: Example, ui_args: &UiArgs) -> Result<()> {
    // Long-running: the web UI is on unless asked otherwise (`kafka-word-count --records`, a
    // finite benchmark run, leaves it off as `replay` without `--rate` does).
    let ui = ui_args.config(true, example.app_name());
    match example {
        Example::QueueStream {
            batches,
            interval,
            fast,
        } => {
            let mut builder = StreamingContext::builder(interval).stop_when_exhausted(true);
            if fast {
                builder = builder.clock(Arc::new(FastClock::new(Time::from_millis(0))));
            }
            let ssc = builder.build();
            let input = ssc.queue_stream(queue_stream::rdd_queue(batches), true, None);
            queue_stream::reduced(&input).print();
            start_and_wait(&ssc, ui)
        }
        Example::TextFileWordCount {
            dir,
            interval,
            checkpoint,
            output,
        } => run_resumable(checkpoint.as_deref(), ui, || {
            let ssc = StreamingContext::new(interval);
            let counts = hdfs_word_count::word_counts(&ssc.text_file_stream(&dir));
            counts.print();
            if let Some(prefix) = &output {
                counts.save_as_text_files(prefix, "");
            }
            ssc
        }),
        Example::KafkaWordCount {
            brokers,
            topic,
            interval,
            from_beginning,
            max_rate_per_partition,
            checkpoint,
            checkpoint_every,
            output,
            by_count,
            running_and_windowed,
            commit,
            group,
            exchange_partitions,
            records,
            stats_json,
            backpressure,
            broker_timeout,
            client,
        } => {
            let mut config = KafkaConfig::new(brokers.clone(), [topic]).commit_offsets(commit);
            let mut exchange = None;
            if let Some(app) = group {
                if let Some(p) = exchange_partitions {
                    let mut settings = ExchangeConfig::new(brokers, app.clone()).partitions(p);
                    for kv in &client {
                        if let Some((k, v)) = kv.split_once('=') {
                            settings = settings.set(k, v);
                        }
                    }
                    exchange = Some(settings);
                }
                config = config.group(app);
            }
            for kv in client {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    Error::InvalidArgument(format!("--config {kv:?}: expected KEY=VALUE"))
                })?;
                config = config.set(k, v);
            }
            if backpressure {
                config = config.backpressure(None);
            }
            config = config.unreachable_timeout(broker_timeout);
            if from_beginning {
                config = config.starting_offsets(StartingOffsets::Earliest);
            }
            if let Some(rate) = max_rate_per_partition {
                config = config.max_rate_per_partition(rate);
            }
            match records {
                Some(n) => kafka_word_count_finite(
                    config.max_records(n),
                    interval,
                    stats_json,
                    ui_args.config(false, "DirectKafkaWordCount"),
                ),
                None => run_resumable(checkpoint.as_deref(), ui, || {
                    let ssc = StreamingContext::new(interval);
                    if let Some(exchange) = exchange.clone() {
                        ssc.distribute(exchange);
                    }
                    let counts =
                        direct_kafka_word_count::word_counts(&ssc.kafka_stream(config.clone()));
                    if let Some(n) = checkpoint_every {
                        counts.checkpoint(interval * n);
                    }
                    if by_count {
                        save_or_print(&counts.map(|(w, c)| (c, w)).group_by_key(), &output);
                    } else {
                        save_or_print(&counts, &output);
                    }
                    running_and_windowed.add_to(&counts, &output);
                    ssc
                }),
            }
        }
        Example::RecoverableNetworkWordCount {
            host,
            port,
            checkpoint_dir,
            output_file,
            interval,
            receiver,
        } => {
            let ssc = StreamingContext::get_or_create(&checkpoint_dir, || {
                recoverable_network_word_count::create_context(
                    &host,
                    port,
                    interval,
                    &output_file,
                    &checkpoint_dir,
                    receiver.config(),
                )
            })?;
            start_and_wait(&ssc, ui)
        }
        Example::NetworkWordCount {
            host,
            port,
            interval,
            checkpoint,
            checkpoint_every,
            receiver,
            output,
            running_and_windowed,
        } => run_resumable(checkpoint.as_deref(), ui, || {
            let ssc = StreamingContext::new(interval);
            let lines = ssc.socket_text_stream_with(&host, port, receiver.config());
            let counts = network_word_count::word_counts(&lines);
            if let Some(n) = checkpoint_every {
                counts.checkpoint(interval * n);
            }
            counts.print();
            if let Some(prefix) = &output {
                counts.save_as_text_files(prefix, "");
            }
            running_and_windowed.add_to(&counts, &output);
            ssc
        }),
        Example::StatefulNetworkWordCount {
            host,
            port,
            interval,
            checkpoint,
        } => {
            let ssc = StreamingContext::new(interval);
            ssc.checkpoint(checkpoint.unwrap_or_else(|| {
                std::env::temp_dir().join(format!(
                    "dstreams-stateful-network-word-count-{}",
                    std::process::id()
                ))
            }));
            let lines = ssc.socket_text_stream(&host, port);
            stateful_network_word_count::running_counts(&lines).print();
            start_and_wait(&ssc, ui)
        }
        Example::SqlNetworkWordCount {
            host,
            port,
            interval,
        } => {
            let ssc = StreamingContext::new(interval);
            sql_network_word_count::show_word_counts(&ssc.socket_text_stream(&host, port));
            start_and_wait(&ssc, ui)
        }
        Example::CustomReceiver {
            host,
            port,
            interval,
        } => {
            let ssc = StreamingContext::new(interval);
            let receiver = custom_receiver::CustomReceiver::new(&host, port);
            network_word_count::word_counts(&ssc.receiver_stream(receiver)).print();
            start_and_wait(&ssc, ui)
        }
    }
}

/// The receiver configuration: the default, with the write-ahead log and the replacement of
/// invalid UTF-8 if asked for.
/// How the socket examples' receiver ingests.
#[derive(clap::Args)]
pub struct ReceiverArgs {
    /// Keep a receiver write-ahead log under the checkpoint directory (Spark's
    /// spark.streaming.receiver.writeAheadLog.enable): lines sealed into a batch survive a crash
    /// and batches run again after a restart hold the same lines. Needs a checkpoint directory.
    #[arg(long)]
    wal: bool,
    /// Replace received bytes that are not UTF-8 with U+FFFD (as Spark does) instead of failing
    /// their batch: the way past a batch the write-ahead log holds with such bytes.
    #[arg(long)]
    replace_invalid_utf8: bool,
    /// Lines per second at most (Spark's spark.streaming.receiver.maxRate). Without it or
    /// --backpressure, a server that sends faster than the batches are processed makes the
    /// received lines pile up in memory.
    #[arg(long, value_name = "LINES_PER_S", value_parser = positive_rate)]
    max_rate: Option<f64>,
    /// Adapt the rate at which lines are read to what the batches can process (Spark's
    /// spark.streaming.backpressure.enabled), at most --max-rate; the server is slowed by TCP's
    /// flow control.
    #[arg(long)]
    backpressure: bool,
}

impl ReceiverArgs {
    fn config(&self) -> ReceiverConfig {
        ReceiverConfig {
            write_ahead_log: self.wal,
            utf8: if self.replace_invalid_utf8 {
                Utf8Policy::Replace
            } else {
                Utf8Policy::Fail
            },
            max_rate: self.max_rate,
            backpressure: self.backpressure,
            ..ReceiverConfig::default()
        }
    }
}

/// A rate: a finite number above 0.
fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("expected a positive number, got {text:?}")),
    }
}

/// `kafka-word-count --records N`: the same word count over the next `n` records, batches back
/// to back, with `replay`'s summary.
fn kafka_word_count_finite(
    config: KafkaConfig,
    interval: Duration,
    stats_json: Option<PathBuf>,
    ui: Option<UiConfig>,
) -> Result<()> {
    let stats_json = StatsJson::create(stats_json.as_deref())?;
    let stats = Arc::new(RunStats::new(0));
    let ssc = StreamingContext::builder(interval)
        .clock(Arc::new(FastClock::new(Time::from_millis(0))))
        .stop_when_exhausted(true)
        .build();
    ssc.add_streaming_listener(stats.clone());
    let counts = direct_kafka_word_count::word_counts(&ssc.kafka_stream(config));
    stats.count_words(&counts);
    let result = start_and_wait(&ssc, ui);
    let summary = stats.summary();
    stats_json.write(&summary, "kafka-word-count")?;
    super::print_out(&summary.to_text())?;
    result
}

/// Saves `stream`'s batches under `output` (`save_as_text_files`), or prints them.
fn save_or_print<T: Data>(stream: &DStream<T>, output: &Option<String>) {
    save_or_print_as(stream, output, "");
}

/// [`save_or_print`] with Spark's `saveAsTextFiles` suffix.
fn save_or_print_as<T: Data>(stream: &DStream<T>, output: &Option<String>, suffix: &str) {
    match output {
        Some(prefix) => stream.save_as_text_files(prefix, suffix),
        None => stream.print(),
    }
}

/// Starts `ssc` with the web UI `ui` and waits for it to end (stopping it gracefully on SIGINT
/// or SIGTERM).
fn start_and_wait(ssc: &StreamingContext, ui: Option<UiConfig>) -> Result<()> {
    super::interrupts::run_to_the_end(ssc, ui)
}

/// Builds the program (through `get_or_create` when there is a checkpoint directory: it resumes
/// from its newest checkpoint), starts it and waits for it to end.
fn run_resumable(
    checkpoint: Option<&Path>,
    ui: Option<UiConfig>,
    build: impl FnOnce() -> StreamingContext,
) -> Result<()> {
    let ssc = match checkpoint {
        Some(cp) => StreamingContext::get_or_create(cp, build)?,
        None => build(),
    };
    start_and_wait(&ssc, ui)
}

impl Example {
    /// The application's name in the web UI: the Spark example's.
    fn app_name(&self) -> &'static str {
        match self {
            Example::QueueStream { .. } => "QueueStream",
            Example::NetworkWordCount { .. } => "NetworkWordCount",
            Example::StatefulNetworkWordCount { .. } => "StatefulNetworkWordCount",
            Example::KafkaWordCount { .. } => "DirectKafkaWordCount",
            Example::TextFileWordCount { .. } => "HdfsWordCount",
            Example::RecoverableNetworkWordCount { .. } => "RecoverableNetworkWordCount",
            Example::SqlNetworkWordCount { .. } => "SqlNetworkWordCount",
            Example::CustomReceiver { .. } => "CustomReceiver",
        }
    }
}
