//! Planning a new batch: each partition's offset range, from where the previous batch stopped to
//! what is available (the broker's latest offset or what was fetched beyond it: tansu's
//! ListOffsets lags the log end; in group mode what was fetched), capped by the rate limit, the
//! backpressure rate shared by lag, and `max_records`.

use super::arena::PartitionState;
use super::stream::{KafkaSource, State};
use crate::lock::lock;
use crate::time::Time;
use rdkafka::consumer::Consumer;
use std::time::Duration as StdDuration;

/// One batch's range of one partition: offsets `from..until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetRange {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The first offset.
    pub from: i64,
    /// One past the last offset.
    pub until: i64,
}

pub(super) fn describe(ranges: &[OffsetRange]) -> String {
    ranges
        .iter()
        .map(|r| format!("{}-{}:{}-{}", r.topic, r.partition, r.from, r.until))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bytes of fetched values held at most before a batch stops draining the consumer's queue
/// (what is not drained waits in librdkafka's bounded prefetch queue).
const DRAIN_BUDGET: usize = 64 << 20;

/// How long the last poll of a drain in group mode waits (serving the events it meets).
const EVENT_WAIT: StdDuration = StdDuration::from_millis(1);

impl KafkaSource {
    /// Takes what the consumer fetched into the arenas, up to [`DRAIN_BUDGET`]. In group mode
    /// this is where rebalances are served: after each one the changed partitions are applied
    /// and draining goes on.
    ///
    /// A poll that returns nothing may have served an event instead of finding the queue empty
    /// (a statistics report, one a second; a rebalance). In group mode, where nothing else polls
    /// between batches, one more poll waiting up to [`EVENT_WAIT`] serves the events queued
    /// behind it: without it, batches a second or more apart served fewer reports than came,
    /// and a rebalance queued behind them was never served (the member got no partition).
    fn drain(&self, st: &mut State) {
        let below_budget = |st: &State| {
            st.partitions
                .values()
                .map(PartitionState::held_bytes)
                .sum::<usize>()
                < DRAIN_BUDGET
        };
        loop {
            while below_budget(st) && self.reader().poll_once(st, StdDuration::ZERO) {}
            if !self.config.group_mode {
                return;
            }
            // A rebalance is applied before the next poll: that poll could return records of a
            // partition it assigned.
            if self.rebalanced(st) {
                continue;
            }
            let took = below_budget(st) && self.reader().poll_once(st, EVENT_WAIT);
            // `took` is false after a poll that served a rebalance (it returns at once).
            if !(took || self.rebalanced(st)) {
                return;
            }
        }
    }

    /// The ranges of new batch `t`: from each partition's next offset to what is available,
    /// capped by the rate limit.
    pub(super) fn plan(&self, st: &mut State, t: Time, batch_secs: f64) -> Vec<OffsetRange> {
        self.drain(st);
        // What is available per partition: the broker's latest offset, or what was fetched; in
        // group mode only what was fetched (the module documentation of `group.rs` says why).
        let ends: Vec<i64> = st
            .partitions
            .iter()
            .map(|((topic, p), s)| {
                if self.config.group_mode {
                    return s.fetched_end();
                }
                let latest = match self.consumer.fetch_watermarks(topic, *p, self.config.request_timeout.to_std()) {
                    Ok((_, high)) => high,
                    Err(e) => {
                        tracing::warn!("Kafka {topic}-{p}: latest offset unknown ({e}); this batch takes only what was already fetched");
                        s.next
                    }
                };
                latest.max(s.fetched_end())
            })
            .collect();
        let lags: Vec<i64> = st
            .partitions
            .values()
            .zip(&ends)
            .map(|(s, end)| (end - s.next).max(0))
            .collect();
        let total_lag: i64 = lags.iter().sum();
        let rate = *lock(&self.rate);
        let mut left = self
            .config
            .max_records
            .map_or(i64::MAX, |m| m.saturating_sub(st.records) as i64);
        st.partitions
            .iter()
            .zip(ends.iter().zip(&lags))
            .filter_map(|(((topic, p), s), (&end, &lag))| {
                // Spark's maxMessagesPerPartition: the backpressure rate shared by lag, capped by
                // the rate per partition, at least one record.
                let per_second = match (rate, self.config.max_rate_per_partition) {
                    (Some(r), max) if total_lag > 0 => {
                        let share = r * lag as f64 / total_lag as f64;
                        Some(max.map_or(share, |m| share.min(m as f64)))
                    }
                    (_, max) => max.map(|m| m as f64),
                };
                let cap = per_second.map(|r| ((r * batch_secs).floor() as i64).max(1));
                let until = match s.unsent {
                    // Exactly the range to send again, once all of it is fetched; until then
                    // the partition is left out of the batch, so that nothing of a later batch
                    // of it reaches an exchange partition before that range does.
                    Some(unsent) if end >= unsent.until => unsent.until,
                    Some(_) => return None,
                    // Nothing of it in batches up to the one its previous owner committed last.
                    None if s.handed_over_at.is_some_and(|at| t <= at) => return None,
                    None => cap.map_or(end, |c| end.min(s.next + c)).max(s.next),
                };
                let until = until.min(s.next.saturating_add(left));
                left -= until - s.next;
                Some(OffsetRange {
                    topic: topic.clone(),
                    partition: *p,
                    from: s.next,
                    until,
                })
            })
            .collect()
    }
}
