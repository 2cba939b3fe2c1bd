//! Checkpoints: what a restarted program needs to carry on where a stopped or killed one left off.
//!
//! A checkpoint is taken after a batch completed, every checkpoint interval. It holds
//!
//! - the state of every stateful operator (`update_state_by_key`, `map_with_state`), as an Arrow
//!   IPC file each, under a stable operator id: the name given with
//!   [`DStream::checkpoint_name`](crate::DStream::checkpoint_name), or `#n` for the `n`-th stateful
//!   operator the program built;
//! - each recoverable input's position and its record of recent batches (a replay's file
//!   offsets, a file stream's selected files), enough to re-create the batches a window still
//!   needs and to continue with the next one; receivers save nothing here: with the write-ahead
//!   log on ([`ReceiverConfig::write_ahead_log`](crate::source::ReceiverConfig::write_ahead_log))
//!   their batches are in log files under `received/` in the checkpoint directory, read back
//!   when the restored context starts, and removed once no kept checkpoint needs them;
//! - the batch time, the zero time and the batch interval.
//!
//! Windows keep no checkpointed state: after recovery they rebuild their panes from the
//! re-created input batches (as Spark recomputes a window's RDDs from their lineage).
//!
//! [`StreamingContext::get_or_create`](crate::StreamingContext::get_or_create) builds the graph
//! with the program's code, loads the newest usable checkpoint, restores every operator and input
//! by id, and resumes with the batch after the checkpoint's: batches that ran after it run again,
//! and `save_as_text_files` replaces their directories, so saved outputs have every batch once.

pub(crate) mod arrow_file;
pub(crate) mod metadata;
pub(crate) mod store;
mod writer;

use crate::context::{Core, Input};
use crate::durable::DurableWriteError;
use crate::error::Result;
use crate::lock::lock;
use crate::time::{Duration, Time};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use metadata::{InputEntry, Metadata};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a checkpoint could not be written, read or applied.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file of the checkpoint directory could not be read or written.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A state file is not a readable Arrow IPC file.
    #[error("checkpoint state file {path}: {message}")]
    Arrow {
        /// The file.
        path: PathBuf,
        /// Arrow's complaint.
        message: String,
    },
    /// A checkpoint is torn or altered (failed checksum, truncated, malformed).
    #[error("corrupt checkpoint: {reason}")]
    Corrupt {
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint was written by a newer dstreams.
    #[error("checkpoint format version {found} is newer than this dstreams reads ({supported})")]
    NewerVersion {
        /// The version found.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// Checkpoints exist but none can be read.
    #[error("no usable checkpoint in {dir}: {reasons}")]
    NoneUsable {
        /// The checkpoint directory.
        dir: PathBuf,
        /// Why each one failed.
        reasons: String,
    },
    /// Another context (in this process or another one) holds the checkpoint directory: two jobs
    /// on one directory would interleave their outputs and checkpoints.
    #[error(
        "checkpoint directory {dir} is in use by another running job ({holder}); stop it first, or give this job a directory of its own"
    )]
    Locked {
        /// The checkpoint directory.
        dir: PathBuf,
        /// Who holds it: `process <pid>`, as its lock file says.
        holder: String,
    },
    /// The program changed in a way its checkpoint cannot follow.
    #[error("checkpoint does not fit this program at {operator}: {reason}")]
    Incompatible {
        /// The operator (its id), input or setting concerned.
        operator: String,
        /// What differs.
        reason: String,
    },
}

impl CheckpointError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<DurableWriteError> for CheckpointError {
    fn from(e: DurableWriteError) -> Self {
        CheckpointError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

/// One operator's state, ready to be written.
pub(crate) struct StateTable {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) schema: SchemaRef,
    pub(crate) batches: Vec<RecordBatch>,
}

/// A stateful operator's side of checkpoints.
pub(crate) trait OperatorState: Send + Sync {
    /// What the operator is, with its types (`update_state_by_key(Utf8View -> Int64)`); state is
    /// restored only into an operator of the same kind.
    fn kind(&self) -> String;
    /// The state as record batches of one schema.
    fn snapshot(&self) -> Result<(SchemaRef, Vec<RecordBatch>)>;
    /// Replaces the state by a checkpoint's, taken after the batch at `time`.
    fn restore(&self, time: Time, batches: &[RecordBatch]) -> Result<()>;
    /// How many keys hold a state (the web UI's gauge per stateful operator).
    fn keys(&self) -> usize;
}

/// The stable id of the `i`-th recoverable input, in checkpoints and in the receivers'
/// write-ahead log directory.
fn input_id(i: usize) -> String {
    format!("input-{i}")
}

struct RegisteredOperator {
    node: usize,
    name: Option<String>,
    state: Arc<dyn OperatorState>,
}

struct RegisteredInput {
    node: usize,
    state: Arc<dyn Input>,
}

/// Checkpoint settings and everything that takes part in checkpoints.
pub(crate) struct Checkpointing {
    pub(crate) dir: Option<PathBuf>,
    /// Set by `DStream::checkpoint`; otherwise Spark's default (see [`Checkpointing::interval`]).
    pub(crate) interval: Option<Duration>,
    pub(crate) keep: usize,
    operators: Vec<RegisteredOperator>,
    inputs: Vec<RegisteredInput>,
    /// The checkpoint the graph was restored from: its batch time and zero time.
    pub(crate) restored: Option<(Time, Time)>,
    /// How far back inputs must be able to re-create batches: windows that keep panes rebuild
    /// them from their parents' batches after recovery.
    history: Duration,
    /// Started with the first checkpoint.
    writer: Option<writer::BackgroundWriter>,
    /// The directory's lock, held from `start` (or `get_or_create`) until the context stops.
    pub(crate) dir_lock: Option<store::DirLock>,
}

/// Checkpoints kept by default.
pub(crate) const DEFAULT_KEEP: usize = 3;

impl Default for Checkpointing {
    fn default() -> Self {
        Checkpointing {
            dir: None,
            interval: None,
            keep: DEFAULT_KEEP,
            dir_lock: None,
            operators: Vec::new(),
            inputs: Vec::new(),
            restored: None,
            history: Duration::default(),
            writer: None,
        }
    }
}

impl Checkpointing {
    pub(crate) fn add_operator(&mut self, node: usize, state: Arc<dyn OperatorState>) {
        self.operators.push(RegisteredOperator {
            node,
            name: None,
            state,
        });
    }

    /// Asks inputs to keep what re-creates their batches of the last `d` (a window's length).
    pub(crate) fn keep_input_history(&mut self, d: Duration) {
        self.history = self.history.max(d);
    }

    /// How far back an input on `node` keeps what re-creates its batches.
    fn input_history(&self, graph: &crate::context::Graph, node: usize) -> Duration {
        graph.nodes[node].remember_duration().max(self.history)
    }

    /// Registers a recoverable input; returns its id (`input-<n>`, by registration order).
    pub(crate) fn add_input(&mut self, node: usize, state: Arc<dyn Input>) {
        self.inputs.push(RegisteredInput { node, state });
    }

    /// The checkpoint id of the input that computes node `node`.
    pub(crate) fn input_id_of(&self, node: usize) -> Option<String> {
        self.inputs
            .iter()
            .position(|i| i.node == node)
            .map(input_id)
    }

    /// Names the operator computing node `node`; false if no stateful operator computes it.
    pub(crate) fn name_operator(&mut self, node: usize, name: &str) -> bool {
        match self.operators.iter_mut().find(|o| o.node == node) {
            Some(o) => {
                o.name = Some(name.to_string());
                true
            }
            None => false,
        }
    }

    /// The name given to the operator computing node `node`, if any.
    pub(crate) fn name_of(&self, node: usize) -> Option<&str> {
        self.operators
            .iter()
            .find(|o| o.node == node)
            .and_then(|o| o.name.as_deref())
    }

    /// Whether an operator already has this name.
    pub(crate) fn operator_named(&self, name: &str) -> bool {
        self.operators
            .iter()
            .any(|o| o.name.as_deref() == Some(name))
    }

    pub(crate) fn has_operators(&self) -> bool {
        !self.operators.is_empty()
    }

    /// Each stateful operator's checkpoint id with the number of keys holding a state.
    pub(crate) fn state_keys(&self) -> Vec<(String, usize)> {
        self.operator_ids()
            .into_iter()
            .zip(&self.operators)
            .map(|(id, o)| (id, o.state.keys()))
            .collect()
    }

    /// Each registered input's node (its input stream id) and kind.
    pub(crate) fn input_kinds(&self) -> Vec<(usize, &'static str)> {
        self.inputs
            .iter()
            .map(|i| (i.node, i.state.kind()))
            .collect()
    }

    fn operator_ids(&self) -> Vec<String> {
        self.operators
            .iter()
            .enumerate()
            .map(|(i, o)| o.name.clone().unwrap_or_else(|| format!("#{i}")))
            .collect()
    }

    /// How often checkpoints are taken: as set, or Spark's default for stateful streams (the
    /// smallest multiple of the batch interval of at least 10 s); every batch when nothing but
    /// input positions is saved (Spark writes its metadata checkpoint every batch).
    pub(crate) fn interval(&self, batch: Duration) -> Duration {
        if let Some(i) = self.interval {
            return i;
        }
        if self.operators.is_empty() {
            return batch;
        }
        let b = batch.as_millis();
        Duration::millis(b * ((10_000 + b - 1) / b))
    }
}

/// What one checkpoint write did (for listeners and logs).
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointInfo {
    /// The batch after which the checkpoint was taken.
    pub batch_time: Time,
    /// The checkpoint's directory.
    pub path: PathBuf,
    /// Bytes written (state files and metadata).
    pub bytes: u64,
    /// Time to take the state snapshots, in milliseconds.
    pub snapshot_ms: f64,
    /// Time to write and sync the files, in milliseconds.
    pub write_ms: f64,
}

/// After the batch at `time`: lets inputs forget batches no window needs any more, and, if a
/// checkpoint is due (or `force`d: the last batch of a run that ends), snapshots the state and
/// hands it to the background writer.
pub(crate) fn after_batch(core: &Core, time: Time, force: bool) -> Result<()> {
    let Some(zero) = core.zero_time() else {
        return Ok(());
    };
    let started = std::time::Instant::now();
    let mut c = lock(&core.checkpointing);
    let graph = lock(&core.graph);
    for input in &c.inputs {
        input
            .state
            .forget_before(time - c.input_history(&graph, input.node));
    }
    let Some(dir) = c.dir.clone() else {
        return Ok(());
    };
    if !force && !(time - zero).is_multiple_of(c.interval(core.batch_interval)) {
        return Ok(());
    }
    let states = c
        .operators
        .iter()
        .zip(c.operator_ids())
        .map(|(o, id)| {
            let (schema, batches) = o.state.snapshot()?;
            Ok(StateTable {
                id,
                kind: o.state.kind(),
                schema,
                batches,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let inputs = c
        .inputs
        .iter()
        .enumerate()
        .map(|(i, input)| InputEntry {
            id: input_id(i),
            kind: input.state.kind().to_string(),
            entries: input
                .state
                .save(time - c.input_history(&graph, input.node), time),
        })
        .collect();
    // Once written, each input may drop what it stores for batches no kept checkpoint needs.
    let written_hooks = c
        .inputs
        .iter()
        .map(|input| (input.state.clone(), c.input_history(&graph, input.node)))
        .collect();
    drop(graph);
    let job = writer::Job {
        dir,
        metadata: Metadata {
            time,
            zero,
            interval: core.batch_interval,
            inputs,
            operators: Vec::new(),
        },
        states,
        keep: c.keep,
        snapshot_ms: started.elapsed().as_secs_f64() * 1e3,
        listeners: core.listeners(),
        inputs: written_hooks,
    };
    if c.writer.is_none() {
        let w = writer::BackgroundWriter::start()
            .map_err(|e| crate::error::Error::io("starting the checkpoint writer thread", e))?;
        c.writer = Some(w);
    }
    c.writer
        .as_ref()
        .expect("the writer was just started")
        .submit(job);
    Ok(())
}

/// When a run ends by itself or by a graceful stop, checkpoints its last batch (unless a batch
/// failed), so a restart finds nothing left to run again.
pub(crate) fn final_checkpoint(core: &Core) {
    if let Some(time) = core.last_completed_without_error()
        && let Err(e) = after_batch(core, time, true)
    {
        tracing::error!("no final checkpoint after batch {time}: {e}");
    }
}

/// Waits until every checkpoint handed to the writer is on disk (when the context stops).
pub(crate) fn finish_writes(core: &Core) {
    let writer = lock(&core.checkpointing).writer.take();
    if let Some(w) = writer {
        w.finish();
    }
}

/// Restores the graph of `core` from `loaded`: operators and inputs by id, then the times from
/// which the context resumes.
pub(crate) fn restore(core: &Core, loaded: store::Loaded) -> Result<()> {
    let meta = &loaded.metadata;
    let incompatible = |operator: &str, reason: String| CheckpointError::Incompatible {
        operator: operator.to_string(),
        reason,
    };
    if meta.interval != core.batch_interval {
        return Err(incompatible(
            "batch interval",
            format!(
                "the checkpoint was written with {}, the program uses {}",
                meta.interval, core.batch_interval
            ),
        )
        .into());
    }
    let mut c = lock(&core.checkpointing);
    let ids = c.operator_ids();
    for entry in &meta.operators {
        if !ids.contains(&entry.id) {
            return Err(incompatible(
                &entry.id,
                format!(
                    "the checkpoint holds the state of {} `{}`, which this program no longer builds (stateful operators are matched by name, else by the order they are built in)",
                    entry.kind, entry.id
                ),
            )
            .into());
        }
    }
    for (o, id) in c.operators.iter().zip(&ids) {
        let Some(entry) = meta.operators.iter().find(|e| &e.id == id) else {
            tracing::warn!(
                "stateful operator {id} ({}) has no state in checkpoint {}; it starts empty",
                o.state.kind(),
                loaded.path.display()
            );
            continue;
        };
        if entry.kind != o.state.kind() {
            return Err(incompatible(
                id,
                format!(
                    "the checkpoint holds {}, the program builds {}",
                    entry.kind,
                    o.state.kind()
                ),
            )
            .into());
        }
        let path = loaded.path.join(&entry.file);
        let data = loaded
            .files
            .get(id)
            .expect("every operator's file was loaded");
        let batches = arrow_file::read(&path, data)?;
        o.state
            .restore(meta.time, &batches)
            .map_err(|e| incompatible(id, e.to_string()))?;
    }
    for (i, input) in c.inputs.iter().enumerate() {
        let id = input_id(i);
        match meta.inputs.iter().find(|e| e.id == id) {
            Some(e) if e.kind == input.state.kind() => input
                .state
                .restore(&e.entries)
                .map_err(|err| incompatible(&id, err.to_string()))?,
            Some(e) => {
                return Err(incompatible(
                    &id,
                    format!(
                        "the checkpoint holds a {} input, the program builds a {} input",
                        e.kind,
                        input.state.kind()
                    ),
                )
                .into());
            }
            None => tracing::warn!("input {id} has no position in the checkpoint; it starts anew"),
        }
    }
    c.restored = Some((meta.time, meta.zero));
    tracing::info!(
        "restored from checkpoint {} (batch {}); resuming with batch {}",
        loaded.path.display(),
        meta.time,
        meta.time + meta.interval
    );
    Ok(())
}
