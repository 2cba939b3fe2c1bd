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
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
    /// let totals = pairs
    ///     .update_state_by_key(|new: &[i64], total: Option<i64>| {
    ///         Some(total.unwrap_or(0) + new.iter().sum::<i64>())
    ///     })
    ///     .checkpoint_name("running-totals");
    /// # let _ = totals;
    /// ```
    #[track_caller]
    pub fn checkpoint_name(&self, name: &str) -> Self {
        self.ctx.core.check_building();
        if let Err(why) = self.name_state(name) {
            self.refuse(
                "checkpoint_name",
                Error::InvalidArgument(format!("checkpoint_name({name:?}): {why}")),
            );
        }
        self.clone()
    }

    fn name_state(&self, name: &str) -> std::result::Result<(), String> {
        if name.is_empty() || name.starts_with('#') || name.contains(['\t', '\n']) {
            return Err(
                "a name must be non-empty, not start with '#' and hold no tab or newline".into(),
            );
        }
        let mut c = lock(&self.ctx.core.checkpointing);
        if c.operator_named(name) {
            return Err("another stateful operator has this name".into());
        }
        if !c.name_operator(self.node.id, name) {
            return Err(format!(
                "{} is not computed by a stateful operator (update_state_by_key, map_with_state)",
                self.node.name
            ));
        }
        Ok(())
    }

    /// Spark's `DStream.checkpoint(interval)`: checkpoints are taken every `interval` (a
    /// multiple of this stream's slide, at least the slide). The context keeps one interval, the
    /// smallest asked for; without one, a program with stateful operators checkpoints every
    /// 10 s rounded up to a multiple of the batch interval (Spark's default), and any other
    /// program every batch. An interval Spark refuses is reported by `start`, with Spark's
    /// message.
    #[track_caller]
    pub fn checkpoint(&self, interval: impl Into<Duration>) -> Self {
        self.ctx.core.check_building();
        match self.check_checkpoint_interval(interval.into()) {
            Ok(interval) => {
                let mut c = lock(&self.ctx.core.checkpointing);
                c.interval = Some(c.interval.map_or(interval, |i| i.min(interval)));
            }
            Err(e) => self.refuse("checkpoint", e),
        }
        self.clone()
    }

    fn check_checkpoint_interval(&self, interval: Duration) -> Result<Duration> {
        let slide = self.slide_duration();
        let name = &self.node.name;
        interval.usable("checkpoint interval")?;
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
        Ok(interval)
    }
}
