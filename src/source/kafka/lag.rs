//! How far a Kafka stream's batches are behind its partitions' ends: librdkafka's statistics
//! (every [`STATISTICS_INTERVAL_MS`]) report each fetched partition's high watermark, and a
//! batch's lag on a partition is the records between its range's end and that watermark. Batch
//! metadata `"lag"` (the total) and `"lag.partitions"` (`topic-partition:records`, one per range)
//! carry it to the listener's `BatchInfo`; the scheduler's per-batch log line shows the total.

use super::plan::OffsetRange;
use crate::lock::lock;
use rdkafka::statistics::Statistics;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// How often librdkafka reports statistics (`statistics.interval.ms`, unless the program sets
/// it): a batch's lag is at most this old.
pub(super) const STATISTICS_INTERVAL_MS: &str = "1000";

/// The latest high watermark of each partition the consumer fetches from.
#[derive(Default)]
pub(super) struct HighWatermarks(Mutex<BTreeMap<(String, i32), i64>>);

impl HighWatermarks {
    /// Takes the watermarks of a statistics report (partitions whose watermark the consumer does
    /// not know yet report a negative one, and are skipped).
    pub(super) fn update(&self, stats: &Statistics) {
        let mut known = lock(&self.0);
        for (topic, t) in &stats.topics {
            for (&partition, p) in &t.partitions {
                if partition >= 0 && p.hi_offset >= 0 {
                    known.insert((topic.clone(), partition), p.hi_offset);
                }
            }
        }
    }

    /// The lag of a batch with `ranges`: the total and each range's (`None` when no range's
    /// partition has a known watermark). A watermark older than the range's end counts 0.
    pub(super) fn lag(&self, ranges: &[OffsetRange]) -> Option<(i64, String)> {
        let known = lock(&self.0);
        let lags: Vec<(&OffsetRange, i64)> = ranges
            .iter()
            .filter_map(|r| {
                let high = known.get(&(r.topic.clone(), r.partition))?;
                Some((r, (high - r.until).max(0)))
            })
            .collect();
        if lags.is_empty() {
            return None;
        }
        let total = lags.iter().map(|(_, l)| l).sum();
        let each = lags
            .iter()
            .map(|(r, l)| format!("{}-{}:{l}", r.topic, r.partition))
            .collect::<Vec<_>>()
            .join(", ");
        Some((total, each))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(partition: i32, until: i64) -> OffsetRange {
        OffsetRange {
            topic: "lines".into(),
            partition,
            from: 0,
            until,
        }
    }

    #[test]
    fn a_batch_lags_by_the_records_between_its_ranges_and_the_watermarks() {
        let marks = HighWatermarks::default();
        assert_eq!(marks.lag(&[range(0, 10)]), None);
        lock(&marks.0).insert(("lines".into(), 0), 25);
        lock(&marks.0).insert(("lines".into(), 1), 5);
        assert_eq!(
            marks.lag(&[range(0, 10), range(1, 7), range(2, 3)]),
            Some((15, "lines-0:15, lines-1:0".to_string()))
        );
    }
}
