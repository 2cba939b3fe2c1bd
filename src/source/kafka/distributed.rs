//! The Kafka source in distributed mode ([`StreamingContext::distribute`](crate::StreamingContext::distribute)):
//! before a batch's records go into the exchanges, its ranges are committed with what the
//! partitions' next owners need to send them again (`exchange/handover.rs`), and a failed commit
//! gives the records back; a range a partition's previous owner may not have sent is sent again
//! under its batch time.

use super::arena::PartitionState;
use super::plan::OffsetRange;
use super::stream::{KafkaSource, State};
use crate::error::Result;
use crate::exchange::Logged;
use crate::lock::lock;
use crate::time::Time;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;

impl KafkaSource {
    /// Before batch `t`'s records are sent on: commits its ranges, synchronously, each with its
    /// start and batch time (`exchange/handover.rs`; a range being sent again keeps those of the
    /// batch it belongs to). `false` when that fails: the batch must not be sent, and its
    /// records are given back ([`give_back`](Self::give_back)).
    pub(super) fn before_exchange(&self, t: Time) -> bool {
        match self.commit_with_handover(t) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(
                    "Kafka: batch {t} could not be committed ({e}): its records are not sent on, \
                     but read again"
                );
                self.give_back(t, false);
                false
            }
        }
    }

    fn commit_with_handover(&self, t: Time) -> Result<()> {
        let failed = super::kafka_error("committing a batch's ranges");
        let (ranges, resent) = {
            let st = lock(&self.state);
            let Some(ranges) = st.ranges.get(&t).cloned() else {
                return Ok(());
            };
            (ranges, st.resent.get(&t).cloned().unwrap_or_default())
        };
        if ranges.is_empty() {
            return Ok(());
        }
        let handover = match self.config.topics.first() {
            Some(topic) => self.consumer.context().handover(&self.consumer, topic)?,
            None => None,
        };
        let mut tpl = TopicPartitionList::new();
        for r in &ranges {
            tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.until))
                .map_err(super::kafka_error("committing a batch's ranges"))?;
            if let Some(handover) = handover
                && r.until > r.from
                && !resent.contains_key(&(r.partition as u32))
            {
                let range = Logged {
                    time: t,
                    from: r.from,
                    until: r.until,
                };
                handover
                    .add_to_commit(&mut tpl, r.partition, range)
                    .map_err(super::kafka_error("committing a batch's ranges"))?;
            }
        }
        self.consumer.commit(&tpl, CommitMode::Sync).map_err(failed)
    }

    /// After planning batch `t`: notes the ranges that send again what a partition's previous
    /// owner committed (`PartitionState::unsent`), under the batch time it was logged with.
    pub(super) fn note_resent(&self, st: &mut State, t: Time, ranges: &[OffsetRange]) {
        let mut resent = BTreeMap::new();
        for r in ranges {
            let key = (r.topic.clone(), r.partition);
            let Some(s) = st.partitions.get_mut(&key) else {
                continue;
            };
            if let Some(unsent) = s.unsent.filter(|u| r.until == u.until && r.until > r.from) {
                tracing::info!(
                    "Kafka: {}-{} offsets {}..{} go again as batch {}",
                    r.topic,
                    r.partition,
                    r.from,
                    r.until,
                    unsent.time
                );
                resent.insert(r.partition as u32, unsent.time);
                s.unsent = None;
            }
        }
        if !resent.is_empty() {
            st.resent.insert(t, resent);
        }
    }

    /// Batch `t` gives its records back: the partitions this member still has start their next
    /// batch where `t`'s ranges started (the consumer moved back there, their fetched records
    /// dropped); the others' next owners read them from the group's committed offsets. After
    /// a failed commit (`committed` false) they are read as new records; after a commit whose
    /// partials could not all be sent, they are sent again under `t` (or the earlier batch a
    /// range was being sent again for).
    pub(super) fn give_back(&self, t: Time, committed: bool) {
        let mut st = lock(&self.state);
        let Some(ranges) = st.ranges.remove(&t) else {
            return;
        };
        let resent = st.resent.remove(&t).unwrap_or_default();
        let mut back = TopicPartitionList::new();
        for r in ranges.iter().filter(|r| r.until > r.from) {
            st.records -= (r.until - r.from) as u64;
            if let Err(e) = back.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.from))
            {
                tracing::error!("Kafka: moving back to {r:?}: {e}");
            }
        }
        if back.count() == 0 {
            return;
        }
        let moved = match self
            .consumer
            .seek_partitions(back, self.config.request_timeout.to_std())
        {
            Ok(moved) => moved,
            Err(e) => {
                tracing::error!("Kafka: moving back to batch {t}'s ranges failed: {e}");
                return;
            }
        };
        for e in moved.elements() {
            let key = (e.topic().to_string(), e.partition());
            match (e.error(), e.offset()) {
                (Ok(()), Offset::Offset(from)) => {
                    // A range being sent again stays one; a committed one becomes one.
                    let again = resent.get(&(key.1 as u32)).copied();
                    let unsent = again.or(committed.then_some(t)).map(|time| Logged {
                        time,
                        from,
                        until: ranges
                            .iter()
                            .find(|r| (&r.topic, r.partition) == (&key.0, key.1))
                            .map_or(from, |r| r.until),
                    });
                    if let Some(s) = st.partitions.get_mut(&key) {
                        *s = PartitionState {
                            next: from,
                            unsent,
                            ..PartitionState::default()
                        };
                    }
                }
                // Only a partition the group took fails: its revocation follows at the next
                // drain, and its next owner reads the range from the committed offset.
                (result, _) => tracing::info!(
                    "Kafka: {}-{} not moved back ({result:?}): the group took it",
                    key.0,
                    key.1
                ),
            }
        }
    }
}
