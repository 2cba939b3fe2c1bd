//! What the receiving side of an exchange holds for one exchange partition: the records read
//! from it, by batch time and source partition, until their batch is complete; and where its
//! consumer may commit.
//!
//! A batch time `t` is complete on the partition when every source partition has delivered a
//! record for `t` or for a later time. Each source partition's records reach an exchange
//! partition in batch-time order (one owner at a time writes them, each batch's records acknowledged
//! before the next batch's are sent, and an owner hands a source partition over only between two
//! batches), so a record for a later time means the source partition had nothing for `t`: it was
//! between owners then, and its next owner starts reading where the last one stopped. A record
//! for `(t, source)` delivered twice (a batch's records sent again after a failure) is applied once:
//! the first one read.

use crate::time::Time;
use std::collections::{BTreeMap, BTreeSet};

/// One record of an exchange partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Received {
    pub(crate) time: Time,
    pub(crate) source: u32,
    pub(crate) offset: i64,
    pub(crate) payload: Vec<u8>,
}

/// The records of one exchange partition not yet applied.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// By batch time, then source partition: the record's offset and payload.
    waiting: BTreeMap<Time, BTreeMap<u32, (i64, Vec<u8>)>>,
    /// The latest batch time each source partition has delivered.
    reached: BTreeMap<u32, Time>,
    /// Batches up to this time have been taken: their records, read again, are dropped.
    taken_through: Option<Time>,
    /// Batches up to this time were taken by the partition's previous owner (committed with its
    /// position, `Stage::commit_taken`): their records, read again from that position, are
    /// dropped without a warning.
    handed_over_through: Option<Time>,
    /// One past the last offset read.
    next_offset: Option<i64>,
    /// `(batch, source)` of the records the last [`REMEMBERED`] batches took: a record read again
    /// for one of them is a duplicate, not a late one.
    applied: BTreeSet<(Time, u32)>,
}

/// How many taken batches' `(batch, source)` pairs are remembered.
const REMEMBERED: usize = 64;

impl Pending {
    /// Adds a record read from the partition.
    pub(crate) fn add(&mut self, r: Received) {
        self.next_offset = Some(r.offset + 1);
        let reached = self.reached.entry(r.source).or_insert(r.time);
        *reached = (*reached).max(r.time);
        if let Some(done) = self.taken_through.filter(|&done| r.time <= done) {
            let known = self.applied.contains(&(r.time, r.source))
                || self.handed_over_through.is_some_and(|h| r.time <= h);
            if !known {
                // Its batch ran here without it: only a source partition handed over in the
                // middle of a batch does this (ARCHITECTURE.md, "Running on many machines").
                tracing::warn!(
                    "exchange: a record of batch {} from source partition {} arrived after this \
                     member took its batch (through {done}); it is not counted",
                    r.time,
                    r.source
                );
            }
            return;
        }
        self.waiting
            .entry(r.time)
            .or_default()
            .entry(r.source)
            .or_insert((r.offset, r.payload));
    }

    /// A partition taken over whose previous owner took every batch up to `t`.
    pub(crate) fn after_handover(t: Time) -> Self {
        Pending {
            taken_through: Some(t),
            handed_over_through: Some(t),
            ..Pending::default()
        }
    }

    /// The latest batch taken here (by this member or, before it, by the partition's previous
    /// owner).
    pub(crate) fn taken_through(&self) -> Option<Time> {
        self.taken_through
    }

    /// Whether batch `t` is complete: each of the `sources` source partitions delivered a record
    /// for `t` or later.
    pub(crate) fn is_complete(&self, t: Time, sources: u32) -> bool {
        (0..sources).all(|s| self.reached.get(&s).is_some_and(|&r| r >= t))
    }

    /// The source partitions that have not reached `t` yet (for a batch that waits too long).
    pub(crate) fn missing(&self, t: Time, sources: u32) -> Vec<u32> {
        (0..sources)
            .filter(|s| self.reached.get(s).is_none_or(|&r| r < t))
            .collect()
    }

    /// The batch times before `t` with records waiting here that no batch took: batches this
    /// member ran before the partition was its own, whose previous owner did not finish them.
    pub(crate) fn older_than(&self, t: Time) -> Vec<Time> {
        self.waiting.range(..t).map(|(&old, _)| old).collect()
    }

    /// Takes batch `t`'s payloads, in source partition order, dropping (with a warning) anything
    /// older that was never taken.
    pub(crate) fn take(&mut self, t: Time) -> Vec<Vec<u8>> {
        let mut later = self.waiting.split_off(&t);
        for (old, by_source) in &self.waiting {
            // Only a partition taken over in the middle of a job's batch has these (ARCHITECTURE.md,
            // "Running on many machines"): this member ran that batch without the partition.
            tracing::warn!(
                "exchange: records of batch {old} from source partitions {:?} arrived after this \
                 member ran that batch; they are not counted",
                by_source.keys().collect::<Vec<_>>()
            );
        }
        self.waiting = later.split_off(&(t + crate::time::Duration::millis(1)));
        self.taken_through = Some(self.taken_through.map_or(t, |d| d.max(t)));
        let Some(by_source) = later.remove(&t) else {
            return Vec::new();
        };
        self.applied.extend(by_source.keys().map(|&s| (t, s)));
        let times: BTreeSet<Time> = self.applied.iter().map(|(t, _)| *t).collect();
        if let Some(&oldest_kept) = times.iter().rev().nth(REMEMBERED - 1) {
            self.applied.retain(|(t, _)| *t >= oldest_kept);
        }
        by_source.into_values().map(|(_, p)| p).collect()
    }

    /// The earliest batch time with a record waiting.
    pub(crate) fn earliest(&self) -> Option<Time> {
        self.waiting.keys().next().copied()
    }

    /// One past the last offset read (`None` before any record).
    pub(crate) fn next_offset(&self) -> Option<i64> {
        self.next_offset
    }

    /// Where this partition's consumer can commit: the first record not yet taken, else one past
    /// the last record read (`None` before any record).
    pub(crate) fn commit_offset(&self) -> Option<i64> {
        self.waiting
            .values()
            .flat_map(|by_source| by_source.values().map(|(offset, _)| *offset))
            .min()
            .or(self.next_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ms: i64, source: u32, offset: i64) -> Received {
        Received {
            time: Time::from_millis(ms),
            source,
            offset,
            payload: format!("{ms}/{source}").into_bytes(),
        }
    }
    fn t(ms: i64) -> Time {
        Time::from_millis(ms)
    }

    #[test]
    fn a_batch_is_complete_when_every_source_reached_it() {
        let mut p = Pending::default();
        p.add(rec(1000, 0, 0));
        assert!(!p.is_complete(t(1000), 2));
        assert_eq!(p.missing(t(1000), 2), vec![1]);
        p.add(rec(1000, 1, 1));
        assert!(p.is_complete(t(1000), 2));
        assert!(!p.is_complete(t(2000), 2));
        assert_eq!(
            p.take(t(1000)),
            vec![b"1000/0".to_vec(), b"1000/1".to_vec()]
        );
    }

    #[test]
    fn a_later_record_completes_earlier_batches_of_its_source() {
        let mut p = Pending::default();
        p.add(rec(1000, 0, 0));
        // Source 1 was between owners at 1000: its next owner's first batch is 3000.
        p.add(rec(3000, 1, 1));
        assert!(p.is_complete(t(1000), 2));
        assert!(!p.is_complete(t(2000), 2));
        assert_eq!(p.take(t(1000)), vec![b"1000/0".to_vec()]);
        p.add(rec(3000, 0, 2));
        assert!(p.is_complete(t(2000), 2));
        assert!(p.take(t(2000)).is_empty());
        assert_eq!(
            p.take(t(3000)),
            vec![b"3000/0".to_vec(), b"3000/1".to_vec()]
        );
    }

    #[test]
    fn a_record_sent_twice_is_applied_once() {
        let mut p = Pending::default();
        p.add(rec(1000, 0, 0));
        let mut again = rec(1000, 0, 1);
        again.payload = b"re-sent".to_vec();
        p.add(again);
        p.add(rec(1000, 1, 2));
        assert_eq!(
            p.take(t(1000)),
            vec![b"1000/0".to_vec(), b"1000/1".to_vec()]
        );
        // Once taken, the batch's records read again are dropped.
        p.add(rec(1000, 1, 3));
        assert!(p.take(t(1000)).is_empty());
        assert_eq!(p.commit_offset(), Some(4));
    }

    #[test]
    fn the_commit_offset_is_the_first_record_not_taken() {
        let mut p = Pending::default();
        assert_eq!(p.commit_offset(), None);
        p.add(rec(1000, 0, 10));
        p.add(rec(2000, 0, 11));
        p.add(rec(1000, 1, 12));
        assert_eq!(p.commit_offset(), Some(10));
        p.take(t(1000));
        assert_eq!(p.commit_offset(), Some(11));
        p.take(t(2000));
        assert_eq!(p.commit_offset(), Some(13));
    }

    #[test]
    fn records_its_previous_owner_took_are_dropped_and_later_ones_wait() {
        // The previous owner took every batch through 1000 and committed a position before a
        // record of batch 2000 that was read before the last records of batch 1000.
        let mut p = Pending::after_handover(t(1000));
        p.add(rec(2000, 1, 7));
        p.add(rec(1000, 0, 8));
        assert_eq!(p.older_than(t(3000)), vec![t(2000)]);
        assert_eq!(p.earliest(), Some(t(2000)));
        assert_eq!(p.taken_through(), Some(t(1000)));
        p.add(rec(2000, 0, 9));
        assert!(p.is_complete(t(2000), 2));
        assert_eq!(
            p.take(t(2000)),
            vec![b"2000/0".to_vec(), b"2000/1".to_vec()]
        );
    }

    #[test]
    fn records_of_batches_never_taken_are_dropped_by_a_later_take() {
        let mut p = Pending::default();
        p.add(rec(1000, 0, 0));
        p.add(rec(2000, 0, 1));
        assert_eq!(p.take(t(2000)), vec![b"2000/0".to_vec()]);
        assert_eq!(p.commit_offset(), Some(2));
    }
}
