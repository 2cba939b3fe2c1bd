//! Receivers: long-running sources that push bytes or lines as they arrive (Spark's `Receiver`
//! and its supervisor). Everything a receiver stores is appended once into mmap-backed segments;
//! at each batch time the segments are sealed and their lines become the batch, as views.
//!
//! With [`ReceiverConfig::write_ahead_log`], each sealed batch is also written and synced to a
//! log file under the checkpoint directory before its lines reach the graph, and a context
//! restarted from a checkpoint re-creates those batches from their files (module `wal`, which
//! states exactly what is and is not covered). A receiver is a recoverable input of checkpoints
//! (kind `receiver`) either way; without the log it saves nothing and its batches re-run after a
//! restart take live data.

use crate::context::{Input, ReceiverInfo, StreamingContext, StreamingListener};
use crate::data::Batch;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::source::file_stream::Utf8Policy;
use crate::source::input::{described, input_stream};
use crate::source::lines::{LinesError, split_lines_partitioned};
use crate::source::rate::{PidRateEstimator, RateLimiter};
use crate::source::segment::{SegmentConfig, SegmentError, SegmentWriter};
use crate::source::wal::{Lookup, RECEIVED, WriteAheadLog};
use crate::time::{Duration, Time};
use arrow_array::StringViewArray;
use arrow_buffer::Buffer;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Instant;

/// A source that runs alongside the batches and stores text as it arrives (Spark's `Receiver`).
///
/// `on_start` must not block: it starts whatever thread reads the source and returns. That thread
/// stores data through the [`ReceiverHandle`] and watches [`ReceiverHandle::is_stopped`].
pub trait Receiver: Send + 'static {
    /// Starts receiving into `handle`.
    fn on_start(&mut self, handle: ReceiverHandle) -> Result<()>;
    /// Stops receiving: ends the threads `on_start` started (the handle already reports stopped).
    fn on_stop(&mut self);
    /// A name for logs and listener events.
    fn name(&self) -> String {
        "receiver".to_string()
    }
}

/// How a receiver stream ingests.
#[derive(Clone, Debug)]
pub struct ReceiverConfig {
    /// Records per second at most (Spark's `spark.streaming.receiver.maxRate`); `None`: unlimited.
    pub max_rate: Option<f64>,
    /// Adapt the rate to what the batches can process (Spark's PID backpressure), never above
    /// `max_rate`.
    pub backpressure: bool,
    /// The rate before backpressure has an estimate (Spark's `backpressure.initialRate`).
    pub initial_rate: Option<f64>,
    /// Wait before a restart (Spark's `spark.streaming.receiverRestartDelay`, 2 s).
    pub restart_delay: Duration,
    /// The longest line accepted; longer lines are skipped with an error (see [`Error::LineTooLong`]).
    pub max_line_length: usize,
    /// Bytes per receiver segment (each under 2 GiB).
    pub segment_capacity: usize,
    /// Keep a write-ahead log of received data (Spark's
    /// `spark.streaming.receiver.writeAheadLog.enable`, default false). Each batch's sealed
    /// bytes are written to `<checkpoint dir>/received/<input id>/<batch ms>.log` and synced
    /// (file and directory) before the batch's lines are handed to the graph; an empty batch
    /// writes an empty file. After a restart with
    /// [`StreamingContext::get_or_create`], batches with a log file are re-created from it (the
    /// batches after the checkpoint, which run again, and older ones a window rebuilds its
    /// panes from), and live data goes to the first batch after them. Log files no kept
    /// checkpoint needs are removed after each checkpoint.
    ///
    /// Covered: every line sealed into a batch, across a crash of the process or of the
    /// machine. Not covered: lines stored but not yet sealed when the process died (Spark
    /// loses the block it is building the same way), data the source sent that was never read,
    /// and a run that died before its first checkpoint (the restart is a fresh start and
    /// removes its log files). A log file that cannot be written fails its batch with
    /// [`Error::WriteAheadLog`] naming the file; the lines go to the next batch.
    ///
    /// Needs a checkpoint directory: [`StreamingContext::start`] fails with
    /// [`Error::WriteAheadLogWithoutCheckpointDirectory`] without one.
    pub write_ahead_log: bool,
    /// What to do with received bytes that are not UTF-8: fail the batch (the default), or
    /// replace them with U+FFFD, as Spark's decoder does. With the write-ahead log, a batch that
    /// failed is read again from its log file at every restart and fails again; restarting with
    /// [`Utf8Policy::Replace`] is the way past it (the failure's error says so).
    pub utf8: Utf8Policy,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            max_rate: None,
            backpressure: false,
            initial_rate: None,
            restart_delay: Duration::millis(2000),
            max_line_length: 1 << 20,
            segment_capacity: 64 << 20,
            write_ahead_log: false,
            utf8: Utf8Policy::Fail,
        }
    }
}

/// What a receiver writes through; cheap to clone and to send to its threads.
#[derive(Clone)]
pub struct ReceiverHandle {
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    stream_id: OnceLock<usize>,
    config: ReceiverConfig,
    writer: Mutex<Ingest>,
    limiter: Mutex<RateLimiter>,
    stopped: AtomicBool,
    wake: (Mutex<()>, Condvar),
    records: AtomicU64,
    /// Set once the supervisor exists; used to restart.
    supervisor: OnceLock<Weak<Supervisor>>,
    ctx: Weak<crate::context::Core>,
}

/// The segment writer and the state of skipping an oversized line.
struct Ingest {
    writer: SegmentWriter,
    skipping: bool,
}

impl ReceiverHandle {
    /// The handle of a receiver named `name` writing into `writer`, in the context `ctx` (a
    /// dangling one for a handle no context reads: the fuzz targets'), stopped until started.
    pub(crate) fn new(
        name: String,
        config: ReceiverConfig,
        writer: SegmentWriter,
        ctx: Weak<crate::context::Core>,
    ) -> Self {
        let initial = if config.backpressure {
            config.initial_rate.or(config.max_rate)
        } else {
            config.max_rate
        };
        let shared = Arc::new(Shared {
            name,
            stream_id: OnceLock::new(),
            writer: Mutex::new(Ingest {
                writer,
                skipping: false,
            }),
            limiter: Mutex::new(RateLimiter::new(initial)),
            stopped: AtomicBool::new(true),
            wake: (Mutex::new(()), Condvar::new()),
            records: AtomicU64::new(0),
            supervisor: OnceLock::new(),
            ctx,
            config,
        });
        ReceiverHandle { shared }
    }

    /// Stores one record (a line; it must not contain `\n`).
    pub fn store(&self, line: &str) -> Result<()> {
        self.admit(1);
        let mut ingest = lock(&self.shared.writer);
        if line.len() > self.shared.config.max_line_length {
            drop(ingest);
            return Err(self.line_too_long(line.len()));
        }
        ingest
            .writer
            .append_line(line.as_bytes())
            .map_err(|e| self.segment_error(e))?;
        self.shared.records.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Stores a chunk of a `\n`-separated byte stream (as read from a socket): chunks need not end
    /// at a line end; an incomplete last line waits for the next chunk. A line longer than the
    /// configured maximum is skipped up to its newline and reported once, by the call that
    /// finds it too long, as [`Error::LineTooLong`] (later chunks of it are skipped quietly).
    pub fn store_bytes(&self, chunk: &[u8]) -> Result<()> {
        self.admit(chunk.iter().filter(|&&b| b == b'\n').count() as u64);
        let mut ingest = lock(&self.shared.writer);
        let mut rest = chunk;
        let mut skipped = 0usize;
        // Set when a line is found too long in this chunk: one error per oversized line, not
        // one per chunk it spans.
        let mut found_oversized = false;
        let mut records = 0u64;
        let max = self.shared.config.max_line_length;
        while !rest.is_empty() {
            if ingest.skipping {
                match rest.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        skipped += i + 1;
                        rest = &rest[i + 1..];
                        ingest.skipping = false;
                    }
                    None => {
                        skipped += rest.len();
                        rest = &[];
                    }
                }
                continue;
            }
            // Feed up to the next newline (included) so an oversized line is caught early.
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            let (piece, tail) = rest.split_at(end);
            rest = tail;
            let terminated = piece.ends_with(b"\n");
            // The line's length so far: the buffered start plus this piece, without its `\n`.
            let line_len = ingest.writer.partial_len() + piece.len() - usize::from(terminated);
            let over = line_len > max;
            let too_long = over
                || match ingest.writer.append_raw(piece) {
                    Ok(()) => false,
                    Err(SegmentError::LineTooLong { .. }) => true,
                    Err(e) => {
                        self.shared.records.fetch_add(records, Ordering::Relaxed);
                        return Err(self.segment_error(e));
                    }
                };
            if too_long {
                // Drop the buffered start of the line and the piece (not appended when `over`;
                // else the segment filled up mid-piece); skip on to the newline if it has none.
                skipped +=
                    ingest.writer.discard_partial_line() + if over { piece.len() } else { 0 };
                ingest.skipping = !terminated;
                found_oversized = true;
            } else if terminated {
                records += 1;
            }
        }
        self.shared.records.fetch_add(records, Ordering::Relaxed);
        drop(ingest);
        if found_oversized {
            return Err(self.line_too_long(skipped));
        }
        if skipped > 0 {
            tracing::debug!(receiver = %self.shared.name, skipped, "skipped the rest of an oversized line");
        }
        Ok(())
    }

    /// The stream ended (the peer closed): an incomplete last line becomes a line, as
    /// `BufferedReader.readLine` returns it.
    pub fn end_of_stream(&self) -> Result<()> {
        let mut ingest = lock(&self.shared.writer);
        if ingest.skipping {
            ingest.skipping = false;
            return Ok(());
        }
        if ingest.writer.partial_len() > 0 {
            ingest
                .writer
                .append_raw(b"\n")
                .map_err(|e| self.segment_error(e))?;
            self.shared.records.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The stream broke off (the connection was reset, a read failed): an incomplete last line
    /// is dropped, as Spark's `readLine` loses it when reading fails, rather than stored as a
    /// truncated record. Returns the bytes dropped.
    pub fn stream_broken(&self) -> usize {
        let mut ingest = lock(&self.shared.writer);
        if ingest.skipping {
            // The over-long line being skipped was reported already.
            ingest.skipping = false;
            return 0;
        }
        ingest.writer.discard_partial_line()
    }

    /// Seals every complete line stored since the last seal (see [`SegmentWriter::seal`]); with
    /// `with_incomplete_line`, an incomplete last line too (the receiver stopped for good).
    pub(crate) fn seal(&self, with_incomplete_line: bool) -> Result<Vec<Buffer>> {
        let mut ingest = lock(&self.shared.writer);
        let sealed = if with_incomplete_line {
            ingest.writer.seal_all()
        } else {
            ingest.writer.seal()
        };
        sealed.map_err(|e| self.segment_error(e))
    }

    /// Stops the receiver and starts it again after `delay` (default: the configured restart
    /// delay), as Spark's `restart`. Returns at once.
    pub fn restart(&self, message: &str, delay: Option<Duration>) {
        tracing::warn!(receiver = %self.shared.name, "Restarting receiver with delay {}: {message}", delay.unwrap_or(self.shared.config.restart_delay));
        let sup = self.shared.supervisor.get().and_then(Weak::upgrade);
        if let Some(sup) = sup {
            let delay = delay.unwrap_or(self.shared.config.restart_delay);
            std::thread::Builder::new()
                .name(format!("dstreams-restart-{}", self.shared.name))
                .spawn(move || sup.restart(delay))
                .map(|_| ())
                .unwrap_or_else(|e| tracing::error!("cannot start a restart thread: {e}"));
        }
    }

    /// Reports an error to listeners (`on_receiver_error`) and the log, without stopping (Spark's
    /// `reportError`). It is not a failure of the context: `await_termination` does not return
    /// it, and a program waiting on the context goes on receiving (a line skipped for its length,
    /// say, must not end a job whose next lines are good).
    pub fn report_error(&self, error: Error) {
        let text = error.to_string();
        if let Some(sup) = self.shared.supervisor.get().and_then(Weak::upgrade) {
            sup.notify(|l, info| l.on_receiver_error(info), Some(text.clone()));
        }
        tracing::warn!(receiver = %self.shared.name, "{text}");
    }

    /// Whether the receiver was stopped (or is between a stop and a restart).
    pub fn is_stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::SeqCst)
    }

    /// Waits up to `timeout` or until the receiver is stopped; returns whether it is stopped. Use
    /// it instead of sleeping so that stopping is immediate.
    pub fn wait_stopped(&self, timeout: impl Into<Duration>) -> bool {
        let timeout = timeout.into().to_std();
        let (m, cv) = &self.shared.wake;
        let guard = lock(m);
        if self.is_stopped() {
            return true;
        }
        let _ = cv.wait_timeout_while(guard, timeout, |_| !self.is_stopped());
        self.is_stopped()
    }

    /// The current rate limit in records per second (`None`: unlimited); backpressure moves it.
    pub fn rate_limit(&self) -> Option<f64> {
        lock(&self.shared.limiter).rate()
    }

    /// Records stored so far.
    pub fn records_stored(&self) -> u64 {
        self.shared.records.load(Ordering::Relaxed)
    }

    /// The receiver's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    fn admit(&self, records: u64) {
        if records == 0 {
            return;
        }
        let wait = lock(&self.shared.limiter).reserve(records, Instant::now());
        if !wait.is_zero() {
            self.wait_stopped(wait);
        }
    }

    fn line_too_long(&self, bytes: usize) -> Error {
        Error::LineTooLong {
            source_name: self.shared.name.clone(),
            limit: self.shared.config.max_line_length,
            skipped_bytes: bytes,
        }
    }

    fn segment_error(&self, e: SegmentError) -> Error {
        Error::Ingest {
            source_name: self.shared.name.clone(),
            message: e.to_string(),
        }
    }
}

/// Runs one receiver: starts, stops and restarts it, and hands its data to batches.
struct Supervisor {
    receiver: Mutex<Box<dyn Receiver>>,
    handle: ReceiverHandle,
    listeners: Box<dyn Fn() -> Vec<Arc<dyn StreamingListener>> + Send + Sync>,
    restarting: Mutex<()>,
    last_error: Mutex<Option<String>>,
    /// The context stopped this receiver for good: no restart, and a batch takes the
    /// incomplete last line too. (`handle.is_stopped()` is also true during a restart delay.)
    terminated: AtomicBool,
    /// The receiver's id among the recoverable inputs of checkpoints (`input-<n>`), which names
    /// its write-ahead log directory.
    input_id: OnceLock<String>,
    /// The write-ahead log, once the context started with it on.
    wal: Mutex<Option<WriteAheadLog>>,
}

impl Supervisor {
    fn info(&self, active: bool, error: Option<String>) -> ReceiverInfo {
        ReceiverInfo {
            stream_id: self
                .handle
                .shared
                .stream_id
                .get()
                .copied()
                .unwrap_or_default(),
            name: self.handle.shared.name.clone(),
            active,
            last_error: error,
        }
    }

    fn notify(&self, f: impl Fn(&dyn StreamingListener, &ReceiverInfo), error: Option<String>) {
        if error.is_some() {
            *lock(&self.last_error) = error.clone();
        }
        let info = self.info(
            !self.handle.is_stopped(),
            error.or_else(|| lock(&self.last_error).clone()),
        );
        for l in (self.listeners)() {
            f(l.as_ref(), &info);
        }
    }

    fn start(&self) -> Result<()> {
        self.handle.shared.stopped.store(false, Ordering::SeqCst);
        lock(&self.receiver).on_start(self.handle.clone())?;
        self.notify(|l, i| l.on_receiver_started(i), None);
        Ok(())
    }

    fn stop(&self) {
        self.handle.shared.stopped.store(true, Ordering::SeqCst);
        let (m, cv) = &self.handle.shared.wake;
        drop(lock(m));
        cv.notify_all();
        lock(&self.receiver).on_stop();
        self.notify(|l, i| l.on_receiver_stopped(i), None);
    }

    fn restart(&self, delay: Duration) {
        let _one_at_a_time = lock(&self.restarting);
        if !self.may_restart() {
            return;
        }
        self.stop();
        // Wait out the delay unless the context stops meanwhile.
        let deadline =
            Instant::now() + std::time::Duration::from_millis(delay.as_millis().max(0) as u64);
        while Instant::now() < deadline {
            if !self.may_restart() {
                return;
            }
            let (m, cv) = &self.handle.shared.wake;
            let g = lock(m);
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = cv.wait_timeout(g, left.min(std::time::Duration::from_millis(50)));
        }
        // Checked again under `restarting`, which `terminate` takes after setting `terminated`:
        // either this start happens first and `terminate` stops it, or it does not happen.
        if !self.may_restart() {
            return;
        }
        if let Err(e) = self.start() {
            self.handle.report_error(e);
        }
    }

    /// Whether a restart may (still) start the receiver again.
    fn may_restart(&self) -> bool {
        !self.terminated.load(Ordering::SeqCst)
            && self
                .handle
                .shared
                .ctx
                .upgrade()
                .is_some_and(|c| c.state() == crate::ContextState::Active)
    }

    /// Stops the receiver for good (the context stops): a pending restart gives up.
    fn terminate(&self) {
        self.terminated.store(true, Ordering::SeqCst);
        // Wake a restart waiting out its delay, then wait for it to finish (it gives up).
        let (m, cv) = &self.handle.shared.wake;
        drop(lock(m));
        cv.notify_all();
        let _one_at_a_time = lock(&self.restarting);
        if !self.handle.is_stopped() {
            self.stop();
        }
    }

    /// Opens the write-ahead log, if it is on: in the checkpoint directory, resuming after the
    /// checkpoint the context was restored from.
    fn open_write_ahead_log(&self) -> Result<()> {
        if !self.handle.shared.config.write_ahead_log {
            return Ok(());
        }
        let (dir, restored) = match self.handle.shared.ctx.upgrade() {
            Some(core) => {
                let c = lock(&core.checkpointing);
                (c.dir.clone(), c.restored.map(|(time, _)| time))
            }
            None => (None, None),
        };
        let dir = dir.ok_or(Error::WriteAheadLogWithoutCheckpointDirectory)?;
        let id = self
            .input_id
            .get()
            .expect("a receiver is registered for checkpoints when its stream is built");
        let log = WriteAheadLog::open(&dir.join(RECEIVED).join(id), restored)?;
        tracing::info!(receiver = %self.handle.shared.name, "write-ahead log in {}", dir.join(RECEIVED).join(id).display());
        *lock(&self.wal) = Some(log);
        Ok(())
    }

    /// The batch at `time`: re-created from the write-ahead log if it holds it, else what
    /// arrived since the last batch, sealed (and logged, if the log is on), cut into partitions
    /// of lines.
    fn take_batch(&self, time: Time, partitions: usize) -> Result<Batch<String>> {
        let mut wal = lock(&self.wal);
        if let Some(log) = wal.as_ref() {
            match log.lookup(time) {
                Lookup::Logged => {
                    tracing::info!(receiver = %self.handle.shared.name, "batch {time} re-created from the write-ahead log");
                    return self.split(&log.read(time)?, partitions);
                }
                Lookup::Missing => {
                    tracing::warn!(receiver = %self.handle.shared.name, "batch {time} has no write-ahead log file (received before the log was on, or removed); it is re-created empty");
                    return Ok(Batch::empty());
                }
                Lookup::New => {}
            }
        }
        let sealed = self.handle.seal(self.terminated.load(Ordering::SeqCst))?;
        let buffers = match wal.as_mut() {
            Some(log) => log.write(time, sealed)?,
            None => sealed,
        };
        drop(wal);
        self.split(&buffers, partitions)
    }

    /// Cuts sealed (or logged) bytes into partitions of lines.
    fn split(&self, buffers: &[Buffer], partitions: usize) -> Result<Batch<String>> {
        let per_buffer = (partitions / buffers.len().max(1)).max(1);
        let mut parts: Vec<StringViewArray> = Vec::new();
        let name = &self.handle.shared.name;
        for b in buffers {
            let split = match split_lines_partitioned(b, per_buffer) {
                Err(LinesError::InvalidUtf8 { .. })
                    if self.handle.shared.config.utf8 == Utf8Policy::Replace =>
                {
                    tracing::warn!(receiver = %name, "invalid UTF-8 replaced by U+FFFD");
                    let text = String::from_utf8_lossy(b.as_slice()).into_owned();
                    split_lines_partitioned(&Buffer::from_vec(text.into_bytes()), per_buffer)
                }
                split => split,
            };
            let split = split.map_err(|e| Error::Ingest {
                source_name: name.clone(),
                message: match e {
                    LinesError::InvalidUtf8 { .. } => format!(
                        "{e}; to go past it (a batch read again from the write-ahead log fails again), restart with ReceiverConfig::utf8 = Utf8Policy::Replace (dstreams run ... --replace-invalid-utf8): invalid bytes become U+FFFD, as Spark reads them"
                    ),
                    e => e.to_string(),
                },
            })?;
            parts.extend(split);
        }
        if parts.is_empty() {
            return Ok(Batch::empty());
        }
        Ok(Batch::from_partitions(parts))
    }

    fn has_pending(&self) -> bool {
        let unlogged = lock(&self.wal)
            .as_ref()
            .is_some_and(WriteAheadLog::has_unlogged);
        let ingest = lock(&self.handle.shared.writer);
        unlogged
            || ingest.writer.sealable_len() > 0
            || (self.terminated.load(Ordering::SeqCst) && ingest.writer.partial_len() > 0)
    }
}

struct ReceiverInput(Arc<Supervisor>);

/// A receiver's checkpoint holds nothing: its data is in the write-ahead log (if on), which the
/// receiver reads when the context starts. A written checkpoint lets it remove the log files of
/// batches no kept checkpoint needs.
impl Input for ReceiverInput {
    fn kind(&self) -> &'static str {
        "receiver"
    }
    fn start(&self) -> Result<()> {
        self.0.open_write_ahead_log()?;
        self.0.start()
    }
    fn stop(&self) {
        self.0.terminate();
    }
    fn has_pending(&self) -> bool {
        self.0.has_pending()
    }
    fn records_received(&self) -> u64 {
        self.0.handle.records_stored()
    }
    fn write_ahead_log(&self) -> bool {
        self.0.handle.shared.config.write_ahead_log
    }

    fn save(&self, _since: Time, _upto: Time) -> Vec<String> {
        Vec::new()
    }

    fn restore(&self, _entries: &[String]) -> Result<()> {
        Ok(())
    }

    fn checkpoint_written(&self, t: Time) {
        if let Some(log) = lock(&self.0.wal).as_mut() {
            log.remove_through(t);
        }
    }
}

/// Adapts the receiver's rate after each batch (Spark's `RateController`).
struct Backpressure {
    handle: ReceiverHandle,
    pid: Mutex<PidRateEstimator>,
}

impl StreamingListener for Backpressure {
    fn on_batch_completed(&self, info: &crate::BatchInfo) {
        let Some(&id) = self.handle.shared.stream_id.get() else {
            return;
        };
        if let Some(rate) = lock(&self.pid).compute_after(info, id) {
            let capped = self
                .handle
                .shared
                .config
                .max_rate
                .map_or(rate, |m| rate.min(m));
            tracing::debug!(receiver = %self.handle.shared.name, rate = capped, "backpressure rate update");
            lock(&self.handle.shared.limiter).set_rate(Some(capped));
        }
    }
}

/// The segment writer a configuration asks for, or why it cannot have one.
pub(crate) fn segment_writer(config: &ReceiverConfig) -> Result<SegmentWriter> {
    if config.max_line_length == 0 || config.max_line_length >= config.segment_capacity {
        return Err(Error::InvalidArgument(format!(
            "max_line_length ({}) must be positive and below segment_capacity ({})",
            config.max_line_length, config.segment_capacity
        )));
    }
    SegmentWriter::new(SegmentConfig::with_capacity(config.segment_capacity))
        .map_err(|e| Error::InvalidArgument(format!("segment_capacity: {e}")))
}

/// A stream of the lines a custom receiver stores (Spark's `receiverStream`). An invalid
/// configuration is reported by `start`; the stream is built with the default one meanwhile.
#[track_caller]
fn receiver_stream(
    ctx: &StreamingContext,
    receiver: Box<dyn Receiver>,
    mut config: ReceiverConfig,
) -> DStream<String> {
    let writer = match segment_writer(&config) {
        Ok(writer) => writer,
        Err(e) => {
            ctx.refuse("receiver_stream", e);
            config = ReceiverConfig::default();
            segment_writer(&config).expect("the default receiver configuration is valid")
        }
    };
    let handle = ReceiverHandle::new(
        receiver.name(),
        config.clone(),
        writer,
        Arc::downgrade(&ctx.core),
    );
    let core = Arc::downgrade(&ctx.core);
    let supervisor = Arc::new(Supervisor {
        receiver: Mutex::new(receiver),
        handle: handle.clone(),
        listeners: Box::new(move || core.upgrade().map(|c| c.listeners()).unwrap_or_default()),
        restarting: Mutex::new(()),
        last_error: Mutex::new(None),
        terminated: AtomicBool::new(false),
        input_id: OnceLock::new(),
        wal: Mutex::new(None),
    });
    let _ = handle.shared.supervisor.set(Arc::downgrade(&supervisor));
    let sup = supervisor.clone();
    let input = Arc::new(ReceiverInput(supervisor.clone()));
    let stream = input_stream(ctx, "ReceiverInputDStream", input, move |t, bctx| {
        let batch = sup.take_batch(t, bctx.parallelism())?;
        Ok((batch, described(sup.handle.shared.name.clone())))
    });
    let _ = handle.shared.stream_id.set(stream.node.id);
    if let Some(input_id) = lock(&ctx.core.checkpointing).input_id_of(stream.node.id) {
        let _ = supervisor.input_id.set(input_id);
    }
    if config.backpressure {
        match PidRateEstimator::with_defaults(ctx.batch_interval().as_millis()) {
            Ok(pid) => ctx.add_streaming_listener(Arc::new(Backpressure {
                handle,
                pid: Mutex::new(pid),
            })),
            Err(e) => ctx.refuse("receiver_stream", e),
        }
    }
    stream
}

impl StreamingContext {
    /// A stream of the lines a custom [`Receiver`] stores (Spark's `receiverStream`), with
    /// default [`ReceiverConfig`].
    #[track_caller]
    pub fn receiver_stream(&self, receiver: impl Receiver) -> DStream<String> {
        self.receiver_stream_with(receiver, ReceiverConfig::default())
    }

    /// [`receiver_stream`](Self::receiver_stream) with rate limits, backpressure, restart delay
    /// and line-length limit.
    #[track_caller]
    pub fn receiver_stream_with(
        &self,
        receiver: impl Receiver,
        config: ReceiverConfig,
    ) -> DStream<String> {
        receiver_stream(self, Box::new(receiver), config)
    }
}
