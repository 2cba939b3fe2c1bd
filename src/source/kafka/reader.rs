//! Reading records with a consumer into the partitions' arenas, waiting for a batch's ranges,
//! and taking them out as a batch's records.

use super::Key;
use super::arena::{Fetched, RecordParts, Taken};
use super::config::KafkaConfig;
use super::group::KafkaConsumer;
use super::plan::{OffsetRange, describe};
use super::stream::{KafkaSource, State};
use crate::error::{Error, Result};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use std::time::{Duration as StdDuration, Instant};

/// Reads records with a consumer into a [`State`] (the stream's own consumer, or one that
/// re-reads logged ranges).
pub(super) struct Reader<'a> {
    pub(super) consumer: &'a KafkaConsumer,
    pub(super) config: &'a KafkaConfig,
    /// Whether records' keys are kept.
    pub(super) keys: bool,
}

impl KafkaSource {
    pub(super) fn reader(&self) -> Reader<'_> {
        Reader {
            consumer: &self.consumer,
            config: &self.config,
            keys: self.keys,
        }
    }
}

impl Reader<'_> {
    /// Takes one polled record or event into `st`; false if the poll timed out.
    pub(super) fn poll_once(&self, st: &mut State, timeout: StdDuration) -> bool {
        match self.consumer.poll(timeout) {
            None => false,
            Some(Ok(m)) => {
                // A scan of the (few) partitions: no key allocated per record.
                let (topic, partition) = (m.topic(), m.partition());
                if let Some(s) = st
                    .partitions
                    .iter_mut()
                    .find_map(|((t, p), s)| (t == topic && *p == partition).then_some(s))
                    && m.offset() >= s.fetched_end()
                {
                    let value = m.payload().map(|p| s.hold(p));
                    s.fetched.push_back(Fetched {
                        offset: m.offset(),
                        value,
                        record: self.keys.then(|| {
                            Box::new(RecordParts {
                                key: m.key().map(<[u8]>::to_vec),
                                timestamp: m.timestamp().to_millis().unwrap_or(-1),
                                headers: m.headers().map_or_else(Vec::new, |h| {
                                    (0..h.count())
                                        .map(|i| {
                                            let h = h.get(i);
                                            (h.key.to_string(), h.value.map(<[u8]>::to_vec))
                                        })
                                        .collect()
                                }),
                            })
                        }),
                    });
                }
                true
            }
            Some(Err(KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset))) => {
                st.out_of_range = true;
                true
            }
            Some(Err(e)) => {
                tracing::warn!("Kafka: {e}");
                true
            }
        }
    }

    /// Polls until every range is fetched; fails after the fetch timeout.
    pub(super) fn fill(&self, st: &mut State, ranges: &[OffsetRange]) -> Result<()> {
        /// Records taken without waiting between two checks of what is still missing.
        const BURST: usize = 4096;
        let deadline = Instant::now() + self.config.fetch_timeout.to_std();
        let targets: Vec<(Key, i64)> = ranges
            .iter()
            .map(|r| ((r.topic.clone(), r.partition), r.until))
            .collect();
        let missing = |st: &State| {
            targets.iter().any(|(k, until)| {
                st.partitions
                    .get(k)
                    .is_some_and(|s| s.fetched_end() < *until)
            })
        };
        while missing(st) {
            if st.out_of_range {
                return Err(self.out_of_range(st));
            }
            let mut taken = 0;
            while taken < BURST && self.poll_once(st, StdDuration::ZERO) {
                taken += 1;
            }
            if taken > 0 {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::kafka_failure(
                    "reading a batch's offset ranges",
                    format!(
                        "records not received within {}: {}",
                        self.config.fetch_timeout,
                        describe(ranges)
                    ),
                ));
            }
            self.poll_once(st, left.min(StdDuration::from_millis(100)));
        }
        Ok(())
    }

    /// The error for positions out of the broker's range, naming each partition whose position
    /// lies outside what the broker holds (every partition, if the broker does not say).
    pub(super) fn out_of_range(&self, st: &State) -> Error {
        let timeout = self.config.request_timeout.to_std();
        let describe = |((topic, p), s): (&Key, &super::arena::PartitionState)| {
            let at = s.fetched_end();
            match self.consumer.fetch_watermarks(topic, *p, timeout) {
                Ok((low, high)) if at < low || at > high => Some(format!(
                    "{topic}-{p} at {at} (the broker holds {low}..{high})"
                )),
                Ok(_) => None,
                Err(e) => Some(format!(
                    "{topic}-{p} at {at} (the broker's range unknown: {e})"
                )),
            }
        };
        let mut positions: Vec<String> = st.partitions.iter().filter_map(describe).collect();
        if positions.is_empty() {
            positions = st
                .partitions
                .iter()
                .map(|((topic, p), s)| format!("{topic}-{p} at {}", s.fetched_end()))
                .collect();
        }
        Error::KafkaOffsetsOutOfRange {
            positions: positions.join(", "),
        }
    }

    /// The records of `ranges` from the fetched ones (removing them), one list per range, with
    /// the chunks their values lie in.
    pub(super) fn take(&self, st: &mut State, ranges: &[OffsetRange]) -> Vec<Taken> {
        ranges
            .iter()
            .map(|r| {
                let s = st
                    .partitions
                    .get_mut(&(r.topic.clone(), r.partition))
                    .expect("a range is planned for a known partition");
                let mut records = Vec::new();
                while s.fetched.front().is_some_and(|f| f.offset < r.until) {
                    records.push(s.fetched.pop_front().expect("front exists"));
                }
                if records
                    .iter()
                    .any(|f| f.value.is_some_and(|v| v.chunk == s.chunk))
                {
                    s.seal();
                }
                let chunks = records
                    .iter()
                    .filter_map(|f| f.value.map(|v| v.chunk))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|c| (c, s.sealed[&c].clone()))
                    .collect();
                s.next = r.until;
                s.release();
                Taken { records, chunks }
            })
            .collect()
    }
}
