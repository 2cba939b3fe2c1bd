//! A table of string keys, each with its hash carried in, giving dense group ids in first-seen
//! order.
//!
//! Slots are `{view, hash, group}` in a [`hashbrown::HashTable`] probed with the key's stored
//! hash (never re-hashed, not even on growth). Keys of at most 12 bytes are inline in their view,
//! so equality is one `u128` compare; longer keys compare the hash, then length and 4-byte prefix
//! (the view's low 64 bits), then the bytes in their buffer. Keys are not copied: long views
//! point into the data buffers the caller passes with every call (the same list each time).

use arrow_buffer::Buffer;
use hashbrown::HashTable;

use crate::kernels::prefetch::prefetch;
use crate::kernels::view::{MAX_INLINE, long_bytes, view_len};

#[derive(Clone, Copy, Debug)]
struct Slot {
    view: u128,
    hash: u64,
    group: usize,
}

/// Keys to dense group ids `0..len()`, in first-seen order.
#[derive(Debug, Default)]
pub struct GroupTable {
    table: HashTable<Slot>,
    views: Vec<u128>,
    hashes: Vec<u64>,
    /// Where hashbrown's slot array ends (its control bytes start), learnt from the address
    /// of the last inserted slot; 0 before the first insert. Only used for prefetch hints.
    data_end: usize,
    /// `num_buckets() - 1`: hashbrown starts probing a hash at bucket `hash & mask`.
    bucket_mask: usize,
}

impl GroupTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table with room for `groups` keys.
    pub fn with_capacity(groups: usize) -> Self {
        GroupTable {
            table: HashTable::with_capacity(groups),
            views: Vec::with_capacity(groups),
            hashes: Vec::with_capacity(groups),
            data_end: 0,
            bucket_mask: 0,
        }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.views.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }

    /// The group of the key with `view` (from an array whose data buffers are `buffers`) and
    /// `hash` (its [`crate::kernels::hash::hash_key`]), adding it if new; `true` when added.
    ///
    /// Long views must point into `buffers`, and every call on a table must pass the same
    /// buffers (a view's buffer index is stored as is). A view that is not valid in `buffers`
    /// compares as the empty string's bytes rather than panicking.
    #[inline(always)]
    pub fn intern(&mut self, view: u128, hash: u64, buffers: &[Buffer]) -> (usize, bool) {
        // Probe with `find` (inlined, so the comparison is too), insert on a miss: most rows
        // hit an existing group. Long keys (rare in text) take an out-of-line path, which
        // keeps the inlined probe loop small.
        if view_len(view) > MAX_INLINE {
            return self.intern_long(view, hash, buffers);
        }
        if let Some(slot) = self.table.find(hash, |s| s.view == view) {
            return (slot.group, false);
        }
        self.insert(view, hash)
    }

    #[inline(never)]
    fn intern_long(&mut self, view: u128, hash: u64, buffers: &[Buffer]) -> (usize, bool) {
        let bytes = long_bytes(view, buffers);
        let found = self.table.find(hash, |s| {
            s.hash == hash && s.view as u64 == view as u64 && long_bytes(s.view, buffers) == bytes
        });
        if let Some(slot) = found {
            return (slot.group, false);
        }
        self.insert(view, hash)
    }

    #[inline(never)]
    fn insert(&mut self, view: u128, hash: u64) -> (usize, bool) {
        let group = self.views.len();
        let slot = self
            .table
            .insert_unique(hash, Slot { view, hash, group }, |s| s.hash);
        // hashbrown keeps bucket `i` at `data_end - (i + 1) * size_of::<Slot>()` (its slots
        // lie in reverse order below the control bytes); the insert may have moved the table.
        let index = slot.bucket_index();
        self.data_end = std::ptr::from_ref(slot.get()).addr() + (index + 1) * size_of::<Slot>();
        self.bucket_mask = self.table.num_buckets().wrapping_sub(1);
        self.views.push(view);
        self.hashes.push(hash);
        (group, true)
    }

    /// Hints the CPU to fetch the first slot and control bytes that a probe for `hash` reads,
    /// ahead of [`GroupTable::intern`]. Computed from hashbrown's layout; if that layout ever
    /// changed this would fetch useless lines, never touch memory.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        if self.data_end != 0 {
            let bucket = hash as usize & self.bucket_mask;
            prefetch(self.data_end.wrapping_sub((bucket + 1) * size_of::<Slot>()));
            prefetch(self.data_end.wrapping_add(bucket));
        }
    }

    /// The key views, by group id.
    pub fn views(&self) -> &[u128] {
        &self.views
    }

    /// The key hashes, by group id.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// The key views and hashes, by group id.
    pub fn into_parts(self) -> (Vec<u128>, Vec<u64>) {
        (self.views, self.hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::hash::hash_key;
    use arrow_array::builder::make_view;

    #[test]
    fn groups_in_first_seen_order() {
        let data = b"a long key in a buffer|a long key in a buffer|a long key in a bufferX";
        let buffers = [Buffer::from(&data[..])];
        let long = |s: usize, e: usize| make_view(&data[s..e], 0, s as u32);
        let mut t = GroupTable::new();
        let keys = [
            make_view(b"the", 0, 0),
            long(0, 22),
            make_view(b"", 0, 0),
            long(23, 45), // same bytes as the first long key, elsewhere
            make_view(b"the", 0, 0),
            long(46, 69), // longer, same prefix
            long(46, 68), // equal to the first, third copy
        ];
        let got: Vec<(usize, bool)> = keys
            .iter()
            .map(|&v| {
                let h = crate::kernels::view::with_view_bytes(v, &buffers, hash_key);
                t.intern(v, h, &buffers)
            })
            .collect();
        assert_eq!(
            got,
            [
                (0, true),
                (1, true),
                (2, true),
                (1, false),
                (0, false),
                (3, true),
                (1, false)
            ]
        );
        assert_eq!(t.len(), 4);
        // Prefetching is only a hint, for any hash.
        for h in [0, 1, u64::MAX, hash_key(b"the")] {
            t.prefetch(h);
            GroupTable::new().prefetch(h);
        }
        // The learnt layout matches hashbrown's: bucket of "the" found where computed.
        let h = hash_key(b"the");
        let index = t.table.find_bucket_index(h, |s| s.view == keys[0]).unwrap();
        let slot = t.table.get_bucket(index).unwrap();
        assert_eq!(
            std::ptr::from_ref(slot).addr(),
            t.data_end - (index + 1) * size_of::<Slot>()
        );
        assert_eq!(t.views()[1], keys[1]);
        assert_eq!(t.hashes()[0], hash_key(b"the"));
    }

    #[test]
    fn many_keys_survive_growth() {
        let mut t = GroupTable::with_capacity(1);
        let buffers: [Buffer; 0] = [];
        for round in 0..2 {
            for i in 0..10_000u32 {
                let s = i.to_string();
                let v = make_view(s.as_bytes(), 0, 0);
                assert_eq!(
                    t.intern(v, hash_key(s.as_bytes()), &buffers),
                    (i as usize, round == 0)
                );
            }
        }
    }
}
