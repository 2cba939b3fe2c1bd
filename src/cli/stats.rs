//! Run statistics for `dstreams replay`: per-batch timings from a listener, a progress bar on a
//! terminal, and the summary (text and JSON) at the end.

use dstreams::{BatchInfo, CheckpointInfo, DStream, StreamingListener, Time};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Collects what each batch did.
pub struct RunStats {
    started: Instant,
    batch_started: Mutex<Option<Instant>>,
    /// Each batch's time and processing time, with the snapshot of the checkpoint that followed
    /// it (the part of a checkpoint the batches wait for; the files are written in the
    /// background).
    batch_times: Mutex<Vec<(Time, Duration)>>,
    /// Checkpoints: batch index, bytes, snapshot ms, write ms.
    checkpoints: Mutex<Vec<(usize, u64, f64, f64)>>,
    /// The largest anonymous resident memory seen after a batch (mapped input files excluded).
    peak_anon_bytes: AtomicU64,
    first_batch_done: Mutex<Option<Duration>>,
    /// From the process's launch to the end of its first batch.
    launch_to_first_batch: Mutex<Option<Duration>>,
    /// Whether batches are paced by the clock (`replay --rate`): then Spark's delays are
    /// reported.
    paced: bool,
    /// Each batch's scheduling delay and total delay (Spark's `BatchInfo`), in ms.
    delays: Mutex<Vec<(i64, i64)>>,
    records: AtomicU64,
    bytes: AtomicU64,
    /// Words counted by the job's output (added by the job).
    pub words: AtomicU64,
    progress: ProgressBar,
}

impl RunStats {
    /// Statistics for a run over `total_bytes` of input; the progress bar shows only on a terminal.
    pub fn new(total_bytes: u64) -> Self {
        Self::with_pacing(total_bytes, false)
    }

    /// [`new`](Self::new) for a run whose batches are `paced` by the clock: its summary reports
    /// Spark's scheduling and total delays.
    pub fn with_pacing(total_bytes: u64, paced: bool) -> Self {
        let progress = ProgressBar::new(total_bytes);
        progress.set_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        RunStats {
            started: Instant::now(),
            batch_started: Mutex::new(None),
            batch_times: Mutex::new(Vec::new()),
            checkpoints: Mutex::new(Vec::new()),
            peak_anon_bytes: AtomicU64::new(0),
            first_batch_done: Mutex::new(None),
            launch_to_first_batch: Mutex::new(None),
            paced,
            delays: Mutex::new(Vec::new()),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            words: AtomicU64::new(0),
            progress,
        }
    }

    /// Adds up the counts of `counts`' batches into [`words`](Self::words) (an output
    /// operation on it).
    pub fn count_words(self: &Arc<Self>, counts: &DStream<(String, i64)>) {
        let stats = self.clone();
        counts.foreach_rdd(move |batch| {
            let words: i64 = batch
                .partitions()
                .iter()
                .map(|p| p.b.iter().sum::<i64>())
                .sum();
            stats.words.fetch_add(words as u64, Ordering::Relaxed);
        })
    }

    /// The summary of the run so far.
    pub fn summary(&self) -> Summary {
        self.progress.finish_and_clear();
        let in_order: Vec<f64> = lock(&self.batch_times)
            .iter()
            .map(|(_, d)| d.as_secs_f64() * 1000.0)
            .collect();
        let mut times = in_order.clone();
        times.sort_by(f64::total_cmp);
        let seconds = self.started.elapsed().as_secs_f64();
        let bytes = self.bytes.load(Ordering::Relaxed);
        let records = self.records.load(Ordering::Relaxed);
        let words = self.words.load(Ordering::Relaxed);
        Summary {
            batches: times.len() as u64,
            records,
            input_bytes: bytes,
            words,
            seconds,
            mb_per_s: bytes as f64 / 1e6 / seconds,
            records_per_s: records as f64 / seconds,
            words_per_s: words as f64 / seconds,
            batch_ms_p50: percentile(&times, 0.50),
            batch_ms_p99: percentile(&times, 0.99),
            batch_ms_max: times.last().copied().unwrap_or(0.0),
            first_batch_ms: ms(*lock(&self.first_batch_done)),
            launch_to_first_batch_ms: ms(*lock(&self.launch_to_first_batch)),
            peak_rss_bytes: status_kb("VmHWM:"),
            peak_anon_rss_bytes: self.peak_anon_bytes.load(Ordering::Relaxed),
            batch_ms: in_order,
            checkpoints: lock(&self.checkpoints).clone(),
            delays: self.paced.then(|| Delays::of(&lock(&self.delays))),
        }
    }
}

/// Spark's delays over a paced run's batches, in ms: how long a batch waited to start
/// (scheduling) and from its submission to its end (total). A run that keeps up has scheduling
/// delays near zero; a growing backlog shows as growing delays.
#[derive(Debug, Clone, PartialEq)]
pub struct Delays {
    pub scheduling_ms_p50: f64,
    pub scheduling_ms_p99: f64,
    pub total_ms_p50: f64,
    pub total_ms_p99: f64,
    pub total_ms_max: f64,
}

impl Delays {
    fn of(delays: &[(i64, i64)]) -> Delays {
        let sorted = |pick: fn(&(i64, i64)) -> i64| {
            let mut v: Vec<f64> = delays.iter().map(|d| pick(d) as f64).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let (scheduling, total) = (sorted(|d| d.0), sorted(|d| d.1));
        Delays {
            scheduling_ms_p50: percentile(&scheduling, 0.50),
            scheduling_ms_p99: percentile(&scheduling, 0.99),
            total_ms_p50: percentile(&total, 0.50),
            total_ms_p99: percentile(&total, 0.99),
            total_ms_max: total.last().copied().unwrap_or(0.0),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Nearest-rank percentile of sorted values.
/// A duration in ms; 0 if there is none.
fn ms(d: Option<Duration>) -> f64 {
    d.map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A `kB` line of `/proc/self/status` (`VmHWM:` the peak resident set, `RssAnon:` the resident
/// anonymous memory) in bytes, 0 where /proc is not available.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

impl StreamingListener for RunStats {
    fn on_batch_started(&self, _: &BatchInfo) {
        *lock(&self.batch_started) = Some(Instant::now());
    }
    fn on_batch_completed(&self, info: &BatchInfo) {
        if let Some(start) = lock(&self.batch_started).take() {
            lock(&self.batch_times).push((info.batch_time, start.elapsed()));
        }
        lock(&self.first_batch_done).get_or_insert_with(|| self.started.elapsed());
        lock(&self.launch_to_first_batch).get_or_insert_with(|| super::launched().elapsed());
        if let (Some(scheduling), Some(total)) = (info.scheduling_delay(), info.total_delay()) {
            lock(&self.delays).push((scheduling, total));
        }
        self.peak_anon_bytes
            .fetch_max(status_kb("RssAnon:"), Ordering::Relaxed);
        self.records
            .fetch_add(info.num_records(), Ordering::Relaxed);
        let bytes: u64 = info
            .stream_id_to_input_info
            .values()
            .filter_map(|i| i.metadata.get("bytes")?.parse::<u64>().ok())
            .sum();
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.progress.inc(bytes);
    }
    fn on_checkpoint_completed(&self, info: &CheckpointInfo) {
        let mut times = lock(&self.batch_times);
        let Some(index) = times.iter().rposition(|(t, _)| *t == info.batch_time) else {
            return;
        };
        times[index].1 += Duration::from_secs_f64(info.snapshot_ms / 1000.0);
        lock(&self.checkpoints).push((index, info.bytes, info.snapshot_ms, info.write_ms));
    }
}

/// Where `--stats-json` goes: the file is created before the run (so a path that cannot be
/// written fails at once, not after the whole run) and written after it.
pub struct StatsJson(Option<(PathBuf, File)>);

impl StatsJson {
    /// Creates the file at `path`, if one is given.
    pub fn create(path: Option<&Path>) -> dstreams::Result<Self> {
        path.map(|p| {
            File::create(p)
                .map(|f| (p.to_path_buf(), f))
                .map_err(|e| dstreams::Error::io(format!("creating {}", p.display()), e))
        })
        .transpose()
        .map(StatsJson)
    }

    /// Writes `summary` of job `job` into the file, if there is one.
    pub fn write(self, summary: &Summary, job: &str) -> dstreams::Result<()> {
        let Some((path, mut file)) = self.0 else {
            return Ok(());
        };
        std::io::Write::write_all(&mut file, summary.to_json(job).as_bytes())
            .map_err(|e| dstreams::Error::io(format!("writing {}", path.display()), e))
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub batches: u64,
    pub records: u64,
    pub input_bytes: u64,
    pub words: u64,
    pub seconds: f64,
    pub mb_per_s: f64,
    pub records_per_s: f64,
    pub words_per_s: f64,
    pub batch_ms_p50: f64,
    pub batch_ms_p99: f64,
    pub batch_ms_max: f64,
    pub first_batch_ms: f64,
    /// From the process's launch (its `main`) to the end of its first batch.
    pub launch_to_first_batch_ms: f64,
    pub peak_rss_bytes: u64,
    /// The peak of anonymous resident memory after a batch: the engine's own memory, without
    /// the pages of mapped input files that `peak_rss_bytes` includes.
    pub peak_anon_rss_bytes: u64,
    /// Each batch's processing time (with the snapshot of the checkpoint that followed it), in
    /// batch order.
    pub batch_ms: Vec<f64>,
    /// Checkpoints taken: batch index, bytes written, snapshot ms, write ms.
    pub checkpoints: Vec<(usize, u64, f64, f64)>,
    /// Spark's delays, for a run paced by the clock.
    pub delays: Option<Delays>,
}

impl Summary {
    /// One JSON object (the keys scripts depend on).
    pub fn to_json(&self, job: &str) -> String {
        format!(
            concat!(
                "{{\"job\":\"{}\",\"batches\":{},\"records\":{},\"input_bytes\":{},\"words\":{},",
                "\"seconds\":{:.6},\"mb_per_s\":{:.3},\"records_per_s\":{:.1},\"words_per_s\":{:.1},",
                "\"batch_ms_p50\":{:.3},\"batch_ms_p99\":{:.3},\"batch_ms_max\":{:.3},",
                "\"first_batch_ms\":{:.3},\"launch_to_first_batch_ms\":{:.3},\"peak_rss_bytes\":{},\"peak_anon_rss_bytes\":{},",
                "{}\"batch_ms\":[{}],\"checkpoints\":[{}]}}\n"
            ),
            job,
            self.batches,
            self.records,
            self.input_bytes,
            self.words,
            self.seconds,
            self.mb_per_s,
            self.records_per_s,
            self.words_per_s,
            self.batch_ms_p50,
            self.batch_ms_p99,
            self.batch_ms_max,
            self.first_batch_ms,
            self.launch_to_first_batch_ms,
            self.peak_rss_bytes,
            self.peak_anon_rss_bytes,
            self.delays.as_ref().map_or_else(String::new, |d| format!(
                concat!(
                    "\"scheduling_delay_ms_p50\":{:.3},\"scheduling_delay_ms_p99\":{:.3},",
                    "\"total_delay_ms_p50\":{:.3},\"total_delay_ms_p99\":{:.3},",
                    "\"total_delay_ms_max\":{:.3},"
                ),
                d.scheduling_ms_p50,
                d.scheduling_ms_p99,
                d.total_ms_p50,
                d.total_ms_p99,
                d.total_ms_max
            )),
            self.batch_ms
                .iter()
                .map(|ms| format!("{ms:.3}"))
                .collect::<Vec<_>>()
                .join(","),
            self.checkpoints
                .iter()
                .map(|(batch, bytes, snapshot, write)| {
                    format!("[{batch},{bytes},{snapshot:.3},{write:.3}]")
                })
                .collect::<Vec<_>>()
                .join(",")
        )
    }

    /// The human summary.
    pub fn to_text(&self) -> String {
        format!(
            "batches {}  records {}  bytes {}  words {}\n{:.3} s  {:.1} MB/s  {:.0} records/s  {:.0} words/s\nbatch ms p50 {:.2}  p99 {:.2}  max {:.2}  first batch done after {:.1} ms ({:.1} ms after launch)\npeak RSS {:.1} MiB\n",
            self.batches,
            self.records,
            self.input_bytes,
            self.words,
            self.seconds,
            self.mb_per_s,
            self.records_per_s,
            self.words_per_s,
            self.batch_ms_p50,
            self.batch_ms_p99,
            self.batch_ms_max,
            self.first_batch_ms,
            self.launch_to_first_batch_ms,
            self.peak_rss_bytes as f64 / (1 << 20) as f64
        ) + &self.delays_text()
            + &self.checkpoints_text()
    }

    fn delays_text(&self) -> String {
        self.delays.as_ref().map_or_else(String::new, |d| {
            format!(
                "scheduling delay ms p50 {:.0}  p99 {:.0}  total delay ms p50 {:.0}  p99 {:.0}  max {:.0}\n",
                d.scheduling_ms_p50,
                d.scheduling_ms_p99,
                d.total_ms_p50,
                d.total_ms_p99,
                d.total_ms_max
            )
        })
    }

    fn checkpoints_text(&self) -> String {
        let Some(&(_, last_bytes, _, _)) = self.checkpoints.last() else {
            return String::new();
        };
        let mut ms: Vec<f64> = self.checkpoints.iter().map(|c| c.2 + c.3).collect();
        ms.sort_by(f64::total_cmp);
        format!(
            "checkpoints {}  ms p50 {:.2}  max {:.2}  last {:.1} MiB\n",
            ms.len(),
            percentile(&ms, 0.5),
            ms.last().copied().unwrap_or(0.0),
            last_bytes as f64 / (1 << 20) as f64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        assert!(status_kb("VmHWM:") > 0);
        assert!(status_kb("RssAnon:") > 0);
    }
}
