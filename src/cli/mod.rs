//! Command-line parsing and dispatch.

mod examples;
mod kafka_produce;
mod replay;
mod stats;
mod ui;
mod zipf;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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

pub fn main() -> ExitCode {
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
        Command::Zipf(args) => zipf::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dstreams: {e}");
            ExitCode::FAILURE
        }
    }
}
