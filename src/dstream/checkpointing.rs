//! How a stream takes part in checkpoints: the name its state is saved under, and how often.

use super::DStream;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::time::Duration;

impl<T: Data> DStream<T> {
    /// Names the state of the stateful operator that computes this stream
    /// (`update_state_by_key`, `map_with_state`) in checkpoints. Unnamed operators are known by
    /// their place among the stateful operators in build order (`#0`, `#1`, ...); a name keeps a
    /// checkpoint usable when stateful operators are added or reordered.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Duration::seconds(1)).unwrap();
    /// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None).unwrap();
    /// let totals = pairs
    ///     .update_state_by_key(|new: &[i64], total: Option<i64>| {
    ///         Some(total.unwrap_or(0) + new.iter().sum::<i64>())
    ///     })?
    ///     .checkpoint_name("running-totals")?;
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn checkpoint_name(&self, name: &str) -> Result<Self> {
        let bad = |why: &str| {
            Err(Error::Unsupported(format!(
                "checkpoint_name({name:?}): {why}"
            )))
        };
        if name.is_empty() || name.starts_with('#') || name.contains(['\t', '\n']) {
            return bad("a name must be non-empty, not start with '#' and hold no tab or newline");
        }
        let mut c = lock(&self.ctx.core.checkpointing);
        if c.operator_named(name) {
            return bad("another stateful operator has this name");
        }
        if !c.name_operator(self.node.id, name) {
            return bad(&format!(
                "{} is not computed by a stateful operator (update_state_by_key, map_with_state)",
                self.node.name
            ));
        }
        Ok(self.clone())
    }

    /// Spark's `DStream.checkpoint(interval)`: checkpoints are taken every `interval` (a
    /// multiple of this stream's slide, at least the slide). The context keeps one interval, the
    /// smallest asked for; without one, a program with stateful operators checkpoints every
    /// 10 s rounded up to a multiple of the batch interval (Spark's default), and any other
    /// program every batch.
    pub fn checkpoint(&self, interval: Duration) -> Result<Self> {
        let slide = self.slide_duration();
        let name = &self.node.name;
        interval.positive("checkpoint interval")?;
        if interval < slide {
            return Err(Error::InvalidCheckpointInterval(format!(
                "The checkpoint interval for {name} has been set to {interval} which is lower than its slide time ({slide}). Please set it to at least {slide}."
            )));
        }
        if !interval.is_multiple_of(slide) {
            return Err(Error::InvalidCheckpointInterval(format!(
                "The checkpoint interval for {name} has been set to {interval} which not a multiple of its slide time ({slide}). Please set it to a multiple of {slide}."
            )));
        }
        let mut c = lock(&self.ctx.core.checkpointing);
        c.interval = Some(c.interval.map_or(interval, |i| i.min(interval)));
        Ok(self.clone())
    }
}
