//! Fetched records per partition: values copied once, out of librdkafka's buffers, into the
//! partition's arena, whose chunks are sealed into Arrow buffers when a batch takes records
//! from them; a batch's strings are views into those chunks.

use arrow_buffer::Buffer;
use std::collections::{BTreeMap, VecDeque};

/// Where a fetched value's bytes lie: a chunk of its partition's arena.
#[derive(Clone, Copy)]
pub(super) struct Span {
    pub(super) chunk: u64,
    start: usize,
    len: usize,
}

/// A record received and not yet in a batch: 48 bytes, as a batch of a value stream holds a
/// million of them (what only a stream of records needs is boxed apart).
pub(super) struct Fetched {
    pub(super) offset: i64,
    /// `None` for a null value.
    pub(super) value: Option<Span>,
    /// Kept only for streams of records ([`StreamingContext::kafka_record_stream`]).
    ///
    /// [`StreamingContext::kafka_record_stream`]: crate::StreamingContext::kafka_record_stream
    pub(super) record: Option<Box<RecordParts>>,
}

const _: () = assert!(std::mem::size_of::<Fetched>() == 48);

/// The parts of a record besides its value.
pub(super) struct RecordParts {
    pub(super) key: Option<Vec<u8>>,
    /// Milliseconds since the epoch; -1 when the record has none.
    pub(super) timestamp: i64,
    pub(super) headers: Vec<(String, Option<Vec<u8>>)>,
}

/// What is known of one partition.
#[derive(Default)]
pub(super) struct PartitionState {
    /// The first offset the next batch reads.
    pub(super) next: i64,
    /// Distributed mode: the range from `next` that the partition's previous owner committed
    /// last and may not have sent; a batch takes exactly it, once fetched, and sends it under
    /// its logged batch time (`exchange/handover.rs`).
    pub(super) unsent: Option<crate::exchange::Logged>,
    /// Distributed mode: the batch time of that range. The partition's later records go only
    /// into batches after it: a member running behind the previous owner (it started late)
    /// leaves the partition out of its batches until it catches up, so that the partition's
    /// records reach the exchange partitions in batch order (a record of an earlier batch after
    /// one of a later batch would be dropped as arriving after its batch was taken).
    pub(super) handed_over_at: Option<crate::time::Time>,
    /// Records received and not yet in a batch, by offset.
    pub(super) fetched: VecDeque<Fetched>,
    /// The values of fetched records, copied here once out of librdkafka's buffers; a batch's
    /// strings are views into it. The open chunk takes new values...
    pub(super) arena: Vec<u8>,
    /// ...and has this number;
    pub(super) chunk: u64,
    /// earlier chunks, sealed as Arrow buffers, stay while fetched records point into them.
    pub(super) sealed: BTreeMap<u64, Buffer>,
}

impl PartitionState {
    /// One past the last offset received.
    pub(super) fn fetched_end(&self) -> i64 {
        self.fetched.back().map_or(self.next, |f| f.offset + 1)
    }

    /// Bytes of values held (open and sealed chunks).
    pub(super) fn held_bytes(&self) -> usize {
        self.arena.len() + self.sealed.values().map(Buffer::len).sum::<usize>()
    }

    /// Appends a value to the open chunk.
    pub(super) fn hold(&mut self, value: &[u8]) -> Span {
        let start = self.arena.len();
        self.arena.extend_from_slice(value);
        Span {
            chunk: self.chunk,
            start,
            len: value.len(),
        }
    }

    /// Seals the open chunk (if it holds anything) so views can point into it.
    pub(super) fn seal(&mut self) {
        if !self.arena.is_empty() {
            let bytes = std::mem::take(&mut self.arena);
            self.sealed.insert(self.chunk, Buffer::from_vec(bytes));
            self.chunk += 1;
        }
    }

    /// Drops sealed chunks no fetched record points into.
    pub(super) fn release(&mut self) {
        let oldest = self
            .fetched
            .iter()
            .find_map(|f| f.value.map(|v| v.chunk))
            .unwrap_or(self.chunk);
        self.sealed.retain(|&c, _| c >= oldest);
    }
}

/// One range's records and the sealed chunks their values lie in.
pub(super) struct Taken {
    pub(super) records: Vec<Fetched>,
    pub(super) chunks: BTreeMap<u64, Buffer>,
}

impl Taken {
    /// The bytes of a value.
    pub(super) fn bytes(&self, span: Option<Span>) -> &[u8] {
        span.map_or(&[][..], |v| {
            &self.chunks[&v.chunk].as_slice()[v.start..v.start + v.len]
        })
    }
}
