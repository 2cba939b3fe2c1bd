//! A table of distinct keys that outlives batches (window tables, state): keys are copied once
//! into owned key columns ("chunks") when they first arrive, so the table never pins an input
//! batch's buffers, and each key keeps a stable id while it is held. Callers keep their per-key
//! data in vectors indexed by id; ids of removed keys are reused.
//!
//! Keys are found through an index of their hashes. String keys (and byte strings) use the
//! kernels' [`GroupTable`]: one 16-byte probe word per slot, so finding a key of at most 12
//! bytes reads one cache line and compares in registers, without reading the chunks; the key is
//! hashed from its view (the engine's hash, computed once). For strings the table also keeps
//! each key's view into the chunks' buffers, so a result's key column is gathered from those
//! views ([`KeyTable::string_keys`]) instead of being built key by key. Other keys use a
//! hashbrown table of ids, compared through the chunks.

use super::{Column, ColumnBuilder, Data, Key, Sources, key_hash_state};
use crate::kernels::KernelError;
use crate::kernels::hash::{hash_view, inline_hash};
use crate::kernels::table::{GroupTable, MAX_IDS};
use crate::kernels::view::{MAX_INLINE, view_len};
use arrow_array::StringViewArray;
use arrow_buffer::{Buffer, ScalarBuffer};
use hashbrown::HashTable;
use std::sync::Arc;

/// How many keys ahead [`KeyTable::find_column`] prefetches.
const PREFETCH: usize = 16;

/// Chunks a table may hold before its live keys are copied into one (every arrival of new keys
/// adds one; results built from the table carry the list of chunk buffers).
const MAX_CHUNKS: usize = 64;

/// Where a key lives.
#[derive(Clone, Copy)]
struct Slot {
    chunk: u32,
    row: u32,
    live: bool,
}

/// How keys are found; chosen by the first key inserted (every key of a type answers
/// [`Key::bytes_view`] alike).
enum Index {
    /// Keys with a byte view (strings): the ids are the table's. For string chunks, the views it
    /// keeps point into `buffers`, every chunk's data buffers in one list.
    Views {
        table: GroupTable,
        buffers: Vec<Buffer>,
    },
    /// Other keys: ids by hash, compared through the chunks, and freed ids for reuse.
    Hashed {
        table: HashTable<u32>,
        hashes: Vec<u64>,
        free: Vec<u32>,
    },
}

/// Distinct keys of type `K`, each with a stable id while it is held.
pub(crate) struct KeyTable<K: Data> {
    chunks: Vec<K::Column>,
    slots: Vec<Slot>,
    /// `None` until the first key arrives.
    index: Option<Index>,
    held: usize,
    /// Chunk rows whose key was removed (reclaimed by rebuilding the chunks).
    dead_rows: usize,
}

impl<K: Key> KeyTable<K> {
    pub(crate) fn new() -> Self {
        KeyTable {
            chunks: Vec::new(),
            slots: Vec::new(),
            index: None,
            held: 0,
            dead_rows: 0,
        }
    }

    /// Number of keys held.
    pub(crate) fn len(&self) -> usize {
        self.held
    }

    /// One past the largest id in use: the length per-key vectors need.
    pub(crate) fn id_bound(&self) -> usize {
        self.slots.len()
    }

    /// The hash of `key` ([`Key::hash_key`]) and its id, if held. A string key is hashed from
    /// the view the table probes with.
    #[inline]
    pub(crate) fn find(&self, key: K::Ref<'_>) -> (u64, Option<u32>) {
        let same = |id: usize| K::eq_key(self.key(id as u32), key);
        match K::bytes_view(key) {
            Some(view) => {
                let hash = if view_len(view) <= MAX_INLINE {
                    inline_hash(view)
                } else {
                    K::hash_key(key, key_hash_state())
                };
                let id = match &self.index {
                    Some(Index::Views { table, .. }) => table.find_with(view, hash, same),
                    _ => None,
                };
                (hash, id.map(|id| id as u32))
            }
            None => {
                let hash = K::hash_key(key, key_hash_state());
                let id = match &self.index {
                    Some(Index::Hashed { table, hashes, .. }) => table
                        .find(hash, |&id| hashes[id as usize] == hash && same(id as usize))
                        .copied(),
                    _ => None,
                };
                (hash, id)
            }
        }
    }

    /// [`find`](Self::find) of every key of `keys`, in order. String keys are hashed from the
    /// column's views first, then looked up with the slot of the key a few rows ahead
    /// prefetched, so that the lookups of a large table overlap their cache misses.
    pub(crate) fn find_column(&self, keys: &K::Column) -> Vec<(u64, Option<u32>)> {
        let (Some(Index::Views { table, .. }), Some(array)) = (&self.index, K::string_views(keys))
        else {
            return (0..keys.len())
                .map(|row| self.find(keys.value(row)))
                .collect();
        };
        let (views, buffers) = (array.views(), array.data_buffers());
        let hashes: Vec<u64> = views.iter().map(|&v| hash_view(v, buffers)).collect();
        hashes
            .iter()
            .enumerate()
            .map(|(row, &hash)| {
                if let Some(&ahead) = hashes.get(row + PREFETCH) {
                    table.prefetch(ahead);
                }
                let same = |id: usize| K::eq_key(self.key(id as u32), keys.value(row));
                let id = table.find_with(views[row], hash, same);
                (hash, id.map(|id| id as u32))
            })
            .collect()
    }

    /// Adds keys not held yet (distinct, with their hashes), copying them into a new chunk;
    /// returns their ids in order.
    ///
    /// # Errors
    ///
    /// [`KernelError::TooManyKeys`] when the table would hold more string keys than its ids can
    /// name (nothing is added then).
    pub(crate) fn insert_new<'k>(
        &mut self,
        new: impl ExactSizeIterator<Item = (K::Ref<'k>, u64)>,
    ) -> Result<Vec<u32>, KernelError> {
        if new.len() == 0 {
            return Ok(Vec::new());
        }
        let mut keys = K::Builder::new(new.len(), &Sources::none());
        let mut hashes = Vec::with_capacity(new.len());
        for (key, hash) in new {
            keys.push_ref(key);
            hashes.push(hash);
        }
        let chunk_index = self.chunks.len() as u32;
        let chunk = keys.finish();
        let index = self.index.get_or_insert_with(|| {
            if K::bytes_view(chunk.value(0)).is_some() {
                Index::Views {
                    table: GroupTable::new(),
                    buffers: Vec::new(),
                }
            } else {
                Index::Hashed {
                    table: HashTable::new(),
                    hashes: Vec::new(),
                    free: Vec::new(),
                }
            }
        });
        // The chunk's views, re-pointed at the table's buffer list (string chunks).
        let mut views = Vec::new();
        if let Index::Views { table, buffers } = index {
            if table.id_bound() + hashes.len() > MAX_IDS + table.free_ids() {
                return Err(KernelError::TooManyKeys { limit: MAX_IDS });
            }
            if let Some(array) = K::string_views(&chunk) {
                views = rebase(array, buffers);
            }
        }
        let mut ids = Vec::with_capacity(hashes.len());
        for (row, hash) in hashes.into_iter().enumerate() {
            let id = match index {
                Index::Views { table, .. } => {
                    let view = match views.get(row) {
                        Some(&view) => view,
                        None => K::bytes_view(chunk.value(row)).unwrap_or_default(),
                    };
                    table.insert_new(view, hash)?
                }
                Index::Hashed {
                    table,
                    hashes,
                    free,
                } => {
                    let id = match free.pop() {
                        Some(id) => id as usize,
                        None => hashes.len(),
                    };
                    if id == hashes.len() {
                        hashes.push(hash);
                    } else {
                        hashes[id] = hash;
                    }
                    table.insert_unique(hash, id as u32, |&g| hashes[g as usize]);
                    id
                }
            };
            let slot = Slot {
                chunk: chunk_index,
                row: row as u32,
                live: true,
            };
            if id == self.slots.len() {
                self.slots.push(slot);
            } else {
                self.slots[id] = slot;
            }
            ids.push(id as u32);
        }
        self.held += ids.len();
        self.chunks.push(chunk);
        Ok(ids)
    }

    /// Forgets the key with this id (its id may be given to a later key).
    pub(crate) fn remove(&mut self, id: u32) {
        if !self.slots.get(id as usize).is_some_and(|s| s.live) {
            return;
        }
        match &mut self.index {
            Some(Index::Views { table, .. }) => table.remove(id as usize),
            Some(Index::Hashed {
                table,
                hashes,
                free,
            }) => {
                if let Ok(entry) = table.find_entry(hashes[id as usize], |&g| g == id) {
                    entry.remove();
                }
                free.push(id);
            }
            None => return,
        }
        self.slots[id as usize].live = false;
        self.held -= 1;
        self.dead_rows += 1;
    }

    /// The key with this id.
    #[inline]
    pub(crate) fn key(&self, id: u32) -> K::Ref<'_> {
        let s = &self.slots[id as usize];
        self.chunks[s.chunk as usize].value(s.row as usize)
    }

    /// The ids of the keys held, in id order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .map(|(id, _)| id as u32)
    }

    /// The buffers the keys live in, for builders of results whose keys are views into them.
    pub(crate) fn sources(&self) -> Sources {
        Sources::of_columns(self.chunks.iter())
    }

    /// The keys with these ids as a column whose string views point into the table's chunks:
    /// for strings, gathered from the views the index keeps; for other keys, built key by key.
    pub(crate) fn column(&self, ids: &[u32]) -> K::Column {
        if let Some(keys) = self.string_keys(ids) {
            return keys;
        }
        let mut keys = K::Builder::new(ids.len(), &self.sources());
        for &id in ids {
            keys.push_ref(self.key(id));
        }
        keys.finish()
    }

    /// [`column`](Self::column) of string keys, `None` for other keys.
    fn string_keys(&self, ids: &[u32]) -> Option<K::Column> {
        let Some(Index::Views { table, buffers }) = &self.index else {
            return None;
        };
        K::string_views(self.chunks.first()?)?;
        let all = table.views();
        let views: Vec<u128> = ids.iter().map(|&id| all[id as usize]).collect();
        let long = views.iter().any(|&v| view_len(v) > MAX_INLINE);
        let buffers: Arc<[Buffer]> = if long {
            buffers.as_slice().into()
        } else {
            Arc::from([])
        };
        // SAFETY: `new_unchecked` needs what `try_new` checks. Every view is the view of a key
        // of a valid string chunk of this table (`insert_new` and `reclaim` store them), so
        // valid UTF-8, zero-padded when inline; `rebase` re-pointed long views at the index of
        // their chunk's buffer in `buffers`, which holds every live chunk's buffers in order, at
        // the same offset; when no view is long no buffer is needed. There are no nulls.
        // Checked against `try_new` by `tests::gathered_keys_pass_arrow_validation`.
        let array =
            unsafe { StringViewArray::new_unchecked(ScalarBuffer::from(views), buffers, None) };
        K::column_from_string_views(array)
    }

    /// Copies the live keys into one new chunk once removed keys outnumber them (a table whose
    /// keys come and go does not grow without bound) or once there are many chunks. Ids do not
    /// change. Call it between uses, when no key view is borrowed.
    pub(crate) fn reclaim(&mut self) {
        let mostly_dead = self.dead_rows >= 1024 && self.dead_rows >= self.len();
        if !mostly_dead && self.chunks.len() <= MAX_CHUNKS {
            return;
        }
        let mut keys = K::Builder::new(self.len(), &Sources::none());
        let chunks = &self.chunks;
        for (row, s) in self.slots.iter_mut().filter(|s| s.live).enumerate() {
            keys.push_ref(chunks[s.chunk as usize].value(s.row as usize));
            s.chunk = 0;
            s.row = row as u32;
        }
        let chunk = keys.finish();
        if let Some(Index::Views { table, buffers }) = &mut self.index
            && let Some(array) = K::string_views(&chunk)
        {
            buffers.clear();
            let views = rebase(array, buffers);
            for (id, s) in self.slots.iter().enumerate().filter(|(_, s)| s.live) {
                table.set_view(id, views[s.row as usize]);
            }
        }
        self.chunks = vec![chunk];
        self.dead_rows = 0;
    }

    /// Number of rows in the key chunks (for tests of reclaiming).
    #[cfg(test)]
    pub(crate) fn chunk_rows(&self) -> usize {
        self.chunks.iter().map(Column::len).sum()
    }
}

/// The views of `array`, long ones re-pointed at its buffers appended to `buffers`.
fn rebase(array: &StringViewArray, buffers: &mut Vec<Buffer>) -> Vec<u128> {
    let base = buffers.len() as u128;
    buffers.extend(array.data_buffers().iter().cloned());
    array
        .views()
        .iter()
        .map(|&v| {
            if view_len(v) > MAX_INLINE {
                v + (base << 64)
            } else {
                v
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::key_hash_state;
    use arrow_array::StringViewArray;

    fn hash<K: Key>(key: K::Ref<'_>) -> u64 {
        K::hash_key(key, key_hash_state())
    }

    fn insert(t: &mut KeyTable<String>, col: &StringViewArray) -> Vec<u32> {
        t.insert_new(col.iter().map(|k| {
            let k = k.unwrap();
            (k, hash::<String>(k))
        }))
        .unwrap()
    }

    #[test]
    fn keys_are_found_removed_and_their_ids_reused() {
        let mut t = KeyTable::<String>::new();
        assert_eq!(t.find("short").1, None);
        let col = StringViewArray::from(vec!["short", "a key longer than twelve bytes"]);
        let ids = insert(&mut t, &col);
        assert_eq!(t.len(), 2);
        assert_eq!(t.find(col.value(1)).1, Some(ids[1]));
        assert_eq!(t.find("a key longer than twelve bytez").1, None);
        assert_eq!(t.key(ids[1]), "a key longer than twelve bytes");
        drop(col); // the table owns copies
        t.remove(ids[0]);
        t.remove(ids[0]); // a second removal changes nothing
        assert_eq!(t.ids().collect::<Vec<_>>(), vec![ids[1]]);
        let again = StringViewArray::from(vec!["new"]);
        let new = insert(&mut t, &again);
        assert_eq!(new, vec![ids[0]], "a freed id is reused");
        assert_eq!(t.key(new[0]), "new");
        assert_eq!(t.find("new").1, Some(new[0]));
    }

    #[test]
    fn other_keys_use_the_hashed_index() {
        let mut t = KeyTable::<(i64, bool)>::new();
        let keys = [(1i64, true), (1, false), (-7, true)];
        let ids = t
            .insert_new(keys.iter().map(|&k| (k, hash::<(i64, bool)>(k))))
            .unwrap();
        for (&k, &id) in keys.iter().zip(&ids) {
            assert_eq!(t.find(k).1, Some(id));
        }
        t.remove(ids[1]);
        assert_eq!(t.find(keys[1]).1, None);
        assert_eq!(t.find(keys[2]).1, Some(ids[2]));
        let again = t
            .insert_new([((2, true), hash::<(i64, bool)>((2, true)))].into_iter())
            .unwrap();
        assert_eq!(again, vec![ids[1]]);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn reclaiming_keeps_ids_and_drops_dead_rows() {
        let mut t = KeyTable::<String>::new();
        let words: Vec<String> = (0..3000)
            .map(|i| format!("a-rather-long-key-{i}"))
            .collect();
        let col = StringViewArray::from(words.iter().map(String::as_str).collect::<Vec<_>>());
        let ids = insert(&mut t, &col);
        for &id in &ids[..2000] {
            t.remove(id);
        }
        t.reclaim();
        assert_eq!(t.chunk_rows(), 1000);
        for (i, &id) in ids.iter().enumerate().skip(2000) {
            assert_eq!(t.key(id), words[i]);
            assert_eq!(t.find(&words[i]).1, Some(id));
        }
        for word in &words[..2000] {
            assert_eq!(t.find(word).1, None);
        }
    }

    #[test]
    fn gathered_keys_pass_arrow_validation() {
        // The SAFETY argument of `string_keys`: long keys of several chunks (one per insert,
        // some with several buffers) and of a reclaimed chunk keep naming their bytes.
        let mut t = KeyTable::<String>::new();
        let mut all = Vec::new();
        for round in 0..5 {
            let words: Vec<String> = (0..300)
                .map(|i| match i % 3 {
                    0 => format!("w{round}-{i}"),
                    1 => format!("a long key of round {round}, number {i}, caf\u{e9}"),
                    _ => "x".repeat(i % 13) + &format!("{round}{i}"),
                })
                .collect();
            let col = StringViewArray::from(words.iter().map(String::as_str).collect::<Vec<_>>());
            let ids = insert(&mut t, &col);
            all.extend(ids.into_iter().zip(words));
        }
        let check = |t: &KeyTable<String>, all: &[(u32, String)]| {
            let ids: Vec<u32> = all.iter().map(|(id, _)| *id).collect();
            let keys = t.column(&ids);
            let (views, buffers, nulls) = keys.clone().into_parts();
            assert_eq!(
                StringViewArray::try_new(views, buffers, nulls).unwrap(),
                keys
            );
            let got: Vec<&str> = keys.iter().flatten().collect();
            let want: Vec<&str> = all.iter().map(|(_, w)| w.as_str()).collect();
            assert_eq!(got, want);
        };
        check(&t, &all);
        // Remove most keys (a reclaim copies the rest into one chunk), then check again.
        for (id, _) in all.iter().filter(|(id, _)| id % 4 != 0) {
            t.remove(*id);
        }
        all.retain(|(id, _)| id % 4 == 0);
        t.reclaim();
        assert_eq!(t.chunk_rows(), all.len());
        check(&t, &all);
        assert_eq!(t.column(&[]).len(), 0);
    }
}
