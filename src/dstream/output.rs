//! Output operations: they make a stream's batches happen (Spark's `print`, `saveAsTextFiles`,
//! `foreachRDD`; and `save_to_kafka`). They run once per batch in the order they were registered.

use super::DStream;
use super::node::AnyNode;
use crate::context::OutputOp;
use crate::data::{Batch, Data};
use crate::error::Result;
use crate::sink::batch_dirs::batch_file_name;
use crate::sink::columnar_files::{ColumnarFormat, save_batch_as};
use crate::sink::kafka::{self, KafkaWriter};
use crate::sink::print::format_batch;
use crate::sink::text_files::save_batch;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What an output function returns: nothing, or a `Result` whose error fails that batch's
/// output operation (reported by `await_termination`; later batches still run).
pub trait OutputResult {
    /// As a `Result`.
    fn into_result(self) -> Result<()>;
}

impl OutputResult for () {
    fn into_result(self) -> Result<()> {
        Ok(())
    }
}

impl OutputResult for Result<()> {
    fn into_result(self) -> Result<()> {
        self
    }
}

impl<T: Data> DStream<T> {
    /// Spark's `foreachRDD`: runs `f` on every batch (its time is
    /// [`Batch::time`](crate::Batch::time)). `f` returns nothing, or a `Result` whose error fails
    /// that batch's operation; it is returned by `await_termination`, and later batches still
    /// run. [`Batch::to_record_batches`](crate::Batch::to_record_batches) gives the data as Arrow
    /// `RecordBatch`es without copying.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let counts = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
    /// counts.foreach_rdd(|rdd| println!("{}: {} words", rdd.time(), rdd.count()));
    /// counts.foreach_rdd(|rdd| {
    ///     std::fs::write(format!("/tmp/counts-{}", rdd.time().as_millis()), format!("{rdd:?}"))?;
    ///     Ok(())
    /// });
    /// ```
    #[track_caller]
    pub fn foreach_rdd<R, F>(&self, f: F)
    where
        R: OutputResult,
        F: Fn(&Batch<T>) -> R + Send + Sync + 'static,
    {
        self.register_output("foreachRDD", "foreach_rdd", move |b| f(b).into_result())
    }

    /// Spark's `print()`: the first 10 elements of every batch on standard output, in Spark's
    /// format (see [`format_batch`](crate::format_batch)).
    #[track_caller]
    pub fn print(&self) {
        self.print_first(10)
    }

    /// Spark's `print(num)`: the first `num` elements of every batch on standard output.
    #[track_caller]
    pub fn print_first(&self, num: usize) {
        self.print_to(num, Arc::new(Mutex::new(std::io::stdout())))
    }

    /// Like [`print_first`](Self::print_first), into any writer (a file, a buffer in a test).
    #[track_caller]
    pub fn print_to<W: Write + Send + 'static>(&self, num: usize, out: Arc<Mutex<W>>) {
        self.register_output("print", &format!("print({num})"), move |batch| {
            let text = format_batch(batch, batch.time(), num);
            let mut w = crate::lock::lock(&out);
            w.write_all(text.as_bytes())
                .and_then(|_| w.flush())
                .map_err(|e| crate::Error::io("printing a batch", e))
        })
    }

    /// Saves every batch as a directory `<prefix>-<ms>[.<suffix>]` of part files, one line per
    /// element, plus `_SUCCESS` (Spark's `saveAsTextFiles`). Empty batches are saved too.
    ///
    /// Each batch's directory is written next to its place under a hidden temporary name, every
    /// file synced, then renamed into place (and its parent directory synced): a reader sees a
    /// batch's directory whole or not at all, and a batch that runs again after recovery
    /// replaces the directory of its earlier run.
    #[track_caller]
    pub fn save_as_text_files(&self, prefix: &str, suffix: &str) {
        let (prefix, suffix) = (prefix.to_string(), suffix.to_string());
        let description = format!("save_as_text_files({prefix:?}, {suffix:?})");
        self.register_output("saveAsTextFiles", &description, move |batch| {
            save_batch(
                batch,
                &PathBuf::from(batch_file_name(&prefix, &suffix, batch.time())),
            )
        })
    }

    /// Saves every batch as Parquet files, in the layout of
    /// [`save_as_text_files`](Self::save_as_text_files): a directory
    /// `<prefix>-<ms>[.<suffix>]` per batch holding one Snappy-compressed part file per
    /// partition, `part-00000.parquet`, `part-00001.parquet`, ..., plus `_SUCCESS`.
    ///
    /// The columns are [`Batch::to_record_batches`]'s: a tuple's fields `_1`, `_2`, ..., any other
    /// element a `value` column; strings are Arrow string views, `Option`s nulls, `Vec`s (such as
    /// [`group_by_key`](Self::group_by_key)'s values) lists. Every column is marked nullable (as
    /// Spark writes Parquet), so all parts of all batches share one schema. An empty batch still
    /// writes its (zero-row) parts, so readers see the columns.
    ///
    /// Each batch's directory is written under a hidden temporary name, every file synced, then
    /// renamed into place (and its parent directory synced): a reader never sees a half-written
    /// batch, and a batch that runs again after recovery replaces its earlier directory. Read
    /// the files with any Parquet reader: `pyarrow.dataset.dataset("<prefix>-1000")`, DuckDB's
    /// `read_parquet('<prefix>-*/*.parquet')`, Spark's `spark.read.parquet`.
    ///
    /// ```
    /// use dstreams::prelude::*;
    /// use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    /// use std::sync::Arc;
    ///
    /// let dir = std::env::temp_dir().join(format!("dstreams-doc-parquet-{}", std::process::id()));
    /// let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    /// let ssc = StreamingContext::builder(Seconds(1)).clock(clock.clone()).build();
    /// let words = ssc.queue_stream(vec![Batch::from_vec(vec!["to", "be"], 1)], true, None);
    /// let lengths = words.map(|w| (w, w.len() as i64));
    /// lengths.save_as_parquet_files(&dir.join("lengths").to_string_lossy(), "");
    /// ssc.start()?;
    /// clock.advance(Seconds(1));
    /// ssc.await_batch(Time::from_millis(1000), Seconds(10))?;
    /// ssc.stop(false)?;
    ///
    /// let batch_dir = dir.join("lengths-1000");
    /// assert!(batch_dir.join("_SUCCESS").exists());
    /// let part = std::fs::File::open(batch_dir.join("part-00000.parquet"))?;
    /// let mut reader = ParquetRecordBatchReaderBuilder::try_new(part)?.build()?;
    /// let rows = reader.next().unwrap()?;
    /// assert_eq!(rows.schema().field(0).name(), "_1");
    /// assert_eq!(rows.num_rows(), 2);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn save_as_parquet_files(&self, prefix: &str, suffix: &str) {
        self.save_as_columnar_files(ColumnarFormat::Parquet, prefix, suffix)
    }

    /// Saves every batch as Arrow IPC files (the IPC *file* format, as
    /// `pyarrow.ipc.open_file` and arrow-ipc's `FileReader` read it), in the layout and with the
    /// columns and atomicity of [`save_as_parquet_files`](Self::save_as_parquet_files): a
    /// directory `<prefix>-<ms>[.<suffix>]` per batch with `part-00000.arrow`, ... and
    /// `_SUCCESS`. Strings stay Arrow string views; their bytes are copied out of the input
    /// buffers into each file (a file holds only the bytes its rows use).
    ///
    /// ```
    /// use arrow_ipc::reader::FileReader;
    /// use dstreams::prelude::*;
    /// use std::sync::Arc;
    ///
    /// let dir = std::env::temp_dir().join(format!("dstreams-doc-arrow-{}", std::process::id()));
    /// let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    /// let ssc = StreamingContext::builder(Seconds(1)).clock(clock.clone()).build();
    /// let numbers = ssc.queue_stream(vec![Batch::from_vec(vec![1, 2, 3], 1)], true, None);
    /// numbers.save_as_arrow_files(&dir.join("numbers").to_string_lossy(), "");
    /// ssc.start()?;
    /// clock.advance(Seconds(1));
    /// ssc.await_batch(Time::from_millis(1000), Seconds(10))?;
    /// ssc.stop(false)?;
    ///
    /// let part = std::fs::File::open(dir.join("numbers-1000/part-00000.arrow"))?;
    /// let batches = FileReader::try_new(part, None)?.collect::<Result<Vec<_>, _>>()?;
    /// assert_eq!(batches[0].schema().field(0).name(), "value");
    /// assert_eq!(batches[0].num_rows(), 3);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn save_as_arrow_files(&self, prefix: &str, suffix: &str) {
        self.save_as_columnar_files(ColumnarFormat::ArrowIpc, prefix, suffix)
    }

    #[track_caller]
    fn save_as_columnar_files(&self, format: ColumnarFormat, prefix: &str, suffix: &str) {
        let (name, method) = match format {
            ColumnarFormat::Parquet => ("saveAsParquetFiles", "save_as_parquet_files"),
            ColumnarFormat::ArrowIpc => ("saveAsArrowFiles", "save_as_arrow_files"),
        };
        let (prefix, suffix) = (prefix.to_string(), suffix.to_string());
        let description = format!("{method}({prefix:?}, {suffix:?})");
        self.register_output(name, &description, move |batch| {
            save_batch_as(
                format,
                batch,
                &PathBuf::from(batch_file_name(&prefix, &suffix, batch.time())),
            )
        })
    }

    /// Writes every batch to the Kafka topic `topic`, one record per element: no key, the value
    /// is the element as Spark's `toString` writes it, the same text as a line of
    /// [`save_as_text_files`](Self::save_as_text_files) (`hello`, `42`, `(hello,3)`). For a
    /// key, see [`save_pairs_to_kafka`](Self::save_pairs_to_kafka). Empty batches write nothing.
    ///
    /// `config` is librdkafka's producer configuration (`bootstrap.servers`, `acks` (default
    /// `all`), `linger.ms`, `compression.type`, `enable.idempotence`, `message.timeout.ms`,
    /// ...); one producer is created here and every batch reuses it (a configuration librdkafka
    /// refuses is reported by `start`).
    /// Keyless records go where librdkafka's partitioner puts them: a
    /// random partition, kept for `sticky.partitioning.linger.ms` (set `partitioner` to change
    /// it).
    ///
    /// **Delivery.** A batch's output operation completes only once the broker acknowledged
    /// every record of the batch (waiting through [`KafkaWriter`]): a completed batch's records
    /// are in Kafka. If any record cannot be delivered (after librdkafka's retries, at the
    /// latest after `message.timeout.ms`), the batch's operation fails with the Kafka error
    /// ([`Error::JobFailed`](crate::Error::JobFailed), like any failed output operation, with
    /// the typed [`Error::Kafka`](crate::Error::Kafka) as its source), and
    /// the records that did arrive stay (no transactions). Later batches still run. After a
    /// restart from a checkpoint, the batches after the checkpoint run and write again: this
    /// is **at-least-once**, a record may be written twice, none is lost. Records of one batch
    /// partition are sent in order; with `enable.idempotence=true` retries keep that order.
    /// In distributed mode each record carries the headers
    /// [`BATCH_TIME_HEADER`](crate::BATCH_TIME_HEADER) and
    /// [`PARTITION_HEADER`](crate::PARTITION_HEADER): a batch run again for a partition after a
    /// failover writes that partition's records again with the same two, so a consumer keeps
    /// one copy per (batch time, partition), as the text outputs replace their part files.
    ///
    /// A method rather than a `foreach_batch` closure because the producer must outlive the
    /// batches (a producer per batch would reconnect every batch) and each batch must wait for
    /// its own records' delivery reports, not just a `flush` of whatever else is in flight.
    ///
    /// ```no_run
    /// use dstreams::prelude::*;
    /// use dstreams::rdkafka::ClientConfig;
    ///
    /// let ssc = StreamingContext::new(Seconds(1));
    /// let lines = ssc.socket_text_stream("localhost", 9999);
    /// let counts = lines.split(Separators::Space).count_by_value();
    /// let mut kafka = ClientConfig::new();
    /// kafka.set("bootstrap.servers", "127.0.0.1:9092");
    /// counts.save_to_kafka(&kafka, "counts"); // values "(to,2)", "(be,2)", ...
    /// ssc.start()?;
    /// ssc.await_termination()?;
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    #[track_caller]
    pub fn save_to_kafka(&self, config: &rdkafka::ClientConfig, topic: &str) {
        match KafkaWriter::new(config, topic) {
            Ok(writer) => self.register_output(
                "save_to_kafka",
                &format!("save_to_kafka({topic:?})"),
                move |batch| kafka::save_values(&writer, batch, batch.time()),
            ),
            Err(e) => self.refuse("save_to_kafka", e),
        }
    }

    #[track_caller]
    fn register_output<F>(&self, name: &str, description: &str, f: F)
    where
        F: Fn(&Batch<T>) -> Result<()> + Send + Sync + 'static,
    {
        let node = self.node.clone();
        let f = Arc::new(f);
        node.add_consumer();
        self.ctx.core.add_output(OutputOp {
            name: name.to_string(),
            description: description.to_string(),
            generate: Box::new(move |time, ctx| {
                Ok(node.get_or_compute(time, ctx)?.map(|batch| {
                    let f = f.clone();
                    Box::new(move || f(&batch)) as crate::context::Job
                }))
            }),
        })
    }
}

impl<K: Data, V: Data> DStream<(K, V)> {
    /// Writes every batch of pairs to the Kafka topic `topic`, one record per pair: the key is
    /// the pair's first element and the value its second, each as Spark's `toString` writes it
    /// (`("hello", 3)` becomes key `hello`, value `3`), so librdkafka's partitioner sends equal
    /// keys to the same partition. Everything else is as in
    /// [`save_to_kafka`](Self::save_to_kafka): one producer, a batch completes once all its
    /// records are acknowledged, at-least-once.
    ///
    /// ```no_run
    /// use dstreams::prelude::*;
    /// use dstreams::rdkafka::ClientConfig;
    ///
    /// let ssc = StreamingContext::new(Seconds(1));
    /// let lines = ssc.socket_text_stream("localhost", 9999);
    /// let counts = lines.split(Separators::Space).count_by_value();
    /// let mut kafka = ClientConfig::new();
    /// kafka.set("bootstrap.servers", "127.0.0.1:9092").set("linger.ms", "5");
    /// counts.save_pairs_to_kafka(&kafka, "counts"); // key "to", value "2"; ...
    /// ssc.start()?;
    /// ssc.await_termination()?;
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    #[track_caller]
    pub fn save_pairs_to_kafka(&self, config: &rdkafka::ClientConfig, topic: &str) {
        match KafkaWriter::new(config, topic) {
            Ok(writer) => self.register_output(
                "save_pairs_to_kafka",
                &format!("save_pairs_to_kafka({topic:?})"),
                move |batch| kafka::save_pairs(&writer, batch, batch.time()),
            ),
            Err(e) => self.refuse("save_pairs_to_kafka", e),
        }
    }
}
