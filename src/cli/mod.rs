//! Command-line parsing and dispatch.

mod examples;
mod interrupts;
mod kafka_consume;
mod kafka_produce;
mod replay;
mod stats;
mod ui;
mod zipf;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Instant;

/// When `main` started: what run statistics count the launch from.
static LAUNCHED: OnceLock<Instant> = OnceLock::new();

/// When the process's `main` started (the process's launch, less the loader's work before it).
fn launched() -> Instant {
    *LAUNCHED.get_or_init(Instant::now)
}

/// dstreams: Spark Streaming's DStreams in Rust.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay text files through a word-count job and report throughput and latencies.
    Replay(replay::ReplayArgs),
    /// Load text files into a Kafka topic, one record per line, and report the throughput.
    KafkaProduce(kafka_produce::KafkaProduceArgs),
    /// Read a topic with a plain Kafka consumer (nothing else) and report the throughput.
    KafkaConsume(kafka_consume::KafkaConsumeArgs),
    /// Write seeded Zipf-distributed text (a large vocabulary) to standard output.
    Zipf(zipf::ZipfArgs),
    /// Run one of Spark Streaming's example programs.
    Run {
        #[command(subcommand)]
        example: examples::Example,
        #[command(flatten)]
        ui: ui::UiArgs,
    },
}

/// Writes `text` to standard output: the summaries' print, which fails with a typed error (a
/// closed pipe, a full disk) instead of panicking as `print!` does.
fn print_out(text: &str) -> dstreams::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| dstreams::Error::io("writing to standard output", e))
}

pub fn main() -> ExitCode {
    launched();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { example, ui } => examples::run(example, &ui),
        Command::Replay(args) => replay::run(args),
        Command::KafkaProduce(args) => kafka_produce::run(args),
        Command::KafkaConsume(args) => kafka_consume::run(args),
        Command::Zipf(args) => zipf::run(args),
    };
    let status = match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of standard output went away (`dstreams ... | head`): nothing is left to
        // say, and nobody to say it to.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dstreams: {e}");
            ExitCode::FAILURE
        }
    };
    interrupts::exit_status().map_or(status, ExitCode::from)
}
