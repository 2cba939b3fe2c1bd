//! A table of string keys, each with its hash carried in, giving ids: dense and in first-seen
//! order while nothing is removed (the aggregation kernels), stable for as long as a key is held
//! (the window and state tables, which remove keys and reuse their ids).
//!
//! # Layout
//!
//! Open addressing with linear probing over 16-byte slots, and nothing else per slot: a probe
//! reads one slot (four to a cache line) where a table of `{view, hash, id}` slots behind
//! control bytes reads two cache lines, which is what a probe costs once a table outgrows the
//! caches. A slot holds the key's *probe word* with the id packed into bits 4..32:
//!
//! * a key of at most 12 bytes is inline in its string view, length (at most 12, so bits 4..32
//!   are zero) and zero-padded bytes: its probe word is the view itself, and a match is final;
//! * a longer key's probe word is the marker length 15 (never an inline length), its 4-byte
//!   prefix, its length and the high half of its hash; a match is confirmed by comparing the
//!   bytes (out of line: long keys are rare in text).
//!
//! An empty slot is all ones, which no key has (its prefix would be the invalid UTF-8 `ff ff ff
//! ff` and its length `u32::MAX`). Slots start at `hash & mask` (the low bits: partitions take
//! their bits from the middle, so these stay spread within a partition). Per id, the table keeps
//! the key's view (long views point into the buffers the caller passes with every call) and
//! hash, so that growing the table and merging tables never hash again. Ids are at most 2^28 - 2
//! (the 28 bits of a slot).

use arrow_buffer::Buffer;

use crate::kernels::error::KernelError;
use crate::kernels::prefetch::prefetch;
use crate::kernels::view::{MAX_INLINE, long_bytes, view_len};

/// An empty slot.
const EMPTY: u128 = u128::MAX;
/// The bits of a slot that hold its id.
const ID_BITS: u128 = 0xFFFF_FFF0;
/// One more than the largest id (the all-ones id would make a slot look empty).
pub const MAX_IDS: usize = (1 << 28) - 1;
/// The length nibble of a long key's probe word.
const LONG: u128 = 0xF;
/// The smallest number of slots allocated.
const MIN_SLOTS: usize = 16;

/// The id in a slot.
#[inline(always)]
fn id_of(slot: u128) -> usize {
    (slot >> 4) as u32 as usize & MAX_IDS
}

/// The probe word of the key with string view `view` and hash `hash` (see the module docs).
#[inline(always)]
fn probe_word(view: u128, hash: u64) -> u128 {
    let len = view_len(view);
    if len <= MAX_INLINE {
        view
    } else {
        LONG | (view & 0xFFFF_FFFF_0000_0000) | (len as u128) << 64 | u128::from(hash >> 32) << 96
    }
}

/// Slots for `keys` keys without growing: a power of two at least 1.6 times `keys` (the load
/// stays at or below 5/8, where linear probing needs about 1.3 probes to find a key).
fn slots_for(keys: usize) -> usize {
    (keys + keys / 2 + keys / 8 + 1)
        .next_power_of_two()
        .max(MIN_SLOTS)
}

/// String keys to ids.
#[derive(Debug, Clone)]
pub struct GroupTable {
    /// `EMPTY`, or a key's probe word with its id in bits 4..32; a power of two long.
    slots: Vec<u128>,
    /// Keys held.
    held: usize,
    /// Key views, by id.
    views: Vec<u128>,
    /// Key hashes, by id.
    hashes: Vec<u64>,
    /// Ids of removed keys, for reuse.
    free: Vec<u32>,
}

impl Default for GroupTable {
    fn default() -> Self {
        GroupTable {
            slots: vec![EMPTY; MIN_SLOTS],
            held: 0,
            views: Vec::new(),
            hashes: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl GroupTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table with room for `keys` keys.
    pub fn with_capacity(keys: usize) -> Self {
        let mut t = GroupTable::new();
        t.reserve(keys);
        t
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.held
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Ids of removed keys waiting to be given out again.
    pub fn free_ids(&self) -> usize {
        self.free.len()
    }

    /// One past the largest id given out: the length of per-id vectors.
    pub fn id_bound(&self) -> usize {
        self.views.len()
    }

    /// Makes room for `keys` keys in all without growing the slots on the way.
    pub fn reserve(&mut self, keys: usize) {
        if slots_for(keys) > self.slots.len() {
            self.rebuild(slots_for(keys));
        }
        self.views.reserve(keys.saturating_sub(self.views.len()));
        self.hashes.reserve(keys.saturating_sub(self.hashes.len()));
    }

    /// Forgets every key, keeping the memory (ids start again from 0).
    pub fn clear(&mut self) {
        if !self.views.is_empty() {
            // No id given out since the slots were last emptied means no slot is taken.
            self.slots.fill(EMPTY);
        }
        self.held = 0;
        self.views.clear();
        self.hashes.clear();
        self.free.clear();
    }

    /// Forgets every key and readies the table for about `keys` keys: its slots are kept when
    /// they fit (neither too few for `keys` nor more than four times what `keys` need, so that
    /// one large batch does not make later small ones probe a large table).
    pub fn clear_for(&mut self, keys: usize) {
        let want = slots_for(keys);
        if self.slots.len() < want || self.slots.len() > 4 * want {
            self.slots = vec![EMPTY; want];
            self.views.clear();
        }
        self.clear();
        self.views.reserve(keys);
        self.hashes.reserve(keys);
    }

    /// The key views by id, leaving the table empty (its slots kept).
    pub fn take_views(&mut self) -> Vec<u128> {
        let views = std::mem::take(&mut self.views);
        self.slots.fill(EMPTY);
        self.clear();
        views
    }

    /// The id of the key with string view `view` and hash `hash` (its
    /// [`crate::kernels::hash::hash_key`]), adding it if new; `true` when added.
    ///
    /// Long views must point into `buffers`, and every call on a table must pass the same
    /// buffers (a view's buffer index is kept as is). A view that is not valid in `buffers`
    /// compares as the empty string's bytes rather than panicking.
    ///
    /// # Errors
    ///
    /// [`KernelError::TooManyKeys`] when a new key would need an id beyond [`MAX_IDS`].
    #[inline(always)]
    pub fn intern(
        &mut self,
        view: u128,
        hash: u64,
        buffers: &[Buffer],
    ) -> Result<(usize, bool), KernelError> {
        let same_long = |held: u128, _| long_bytes(held, buffers) == long_bytes(view, buffers);
        match self.find_slot(view, hash, same_long) {
            Ok(slot) => Ok((id_of(self.slots[slot]), false)),
            Err(slot) => self.insert_at(slot, view, hash).map(|id| (id, true)),
        }
    }

    /// The id of a key, if held, for tables whose long keys live elsewhere than the probing
    /// view's buffers: `same_long(id)` says whether the held long key `id` equals the one looked
    /// up (inline keys need no such check). `view` may be any view of the key's bytes (only its
    /// length and inline bytes or prefix are read).
    #[inline(always)]
    pub fn find_with(
        &self,
        view: u128,
        hash: u64,
        same_long: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        self.find_slot(view, hash, |_, id| same_long(id))
            .ok()
            .map(|slot| id_of(self.slots[slot]))
    }

    /// Adds a key known not to be held (what [`find_with`](Self::find_with) did not find); its
    /// id.
    ///
    /// # Errors
    ///
    /// [`KernelError::TooManyKeys`] when it would need an id beyond [`MAX_IDS`].
    pub fn insert_new(&mut self, view: u128, hash: u64) -> Result<usize, KernelError> {
        let slot = self.empty_slot_for(hash);
        self.insert_at(slot, view, hash)
    }

    /// `Ok(slot)` of the key, or `Err(slot)`: the empty slot where it would go. Inline keys
    /// take a loop of one compare per slot (a match is final); long ones are looked up out of
    /// line.
    #[inline(always)]
    fn find_slot(
        &self,
        view: u128,
        hash: u64,
        same_long: impl Fn(u128, usize) -> bool,
    ) -> Result<usize, usize> {
        if view_len(view) > MAX_INLINE {
            return self.find_long(view, hash, same_long);
        }
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if (slot ^ view) & !ID_BITS == 0 {
                return Ok(at);
            }
            if slot == EMPTY {
                return Err(at);
            }
            at = (at + 1) & mask;
        }
    }

    /// [`find_slot`](Self::find_slot) of a long key: a match of the probe word is confirmed by
    /// `same_long` on the held key's view and id.
    #[inline(never)]
    fn find_long(
        &self,
        view: u128,
        hash: u64,
        same_long: impl Fn(u128, usize) -> bool,
    ) -> Result<usize, usize> {
        let word = probe_word(view, hash);
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if (slot ^ word) & !ID_BITS == 0 && same_long(self.views[id_of(slot)], id_of(slot)) {
                return Ok(at);
            }
            if slot == EMPTY {
                return Err(at);
            }
            at = (at + 1) & mask;
        }
    }

    /// Adds a key whose slot would be `slot` (or, if the table must grow first, found again).
    #[inline(never)]
    fn insert_at(&mut self, mut slot: usize, view: u128, hash: u64) -> Result<usize, KernelError> {
        let id = match self.free.pop() {
            Some(id) => id as usize,
            None if self.views.len() < MAX_IDS => self.views.len(),
            None => return Err(KernelError::TooManyKeys { limit: MAX_IDS }),
        };
        if slots_for(self.held + 1) > self.slots.len() {
            self.rebuild(2 * self.slots.len());
            slot = self.empty_slot_for(hash);
        }
        self.slots[slot] = probe_word(view, hash) | (id as u128) << 4;
        if id == self.views.len() {
            self.views.push(view);
            self.hashes.push(hash);
        } else {
            self.views[id] = view;
            self.hashes[id] = hash;
        }
        self.held += 1;
        Ok(id)
    }

    /// The first empty slot from `hash`'s home slot.
    fn empty_slot_for(&self, hash: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        while self.slots[at] != EMPTY {
            at = (at + 1) & mask;
        }
        at
    }

    /// Moves every key into `slots` new slots (a power of two), by its stored hash.
    #[cold]
    fn rebuild(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; slots]);
        for slot in old.into_iter().filter(|&s| s != EMPTY) {
            let at = self.empty_slot_for(self.hashes[id_of(slot)]);
            self.slots[at] = slot;
        }
    }

    /// Forgets the key with id `id` (which must be held); its id is given to a later key.
    /// Linear probing's backward-shift deletion: later keys of the same probe run move back, so
    /// no tombstone is left.
    pub fn remove(&mut self, id: usize) {
        let (Some(&view), Some(&hash)) = (self.views.get(id), self.hashes.get(id)) else {
            return;
        };
        let Ok(mut hole) = self.find_slot(view, hash, |_, held| held == id) else {
            return;
        };
        let mask = self.slots.len() - 1;
        let mut next = hole;
        loop {
            next = (next + 1) & mask;
            let slot = self.slots[next];
            if slot == EMPTY {
                break;
            }
            let home = self.hashes[id_of(slot)] as usize & mask;
            // The key at `next` may move to `hole` unless its home lies in (hole, next].
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(hole) & mask) {
                self.slots[hole] = slot;
                hole = next;
            }
        }
        self.slots[hole] = EMPTY;
        self.held -= 1;
        self.free.push(id as u32);
    }

    /// Hints the CPU to fetch the slot where a probe for `hash` starts, ahead of
    /// [`intern`](Self::intern).
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        let at = hash as usize & (self.slots.len() - 1);
        prefetch(self.slots.as_ptr().wrapping_add(at).addr());
    }

    /// The key views, by id (removed ids keep their last key's view).
    pub fn views(&self) -> &[u128] {
        &self.views
    }

    /// The key hashes, by id.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// Changes the view of a held key (to the same string in other buffers, when its bytes are
    /// moved).
    pub fn set_view(&mut self, id: usize, view: u128) {
        self.views[id] = view;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::hash::{hash_key, hash_view};
    use arrow_array::builder::make_view;

    fn intern(t: &mut GroupTable, v: u128, buffers: &[Buffer]) -> (usize, bool) {
        t.intern(v, hash_view(v, buffers), buffers).unwrap()
    }

    #[test]
    fn ids_in_first_seen_order() {
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
        let got: Vec<(usize, bool)> = keys.iter().map(|&v| intern(&mut t, v, &buffers)).collect();
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
        assert_eq!(t.views()[1], keys[1]);
        assert_eq!(t.hashes()[0], hash_key(b"the"));
        let same = |id: usize| long_bytes(t.views()[id], &buffers) == long_bytes(keys[3], &buffers);
        assert_eq!(t.find_with(keys[3], t.hashes()[1], same), Some(1));
        // A long key is found from any view of its bytes, and never without its bytes matching.
        let elsewhere = make_view(&data[23..45], 9, 1000);
        assert_eq!(t.find_with(elsewhere, t.hashes()[1], same), Some(1));
        assert_eq!(t.find_with(elsewhere, t.hashes()[1], |_| false), None);
        assert_eq!(
            t.find_with(make_view(b"then", 0, 0), hash_key(b"then"), |_| true),
            None
        );
    }

    #[test]
    fn many_keys_survive_growth_clearing_and_removal() {
        let mut t = GroupTable::with_capacity(1);
        let n = if cfg!(miri) { 300 } else { 20_000 };
        let view = |i: usize| make_view(format!("k{i}").as_bytes(), 0, 0);
        for round in 0..2 {
            for i in 0..n {
                assert_eq!(intern(&mut t, view(i), &[]), (i, round == 0));
            }
        }
        // Remove every third key: the others stay found, removed ones are gone, their ids reused.
        for i in (0..n).step_by(3) {
            t.remove(i);
        }
        for i in 0..n {
            let found = t.find_with(view(i), hash_view(view(i), &[]), |_| false);
            assert_eq!(found, (i % 3 != 0).then_some(i), "{i}");
        }
        let (id, new) = intern(&mut t, make_view(b"new key", 0, 0), &[]);
        assert!(new && id % 3 == 0 && id < n);
        assert_eq!(t.len(), n - n.div_ceil(3) + 1);
        t.clear();
        assert!(t.is_empty());
        assert_eq!(intern(&mut t, view(5), &[]), (0, true));
    }

    #[test]
    fn removal_keeps_probe_runs_whole() {
        // Keys crowded into a small table, so that runs wrap around its end; removed in an
        // order that makes backward shifts cross the wrap.
        let mut t = GroupTable::new();
        let keys: Vec<u128> = (0..9)
            .map(|i| make_view(format!("{i}").as_bytes(), 0, 0))
            .collect();
        for &k in &keys {
            intern(&mut t, k, &[]);
        }
        for (step, &gone) in [4, 0, 8, 2].iter().enumerate() {
            t.remove(gone);
            for (i, &k) in keys.iter().enumerate() {
                let removed = [4, 0, 8, 2][..=step].contains(&i);
                assert_eq!(
                    t.find_with(k, hash_view(k, &[]), |_| false).is_some(),
                    !removed,
                    "key {i} after removing {gone}"
                );
            }
        }
    }

    #[test]
    fn probe_words_tell_keys_apart() {
        // Inline keys are their views; long keys with equal prefix and length differ by hash.
        assert_eq!(
            probe_word(make_view(b"abc", 0, 0), 7),
            make_view(b"abc", 0, 0)
        );
        let a = probe_word(make_view(b"0123456789abcdef", 0, 0), 1 << 40);
        let b = probe_word(make_view(b"0123456789abcdeg", 0, 0), 2 << 40);
        assert_ne!(a, b);
        assert_eq!(a & 0xF, LONG);
        assert_ne!(a, EMPTY);
    }
}
