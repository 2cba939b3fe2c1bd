//! # dstreams
//!
//! Spark Streaming's discretized streams (DStreams), rebuilt in Rust on Apache Arrow.
//!
//! A [`StreamingContext`] cuts time into batches; sources turn what arrived in each interval into a
//! [`Batch`] (partitions of Arrow columns); [`DStream`] operations (map, reduce_by_key, join, ...)
//! transform batches, and inside `transform` a batch has Spark's RDD operations
//! ([`Batch::map`], [`Batch::join`], [`Batch::sort_by`], ...); output operations (print,
//! save_as_text_files, save_as_parquet_files, save_to_kafka, foreach_rdd) consume them.
//! Semantics follow Spark's where they are right; where dstreams deliberately differs, the
//! difference is documented on the operation.
//!
//! A Spark program ports line for line: closures take each element (strings as [`Str`] views,
//! which read as `&str`) and return values; building the graph never fails half-way, misuse is
//! reported by [`StreamingContext::start`].
//!
//! ```
//! use dstreams::prelude::*;
//! use std::sync::{Arc, Mutex};
//!
//! let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
//! let ssc = StreamingContext::builder(Seconds(1)).clock(clock.clone()).build();
//! let lines = ssc.queue_stream(vec![Batch::from_vec(vec!["to be or not to be"], 1)], true, None);
//! let words = lines.flat_map(|line| line.split(' '));
//! let counts = words.map(|w| (w, 1)).reduce_by_key(|a, b| a + b);
//! let printed = Arc::new(Mutex::new(Vec::<u8>::new()));
//! counts.print_to(10, printed.clone());
//! ssc.start()?;
//! clock.advance(Seconds(1));
//! ssc.await_batch(Time::from_millis(1000), Seconds(10))?;
//! ssc.stop(false)?;
//! let text = String::from_utf8(printed.lock().unwrap().clone()).unwrap();
//! assert!(text.starts_with("-------------------------------------------\nTime: 1000 ms\n"));
//! assert!(text.contains("(be,2)\n") && text.contains("(or,1)\n"));
//! # Ok::<(), dstreams::Error>(())
//! ```

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod checkpoint;
mod closing_consumer;
mod context;
pub mod data;
mod dstream;
mod durable;
mod error;
mod exchange;
#[doc(hidden)]
pub mod fuzzing;
pub mod kafka_admin;
pub mod kernels;
mod lock;
mod rdd;
mod sink;
pub mod source;
pub mod text;
mod time;
mod ui;
mod window;
pub mod zipf;

pub use checkpoint::{CheckpointError, CheckpointInfo};
pub use context::{
    BatchContext, BatchInfo, Clock, ContextBuilder, ContextState, FastClock, ManualClock,
    OutputOperationInfo, ReceiverInfo, StreamInputInfo, StreamingContext, StreamingListener,
    SystemClock,
};
pub use data::{Batch, ByteStr, Data, Emit, Key, Seq, Str, Value};
pub use dstream::{
    DStream, MapWithStateDStream, OutputResult, Partition, State, StateSpec, TransformResult,
    UpdateStateSpec, Window,
};
pub use error::{Error, Misuse, Result};
pub use exchange::ExchangeConfig;
pub use kernels::tokenize::Separators;
pub use rdd::ShuffleInto;
pub use sink::batch_file_name;
pub use sink::print::format_batch;
pub use sink::{BATCH_TIME_HEADER, Delivered, KafkaWriter, PARTITION_HEADER, PendingRecords};
pub use time::{Duration, Milliseconds, Minutes, Seconds, Time};
pub use ui::UiConfig;

/// The Kafka client dstreams uses (rdkafka, on the bundled librdkafka), for its
/// [`ClientConfig`](rdkafka::ClientConfig): `save_to_kafka` and [`KafkaWriter`] take one.
pub use rdkafka;

/// The Arrow crates and the hasher the [`Data`] and [`Key`] traits name
/// ([`Data::data_type`], [`Column::to_arrow`](data::Column::to_arrow),
/// [`Key::hash_key`]), so a crate that adds an element type (a language binding) implements them
/// against exactly the versions dstreams was built with.
pub use {ahash, arrow_array, arrow_buffer, arrow_schema};

/// The names most programs need.
pub mod prelude {
    pub use crate::{
        Batch, Clock, DStream, Data, Duration, Emit, Error, FastClock, Key, ManualClock,
        Milliseconds, Minutes, Result, Seconds, Separators, State, StateSpec, Str,
        StreamingContext, StreamingListener, Time, UpdateStateSpec, Value, Window,
    };
}
