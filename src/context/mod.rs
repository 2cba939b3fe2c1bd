//! The streaming context: configuration, the graph being built, its lifecycle, and waiting for it.

mod clock;
mod distributed;
mod input;
mod listener;
mod scheduler;

pub(crate) use clock::wall_millis;
pub use clock::{Clock, FastClock, ManualClock, SystemClock};
pub(crate) use distributed::{Distributed, PartitionedState, Replayed};
pub(crate) use input::Input;
pub use listener::{
    BatchInfo, OutputOperationInfo, ReceiverInfo, StreamInputInfo, StreamingListener,
};

use crate::checkpoint::{self, Checkpointing};
use crate::data::{Batch, Data};
use crate::dstream::DStream;
use crate::dstream::node::{AnyNode, ComputeFn, Node, Plan};
use crate::error::{Error, Misuse, Result};
use crate::lock::lock;
use crate::time::{Duration, Time};
use crate::ui::{self, UiConfig};
use scheduler::Runtime;
use std::collections::BTreeMap;
use std::panic::Location;
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
    distributed: Option<Arc<distributed::Distributed>>,
    /// A late batch (distributed mode): only the exchange partitions taken over unfinished.
    late: bool,
    /// A late batch computed only to forward its share to a later exchange (distributed mode):
    /// exchanges read its partials without taking them.
    forwarding: bool,
    /// A past batch computed again to restore a stateful operator's partition (distributed
    /// mode): by exchange id, the partials read again from its topic; exchanges give those.
    replayed: Option<Arc<distributed::Replayed>>,
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
            distributed: None,
            late: false,
            forwarding: false,
            replayed: None,
        }
    }
    /// A batch of `core`'s program at `time`.
    pub(crate) fn of(core: &Core, time: Time, zero_time: Time) -> Self {
        BatchContext {
            distributed: core.distributed.get().cloned(),
            ..BatchContext::new(time, zero_time, core.batch_interval, core.parallelism)
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
    pub(crate) inputs: Vec<Arc<dyn Input>>,
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
    ui: Option<UiConfig>,
}

impl ContextBuilder {
    /// Serves the web UI while the context runs (off by default): Spark's Streaming tab at `/`,
    /// Spark's streaming REST API under `/api/v1/`, Prometheus metrics at `/metrics`. Takes an
    /// address (`"127.0.0.1:4040"`, port 0 for any free one) or a [`UiConfig`]; the address it
    /// got is [`StreamingContext::ui_address`].
    pub fn ui(mut self, config: impl Into<UiConfig>) -> Self {
        self.ui = Some(config.into());
        self
    }
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
    /// Default number of partitions for shuffles (default: the number of cores; Spark's
    /// `spark.default.parallelism`), and the number of worker threads.
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = Some(n);
        self
    }
    /// How long a graceful stop waits for received data (default: 10 batch intervals).
    pub fn graceful_stop_timeout(mut self, d: impl Into<Duration>) -> Self {
        self.graceful_stop_timeout = Some(d.into());
        self
    }
    /// The context. Invalid settings (a batch interval that is not positive, zero
    /// parallelism) are reported by [`start`](StreamingContext::start).
    #[track_caller]
    pub fn build(self) -> StreamingContext {
        let mut misuses = Vec::new();
        let location = Location::caller();
        let mut refuse = |error| {
            misuses.push(Arc::new(Misuse {
                operator: "StreamingContext",
                location: location.to_string(),
                error,
            }))
        };
        let batch_interval = match self.batch_interval.usable("batch interval") {
            Ok(d) => d,
            Err(e) => {
                refuse(e);
                Duration::seconds(1)
            }
        };
        let parallelism = match self.parallelism {
            Some(0) => {
                refuse(Error::InvalidArgument(
                    "parallelism must be at least 1".into(),
                ));
                1
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
        StreamingContext {
            core: Arc::new(Core {
                batch_interval,
                parallelism,
                graceful_stop_timeout: self.graceful_stop_timeout.unwrap_or(Duration::millis(
                    batch_interval.as_millis().saturating_mul(10),
                )),
                stop_when_exhausted: self.stop_when_exhausted,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock::new())),
                state: Mutex::new(ContextState::Initialized),
                graph: Mutex::new(Graph::default()),
                misuses: Mutex::new(misuses),
                listeners: Mutex::new(Vec::new()),
                termination: Mutex::new(Termination::default()),
                termination_cv: Condvar::new(),
                checkpointing: Mutex::new(Checkpointing::default()),
                remember: Mutex::new(None),
                runtime: Mutex::new(None),
                exchange_config: Mutex::new(None),
                distributed: std::sync::OnceLock::new(),
                exchange_ids: Default::default(),
                exchange_nodes: Default::default(),
                partitioned_state: Default::default(),
                ui_config: Mutex::new(self.ui),
                ui: Mutex::new(None),
            }),
        }
    }
}

pub(crate) struct Core {
    pub(crate) batch_interval: Duration,
    pub(crate) parallelism: usize,
    pub(crate) graceful_stop_timeout: Duration,
    pub(crate) stop_when_exhausted: bool,
    pub(crate) clock: Arc<dyn Clock>,
    state: Mutex<ContextState>,
    pub(crate) graph: Mutex<Graph>,
    /// Misuses found while the graph was built; `start` reports them.
    misuses: Mutex<Vec<Arc<Misuse>>>,
    pub(crate) listeners: Mutex<Vec<Arc<dyn StreamingListener>>>,
    termination: Mutex<Termination>,
    termination_cv: Condvar,
    pub(crate) checkpointing: Mutex<Checkpointing>,
    remember: Mutex<Option<Duration>>,
    runtime: Mutex<Option<Runtime>>,
    /// Distributed mode's setting ([`StreamingContext::distribute`]), and what `start` made of
    /// it.
    exchange_config: Mutex<Option<crate::exchange::ExchangeConfig>>,
    distributed: std::sync::OnceLock<Arc<distributed::Distributed>>,
    /// Exchange operators built so far.
    exchange_ids: std::sync::atomic::AtomicUsize,
    /// By node id, the exchange that node runs (its operator's exchange id).
    exchange_nodes: Mutex<BTreeMap<usize, usize>>,
    /// The nodes of stateful operators whose state is kept per exchange partition in
    /// distributed mode, in build order.
    partitioned_state: Mutex<Vec<(usize, Arc<dyn PartitionedState>)>>,
    /// Where the web UI is to listen, if it is on.
    ui_config: Mutex<Option<UiConfig>>,
    /// The web UI's server while the context runs.
    pub(crate) ui: Mutex<Option<ui::Server>>,
}

impl Core {
    /// Adds a node to the graph.
    ///
    /// # Panics
    /// Once the context has started or stopped (see [`Core::check_building`]).
    #[track_caller]
    pub(crate) fn add_node<T: Data>(
        &self,
        name: &str,
        slide: Duration,
        parents: Vec<Arc<dyn AnyNode>>,
        parent_extra_remember: Duration,
        plan: Plan,
        compute: ComputeFn<T>,
    ) -> Arc<Node<T>> {
        self.check_building();
        let mut graph = lock(&self.graph);
        let node = Arc::new(Node::new(
            graph.nodes.len(),
            name,
            slide,
            parents,
            parent_extra_remember,
            plan,
            compute,
        ));
        graph.nodes.push(node.clone());
        node
    }

    #[track_caller]
    pub(crate) fn add_output(&self, op: OutputOp) {
        self.check_building();
        lock(&self.graph).outputs.push(Arc::new(op));
    }

    /// Panics with Spark's message once the context has started or stopped: Spark throws an
    /// `IllegalStateException` there, and a graph that runs cannot change.
    #[track_caller]
    pub(crate) fn check_building(&self) {
        let refused = match *lock(&self.state) {
            ContextState::Initialized => return,
            ContextState::Active => Error::AddedAfterStart,
            ContextState::Stopped => Error::AddedAfterStop,
        };
        panic!("{refused}");
    }

    /// Registers the input that computes node `node`: started and stopped with the context,
    /// asked whether it is exhausted, and checkpointed under `input-<n>`.
    #[track_caller]
    pub(crate) fn add_input(&self, node: usize, input: Arc<dyn Input>) {
        self.check_building();
        lock(&self.graph).inputs.push(input.clone());
        lock(&self.checkpointing).add_input(node, input);
    }

    /// Creates the checkpoint directory, if one is set, and gives it.
    /// Creates the checkpoint directory, if there is one, and takes its lock (another running
    /// job on it is refused).
    fn create_checkpoint_dir(&self) -> Result<Option<PathBuf>> {
        let mut checkpointing = lock(&self.checkpointing);
        let dir = checkpointing.dir.clone();
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::io(
                    format!("creating checkpoint directory {}", dir.display()),
                    e,
                )
            })?;
            if checkpointing.dir_lock.is_none() {
                checkpointing.dir_lock = Some(checkpoint::store::lock_dir(dir)?);
            }
        }
        Ok(dir)
    }

    /// Records a misuse of `operator`, made at `location`.
    pub(crate) fn refuse(
        &self,
        operator: &'static str,
        location: &'static Location<'static>,
        error: Error,
    ) {
        tracing::debug!("{operator} at {location}: {error}");
        lock(&self.misuses).push(Arc::new(Misuse {
            operator,
            location: location.to_string(),
            error,
        }));
    }

    /// [`Error::InvalidProgram`] with every misuse recorded, if any.
    fn check_program(&self) -> Result<()> {
        let misuses = lock(&self.misuses);
        if misuses.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidProgram(misuses.clone()))
        }
    }

    /// Whether there are inputs and all of them are finite and exhausted.
    pub(crate) fn records_received(&self) -> u64 {
        lock(&self.graph)
            .inputs
            .iter()
            .map(|i| i.records_received())
            .sum()
    }

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

    /// Records a batch error; the first one is what `await_termination` returns. A write into a
    /// closed pipe (the reader of standard output went away) is logged at `info`: it is how
    /// `dstreams ... | head` ends, not a fault.
    pub(crate) fn report_error(&self, error: Error) {
        if error.is_broken_pipe() {
            tracing::info!("{error}");
        } else {
            tracing::error!("{error}");
        }
        let mut t = lock(&self.termination);
        if t.error.is_none() {
            t.error = Some(Arc::new(error));
        }
        self.termination_cv.notify_all();
    }

    /// Batch `time` completed (`failed`: an output or a job failed).
    pub(crate) fn batch_completed(&self, time: Time, failed: bool) {
        if let Some(distributed) = self.distributed.get() {
            distributed.batch_completed(time, failed);
        }
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
        // Every checkpoint is written by now: the directory is free for the next run.
        lock(&self.checkpointing).dir_lock = None;
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
/// let ssc = StreamingContext::builder(Seconds(1)).clock(clock.clone()).build();
/// let nums = ssc.queue_stream(vec![Batch::from_vec((1..=1000).collect(), 2)], true, None);
/// let counts = nums.map(|x| (x % 10, 1)).reduce_by_key(|a, b| a + b);
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// counts.foreach_rdd(move |batch| sink.lock().unwrap().extend(batch.collect()));
/// ssc.start()?;
/// clock.advance(Seconds(1));
/// ssc.await_batch(Time::from_millis(1000), Seconds(10))?;
/// ssc.stop(false)?;
/// let mut seen = seen.lock().unwrap().clone();
/// seen.sort();
/// assert_eq!(seen, (0..10).map(|k| (k, 100)).collect::<Vec<_>>());
/// # Ok::<(), dstreams::Error>(())
/// ```
#[derive(Clone)]
pub struct StreamingContext {
    pub(crate) core: Arc<Core>,
}

impl StreamingContext {
    /// A context on the system clock with one partition per core (Spark's
    /// `new StreamingContext(conf, Seconds(1))`).
    #[track_caller]
    pub fn new(batch_interval: impl Into<Duration>) -> Self {
        Self::builder(batch_interval).build()
    }

    /// Configures a context.
    pub fn builder(batch_interval: impl Into<Duration>) -> ContextBuilder {
        ContextBuilder {
            batch_interval: batch_interval.into(),
            clock: None,
            parallelism: None,
            graceful_stop_timeout: None,
            stop_when_exhausted: false,
            ui: None,
        }
    }

    /// The batch interval.
    pub fn batch_interval(&self) -> Duration {
        self.core.batch_interval
    }

    /// Records a misuse of `operator` where the program called it; `start` reports it.
    #[track_caller]
    pub(crate) fn refuse(&self, operator: &'static str, error: Error) {
        self.core.refuse(operator, Location::caller(), error);
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

    /// Sets the checkpoint directory (created, with its parents, when the context starts or
    /// recovers from it). From then on a checkpoint is written after every checkpoint
    /// interval's batch (see [`DStream::checkpoint`]); [`get_or_create`](Self::get_or_create)
    /// recovers from it.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) {
        lock(&self.core.checkpointing).dir = Some(dir.as_ref().to_path_buf());
    }

    /// The checkpoint directory, if one was set.
    pub fn checkpoint_dir(&self) -> Option<PathBuf> {
        lock(&self.core.checkpointing).dir.clone()
    }

    /// How many checkpoints to keep (default 3, at least 1): a corrupted newest one falls back
    /// to the one before.
    #[track_caller]
    pub fn keep_checkpoints(&self, n: usize) {
        if n == 0 {
            self.core.refuse(
                "keep_checkpoints",
                Location::caller(),
                Error::InvalidArgument("at least one checkpoint must be kept".into()),
            );
            return;
        }
        lock(&self.core.checkpointing).keep = n;
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
    /// Fails with [`Error::InvalidProgram`] when the graph `build` makes has misuses (as
    /// [`start`](Self::start) would), and when the checkpoint cannot be restored into it.
    ///
    /// ```
    /// use dstreams::prelude::*;
    /// # let dir = std::env::temp_dir().join(format!("get-or-create-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let ssc = StreamingContext::get_or_create(&dir, || {
    ///     let ssc = StreamingContext::new(Seconds(1));
    ///     let lines = ssc.socket_text_stream("localhost", 9999);
    ///     let pairs = lines.flat_map(|l| l.split(' ')).map(|w| (w, 1));
    ///     pairs
    ///         .update_state_by_key(|new: &[i64], total: Option<i64>| {
    ///             Some(total.unwrap_or(0) + new.iter().sum::<i64>())
    ///         })
    ///         .checkpoint_name("totals")
    ///         .print();
    ///     ssc
    /// })?;
    /// assert_eq!(ssc.checkpoint_dir().as_deref(), Some(dir.as_path()));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn get_or_create(
        dir: impl AsRef<Path>,
        build: impl FnOnce() -> StreamingContext,
    ) -> Result<StreamingContext> {
        let dir = dir.as_ref();
        let ssc = build();
        if ssc.get_state() != ContextState::Initialized {
            return Err(Error::IllegalState(
                "get_or_create: the context returned by `build` must not be started".into(),
            ));
        }
        ssc.core.check_program()?;
        if ssc.checkpoint_dir().is_none() {
            ssc.checkpoint(dir);
        }
        let dir = ssc
            .core
            .create_checkpoint_dir()?
            .expect("the checkpoint directory is set");
        match checkpoint::store::load_latest(&dir)? {
            Some(loaded) => checkpoint::restore(&ssc.core, loaded)?,
            None => tracing::info!("no checkpoint in {}; starting afresh", dir.display()),
        }
        Ok(ssc)
    }

    /// Records the context's receivers (sockets, custom receivers) stored so far, in all: a test
    /// that feeds a receiver waits for it before it advances a manual clock, so that the batch
    /// it seals holds them.
    ///
    /// ```
    /// use dstreams::prelude::*;
    /// let ssc = StreamingContext::new(Seconds(1));
    /// assert_eq!(ssc.records_received(), 0);
    /// ```
    pub fn records_received(&self) -> u64 {
        self.core.records_received()
    }

    /// Keeps every stream's batches for at least `duration` (so `slice` can reach back further).
    #[track_caller]
    pub fn remember(&self, duration: impl Into<Duration>) {
        self.core.check_building();
        match duration.into().usable("remember duration") {
            Ok(d) => *lock(&self.core.remember) = Some(d),
            Err(e) => self.core.refuse("remember", Location::caller(), e),
        }
    }

    /// Serves the web UI while the context runs, as [`ContextBuilder::ui`] does; for a context
    /// built elsewhere (by a function of the program, or through
    /// [`get_or_create`](Self::get_or_create)). Takes effect at [`start`](Self::start).
    pub fn set_ui(&self, config: impl Into<UiConfig>) {
        *lock(&self.core.ui_config) = Some(config.into());
    }

    /// Where the web UI listens, once [`start`](Self::start) bound it (until [`stop`](Self::stop)).
    pub fn ui_address(&self) -> Option<std::net::SocketAddr> {
        lock(&self.core.ui).as_ref().map(ui::Server::address)
    }

    /// Registers a listener for batch and receiver events.
    pub fn add_streaming_listener(&self, listener: Arc<dyn StreamingListener>) {
        lock(&self.core.listeners).push(listener);
    }

    /// Starts the batches. Fails with [`Error::InvalidProgram`] listing every misuse made while
    /// the graph was built (each with its operation and place in the program), if no output
    /// operation was registered, after a stop, and without a checkpoint directory when a
    /// stateful operation ([`Error::CheckpointDirectoryNotSet`]; in distributed mode state is kept
    /// in Kafka instead) or a receiver's write-ahead
    /// log ([`Error::WriteAheadLogWithoutCheckpointDirectory`]) needs one; a second call on a
    /// running context only logs a warning, as Spark does.
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
            self.core.check_program()?;
            self.core.start_distributed()?;
            let graph = lock(&self.core.graph);
            if graph.outputs.is_empty() {
                return Err(Error::NoOutputOperations);
            }
            let checkpointing = lock(&self.core.checkpointing);
            // In distributed mode state is kept in Kafka (changelog topics), not in a directory.
            let distributed = self.core.distributed.get().is_some();
            if checkpointing.has_operators() && checkpointing.dir.is_none() && !distributed {
                return Err(Error::CheckpointDirectoryNotSet);
            }
            if checkpointing.dir.is_none() && graph.inputs.iter().any(|i| i.write_ahead_log()) {
                return Err(Error::WriteAheadLogWithoutCheckpointDirectory);
            }
            drop(checkpointing);
            drop(graph);
            self.core.create_checkpoint_dir()?;
            let config = lock(&self.core.ui_config).clone();
            if let Some(config) = config {
                *lock(&self.core.ui) = Some(ui::start(&self.core, &config)?);
            }
            *state = ContextState::Active;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.core.parallelism)
            .thread_name(|i| format!("dstreams-worker-{i}"))
            .start_handler(|_| scheduler::mark_batch_thread())
            .build()
            .map_err(|e| {
                self.core.mark_stopped();
                self.stop_ui();
                Error::io("starting the worker threads", std::io::Error::other(e))
            })?;
        let restored = lock(&self.core.checkpointing).restored;
        let (first, zero) = match restored {
            // Resume with the batch after the checkpoint's, on the checkpointed time grid.
            Some((time, zero)) => (time + self.core.batch_interval, zero),
            None => {
                let mut first =
                    Time::first_batch_after(self.core.clock.now(), self.core.batch_interval);
                match self.core.first_distributed_batch() {
                    Ok(Some(pending)) if pending < first => {
                        tracing::info!(
                            "distributed: starting with the job's pending batch {pending}"
                        );
                        first = pending;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.core.mark_stopped();
                        self.stop_ui();
                        return Err(e);
                    }
                }
                (first, self.core.zero_before(first))
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
                self.stop_ui();
                return Err(e);
            }
        }
        let wall = clock::wall_millis();
        for l in self.core.listeners() {
            l.on_streaming_started(wall);
        }
        tracing::info!(first_batch = %first, interval = %self.core.batch_interval, "StreamingContext started");
        *lock(&self.core.runtime) = Some(Runtime::start(self.core.clone(), first, pool));
        Ok(())
    }

    /// Stops the context. Graceful: inputs stop receiving, everything already received is
    /// processed (bounded by the graceful-stop timeout, 10 batch intervals by default), then
    /// batches stop. Immediate: the batch in progress finishes (in distributed mode, one waiting
    /// for other processes' partials fails at once instead), queued batches are dropped with a
    /// warning. Must not be called from inside a batch (an output function or a listener).
    pub fn stop(&self, graceful: bool) -> Result<()> {
        if scheduler::on_batch_thread() {
            return Err(Error::IllegalState(
                "Cannot stop StreamingContext within its own batch thread (an output operation or listener); stop it from another thread".into(),
            ));
        }
        let runtime = {
            let mut state = lock(&self.core.state);
            if *state == ContextState::Stopped {
                tracing::warn!("StreamingContext has already been stopped");
                drop(state);
                // A context that stopped by itself (its inputs exhausted) still serves its UI.
                self.stop_ui();
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
        self.stop_ui();
        tracing::info!("StreamingContext stopped");
        Ok(())
    }

    fn stop_ui(&self) {
        if let Some(server) = lock(&self.core.ui).take() {
            server.stop();
        }
    }

    /// Blocks until the context stops, returning the first error any batch reported (Spark
    /// rethrows it from `awaitTermination`).
    pub fn await_termination(&self) -> Result<()> {
        self.wait(None).map(|_| ())
    }

    /// Like [`await_termination`](Self::await_termination) but gives up after `timeout`:
    /// `Ok(true)` if stopped, `Ok(false)` on time-out, `Err` with the first batch error.
    pub fn await_termination_or_timeout(&self, timeout: impl Into<Duration>) -> Result<bool> {
        self.wait(Some(timeout.into()))
    }

    fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t.to_std());
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
    pub fn await_batch(&self, time: Time, timeout: impl Into<Duration>) -> Result<bool> {
        let deadline = std::time::Instant::now() + timeout.into().to_std();
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
    #[track_caller]
    pub fn queue_stream<T: Data>(
        &self,
        batches: impl IntoIterator<Item = Batch<T>>,
        one_at_a_time: bool,
        default: Option<Batch<T>>,
    ) -> DStream<T> {
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
    /// let ssc = StreamingContext::new(Seconds(1));
    /// let spam = Batch::from_vec(vec![("offer", true)], 1);
    /// let spam_info = ssc.constant_stream(spam);
    /// let counts = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
    /// let flagged = counts.transform_with(&spam_info, |counts, spam| counts.join(spam));
    /// # let _ = flagged;
    /// ```
    #[track_caller]
    pub fn constant_stream<T: Data>(&self, batch: Batch<T>) -> DStream<T> {
        crate::source::constant::constant_stream(self, batch)
    }

    /// The union of several streams of the same slide duration and context.
    #[track_caller]
    pub fn union<T: Data>(&self, streams: &[DStream<T>]) -> DStream<T> {
        DStream::union_all(self, streams)
    }
}
