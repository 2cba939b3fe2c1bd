//! Which partitions a Kafka stream reads outside group mode: found through metadata every batch
//! (or given by an assignment), new ones starting at their starting offsets, and the consumer
//! assigned to them. In group mode the group assigns them (`group.rs`).

use super::arena::PartitionState;
use super::group::starting_offset;
use super::stream::{KafkaSource, State};
use super::{Key, kafka_error};
use crate::error::Result;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

impl KafkaSource {
    /// The partitions of the topics now, new ones added at their starting offsets; fails once
    /// no broker has answered for [`KafkaConfig::unreachable_timeout`](super::KafkaConfig::unreachable_timeout).
    pub(super) fn discover(&self, st: &mut State) -> Result<()> {
        if !self.config.assignment.is_empty() {
            for (topic, p, from) in &self.config.assignment {
                let key = (topic.clone(), *p);
                if !st.partitions.contains_key(&key)
                    && let Some(start) = from.or_else(|| self.starting_offset(topic, *p))
                {
                    self.add_partition(st, key, start);
                }
            }
            return Ok(());
        }
        for topic in &self.config.topics {
            let metadata = match self
                .consumer
                .fetch_metadata(Some(topic), self.config.request_timeout.to_std())
            {
                Ok(m) => {
                    st.outage.answered();
                    m
                }
                Err(e) => {
                    st.outage.failed(
                        &format!("metadata of topic {topic} not available ({e}); reading the known partitions only"),
                        &self.config.brokers,
                        self.config.unreachable_timeout,
                    )?;
                    continue;
                }
            };
            for t in metadata.topics() {
                for p in t.partitions() {
                    let key = (t.name().to_string(), p.id());
                    if st.partitions.contains_key(&key) {
                        continue;
                    }
                    if let Some(start) = self.starting_offset(t.name(), p.id()) {
                        self.add_partition(st, key, start);
                    }
                }
            }
        }
        Ok(())
    }

    /// Where a partition without a position starts, by `starting_offsets`; `None` (with a
    /// warning) if the broker does not say yet.
    fn starting_offset(&self, topic: &str, p: i32) -> Option<i64> {
        starting_offset(
            &self.consumer,
            self.config.starting_offsets,
            self.config.request_timeout.to_std(),
            topic,
            p,
        )
        .map_err(|e| {
            tracing::warn!("Kafka {topic}-{p}: no offsets yet ({e}); trying again next batch");
        })
        .ok()
    }

    fn add_partition(&self, st: &mut State, key: Key, start: i64) {
        tracing::info!("Kafka {}-{}: reading from offset {start}", key.0, key.1);
        st.partitions.insert(
            key,
            PartitionState {
                next: start,
                ..PartitionState::default()
            },
        );
        st.assigned = false;
    }

    /// Assigns the consumer to every partition at the offset after what was fetched.
    pub(super) fn assign(&self, st: &mut State) -> Result<()> {
        if st.assigned {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, p), s) in &st.partitions {
            tpl.add_partition_offset(topic, *p, Offset::Offset(s.fetched_end()))
                .map_err(kafka_error("assigning partitions"))?;
        }
        self.consumer
            .assign(&tpl)
            .map_err(kafka_error("assigning partitions"))?;
        st.assigned = true;
        Ok(())
    }
}
