//! `dstreams replay`: replays text files through one of the word-count jobs as fast as possible
//! (or at a given rate) and reports throughput and batch latencies.

use super::stats::{RunStats, StatsJson};
use clap::{Args, ValueEnum};
use dstreams::prelude::*;
use dstreams::source::{ReplayCut, ReplayData};
use std::path::PathBuf;
use std::sync::Arc;

/// The jobs `replay` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[allow(clippy::enum_variant_names)] // the variants are the CLI's job names: word-count, ...
pub enum Job {
    /// Per-batch word count: `flat_map(split " ") -> map((w, 1)) -> reduce_by_key(+)`.
    WordCount,
    /// `reduce_by_key_and_window(+, -, window, slide)` over the word pairs, zero counts dropped.
    WindowedWordCount,
    /// Running count per word with `update_state_by_key` (on the per-batch counts; with
    /// `--closures` on the `(w, 1)` pairs).
    StatefulWordCount,
    /// Both: the running counts and the windowed counts (saved with suffixes `state` and
    /// `window`).
    StatefulWindowedWordCount,
}

impl Job {
    fn name(self) -> &'static str {
        match self {
            Job::WordCount => "word-count",
            Job::WindowedWordCount => "windowed-word-count",
            Job::StatefulWordCount => "stateful-word-count",
            Job::StatefulWindowedWordCount => "stateful-windowed-word-count",
        }
    }
}

#[derive(Args)]
pub struct ReplayArgs {
    /// The job to run.
    #[arg(long, value_enum, default_value = "word-count")]
    job: Job,
    /// Lines per batch.
    #[arg(long, conflicts_with = "batch_bytes")]
    batch_lines: Option<usize>,
    /// Bytes per batch (each batch ends at the first line end at or after this many bytes).
    #[arg(long, conflicts_with = "batch_per_file")]
    batch_bytes: Option<usize>,
    /// One batch per input file, whole.
    #[arg(long, conflicts_with = "batch_lines")]
    batch_per_file: bool,
    /// Window length in batches (windowed-word-count).
    #[arg(long, default_value_t = 10)]
    window: i64,
    /// Slide in batches (windowed-word-count).
    #[arg(long, default_value_t = 1)]
    slide: i64,
    /// Play at this rate on the system clock instead of as fast as possible: records per second
    /// with --batch-lines (e.g. 50000), or megabytes per second with --batch-bytes (e.g. 20MB/s).
    #[arg(long)]
    rate: Option<String>,
    /// Save every batch's counts under PREFIX: PREFIX-<ms>/part-NNNNN (save_as_text_files, or
    /// save_as_parquet_files / save_as_arrow_files with --output-format).
    #[arg(long)]
    output: Option<String>,
    /// The format of --output: Spark's text lines, Parquet, or Arrow IPC files.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, requires = "output")]
    output_format: OutputFormat,
    /// Checkpoint into DIR, and resume from the newest checkpoint there if there is one: a run
    /// killed part way and started again with the same arguments carries on where its last
    /// checkpoint left off. Without it, stateful jobs checkpoint into a temporary directory
    /// removed at the end.
    #[arg(long, value_name = "DIR")]
    checkpoint: Option<PathBuf>,
    /// Take a checkpoint every N batches (default: every 10 s of batch time, as Spark).
    #[arg(long, value_name = "N")]
    checkpoint_every: Option<i64>,
    /// Write the summary as one JSON object to this file.
    #[arg(long)]
    stats_json: Option<PathBuf>,
    /// Run word count as user closures (`flat_map(split " ") -> map((w, 1)) -> reduce_by_key(+)`)
    /// instead of the built-in `split(" ") -> count_by_value()` (same results).
    #[arg(long)]
    closures: bool,
    /// Read the files into memory instead of mapping them: for files that may change meanwhile,
    /// and for FIFOs (read to their end), which cannot be mapped and are refused without it.
    #[arg(long)]
    no_mmap: bool,
    /// Replay the files this many times over, one after the other (the bytes are not copied):
    /// a small corpus replayed long enough that the figures show steady state.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// The web UI (on by default with --rate).
    #[command(flatten)]
    ui: super::ui::UiArgs,
    /// The text files to replay, in order. Unless --no-mmap, they are mapped into memory and
    /// must not be modified or truncated during the replay.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

const BATCH: Duration = Duration::seconds(1);

fn batch_interval(args: &ReplayArgs, cut: ReplayCut) -> Result<Option<Duration>> {
    let Some(rate) = &args.rate else {
        return Ok(None);
    };
    let bad = || {
        Error::InvalidArgument(format!(
            "--rate {rate:?}: use records/s with --batch-lines (e.g. 50000) or MB/s with --batch-bytes (e.g. 20MB/s)"
        ))
    };
    let millis = match cut {
        ReplayCut::Lines(n) => {
            let per_s: f64 = rate.parse().map_err(|_| bad())?;
            n as f64 / per_s * 1000.0
        }
        ReplayCut::PerFile => {
            return Err(Error::InvalidArgument(
                "--rate needs --batch-lines or --batch-bytes".into(),
            ));
        }
        ReplayCut::Bytes(n) => {
            let mb: f64 = rate
                .strip_suffix("MB/s")
                .ok_or_else(bad)?
                .trim()
                .parse()
                .map_err(|_| bad())?;
            n as f64 / (mb * 1e6) * 1000.0
        }
    };
    if !(millis.is_finite() && millis >= 1.0) {
        return Err(Error::InvalidArgument(format!(
            "--rate {rate} gives a batch interval of {millis:.3} ms; it must be at least 1 ms"
        )));
    }
    if millis > Duration::LONGEST.as_millis() as f64 {
        return Err(Error::InvalidArgument(format!(
            "--rate {rate} gives a batch interval of {millis:.3e} ms; it must be at most {} (100 years)",
            Duration::LONGEST
        )));
    }
    Ok(Some(Duration::millis(millis.round() as i64)))
}

/// Spark's windowed word count over `(word, count)` pairs: `reduce_by_key_and_window(+, -)`
/// over `window` batches sliding by `slide`, words whose count fell to 0 not emitted.
pub(super) fn windowed_counts(
    pairs: &DStream<(String, i64)>,
    window: i64,
    slide: i64,
) -> DStream<(String, i64)> {
    let batch = pairs.slide_duration();
    let window = Window::new(batch * window, batch * slide)
        .inverse(|a, b| a - b)
        .drop_empty_keys();
    pairs.reduce_by_key_and_window_with(|a, b| a + b, window)
}

/// Spark's stateful word count update: the running total of a word's counts.
pub(super) fn running_count(counts: &[i64], total: Option<i64>) -> Option<i64> {
    Some(total.unwrap_or(0) + counts.iter().sum::<i64>())
}

/// Builds the job's graph on `ssc`.
fn build_job(
    ssc: &StreamingContext,
    data: ReplayData,
    cut: ReplayCut,
    args: &ReplayArgs,
    stats: &Arc<RunStats>,
) {
    let lines = ssc.replay_stream(data, cut);
    // Per-batch counts, and the keyed stream the state and the window take: the `(w, 1)` pairs
    // with --closures, else the per-batch counts.
    let (per_batch, keyed) = if args.closures {
        let pairs = lines.flat_map(|line| line.split_java(' ')).map(|w| (w, 1));
        (pairs.reduce_by_key(|a, b| a + b), pairs)
    } else {
        let per_batch = lines.split(Separators::Space).count_by_value();
        (per_batch.clone(), per_batch)
    };
    let running = matches!(
        args.job,
        Job::StatefulWordCount | Job::StatefulWindowedWordCount
    )
    .then(|| keyed.update_state_by_key(running_count));
    let windowed = matches!(
        args.job,
        Job::WindowedWordCount | Job::StatefulWindowedWordCount
    )
    .then(|| windowed_counts(&keyed, args.window, args.slide));
    if let Some(every) = args.checkpoint_every {
        per_batch.checkpoint(ssc.batch_interval() * every);
    }
    stats.count_words(&per_batch);
    let outputs: Vec<(&DStream<(String, i64)>, &str)> = match args.job {
        Job::WordCount => vec![(&per_batch, "")],
        Job::StatefulWindowedWordCount => vec![
            (running.as_ref().expect("built above"), "state"),
            (windowed.as_ref().expect("built above"), "window"),
        ],
        _ => vec![(
            running.as_ref().or(windowed.as_ref()).expect("built above"),
            "",
        )],
    };
    for (stream, suffix) in outputs {
        if args.job != Job::WordCount {
            // The window's or the state's result is computed every batch whether or not it is saved.
            stream.foreach_rdd(|_| ());
        }
        if let Some(prefix) = &args.output {
            match args.output_format {
                OutputFormat::Text => stream.save_as_text_files(prefix, suffix),
                OutputFormat::Parquet => stream.save_as_parquet_files(prefix, suffix),
                OutputFormat::Arrow => stream.save_as_arrow_files(prefix, suffix),
            }
        }
    }
}

/// The file format of `replay --output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// `save_as_text_files`: Spark's `(word,count)` lines.
    Text,
    /// `save_as_parquet_files`.
    Parquet,
    /// `save_as_arrow_files` (the Arrow IPC file format).
    Arrow,
}

pub fn run(args: ReplayArgs) -> Result<()> {
    let cut = match (args.batch_lines, args.batch_bytes, args.batch_per_file) {
        (Some(n), None, false) => ReplayCut::Lines(n),
        (None, Some(n), false) => ReplayCut::Bytes(n),
        (None, None, true) => ReplayCut::PerFile,
        (None, None, false) => ReplayCut::Lines(10_000),
        _ => unreachable!("clap rejects more than one cut"),
    };
    let interval = batch_interval(&args, cut)?;
    let stats_json = StatsJson::create(args.stats_json.as_deref())?;
    let data = if args.no_mmap {
        ReplayData::read(&args.files)?
    } else {
        // SAFETY: `dstreams replay --help` states that its input files must not change during
        // a replay (`--no-mmap` reads them instead).
        unsafe { ReplayData::map(&args.files)? }
    }
    .repeat(args.repeat as usize);
    let stats = Arc::new(RunStats::with_pacing(
        data.len() as u64,
        args.rate.is_some(),
    ));
    let stateful = args.job != Job::WordCount;
    let temporary = (stateful && args.checkpoint.is_none()).then(|| {
        ScratchDir(std::env::temp_dir().join(format!("dstreams-replay-{}", std::process::id())))
    });
    let build = || {
        let builder =
            StreamingContext::builder(interval.unwrap_or(BATCH)).stop_when_exhausted(true);
        let builder = match interval {
            None => builder.clock(Arc::new(FastClock::new(Time::from_millis(0)))),
            Some(_) => builder,
        };
        let ssc = builder.build();
        ssc.add_streaming_listener(stats.clone());
        if let Some(dir) = &temporary {
            ssc.checkpoint(&dir.0);
        }
        build_job(&ssc, data, cut, &args, &stats);
        ssc
    };
    let ssc = match &args.checkpoint {
        Some(dir) => StreamingContext::get_or_create(dir, build)?,
        None => build(),
    };
    let ui = args.ui.config(
        args.rate.is_some(),
        &format!("dstreams replay {}", args.job.name()),
    );
    let result = super::interrupts::run_to_the_end(&ssc, ui);
    drop(temporary);
    let summary = stats.summary();
    stats_json.write(&summary, args.job.name())?;
    super::print_out(&summary.to_text())?;
    result
}

/// The checkpoint directory of a stateful replay without `--checkpoint`, removed when dropped: on
/// every way out of the command, a failing start included.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
