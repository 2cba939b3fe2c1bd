//! Output operations: they make a stream's batches happen (Spark's `print`, `saveAsTextFiles`,
//! `foreachRDD`). They run once per batch in the order they were registered.

use super::DStream;
use crate::context::OutputOp;
use crate::data::{Batch, Data};
use crate::error::Result;
use crate::sink::print::format_batch;
use crate::sink::text_files::{batch_file_name, save_batch};
use crate::time::Time;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

impl<T: Data> DStream<T> {
    /// Runs `f` on every batch with its time (Spark's `foreachRDD`). An `Err` fails that batch's
    /// operation and is returned by `await_termination`; later batches still run.
    ///
    /// `Batch::to_record_batches` gives the data as Arrow `RecordBatch`es without copying.
    pub fn foreach_batch<F>(&self, f: F) -> Result<()>
    where
        F: Fn(&Batch<T>, Time) -> Result<()> + Send + Sync + 'static,
    {
        self.register_output("foreach_batch", "foreach_batch", f)
    }

    /// Spark's name for [`foreach_batch`](Self::foreach_batch).
    pub fn foreach_rdd<F>(&self, f: F) -> Result<()>
    where
        F: Fn(&Batch<T>, Time) -> Result<()> + Send + Sync + 'static,
    {
        self.register_output("foreachRDD", "foreach_rdd", f)
    }

    /// Prints the first `num` elements of every batch to standard output in Spark's format (see
    /// [`format_batch`](crate::format_batch)).
    pub fn pprint(&self, num: usize) -> Result<()> {
        self.pprint_to(num, Arc::new(Mutex::new(std::io::stdout())))
    }

    /// Like [`pprint`](Self::pprint), into any writer (a file, a buffer in a test).
    pub fn pprint_to<W: Write + Send + 'static>(
        &self,
        num: usize,
        out: Arc<Mutex<W>>,
    ) -> Result<()> {
        self.register_output("print", &format!("pprint({num})"), move |batch, time| {
            let text = format_batch(batch, time, num);
            let mut w = crate::dstream::node::lock(&out);
            w.write_all(text.as_bytes())
                .and_then(|_| w.flush())
                .map_err(|e| crate::Error::io("printing a batch", e))
        })
    }

    /// Saves every batch as a directory `<prefix>-<ms>[.<suffix>]` of part files, one line per
    /// element, plus `_SUCCESS` (Spark's `saveAsTextFiles`). Empty batches are saved too.
    pub fn save_as_text_files(&self, prefix: &str, suffix: &str) -> Result<()> {
        let (prefix, suffix) = (prefix.to_string(), suffix.to_string());
        let description = format!("save_as_text_files({prefix:?}, {suffix:?})");
        self.register_output("saveAsTextFiles", &description, move |batch, time| {
            save_batch(
                batch,
                &PathBuf::from(batch_file_name(&prefix, &suffix, time)),
            )
        })
    }

    fn register_output<F>(&self, name: &str, description: &str, f: F) -> Result<()>
    where
        F: Fn(&Batch<T>, Time) -> Result<()> + Send + Sync + 'static,
    {
        let node = self.node.clone();
        let f = Arc::new(f);
        self.ctx.core.add_output(OutputOp {
            name: name.to_string(),
            description: description.to_string(),
            generate: Box::new(move |time, ctx| {
                Ok(node.get_or_compute(time, ctx)?.map(|batch| {
                    let f = f.clone();
                    Box::new(move || f(&batch, time)) as crate::context::Job
                }))
            }),
        })
    }
}
