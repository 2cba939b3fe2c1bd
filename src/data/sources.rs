//! The input buffers a builder may point into instead of copying.

use arrow_buffer::Buffer;

/// Byte buffers of the input columns of an operation. A string pushed into a builder whose bytes
/// lie entirely inside one of these buffers is recorded as a view (buffer, offset, length) rather
/// than copied.
#[derive(Clone, Default)]
pub struct Sources {
    buffers: Vec<Buffer>,
    /// `(start address, end address, index into buffers)`, sorted by start.
    ranges: Vec<(usize, usize, usize)>,
}

impl Sources {
    /// No sources: every string is copied.
    pub fn none() -> Self {
        Sources::default()
    }

    /// Sources from a list of buffers (duplicates are kept once).
    pub fn new(buffers: Vec<Buffer>) -> Self {
        let mut ranges: Vec<(usize, usize, usize)> = buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.is_empty())
            .map(|(i, b)| {
                let start = b.as_ptr() as usize;
                (start, start + b.len(), i)
            })
            .collect();
        ranges.sort_unstable();
        ranges.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        Sources { buffers, ranges }
    }

    /// The buffers of a set of columns.
    pub fn of_columns<'c, C: super::Column + 'c>(cols: impl IntoIterator<Item = &'c C>) -> Self {
        let mut buffers = Vec::new();
        for c in cols {
            c.data_buffers(&mut buffers);
        }
        Sources::new(buffers)
    }

    /// Whether there are no buffers.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The source buffer holding all of `bytes` and the offset of `bytes` in it.
    #[inline]
    pub fn locate(&self, bytes: &[u8]) -> Option<(usize, usize)> {
        if self.ranges.is_empty() {
            return None;
        }
        let start = bytes.as_ptr() as usize;
        let end = start + bytes.len();
        let pos = self.ranges.partition_point(|r| r.0 <= start);
        // Ranges may overlap (slices of one allocation); check the closest few candidates.
        self.ranges[..pos]
            .iter()
            .rev()
            .take(4)
            .find(|r| end <= r.1)
            .map(|r| (r.2, start - r.0))
    }

    /// The buffers, as given.
    pub(crate) fn buffers(&self) -> &[Buffer] {
        &self.buffers
    }

    /// Buffer `i`.
    pub fn buffer(&self, i: usize) -> &Buffer {
        &self.buffers[i]
    }
}
