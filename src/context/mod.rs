//! The streaming context: configuration, the graph being built, its lifecycle, and waiting for it.

mod clock;
mod listener;
mod scheduler;

pub use clock::{Clock, FastClock, ManualClock, SystemClock};
pub use listener::{
    BatchInfo, OutputOperationInfo, ReceiverInfo, StreamInputInfo, StreamingListener,
};

use crate::checkpoint::{self, Checkpointing};
use crate::data::{Batch, Data};
use crate::dstream::DStream;
use crate::dstream::node::{AnyNode, ComputeFn, Node};
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::time::{Duration, Time};
use scheduler::Runtime;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

/// The lifecycle of a context (Spark's `StreamingContextState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextState {
    /// Created; the graph may still be built.
    Initialized,
    /// Started; batches are running.
    Active,
    /// Stopped for good.
    Stopped,
}

/// What a batch's computations can see: its time, the graph's zero time, and where to report
/// input records.
pub struct BatchContext {
    pub(crate) time: Time,
    pub(crate) zero_time: Time,
    pub(crate) batch_interval: Duration,
    pub(crate) parallelism: usize,
    inputs: Mutex<BTreeMap<usize, StreamInputInfo>>,
}

impl BatchContext {
    pub(crate) fn new(
        time: Time,
        zero_time: Time,
        batch_interval: Duration,
        parallelism: usize,
    ) -> Self {
        BatchContext {
            time,
            zero_time,
            batch_interval,
            parallelism,
            inputs: Mutex::new(BTreeMap::new()),
        }
    }
    /// The batch time being computed.
    pub fn time(&self) -> Time {
        self.time
    }
    /// The batch interval.
    pub fn batch_interval(&self) -> Duration {
        self.batch_interval
    }
    /// The context's default number of partitions.
    pub fn parallelism(&self) -> usize {
        self.parallelism
    }
    /// Records what an input stream delivered for this batch.
    pub fn report_input(&self, info: StreamInputInfo) {
        lock(&self.inputs).insert(info.input_stream_id, info);
    }
    pub(crate) fn take_inputs(&self) -> BTreeMap<usize, StreamInputInfo> {
        std::mem::take(&mut *lock(&self.inputs))
    }
}

/// Starts and stops an input source with the context.
/// The defaults fit sources that hold their data already (queue, replay): nothing to start or
/// stop, nothing received and pending, never exhausted.
pub(crate) trait InputLifecycle: Send + Sync {
    fn start(&self) -> Result<()> {
        Ok(())
    }
    fn stop(&self) {}
    /// Whether data was received that no batch has taken yet (graceful stop waits for it).
    fn has_pending(&self) -> bool {
        false
    }
    /// Whether the source is finite and every record of it has been handed to a batch.
    fn is_exhausted(&self) -> bool {
        false
    }
    /// Whether the source keeps a write-ahead log (under the checkpoint directory, which
    /// `start` then requires).
    fn write_ahead_log(&self) -> bool {
        false
    }
}

/// An output operation: computes its stream's batch and runs a function on it.
pub(crate) struct OutputOp {
    pub(crate) name: String,
    pub(crate) description: String,
    /// Computes the parent's batch (Spark's job generation) and returns the job to run, or `None`
    /// when the parent has no batch at this time.
    pub(crate) generate: Box<dyn Fn(Time, &BatchContext) -> Result<Option<Job>> + Send + Sync>,
}

/// One output operation's work for one batch.
pub(crate) type Job = Box<dyn FnOnce() -> Result<()> + Send>;

#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<Arc<dyn AnyNode>>,
    pub(crate) inputs: Vec<Arc<dyn InputLifecycle>>,
    pub(crate) outputs: Vec<Arc<OutputOp>>,
    pub(crate) zero_time: Option<Time>,
}

#[derive(Default)]
struct Termination {
    stopped: bool,
    error: Option<Arc<Error>>,
    last_completed: Option<Time>,
}

/// Settings of a context; see [`StreamingContext::builder`].
pub struct ContextBuilder {
    batch_interval: Duration,
    clock: Option<Arc<dyn Clock>>,
    parallelism: Option<usize>,
    graceful_stop_timeout: Option<Duration>,
    stop_when_exhausted: bool,
}

impl ContextBuilder {
    /// Stop by itself once every input is finite and exhausted (a drained queue without a
    /// default batch, a replayed dataset at its end) and the batches holding its data completed;
    /// `await_termination` then returns. Spark has no such mode: its queue stream yields empty
    /// batches forever.
    pub fn stop_when_exhausted(mut self, yes: bool) -> Self {
        self.stop_when_exhausted = yes;
        self
    }
    /// The clock that decides batch times (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }
    /// Default number of partitions for shuffles (default: the number of cores).
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = Some(n);
        self
    }
    /// How long a graceful stop waits for received data (default: 10 batch intervals).
    pub fn graceful_stop_timeout(mut self, d: Duration) -> Self {
        self.graceful_stop_timeout = Some(d);
        self
    }
    /// The context.
    pub fn build(self) -> Result<StreamingContext> {
        let batch_interval = self.batch_interval.positive("batch interval")?;
        let parallelism = self.parallelism.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        if parallelism == 0 {
            return Err(Error::Unsupported("parallelism must be at least 1".into()));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(parallelism)
            .thread_name(|i| format!("dstreams-worker-{i}"))
            .start_handler(|_| scheduler::mark_batch_thread())
            .build()
            .map_err(|e| Error::Unsupported(format!("cannot start worker threads: {e}")))?;
        Ok(StreamingContext {
            core: Arc::new(Core {
                batch_interval,
                parallelism,
                graceful_stop_timeout: self.graceful_stop_timeout.unwrap_or(batch_interval * 10),
                stop_when_exhausted: self.stop_when_exhausted,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock::new())),
                pool,
                state: Mutex::new(ContextState::Initialized),
                graph: Mutex::new(Graph::default()),
                listeners: Mutex::new(Vec::new()),
                termination: Mutex::new(Termination::default()),
                termination_cv: Condvar::new(),
                checkpointing: Mutex::new(Checkpointing::default()),
                remember: Mutex::new(None),
                runtime: Mutex::new(None),
            }),
        })
    }
}

pub(crate) struct Core {
    pub(crate) batch_interval: Duration,
    pub(crate) parallelism: usize,
    pub(crate) graceful_stop_timeout: Duration,
    pub(crate) stop_when_exhausted: bool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) pool: rayon::ThreadPool,
    state: Mutex<ContextState>,
    pub(crate) graph: Mutex<Graph>,
    pub(crate) listeners: Mutex<Vec<Arc<dyn StreamingListener>>>,
    termination: Mutex<Termination>,
    termination_cv: Condvar,
    pub(crate) checkpointing: Mutex<Checkpointing>,
    remember: Mutex<Option<Duration>>,
    runtime: Mutex<Option<Runtime>>,
}

impl Core {
    /// Adds a node to the graph, refusing once the context has started or stopped.
    pub(crate) fn add_node<T: Data>(
        &self,
        name: &str,
        slide: Duration,
        parents: Vec<Arc<dyn AnyNode>>,
        parent_extra_remember: Duration,
        compute: ComputeFn<T>,
    ) -> Result<Arc<Node<T>>> {
        self.check_building()?;
        let mut graph = lock(&self.graph);
        let node = Arc::new(Node::new(
            graph.nodes.len(),
            name,
            slide,
            parents,
            parent_extra_remember,
            compute,
        ));
        graph.nodes.push(node.clone());
        Ok(node)
    }

    pub(crate) fn add_output(&self, op: OutputOp) -> Result<()> {
        self.check_building()?;
        lock(&self.graph).outputs.push(Arc::new(op));
        Ok(())
    }

    fn check_building(&self) -> Result<()> {
        match *lock(&self.state) {
            ContextState::Initialized => Ok(()),
            ContextState::Active => Err(Error::AddedAfterStart),
            ContextState::Stopped => Err(Error::AddedAfterStop),
        }
    }

    pub(crate) fn add_input(&self, input: Arc<dyn InputLifecycle>) -> Result<()> {
        self.check_building()?;
        lock(&self.graph).inputs.push(input);
        Ok(())
    }

    /// Whether there are inputs and all of them are finite and exhausted.
    pub(crate) fn inputs_exhausted(&self) -> bool {
        let graph = lock(&self.graph);
        !graph.inputs.is_empty() && graph.inputs.iter().all(|i| i.is_exhausted())
    }

    /// Waits until the batch at `time` completed or the context stopped.
    pub(crate) fn wait_completed(&self, time: Time) {
        let mut t = lock(&self.termination);
        while !t.stopped && t.last_completed.is_none_or(|c| c < time) {
            t = self
                .termination_cv
                .wait(t)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    pub(crate) fn state(&self) -> ContextState {
        *lock(&self.state)
    }

    pub(crate) fn zero_time(&self) -> Option<Time> {
        lock(&self.graph).zero_time
    }

    /// Records a batch error; the first one is what `await_termination` returns.
    pub(crate) fn report_error(&self, error: Error) {
        tracing::error!("{error}");
        let mut t = lock(&self.termination);
        if t.error.is_none() {
            t.error = Some(Arc::new(error));
        }
        self.termination_cv.notify_all();
    }

    pub(crate) fn batch_completed(&self, time: Time) {
        let mut t = lock(&self.termination);
        t.last_completed = Some(time);
        self.termination_cv.notify_all();
    }

    /// The last completed batch, if no batch reported an error.
    pub(crate) fn last_completed_without_error(&self) -> Option<Time> {
        let t = lock(&self.termination);
        if t.error.is_some() {
            return None;
        }
        t.last_completed
    }

    pub(crate) fn mark_stopped(&self) {
        *lock(&self.state) = ContextState::Stopped;
        lock(&self.termination).stopped = true;
        self.termination_cv.notify_all();
    }

    pub(crate) fn listeners(&self) -> Vec<Arc<dyn StreamingListener>> {
        lock(&self.listeners).clone()
    }
}

/// The entry point: a batch interval, a graph of DStreams built on it, and its running state
/// (Spark's `StreamingContext`).
///
/// ```
/// use dstreams::prelude::*;
/// use std::sync::{Arc, Mutex};
///
/// let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
/// let ssc = StreamingContext::builder(Duration::seconds(1)).clock(clock.clone()).build()?;
/// let nums = ssc.queue_stream(vec![Batch::from_vec((1..=1000).collect::<Vec<i64>>(), 2)], true, None)?;
/// let counts = nums.map(|x, out| out.push((x % 10, 1)))?.reduce_by_key(|a, b| a + b)?;
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// counts.foreach_batch(move |batch, _time| {
///     sink.lock().unwrap().extend(batch.to_vec());
///     Ok(())
/// })?;
/// ssc.start()?;
/// clock.advance(Duration::seconds(1));
/// ssc.await_batch(Time::from_millis(1000), std::time::Duration::from_secs(10))?;
/// ssc.stop(false)?;
/// let mut seen = seen.lock().unwrap().clone();
/// seen.sort();
/// assert_eq!(seen, (0..10).map(|k| (k, 100)).collect::<Vec<(i64, i32)>>());
/// # Ok::<(), dstreams::Error>(())
/// ```
#[derive(Clone)]
pub struct StreamingContext {
    pub(crate) core: Arc<Core>,
}

impl StreamingContext {
    /// A context on the system clock with one partition per core.
    pub fn new(batch_interval: Duration) -> Result<Self> {
        Self::builder(batch_interval).build()
    }

    /// Configures a context.
    pub fn builder(batch_interval: Duration) -> ContextBuilder {
        ContextBuilder {
            batch_interval,
            clock: None,
            parallelism: None,
            graceful_stop_timeout: None,
            stop_when_exhausted: false,
        }
    }

    /// The batch interval.
    pub fn batch_interval(&self) -> Duration {
        self.core.batch_interval
    }

    /// The default number of partitions of shuffles.
    pub fn default_parallelism(&self) -> usize {
        self.core.parallelism
    }

    /// The clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.core.clock.clone()
    }

    /// Where the context is in its lifecycle.
    pub fn get_state(&self) -> ContextState {
        self.core.state()
    }

    /// Sets the checkpoint directory, creating it (and its parents) if needed. From then on a
    /// checkpoint is written after every checkpoint interval's batch (see
    /// [`DStream::checkpoint`]); [`get_or_create`](Self::get_or_create) recovers from it.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::io(
                format!("creating checkpoint directory {}", dir.display()),
                e,
            )
        })?;
        lock(&self.core.checkpointing).dir = Some(dir.to_path_buf());
        Ok(())
    }

    /// The checkpoint directory, if one was set.
    pub fn checkpoint_dir(&self) -> Option<PathBuf> {
        lock(&self.core.checkpointing).dir.clone()
    }

    /// How many checkpoints to keep (default 3, at least 1): a corrupted newest one falls back
    /// to the one before.
    pub fn keep_checkpoints(&self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::Unsupported(
                "at least one checkpoint must be kept".into(),
            ));
        }
        lock(&self.core.checkpointing).keep = n;
        Ok(())
    }

    /// Spark's `StreamingContext.getOrCreate`, made safe for program changes: calls `build` to
    /// create the context and its whole graph (always: the graph is code, never deserialised),
    /// sets `dir` as its checkpoint directory unless `build` set one, then restores the newest
    /// usable checkpoint in it, if any: every stateful operator's state by its id (its
    /// [`checkpoint_name`](DStream::checkpoint_name), else its place among the stateful
    /// operators in build order), every recoverable input's position, and the batch times. The
    /// context then resumes with the batch after the checkpoint's, so batches that ran after it
    /// run again.
    ///
    /// A program may change between runs as long as its stateful operators stay: new output
    /// operations, changed closures. A checkpoint holding state for an operator the program no
    /// longer builds, or of a different kind or type, is refused with
    /// [`CheckpointError::Incompatible`](crate::CheckpointError::Incompatible) naming it.
    ///
    /// ```
    /// use dstreams::prelude::*;
    /// # let dir = std::env::temp_dir().join(format!("get-or-create-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let ssc = StreamingContext::get_or_create(&dir, || {
    ///     let ssc = StreamingContext::new(Duration::seconds(1))?;
    ///     let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None)?;
    ///     let totals = pairs.update_state_by_key(|new: &[i64], total: Option<i64>| {
    ///         Some(total.unwrap_or(0) + new.iter().sum::<i64>())
    ///     })?;
    ///     totals.checkpoint_name("totals")?.pprint(10)?;
    ///     Ok(ssc)
    /// })?;
    /// assert_eq!(ssc.checkpoint_dir().as_deref(), Some(dir.as_path()));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn get_or_create(
        dir: impl AsRef<Path>,
        build: impl FnOnce() -> Result<StreamingContext>,
    ) -> Result<StreamingContext> {
        let dir = dir.as_ref();
        let ssc = build()?;
        if ssc.get_state() != ContextState::Initialized {
            return Err(Error::Unsupported(
                "get_or_create: the context returned by `build` must not be started".into(),
            ));
        }
        if ssc.checkpoint_dir().is_none() {
            ssc.checkpoint(dir)?;
        }
        let dir = ssc
            .checkpoint_dir()
            .expect("the checkpoint directory is set");
        match checkpoint::store::load_latest(&dir)? {
            Some(loaded) => checkpoint::restore(&ssc.core, loaded)?,
            None => tracing::info!("no checkpoint in {}; starting afresh", dir.display()),
        }
        Ok(ssc)
    }

    /// Keeps every stream's batches for at least `duration` (so `slice` can reach back further).
    pub fn remember(&self, duration: Duration) -> Result<()> {
        self.core.check_building()?;
        *lock(&self.core.remember) = Some(duration.positive("remember duration")?);
        Ok(())
    }

    /// Registers a listener for batch and receiver events.
    pub fn add_streaming_listener(&self, listener: Arc<dyn StreamingListener>) {
        lock(&self.core.listeners).push(listener);
    }

    /// Starts the batches. Fails if no output operation was registered, after a stop, and
    /// without a checkpoint directory when a stateful operation
    /// ([`Error::CheckpointDirectoryNotSet`]) or a receiver's write-ahead log
    /// ([`Error::WriteAheadLogWithoutCheckpointDirectory`]) needs one; a second call on a running
    /// context only logs a warning, as Spark does.
    pub fn start(&self) -> Result<()> {
        {
            let mut state = lock(&self.core.state);
            match *state {
                ContextState::Active => {
                    tracing::warn!("StreamingContext has already been started");
                    return Ok(());
                }
                ContextState::Stopped => return Err(Error::AlreadyStopped),
                ContextState::Initialized => {}
            }
            let graph = lock(&self.core.graph);
            if graph.outputs.is_empty() {
                return Err(Error::NoOutputOperations);
            }
            let checkpointing = lock(&self.core.checkpointing);
            if checkpointing.has_operators() && checkpointing.dir.is_none() {
                return Err(Error::CheckpointDirectoryNotSet);
            }
            if checkpointing.dir.is_none() && graph.inputs.iter().any(|i| i.write_ahead_log()) {
                return Err(Error::WriteAheadLogWithoutCheckpointDirectory);
            }
            *state = ContextState::Active;
        }
        let restored = lock(&self.core.checkpointing).restored;
        let (first, zero) = match restored {
            // Resume with the batch after the checkpoint's, on the checkpointed time grid.
            Some((time, zero)) => (time + self.core.batch_interval, zero),
            None => {
                let first =
                    Time::first_batch_after(self.core.clock.now(), self.core.batch_interval);
                (first, first - self.core.batch_interval)
            }
        };
        {
            let mut graph = lock(&self.core.graph);
            graph.zero_time = Some(zero);
            let remember = lock(&self.core.remember).unwrap_or_default();
            for node in &graph.nodes {
                node.remember_at_least(remember);
            }
        }
        let inputs = lock(&self.core.graph).inputs.clone();
        for (i, input) in inputs.iter().enumerate() {
            if let Err(e) = input.start() {
                inputs[..i].iter().for_each(|s| s.stop());
                self.core.mark_stopped();
                return Err(e);
            }
        }
        let wall = clock::wall_millis();
        for l in self.core.listeners() {
            l.on_streaming_started(wall);
        }
        tracing::info!(first_batch = %first, interval = %self.core.batch_interval, "StreamingContext started");
        *lock(&self.core.runtime) = Some(Runtime::start(self.core.clone(), first));
        Ok(())
    }

    /// Stops the context. Graceful: inputs stop receiving, everything already received is
    /// processed (bounded by the graceful-stop timeout, 10 batch intervals by default), then
    /// batches stop. Immediate: the batch in progress finishes, queued batches are dropped with a
    /// warning. Must not be called from inside a batch (an output function or a listener).
    pub fn stop(&self, graceful: bool) -> Result<()> {
        if scheduler::on_batch_thread() {
            return Err(Error::Unsupported(
                "Cannot stop StreamingContext within its own batch thread (an output operation or listener); stop it from another thread".into(),
            ));
        }
        let runtime = {
            let mut state = lock(&self.core.state);
            if *state == ContextState::Stopped {
                tracing::warn!("StreamingContext has already been stopped");
                return Ok(());
            }
            *state = ContextState::Stopped;
            lock(&self.core.runtime).take()
        };
        let inputs = lock(&self.core.graph).inputs.clone();
        if let Some(rt) = runtime {
            rt.stop(&self.core, &inputs, graceful);
        }
        for input in &inputs {
            input.stop();
        }
        if graceful {
            checkpoint::final_checkpoint(&self.core);
        }
        checkpoint::finish_writes(&self.core);
        self.core.mark_stopped();
        tracing::info!("StreamingContext stopped");
        Ok(())
    }

    /// Blocks until the context stops, returning the first error any batch reported (Spark
    /// rethrows it from `awaitTermination`).
    pub fn await_termination(&self) -> Result<()> {
        self.wait(None).map(|_| ())
    }

    /// Like [`await_termination`](Self::await_termination) but gives up after `timeout`:
    /// `Ok(true)` if stopped, `Ok(false)` on time-out, `Err` with the first batch error.
    pub fn await_termination_or_timeout(&self, timeout: std::time::Duration) -> Result<bool> {
        self.wait(Some(timeout))
    }

    fn wait(&self, timeout: Option<std::time::Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut t = lock(&self.core.termination);
        loop {
            if let Some(e) = &t.error {
                return Err(Error::Batch(e.clone()));
            }
            if t.stopped {
                return Ok(true);
            }
            t = match deadline {
                None => self
                    .core
                    .termination_cv
                    .wait(t)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    self.core
                        .termination_cv
                        .wait_timeout(t, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// Blocks until the batch at `time` (and all before it) completed: `Ok(true)`, or `Ok(false)`
    /// after `timeout` or when the context stopped first. For tests on the manual clock.
    pub fn await_batch(&self, time: Time, timeout: std::time::Duration) -> Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        let mut t = lock(&self.core.termination);
        loop {
            if t.last_completed.is_some_and(|c| c >= time) {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if t.stopped || left.is_zero() {
                return Ok(false);
            }
            t = self
                .core
                .termination_cv
                .wait_timeout(t, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The time of the last completed batch.
    pub fn last_completed_batch(&self) -> Option<Time> {
        lock(&self.core.termination).last_completed
    }

    /// A stream fed from a queue of batches (Spark's `queueStream`): one batch per interval when
    /// `one_at_a_time`, else everything queued at once; `default` (or an empty batch) once the
    /// queue is empty.
    pub fn queue_stream<T: Data>(
        &self,
        batches: impl IntoIterator<Item = Batch<T>>,
        one_at_a_time: bool,
        default: Option<Batch<T>>,
    ) -> Result<DStream<T>> {
        crate::source::queue::queue_stream(self, batches, one_at_a_time, default)
    }

    /// A stream whose batch is `batch` at every batch time (Spark's `ConstantInputDStream`): a
    /// static table to join a stream with, or a steady test input. The batch is shared, not
    /// copied. It never runs out, so a context built with `stop_when_exhausted` does not stop by
    /// itself while it has a constant stream; a static table can also be captured by the
    /// closure of [`transform`](DStream::transform).
    ///
    /// ```
    /// use dstreams::prelude::*;
    /// let ssc = StreamingContext::new(Duration::seconds(1))?;
    /// let spam = Batch::from_vec(vec![("offer".to_string(), true)], 1);
    /// let spam_info = ssc.constant_stream(spam)?;
    /// let counts = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None)?;
    /// let flagged = counts.transform_with(&spam_info, |counts, spam, _| Ok(counts.join(spam)))?;
    /// # let _ = flagged;
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn constant_stream<T: Data>(&self, batch: Batch<T>) -> Result<DStream<T>> {
        crate::source::constant::constant_stream(self, batch)
    }

    /// The union of several streams of the same slide duration.
    pub fn union<T: Data>(&self, streams: &[DStream<T>]) -> Result<DStream<T>> {
        DStream::union_all(self, streams)
    }
}
