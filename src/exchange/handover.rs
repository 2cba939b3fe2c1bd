//! The hand-over: what a source partition's next owner must send again.
//!
//! A member commits a batch's source ranges before it sends the batch's partials (so that the
//! group's generation fences a member it dropped, `Distributed::may_send`). A member that dies,
//! or stalls past its session timeout, between that commit and the acknowledgement of the
//! partials leaves records that are committed but maybe not sent: the partition's next owner
//! starts after them. So the commit carries, besides the source partition's offset (where the
//! range ends), where the range starts and its batch time, as the committed offsets of the same
//! partition of two companion topics, `<app>-handover-from` and `<app>-handover-batch`, in the
//! same request: the generation fences all three at once (a member the group dropped commits
//! none of them). A member assigned a source partition reads the three back, reads the range
//! again and sends it under its batch time; the receiving side applies a `(batch time, source
//! partition)` once, so a range that was sent after all is not counted twice (`pending.rs`).

use super::config::ExchangeConfig;
use crate::error::{Error, Result};
use crate::kafka_admin;
use crate::time::Time;
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration as StdDuration;

/// How long creating and checking the companion topics may take.
const TIMEOUT: StdDuration = StdDuration::from_secs(30);

/// One source partition's range of one batch, as committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Logged {
    pub(crate) time: Time,
    pub(crate) from: i64,
    pub(crate) until: i64,
}

/// The companion topics of one job (see the module documentation).
pub(crate) struct Handover {
    from_topic: String,
    batch_topic: String,
}

impl Handover {
    /// Creates (or checks) the companion topics, with one partition per source partition (no
    /// record is ever written to them: only their committed offsets are used).
    pub(crate) fn open(config: &ExchangeConfig, sources: u32) -> Result<Handover> {
        let handover = Handover {
            from_topic: format!("{}-handover-from", config.app_id),
            batch_topic: format!("{}-handover-batch", config.app_id),
        };
        let client = config.client_config();
        for topic in [&handover.from_topic, &handover.batch_topic] {
            kafka_admin::create_topic(&client, topic, sources as i32, &[], TIMEOUT)?;
            let stored = kafka_admin::partition_count(&client, topic, TIMEOUT)?.unwrap_or(0);
            if stored as u32 != sources {
                return Err(Error::IllegalState(format!(
                    "the hand-over topic {topic} has {stored} partitions, the source topic \
                     {sources}: a distributed job counts on a fixed number of source partitions"
                )));
            }
        }
        Ok(handover)
    }

    /// Adds to a commit of source partition `partition` at `range.until` where the range starts
    /// and its batch time.
    pub(crate) fn add_to_commit(
        &self,
        tpl: &mut TopicPartitionList,
        partition: i32,
        range: Logged,
    ) -> KafkaResult<()> {
        tpl.add_partition_offset(&self.from_topic, partition, Offset::Offset(range.from))?;
        tpl.add_partition_offset(
            &self.batch_topic,
            partition,
            Offset::Offset(range.time.as_millis()),
        )
    }

    /// Adds to a lookup of committed offsets the companions of source partition `partition`.
    pub(crate) fn add_to_lookup(&self, tpl: &mut TopicPartitionList, partition: i32) {
        tpl.add_partition(&self.from_topic, partition);
        tpl.add_partition(&self.batch_topic, partition);
    }

    /// From committed offsets looked up with [`add_to_lookup`](Self::add_to_lookup): the last
    /// range committed for source partition `partition`, which ends at its committed offset
    /// `until` (`None` when there is none, or it is empty).
    pub(crate) fn last_range(
        &self,
        committed: &TopicPartitionList,
        partition: i32,
        until: i64,
    ) -> Option<Logged> {
        let offset = |topic: &str| match committed.find_partition(topic, partition)?.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        };
        let from = offset(&self.from_topic)?;
        let time = Time::from_millis(offset(&self.batch_topic)?);
        (from < until).then_some(Logged { time, from, until })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committed_range_reads_back_only_when_complete_and_not_empty() {
        let handover = Handover {
            from_topic: "app-handover-from".into(),
            batch_topic: "app-handover-batch".into(),
        };
        let range = Logged {
            time: Time::from_millis(1_700_000_000_300),
            from: 12,
            until: 40,
        };
        let mut committed = TopicPartitionList::new();
        committed
            .add_partition_offset("lines", 3, Offset::Offset(40))
            .unwrap();
        handover.add_to_commit(&mut committed, 3, range).unwrap();
        assert_eq!(handover.last_range(&committed, 3, 40), Some(range));
        assert_eq!(handover.last_range(&committed, 2, 40), None);
        // Nothing left to send again: the range is empty.
        assert_eq!(handover.last_range(&committed, 3, 12), None);
        let mut partial = TopicPartitionList::new();
        partial
            .add_partition_offset("app-handover-from", 3, Offset::Offset(12))
            .unwrap();
        assert_eq!(handover.last_range(&partial, 3, 40), None);
    }
}
