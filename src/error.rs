//! The one error type of dstreams.
//!
//! Messages carry the same facts as Spark's own (durations in `<n> ms`, times, operator names) so a
//! Spark user recognises them; variants are typed so a program can react to them.

use crate::time::{Duration, Time};

/// Errors returned by dstreams.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A duration that cannot be used (zero, negative, or unparsable).
    #[error("invalid duration: {0}")]
    InvalidDuration(String),
    /// `start()` on a graph with no output operation (Spark: `requirement failed: No output
    /// operations registered, so nothing to execute`).
    #[error("requirement failed: No output operations registered, so nothing to execute")]
    NoOutputOperations,
    /// A DStream or output operation was added after `start()`.
    #[error(
        "Adding new inputs, transformations, and output operations after starting a context is not supported"
    )]
    AddedAfterStart,
    /// A DStream or output operation was added after `stop()`.
    #[error(
        "Adding new inputs, transformations, and output operations after stopping a context is not supported"
    )]
    AddedAfterStop,
    /// `start()` after `stop()`.
    #[error("StreamingContext has already been stopped")]
    AlreadyStopped,
    /// Streams combined in one operation have different slide durations.
    #[error(
        "requirement failed: Some of the DStreams have different slide durations ({0} and {1})"
    )]
    DifferentSlideDurations(Duration, Duration),
    /// A union of no streams.
    #[error("requirement failed: List of DStreams to union is empty")]
    EmptyUnion,
    /// Streams from different contexts were combined.
    #[error("requirement failed: Some of the DStreams have different contexts")]
    DifferentContexts,
    /// A union parent produced no batch for a time where the union must produce one.
    #[error("Could not generate RDD from a parent for unifying at time {0}")]
    UnionParentMissing(Time),
    /// A transform's parent produced no batch.
    #[error("Couldn't generate RDD from parent at time {0}")]
    TransformParentMissing(Time),
    /// `slice` on a stream of a context that has not started.
    #[error("{0} has not been initialized")]
    NotInitialized(String),
    /// A window or slide duration that is not a multiple of the parent's slide duration.
    #[error(
        "The {what} duration of windowed DStream ({duration}) must be a multiple of the slide duration of parent DStream ({parent_slide})"
    )]
    WindowNotMultiple {
        /// `window` or `slide`.
        what: &'static str,
        /// The offending duration.
        duration: Duration,
        /// The parent's slide duration.
        parent_slide: Duration,
    },
    /// A window or slide duration of an inverse-reduced window that is not a multiple of the
    /// parent's slide duration (Spark's `ReducedWindowedDStream` requirement).
    #[error(
        "requirement failed: The {what} duration of ReducedWindowedDStream ({duration}) must be multiple of the slide duration of parent DStream ({parent_slide})"
    )]
    ReducedWindowNotMultiple {
        /// `window` or `slide`.
        what: &'static str,
        /// The offending duration.
        duration: Duration,
        /// The parent's slide duration.
        parent_slide: Duration,
    },
    /// `State::get` on a key without state (Spark's `NoSuchElementException`).
    #[error("State is not set")]
    StateNotSet,
    /// A `State` used against its rules (update after remove, update or remove while timing
    /// out, remove twice), with Spark's message.
    #[error("requirement failed: {0}")]
    StateMisuse(&'static str),
    /// A checkpoint interval Spark's rules refuse (with Spark's message).
    #[error("requirement failed: {0}")]
    InvalidCheckpointInterval(String),
    /// A stateful operation without a checkpoint directory.
    #[error(
        "requirement failed: The checkpoint directory has not been set. Please set it by StreamingContext.checkpoint()."
    )]
    CheckpointDirectoryNotSet,
    /// A receiver with the write-ahead log on ([`ReceiverConfig::write_ahead_log`]) in a
    /// context without a checkpoint directory, where the log lives (Spark's `SparkException`).
    ///
    /// [`ReceiverConfig::write_ahead_log`]: crate::source::ReceiverConfig::write_ahead_log
    #[error(
        "Cannot enable receiver write-ahead log without checkpoint directory set. Please use streamingContext.checkpoint() to set the checkpoint directory. See documentation for more details."
    )]
    WriteAheadLogWithoutCheckpointDirectory,
    /// A receiver's write-ahead log file could not be written, synced, read or removed. A batch
    /// whose log file cannot be written fails with this error (its lines are kept for the next
    /// batch, which writes them to its own log file).
    #[error("receiver write-ahead log: {action} {path}: {source}")]
    WriteAheadLog {
        /// What was being done: `writing`, `syncing`, `reading`, `removing`, ...
        action: &'static str,
        /// The log file or directory.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A batch's output operation failed (its computation or its output function); `source`
    /// is the error itself, typed (`StateMisuse`, `Kafka`, `Io`, ...).
    #[error("job for batch {time} failed in {operation}: {source}")]
    JobFailed {
        /// The batch time.
        time: Time,
        /// The operation that failed (e.g. `saveAsTextFiles`).
        operation: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// A line longer than a source's limit; its bytes were skipped up to the next newline.
    #[error(
        "{source_name}: a line exceeded the maximum line length of {limit} bytes; {skipped_bytes} bytes were skipped up to the next newline"
    )]
    LineTooLong {
        /// The source (receiver or file).
        source_name: String,
        /// The configured maximum line length.
        limit: usize,
        /// How many bytes were skipped.
        skipped_bytes: usize,
    },
    /// Text that is not valid UTF-8.
    #[error("{source_name}: invalid UTF-8 at byte {offset} (line {line})")]
    InvalidUtf8 {
        /// The source (file path, receiver name).
        source_name: String,
        /// Byte offset of the first invalid sequence.
        offset: usize,
        /// 1-based line number holding it.
        line: usize,
    },
    /// A source could not store or cut its data (memory maps, buffers).
    #[error("{source_name}: {message}")]
    Ingest {
        /// The source.
        source_name: String,
        /// What went wrong.
        message: String,
    },
    /// A user function panicked; the batch's output operation failed and later batches go on.
    #[error("user function panicked in {operation} for batch {time}: {message}")]
    Panicked {
        /// The batch time.
        time: Time,
        /// The operation whose function panicked.
        operation: String,
        /// The panic message.
        message: String,
    },
    /// A user function returned an error (a binding's function raised: Python's exception with
    /// its traceback); the batch's output operation failed and later batches go on, as with
    /// [`Error::Panicked`].
    #[error("user function failed in {operation}:\n{message}")]
    UserFunction {
        /// The operation whose function failed (`map`, `reduceByKey`, `foreachRDD`, ...).
        operation: String,
        /// What the function reported (for Python, the formatted traceback).
        message: String,
    },
    /// The first error a batch reported, as returned (again) by `await_termination`.
    #[error(transparent)]
    Batch(std::sync::Arc<Error>),
    /// The program built its DStream graph wrongly: every misuse found while building (Spark
    /// throws each where it is made; dstreams collects them and
    /// [`start`](crate::StreamingContext::start) reports them, each with the operator and the
    /// place in the program that made it).
    #[error("{}", Misuse::list(.0))]
    InvalidProgram(Vec<std::sync::Arc<Misuse>>),
    /// An argument out of its range (zero partitions, a malformed command-line value, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// An operation that is not allowed in the current state (Spark's
    /// `IllegalStateException`): stopping a context from its own batch thread, asking a window
    /// or state for a batch before the one it last computed.
    #[error("{0}")]
    IllegalState(String),
    /// Something dstreams supports in general but not in this form (with the reason).
    #[error("{0}")]
    Unsupported(String),
    /// A distributed job started with another number of exchange partitions than its exchange
    /// topics were created with (the `P` of its first start, which its partial results are
    /// partitioned by).
    #[error(
        "exchange topic {topic} has {stored} partitions, the job's first start chose them; this start asks for {configured}: start with --exchange-partitions {stored} (or a new application id)"
    )]
    ExchangePartitionsChanged {
        /// The exchange topic.
        topic: String,
        /// Its partition count: the job's `P`.
        stored: u32,
        /// The `P` this start was configured with.
        configured: u32,
    },
    /// A broken invariant of dstreams itself: a bug, please report it.
    #[error("internal error (please report): {0}")]
    Internal(String),
    /// The web UI could not listen on its address (a port in use: another process, or another
    /// context's UI), so the context did not start.
    #[error(
        "the web UI cannot listen on {address}: {source} (choose another address, port 0 for any free one, or turn the UI off)"
    )]
    UiBind {
        /// The address, with the port that failed.
        address: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An input/output error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. `writing /out/x-1000/part-00000`.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A Kafka client operation failed: creating a consumer or producer, creating a topic,
    /// reading metadata, reading a batch's offset ranges, enqueuing a record or its delivery
    /// (`kafka_stream`, `save_to_kafka`, `dstreams kafka-produce`).
    #[error("Kafka, {context}: {message}")]
    Kafka {
        /// What was being done, e.g. `delivering to topic counts`.
        context: String,
        /// What went wrong (librdkafka's error, or how many records failed and the first error).
        message: String,
        /// librdkafka's error, when it is one.
        #[source]
        source: Option<Box<rdkafka::error::KafkaError>>,
    },
    /// The broker no longer holds the records at the position a Kafka stream reads from: the
    /// topic was deleted and re-created or truncated, or the broker lost data. The batch fails
    /// (as Spark's "Beginning offset ... is after the ending offset ... the Kafka topic has been
    /// damaged") rather than skip to what the broker holds now or silently read nothing.
    #[error(
        "Kafka: the broker no longer has the records at this job's positions ({positions}): the \
         topic was deleted and re-created or truncated, or the broker lost data, so records may \
         be missing. Start without the checkpoint (or from another position) to read what the \
         topic holds now"
    )]
    KafkaOffsetsOutOfRange {
        /// Each partition's position and what the broker holds, e.g. `lines-0 at 1500 (the
        /// broker holds 0..250)`.
        positions: String,
    },
    /// A kernel refused its input.
    #[error("kernel: {0}")]
    Kernel(#[from] crate::kernels::KernelError),
    /// An Arrow array of an unexpected type where a column of a [`Data`](crate::Data) type was
    /// expected (an operator's state read back from a checkpoint, say); see
    /// [`Data::column_from_arrow`](crate::Data::column_from_arrow). Nulls in an array for a type
    /// other than `Option` are a mismatch too.
    #[error("expected an Arrow array of type {expected}, found {found}")]
    ArrowType {
        /// The type the column needs, e.g. `Int64` or `Int64 without nulls`.
        expected: String,
        /// The array's type, e.g. `Utf8View` or `Int64 with nulls (3 of 10)`.
        found: String,
    },
    /// A checkpoint could not be written, read or applied.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// An Arrow error (conversion of batches to record batches, an invalid array).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// For `?` on I/O inside user functions (`foreach_rdd`, `transform`).
impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io {
            context: "I/O in a user function".into(),
            source,
        }
    }
}

/// One misuse of the DStream API found while a program built its graph: see
/// [`Error::InvalidProgram`].
#[derive(Debug)]
pub struct Misuse {
    /// The operation, as the program called it (`window`, `union`, `repartition`, ...).
    pub operator: &'static str,
    /// Where the program called it (`src/main.rs:12:10`).
    pub location: String,
    /// What is wrong, in Spark's words where Spark has them.
    pub error: Error,
}

impl Misuse {
    fn list(misuses: &[std::sync::Arc<Misuse>]) -> String {
        misuses
            .iter()
            .map(|m| format!("{} (at {}): {}", m.operator, m.location, m.error))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Error {
    /// Whether this is a write into a pipe whose reader went away (`dstreams ... | head`),
    /// directly or as the cause of a failed batch: a command-line program stops quietly on it.
    ///
    /// ```
    /// use dstreams::Error;
    /// let closed = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
    /// assert!(Error::io("printing a batch", closed).is_broken_pipe());
    /// let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
    /// assert!(!Error::io("printing a batch", full).is_broken_pipe());
    /// ```
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            Error::Io { source, .. } => source.kind() == std::io::ErrorKind::BrokenPipe,
            Error::JobFailed { source, .. } => source.is_broken_pipe(),
            Error::Batch(source) => source.is_broken_pipe(),
            _ => false,
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// A checkpoint that is torn, altered or malformed ([`CheckpointError::Corrupt`](crate::CheckpointError::Corrupt)).
    pub(crate) fn corrupt_checkpoint(reason: impl Into<String>) -> Self {
        Error::Checkpoint(crate::checkpoint::CheckpointError::Corrupt {
            reason: reason.into(),
        })
    }

    /// librdkafka's error `source`, with what was being done.
    pub fn kafka(context: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        Error::Kafka {
            context: context.into(),
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// A Kafka failure that is not one librdkafka error (records without a delivery report, a
    /// topic with another number of partitions, ...), with what was being done.
    pub fn kafka_failure(context: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Kafka {
            context: context.into(),
            message: message.to_string(),
            source: None,
        }
    }
}

impl From<crate::durable::DurableWriteError> for Error {
    fn from(e: crate::durable::DurableWriteError) -> Self {
        Error::io(format!("{} {}", e.action, e.path.display()), e.source)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
