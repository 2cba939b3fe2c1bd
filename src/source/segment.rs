//! Receiver buffer segments: bytes are written once into anonymous memory maps and frozen into
//! Arrow [`Buffer`]s without being copied again.
//!
//! A [`SegmentWriter`] owns one writable segment at a time (an anonymous [`MmapMut`] of a fixed
//! capacity below 2 GiB, because Arrow string views address their data with 32-bit offsets).
//! Receivers append to it in one of two ways:
//!
//! * **whole records**: [`SegmentWriter::append_line`] and [`SegmentWriter::append_record`] never
//!   split their argument: when it does not fit in the room left, the current segment is frozen
//!   and the record goes into a fresh one;
//! * **raw bytes**: [`SegmentWriter::append_raw`] accepts arbitrary chunks (as read from a socket).
//!   Only complete, `\n`-terminated lines are ever frozen; the incomplete tail of the last line is
//!   carried (copied, it is shorter than one line) to the start of the next segment.
//!
//! [`SegmentWriter::seal`] freezes everything complete so far, typically at a batch boundary, and
//! returns it as Arrow buffers. Freezing is `MmapMut::make_read_only` (one `mprotect`) followed by
//! `bytes::Bytes::from_owner` and `Buffer::from`: the buffer points straight into the mapping.
//!
//! # Recycling
//!
//! Mapping and first-touch page faults cost more than filling a segment, so segments are reused.
//! The owner handed to `Bytes::from_owner` is a private `Frozen` value that, when the last
//! `Buffer` (or slice, or array view) over it is dropped, makes the mapping writable again and
//! returns it to its [`SegmentPool`]. This was chosen over polling `Arc` strong counts because it
//! needs no scan, no lock held by readers, and works whichever thread drops the last reference.
//! The pool keeps at most [`SegmentConfig::max_idle`] idle mappings; the rest are unmapped. A
//! recycled mapping keeps its pages resident (that is the point) and its stale bytes, which are
//! never exposed: a frozen buffer covers only the bytes written since the mapping was taken.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use arrow_buffer::Buffer;
use memmap2::{Mmap, MmapMut, MmapOptions};

/// The largest segment capacity: `i32::MAX` bytes, just under 2 GiB.
///
/// Arrow view arrays address bytes with 32-bit offsets and `gc()` requires buffers of at most
/// `i32::MAX` bytes, so a segment never exceeds this.
pub const MAX_SEGMENT_CAPACITY: usize = i32::MAX as usize;

/// The default segment capacity, 64 MiB.
pub const DEFAULT_SEGMENT_CAPACITY: usize = 64 << 20;

/// The default number of idle segments a [`SegmentPool`] keeps for reuse.
pub const DEFAULT_MAX_IDLE: usize = 4;

/// Errors from segment writers, pools and file mapping.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// The configured capacity is zero or larger than [`MAX_SEGMENT_CAPACITY`].
    #[error("segment capacity {capacity} is out of range 1..={MAX_SEGMENT_CAPACITY}")]
    InvalidCapacity {
        /// The rejected capacity in bytes.
        capacity: usize,
    },
    /// A whole record (including its added newline, if any) is larger than one segment.
    #[error("record of {len} bytes does not fit in a segment of {capacity} bytes")]
    RecordTooLarge {
        /// Length of the record in bytes, including an added newline.
        len: usize,
        /// Segment capacity in bytes.
        capacity: usize,
    },
    /// A line arriving through [`SegmentWriter::append_raw`] filled a whole segment without
    /// ending. The first `accepted` bytes of the failing call are buffered as part of that line;
    /// call [`SegmentWriter::discard_partial_line`] to drop it before appending again.
    #[error(
        "line longer than the segment capacity of {capacity} bytes \
         ({accepted} bytes of this append were buffered)"
    )]
    LineTooLong {
        /// Segment capacity in bytes.
        capacity: usize,
        /// How many bytes of the failing `append_raw` call were buffered.
        accepted: usize,
    },
    /// A whole record was appended while an incomplete line from
    /// [`SegmentWriter::append_raw`] is pending; the two would merge into one line.
    #[error("cannot append a whole record: an incomplete line of {len} bytes is pending")]
    PartialLinePending {
        /// Length of the pending incomplete line in bytes.
        len: usize,
    },
    /// Creating or protecting an anonymous mapping failed (usually: out of memory).
    #[error("cannot map or protect a segment of {capacity} bytes: {source}")]
    Map {
        /// Segment capacity in bytes.
        capacity: usize,
        /// The operating system error.
        #[source]
        source: io::Error,
    },
    /// Opening or mapping a file failed.
    #[error("cannot map file {}: {source}", path.display())]
    MapFile {
        /// The file that could not be mapped.
        path: PathBuf,
        /// The operating system error.
        #[source]
        source: io::Error,
    },
}

/// Configuration of a [`SegmentPool`] (and so of its writers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentConfig {
    /// Bytes per segment, in `1..=MAX_SEGMENT_CAPACITY`. No record or line can be longer.
    pub capacity: usize,
    /// How many idle mappings the pool keeps for reuse; further returned mappings are unmapped.
    pub max_idle: usize,
    /// Pre-fault new mappings (`MAP_POPULATE`): slower to create, no page faults while filling.
    pub populate: bool,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_SEGMENT_CAPACITY,
            max_idle: DEFAULT_MAX_IDLE,
            populate: false,
        }
    }
}

impl SegmentConfig {
    /// The default configuration with another capacity.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }
}

/// Counters of a [`SegmentPool`], for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Mappings created with `mmap`.
    pub mapped: u64,
    /// Segments served from the idle list instead of a new mapping.
    pub reused: u64,
    /// Mappings currently idle in the pool.
    pub idle: usize,
}

/// A shared, thread-safe supply of equally sized anonymous segments.
///
/// Cloning is cheap and clones share the idle list. Frozen buffers hold only a weak reference, so
/// dropping every clone of the pool simply unmaps segments as their buffers are dropped.
#[derive(Debug, Clone)]
pub struct SegmentPool {
    shared: Arc<PoolShared>,
}

#[derive(Debug)]
struct PoolShared {
    config: SegmentConfig,
    idle: Mutex<Vec<MmapMut>>,
    mapped: AtomicU64,
    reused: AtomicU64,
}

impl SegmentPool {
    /// Creates an empty pool; no memory is mapped until a segment is needed.
    ///
    /// # Errors
    ///
    /// [`SegmentError::InvalidCapacity`] when `config.capacity` is zero or above
    /// [`MAX_SEGMENT_CAPACITY`].
    pub fn new(config: SegmentConfig) -> Result<Self, SegmentError> {
        if config.capacity == 0 || config.capacity > MAX_SEGMENT_CAPACITY {
            return Err(SegmentError::InvalidCapacity {
                capacity: config.capacity,
            });
        }
        Ok(Self {
            shared: Arc::new(PoolShared {
                config,
                idle: Mutex::new(Vec::new()),
                mapped: AtomicU64::new(0),
                reused: AtomicU64::new(0),
            }),
        })
    }

    /// The configuration this pool was created with.
    pub fn config(&self) -> SegmentConfig {
        self.shared.config
    }

    /// Current counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            mapped: self.shared.mapped.load(Ordering::Relaxed),
            reused: self.shared.reused.load(Ordering::Relaxed),
            idle: self.shared.lock_idle().len(),
        }
    }

    /// Takes an idle segment or maps a new one.
    fn take(&self) -> Result<MmapMut, SegmentError> {
        if let Some(mmap) = self.shared.lock_idle().pop() {
            self.shared.reused.fetch_add(1, Ordering::Relaxed);
            return Ok(mmap);
        }
        let config = self.shared.config;
        let mut options = MmapOptions::new();
        options.len(config.capacity);
        if config.populate {
            options.populate();
        }
        let mmap = options.map_anon().map_err(|source| SegmentError::Map {
            capacity: config.capacity,
            source,
        })?;
        self.shared.mapped.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(capacity = config.capacity, "mapped a new receiver segment");
        Ok(mmap)
    }

    /// Returns an unused writable segment without freezing it.
    fn give_back(&self, mmap: MmapMut) {
        self.shared.give_back(mmap);
    }

    /// Freezes the first `len` bytes of `mmap` into a zero-copy Arrow buffer.
    ///
    /// An empty segment goes straight back to the pool and yields `None`.
    fn freeze(&self, mmap: MmapMut, len: usize) -> Result<Option<Buffer>, SegmentError> {
        if len == 0 {
            self.give_back(mmap);
            return Ok(None);
        }
        let capacity = self.shared.config.capacity;
        let mmap = mmap
            .make_read_only()
            .map_err(|source| SegmentError::Map { capacity, source })?;
        let owner = Frozen {
            mmap: Some(mmap),
            len,
            pool: Arc::downgrade(&self.shared),
        };
        Ok(Some(Buffer::from(bytes::Bytes::from_owner(owner))))
    }
}

impl PoolShared {
    /// The idle list, even if a thread panicked while holding the lock (the list stays valid).
    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<MmapMut>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn give_back(&self, mmap: MmapMut) {
        let mut idle = self.lock_idle();
        if idle.len() < self.config.max_idle {
            idle.push(mmap);
        }
        // Otherwise `mmap` is dropped (unmapped) here.
    }
}

/// The owner behind a frozen segment's `Bytes`: returns the mapping to its pool on drop.
struct Frozen {
    /// Always `Some` until `drop` takes it.
    mmap: Option<Mmap>,
    /// Bytes written, at most the mapping's length.
    len: usize,
    pool: Weak<PoolShared>,
}

impl AsRef<[u8]> for Frozen {
    fn as_ref(&self) -> &[u8] {
        match &self.mmap {
            Some(mmap) => mmap.get(..self.len).unwrap_or(&[]),
            None => &[],
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        // Every Buffer, Bytes and view over this segment is gone: nobody can read it any more,
        // so it may become writable again.
        if let (Some(mmap), Some(pool)) = (self.mmap.take(), self.pool.upgrade())
            && let Ok(mmap) = mmap.make_mut()
        {
            pool.give_back(mmap);
        }
    }
}

/// Appends bytes into mmap-backed segments and seals them into Arrow buffers at batch boundaries.
///
/// See the [module documentation](self) for the two ways of appending and for recycling.
///
/// ```
/// use dstreams::source::segment::{SegmentConfig, SegmentWriter};
///
/// let mut writer = SegmentWriter::new(SegmentConfig::with_capacity(1 << 16))?;
/// writer.append_raw(b"to be or\nnot to")?;
/// let batch = writer.seal()?; // only the complete line
/// assert_eq!(batch[0].as_slice(), b"to be or\n");
/// writer.append_raw(b" be\n")?;
/// assert_eq!(writer.seal()?[0].as_slice(), b"not to be\n");
/// # Ok::<(), dstreams::source::segment::SegmentError>(())
/// ```
#[derive(Debug)]
pub struct SegmentWriter {
    pool: SegmentPool,
    /// The segment being written, taken from the pool on first use.
    current: Option<MmapMut>,
    /// Bytes written into `current`.
    len: usize,
    /// End of the last complete line (or whole record) in `current`; `len - complete` bytes are
    /// an incomplete line from `append_raw`.
    complete: usize,
    /// Segments frozen because they filled up, waiting for the next `seal`.
    frozen: Vec<Buffer>,
}

impl SegmentWriter {
    /// A writer with its own pool.
    ///
    /// # Errors
    ///
    /// [`SegmentError::InvalidCapacity`] for an out-of-range capacity.
    pub fn new(config: SegmentConfig) -> Result<Self, SegmentError> {
        Ok(Self::with_pool(SegmentPool::new(config)?))
    }

    /// A writer drawing segments from a shared pool (one pool per receiver type, say).
    pub fn with_pool(pool: SegmentPool) -> Self {
        Self {
            pool,
            current: None,
            len: 0,
            complete: 0,
            frozen: Vec::new(),
        }
    }

    /// Bytes per segment: the longest record or line this writer accepts.
    pub fn capacity(&self) -> usize {
        self.pool.shared.config.capacity
    }

    /// The pool this writer draws from.
    pub fn pool(&self) -> &SegmentPool {
        &self.pool
    }

    /// Length of the incomplete line buffered by [`append_raw`](Self::append_raw), if any.
    pub fn partial_len(&self) -> usize {
        self.len - self.complete
    }

    /// Bytes of complete lines and records that the next [`seal`](Self::seal) will return.
    pub fn sealable_len(&self) -> usize {
        self.frozen.iter().map(Buffer::len).sum::<usize>() + self.complete
    }

    /// Appends `line` followed by `\n`, keeping both in one segment.
    ///
    /// The line should not contain `\n` itself (not checked: it would read back as several
    /// lines, which are then still all kept in one segment).
    ///
    /// # Errors
    ///
    /// [`SegmentError::RecordTooLarge`] if `line.len() + 1` exceeds the capacity,
    /// [`SegmentError::PartialLinePending`] after an `append_raw` that left an incomplete line,
    /// [`SegmentError::Map`] if a new segment cannot be mapped. The writer is unchanged on error.
    pub fn append_line(&mut self, line: &[u8]) -> Result<(), SegmentError> {
        self.append_whole(&[line, b"\n"])
    }

    /// Appends `record` as is, keeping it in one segment (the caller supplies any delimiter).
    ///
    /// # Errors
    ///
    /// As [`append_line`](Self::append_line).
    pub fn append_record(&mut self, record: &[u8]) -> Result<(), SegmentError> {
        self.append_whole(&[record])
    }

    fn append_whole(&mut self, parts: &[&[u8]]) -> Result<(), SegmentError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let capacity = self.capacity();
        if len > capacity {
            return Err(SegmentError::RecordTooLarge { len, capacity });
        }
        if self.partial_len() != 0 {
            return Err(SegmentError::PartialLinePending {
                len: self.partial_len(),
            });
        }
        if len == 0 {
            return Ok(());
        }
        if self.current.is_some() && capacity - self.len < len {
            self.roll_over()?;
        }
        let mut at = self.len;
        let segment = self.current_segment()?;
        for part in parts {
            segment[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        self.len = at;
        self.complete = at;
        Ok(())
    }

    /// Appends a chunk of a byte stream whose lines end with `\n`; chunks need not end on a line
    /// boundary.
    ///
    /// # Errors
    ///
    /// [`SegmentError::LineTooLong`] when a single line fills a whole segment; see
    /// [`discard_partial_line`](Self::discard_partial_line). [`SegmentError::Map`] if a new
    /// segment cannot be mapped; bytes before the error are buffered, as the error says.
    pub fn append_raw(&mut self, data: &[u8]) -> Result<(), SegmentError> {
        let capacity = self.capacity();
        let mut rest = data;
        while !rest.is_empty() {
            if self.current.is_some() && self.len == capacity {
                if self.complete == 0 {
                    return Err(SegmentError::LineTooLong {
                        capacity,
                        accepted: data.len() - rest.len(),
                    });
                }
                self.roll_over()?;
            }
            let at = self.len;
            let segment = self.current_segment()?;
            let n = rest.len().min(capacity - at);
            let (chunk, tail) = rest.split_at(n);
            segment[at..at + n].copy_from_slice(chunk);
            if let Some(last) = chunk.iter().rposition(|&b| b == b'\n') {
                self.complete = at + last + 1;
            }
            self.len = at + n;
            rest = tail;
        }
        Ok(())
    }

    /// Drops the incomplete line buffered by [`append_raw`](Self::append_raw) and returns its
    /// length. This is the recovery after [`SegmentError::LineTooLong`]; the caller then
    /// typically skips its input up to the next newline, or closes the connection.
    pub fn discard_partial_line(&mut self) -> usize {
        let dropped = self.partial_len();
        self.len = self.complete;
        dropped
    }

    /// Freezes every complete line and record appended since the last seal and returns them as
    /// zero-copy buffers over the segments, oldest first (one buffer per segment touched; none
    /// if nothing complete was appended). An incomplete line stays buffered for the next seal.
    ///
    /// # Errors
    ///
    /// [`SegmentError::Map`] if a segment cannot be protected or a segment for the carried tail
    /// cannot be mapped; already frozen segments are kept for the next call.
    pub fn seal(&mut self) -> Result<Vec<Buffer>, SegmentError> {
        if self.complete > 0 {
            if self.complete == self.len {
                if let Some(segment) = self.current.take() {
                    let len = std::mem::take(&mut self.len);
                    self.complete = 0;
                    self.frozen.extend(self.pool.freeze(segment, len)?);
                }
            } else {
                self.roll_over()?;
            }
        }
        Ok(std::mem::take(&mut self.frozen))
    }

    /// Like [`seal`](Self::seal) but also freezes a pending incomplete line, as the last line of
    /// a stream that ended without a final newline.
    ///
    /// # Errors
    ///
    /// As [`seal`](Self::seal).
    pub fn seal_all(&mut self) -> Result<Vec<Buffer>, SegmentError> {
        self.complete = self.len;
        self.seal()
    }

    /// The segment being written, mapping one if there is none.
    fn current_segment(&mut self) -> Result<&mut MmapMut, SegmentError> {
        match &mut self.current {
            Some(segment) => Ok(segment),
            current @ None => {
                let segment = self.pool.take()?;
                self.len = 0;
                self.complete = 0;
                Ok(current.insert(segment))
            }
        }
    }

    /// Freezes the complete part of the current segment and moves the incomplete tail, if any,
    /// to the start of a fresh segment. On error the writer is unchanged.
    fn roll_over(&mut self) -> Result<(), SegmentError> {
        let Some(old) = self.current.as_ref() else {
            return Ok(());
        };
        let tail_len = self.len - self.complete;
        let fresh = if tail_len > 0 {
            let mut fresh = self.pool.take()?;
            fresh[..tail_len].copy_from_slice(&old[self.complete..self.len]);
            Some(fresh)
        } else {
            None
        };
        let complete = self.complete;
        let old = std::mem::replace(&mut self.current, fresh);
        self.len = tail_len;
        self.complete = 0;
        if let Some(old) = old {
            self.frozen.extend(self.pool.freeze(old, complete)?);
        }
        Ok(())
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if let Some(segment) = self.current.take() {
            self.pool.give_back(segment);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(capacity: usize) -> SegmentWriter {
        SegmentWriter::new(SegmentConfig::with_capacity(capacity)).expect("valid capacity")
    }

    fn concat(buffers: &[Buffer]) -> Vec<u8> {
        buffers.iter().flat_map(|b| b.as_slice().to_vec()).collect()
    }

    #[test]
    fn rejects_out_of_range_capacity() {
        for capacity in [0, MAX_SEGMENT_CAPACITY + 1] {
            let err = SegmentWriter::new(SegmentConfig::with_capacity(capacity)).unwrap_err();
            assert!(matches!(err, SegmentError::InvalidCapacity { .. }), "{err}");
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
    fn seal_is_zero_copy_over_the_mapping() {
        let mut w = writer(4096);
        w.append_line(b"hello").unwrap();
        let base = w.current.as_ref().unwrap().as_ptr();
        let sealed = w.seal().unwrap();
        assert_eq!(sealed.len(), 1);
        assert_eq!(sealed[0].as_slice(), b"hello\n");
        assert_eq!(sealed[0].as_ptr(), base);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
    fn empty_writer_seals_nothing() {
        let mut w = writer(64);
        assert!(w.seal().unwrap().is_empty());
        w.append_raw(b"no newline yet").unwrap();
        assert!(w.seal().unwrap().is_empty());
        assert_eq!(w.partial_len(), 14);
        assert_eq!(concat(&w.seal_all().unwrap()), b"no newline yet");
        assert!(w.seal_all().unwrap().is_empty());
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
    fn whole_records_roll_over_instead_of_splitting() {
        let mut w = writer(10);
        w.append_line(b"abcd").unwrap(); // 5 bytes
        w.append_line(b"efgh").unwrap(); // 10 bytes: exactly full
        w.append_line(b"ij").unwrap(); // does not fit: new segment
        let sealed = w.seal().unwrap();
        assert_eq!(sealed.len(), 2);
        assert_eq!(sealed[0].as_slice(), b"abcd\nefgh\n");
        assert_eq!(sealed[1].as_slice(), b"ij\n");
        let err = w.append_line(b"0123456789").unwrap_err();
        assert!(matches!(
            err,
            SegmentError::RecordTooLarge {
                len: 11,
                capacity: 10
            }
        ));
        w.append_record(b"0123456789").unwrap();
        assert_eq!(concat(&w.seal().unwrap()), b"0123456789");
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
    fn whole_record_after_partial_line_is_refused() {
        let mut w = writer(64);
        w.append_raw(b"half a li").unwrap();
        let err = w.append_line(b"x").unwrap_err();
        assert!(matches!(err, SegmentError::PartialLinePending { len: 9 }));
        w.append_raw(b"ne\n").unwrap();
        w.append_line(b"x").unwrap();
        assert_eq!(concat(&w.seal().unwrap()), b"half a line\nx\n");
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
    fn raw_tail_is_carried_into_the_next_segment() {
        let mut w = writer(8);
        w.append_raw(b"ab\ncdefgh\nij").unwrap();
        let sealed = w.seal().unwrap();
        assert_eq!(sealed.len(), 2);
        assert_eq!(sealed[0].as_slice(), b"ab\n");
        assert_eq!(sealed[1].as_slice(), b"cdefgh\n");
        assert_eq!(w.partial_len(), 2);
        w.append_raw(b"\n").unwrap();
        assert_eq!(concat(&w.seal().unwrap()), b"ij\n");
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
    fn overlong_raw_line_is_a_typed_error_and_recoverable() {
        let mut w = writer(8);
        w.append_raw(b"ok\n").unwrap();
        let err = w.append_raw(b"0123456789\nnext\n").unwrap_err();
        // "01234" fills the first segment; it moves to a fresh one (the complete "ok\n" is
        // frozen), "567" fills that one too, and there is still no newline: 8 bytes buffered.
        let SegmentError::LineTooLong { capacity, accepted } = err else {
            panic!("unexpected error {err}");
        };
        assert_eq!(capacity, 8);
        assert_eq!(accepted, 8);
        assert_eq!(w.partial_len(), 8);
        // The same call again cannot make progress either.
        assert!(matches!(
            w.append_raw(b"89\n").unwrap_err(),
            SegmentError::LineTooLong { accepted: 0, .. }
        ));
        assert_eq!(w.discard_partial_line(), 8);
        w.append_raw(b"next\n").unwrap();
        assert_eq!(concat(&w.seal().unwrap()), b"ok\nnext\n");
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
    fn dropped_buffers_recycle_their_mapping() {
        let pool = SegmentPool::new(SegmentConfig::with_capacity(4096)).unwrap();
        let mut w = SegmentWriter::with_pool(pool.clone());
        w.append_line(b"first").unwrap();
        let first = w.seal().unwrap();
        let first_ptr = first[0].as_ptr();
        let view = first[0].slice(2); // a slice keeps the segment alive too
        drop(first);
        assert_eq!(pool.stats().idle, 0);
        w.append_line(b"second").unwrap();
        assert_eq!(pool.stats().mapped, 2);
        drop(view);
        assert_eq!(pool.stats().idle, 1);
        let second = w.seal().unwrap();
        w.append_line(b"third").unwrap();
        let third = w.seal().unwrap();
        assert_eq!(third[0].as_ptr(), first_ptr, "the first mapping is reused");
        assert_eq!(third[0].as_slice(), b"third\n");
        assert_eq!(second[0].as_slice(), b"second\n");
        assert_eq!(
            pool.stats(),
            PoolStats {
                mapped: 2,
                reused: 1,
                idle: 0
            }
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
    fn pool_keeps_at_most_max_idle_segments() {
        let config = SegmentConfig {
            capacity: 4096,
            max_idle: 1,
            populate: true,
        };
        let pool = SegmentPool::new(config).unwrap();
        let mut batches = Vec::new();
        for _ in 0..3 {
            let mut w = SegmentWriter::with_pool(pool.clone());
            w.append_line(b"x").unwrap();
            batches.push(w.seal().unwrap());
        }
        assert_eq!(pool.stats().mapped, 3);
        drop(batches);
        assert_eq!(pool.stats().idle, 1);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
    fn buffers_outlive_their_pool() {
        let mut w = writer(4096);
        w.append_line(b"survivor").unwrap();
        let sealed = w.seal().unwrap();
        drop(w); // drops the only pool handle
        assert_eq!(sealed[0].as_slice(), b"survivor\n");
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no mprotect, which sealing uses")]
    fn sealed_buffers_move_across_threads() {
        let mut w = writer(4096);
        w.append_line(b"over there").unwrap();
        let sealed = w.seal().unwrap();
        let len = std::thread::spawn(move || sealed[0].len()).join().unwrap();
        assert_eq!(len, 11);
    }
}
