//! `Context`: the engine's `StreamingContext` for the Python package: its clock, its sources,
//! its lifecycle and its listeners.
//!
//! Every call that enters the engine releases the GIL first: the engine's batch threads take it
//! to run Python functions and would otherwise wait for a caller that waits for them.

use std::sync::Arc;

use dstreams::source::{KafkaConfig, ReplayCut, ReplayData, StartingOffsets};
use dstreams::{Batch, Duration, ManualClock, StreamingContext, SystemClock, Time};
use dstreams::{BatchInfo, StreamingListener};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::batch::{batch_of, map_with_gil};
use crate::element::PyObj;
use crate::errors::to_python;
use crate::stream::{AnyStream, Stream};

/// A streaming context.
#[pyclass(frozen, module = "dstreams._dstreams")]
pub struct Context {
    ssc: StreamingContext,
    /// The manual clock, when the context was made with one (tests).
    manual: Option<Arc<ManualClock>>,
}

/// How often a wait in the engine wakes up to let Python handle signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::millis(100);

#[pymethods]
impl Context {
    /// A context of `batch_ms` batches over `parallelism` partitions, on the system clock or, for
    /// tests, a manual clock starting at `start_ms`.
    #[new]
    #[pyo3(signature = (batch_ms, parallelism, manual_start_ms=None))]
    fn new(batch_ms: i64, parallelism: usize, manual_start_ms: Option<i64>) -> PyResult<Self> {
        if batch_ms <= 0 || parallelism == 0 {
            return Err(PyValueError::new_err(
                "the batch duration and the parallelism must be positive",
            ));
        }
        let builder =
            StreamingContext::builder(Duration::millis(batch_ms)).parallelism(parallelism);
        let (builder, manual) = match manual_start_ms {
            Some(start) => {
                let clock = Arc::new(ManualClock::new(Time::from_millis(start)));
                (builder.clock(clock.clone()), Some(clock))
            }
            None => (builder.clock(Arc::new(SystemClock::new())), None),
        };
        Ok(Context {
            ssc: builder.build(),
            manual,
        })
    }

    // ---- sources --------------------------------------------------------------------------

    /// `queueStream`: each batch a list of partitions (lists of objects).
    #[pyo3(signature = (batches, one_at_a_time, default=None))]
    fn queue_stream(
        &self,
        batches: Vec<Bound<'_, PyAny>>,
        one_at_a_time: bool,
        default: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Stream> {
        let batches = batches
            .iter()
            .map(batch_of)
            .collect::<PyResult<Vec<Batch<PyObj>>>>()?;
        let default = default.as_ref().map(batch_of).transpose()?;
        Ok(Stream {
            s: AnyStream::Obj(self.ssc.queue_stream(batches, one_at_a_time, default)),
        })
    }

    /// `queueStream` of strings only: natively, as lines are.
    #[pyo3(signature = (batches, default=None))]
    fn queue_stream_strings(
        &self,
        batches: Vec<Vec<Vec<String>>>,
        default: Option<Vec<Vec<String>>>,
    ) -> Stream {
        let batch = |parts: Vec<Vec<String>>| {
            Batch::from_partitions(
                parts
                    .into_iter()
                    .map(dstreams::data::column_from_values::<String>)
                    .collect(),
            )
        };
        let batches: Vec<Batch<String>> = batches.into_iter().map(batch).collect();
        Stream {
            s: AnyStream::Str(self.ssc.queue_stream(batches, true, default.map(batch))),
        }
    }

    /// A queue of text files, one per batch, each read when its batch runs
    /// (`queueStream([sc.textFile(path), ...])`).
    fn text_files_queue(&self, py: Python<'_>, paths: Vec<String>) -> PyResult<Stream> {
        let data = py.detach(|| ReplayData::read(&paths)).map_err(to_python)?;
        Ok(Stream {
            s: AnyStream::Str(self.ssc.replay_stream(data, ReplayCut::PerFile)),
        })
    }

    fn text_file_stream(&self, directory: &str) -> Stream {
        Stream {
            s: AnyStream::Str(self.ssc.text_file_stream(directory)),
        }
    }

    fn socket_text_stream(&self, host: &str, port: u16) -> Stream {
        Stream {
            s: AnyStream::Str(self.ssc.socket_text_stream(host, port)),
        }
    }

    /// The direct Kafka stream: `(values, (key, value) pairs)` of one reader. `params` are
    /// librdkafka settings; `smallest` starts at the earliest offsets, else at the latest.
    fn kafka_direct_stream(
        &self,
        brokers: &str,
        topics: Vec<String>,
        params: Vec<(String, String)>,
        smallest: bool,
    ) -> (Stream, Stream) {
        let mut config = KafkaConfig::new(brokers, topics).starting_offsets(if smallest {
            StartingOffsets::Earliest
        } else {
            StartingOffsets::Latest
        });
        for (key, value) in params {
            config = config.set(key, value);
        }
        let records = self.ssc.kafka_record_stream(config);
        let values = records.map(|(_, value, _)| value);
        let pairs = map_with_gil(&records, "boxing Kafka records", |py, (key, value, _)| {
            let key = match key {
                Some(k) => PyString::new(py, k).into_any(),
                None => py.None().into_bound(py),
            };
            let pair = PyTuple::new(py, [key, PyString::new(py, value).into_any()])?;
            Ok(PyObj::of(pair.as_any()))
        });
        (
            Stream {
                s: AnyStream::Str(values),
            },
            Stream {
                s: AnyStream::Obj(pairs),
            },
        )
    }

    fn union(&self, streams: Vec<PyRef<'_, Stream>>) -> PyResult<Stream> {
        let mut all = streams.iter();
        let first = all
            .next()
            .ok_or_else(|| PyValueError::new_err("union needs at least one stream"))?;
        Ok(all.fold(Stream { s: first.s.clone() }, |acc, s| acc.union_with(s)))
    }

    // ---- settings -------------------------------------------------------------------------

    fn checkpoint(&self, directory: &str) {
        self.ssc.checkpoint(directory);
    }

    fn remember(&self, duration_ms: i64) {
        self.ssc.remember(Duration::millis(duration_ms));
    }

    /// Restores the newest checkpoint in `directory`, if there is one, into this context (just
    /// built by the program's setup function and not started): `getOrCreate`.
    fn restore_checkpoint(&self, py: Python<'_>, directory: &str) -> PyResult<()> {
        let ssc = self.ssc.clone();
        py.detach(|| StreamingContext::get_or_create(directory, move || ssc))
            .map(drop)
            .map_err(to_python)
    }

    fn add_listener(&self, listener: Py<PyAny>) {
        self.ssc
            .add_streaming_listener(Arc::new(PythonListener(listener)));
    }

    // ---- lifecycle ------------------------------------------------------------------------

    fn start(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.ssc.start()).map_err(to_python)
    }

    fn stop(&self, py: Python<'_>, graceful: bool) -> PyResult<()> {
        py.detach(|| self.ssc.stop(graceful)).map_err(to_python)
    }

    /// Waits until the context stopped (raising the first batch failure), at most `timeout_ms`
    /// if given; `true` if it stopped. Wakes every 100 ms to let Python handle signals.
    #[pyo3(signature = (timeout_ms=None))]
    fn await_termination(&self, py: Python<'_>, timeout_ms: Option<i64>) -> PyResult<bool> {
        let deadline = timeout_ms
            .map(|t| std::time::Instant::now() + std::time::Duration::from_millis(t.max(0) as u64));
        loop {
            let step = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    Duration::millis((left.as_millis() as i64).min(SIGNAL_CHECK.as_millis()))
                }
                None => SIGNAL_CHECK,
            };
            if py
                .detach(|| self.ssc.await_termination_or_timeout(step))
                .map_err(to_python)?
            {
                return Ok(true);
            }
            py.check_signals()?;
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    /// `"initialized"`, `"active"` or `"stopped"`.
    fn state(&self) -> String {
        format!("{:?}", self.ssc.get_state()).to_lowercase()
    }

    #[getter]
    fn batch_ms(&self) -> i64 {
        self.ssc.batch_interval().as_millis()
    }

    #[getter]
    fn parallelism(&self) -> usize {
        self.ssc.default_parallelism()
    }

    // ---- testing --------------------------------------------------------------------------

    /// Manual clock only: moves it on by `ms`.
    fn advance(&self, ms: i64) -> PyResult<()> {
        let clock = self
            .manual
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("the context does not run on a manual clock"))?;
        clock.advance(Duration::millis(ms));
        Ok(())
    }

    /// The manual clock's time.
    fn now_ms(&self) -> i64 {
        self.ssc.clock().now().as_millis()
    }

    /// Waits (at most `timeout_ms`) until the batch at `time_ms` completed; `false` on timeout.
    fn await_batch(&self, py: Python<'_>, time_ms: i64, timeout_ms: i64) -> PyResult<bool> {
        py.detach(|| {
            self.ssc
                .await_batch(Time::from_millis(time_ms), Duration::millis(timeout_ms))
        })
        .map_err(to_python)
    }

    fn records_received(&self) -> u64 {
        self.ssc.records_received()
    }
}

/// Hands the engine's batch events to a Python object's `on_batch_completed(info: dict)`.
struct PythonListener(Py<PyAny>);

impl StreamingListener for PythonListener {
    fn on_batch_completed(&self, info: &BatchInfo) {
        let result = Python::attach(|py| {
            let d = PyDict::new(py);
            d.set_item("batch_time", info.batch_time.as_millis())?;
            d.set_item("submission_time", info.submission_time)?;
            d.set_item("processing_start_time", info.processing_start_time)?;
            d.set_item("processing_end_time", info.processing_end_time)?;
            d.set_item("scheduling_delay", info.scheduling_delay())?;
            d.set_item("processing_delay", info.processing_delay())?;
            d.set_item("total_delay", info.total_delay())?;
            d.set_item("num_records", info.num_records())?;
            self.0
                .bind(py)
                .call_method1("on_batch_completed", (d,))
                .map(drop)
        });
        if let Err(e) = result {
            // A listener's failure must not stop the stream (Spark logs it too).
            tracing::warn!(
                "a Python streaming listener failed: {}",
                crate::errors::python_failure("onBatchCompleted", e)
            );
        }
    }
}
