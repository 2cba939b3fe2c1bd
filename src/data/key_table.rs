//! A table of distinct keys that outlives batches (window tables, state): keys are copied once
//! into owned key columns ("chunks") when they first arrive, so the table never pins an input
//! batch's buffers, and found again through a hashbrown `HashTable` of ids with the key hash
//! stored beside them. Callers keep their per-key data in vectors indexed by id; ids of removed
//! keys are reused.

use super::{Column, ColumnBuilder, Data, Key, Sources};
use hashbrown::HashTable;

/// Chunks a table may hold before its live keys are copied into one (every arrival of new keys
/// adds one; results built from the table carry the list of chunk buffers).
const MAX_CHUNKS: usize = 64;

#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    chunk: u32,
    row: u32,
    live: bool,
}

/// Distinct keys of type `K`, each with a stable id while it is held.
pub(crate) struct KeyTable<K: Data> {
    chunks: Vec<K::Column>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    index: HashTable<u32>,
    /// Chunk rows whose key was removed (reclaimed by rebuilding the chunks).
    dead_rows: usize,
}

impl<K: Key> KeyTable<K> {
    pub(crate) fn new() -> Self {
        KeyTable {
            chunks: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            dead_rows: 0,
        }
    }

    /// Number of keys held.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// One past the largest id in use: the length per-key vectors need.
    pub(crate) fn id_bound(&self) -> usize {
        self.slots.len()
    }

    /// The id of `key` (whose hash is `hash`), if held.
    pub(crate) fn find(&self, hash: u64, key: K::Ref<'_>) -> Option<u32> {
        let (slots, chunks) = (&self.slots, &self.chunks);
        self.index
            .find(hash, |&id| {
                let s = &slots[id as usize];
                s.hash == hash && K::eq_key(chunks[s.chunk as usize].value(s.row as usize), key)
            })
            .copied()
    }

    /// Adds keys not held yet (distinct, with their hashes), copying them into a new chunk;
    /// returns their ids in order.
    pub(crate) fn insert_new<'k>(
        &mut self,
        new: impl ExactSizeIterator<Item = (K::Ref<'k>, u64)>,
    ) -> Vec<u32> {
        if new.len() == 0 {
            return Vec::new();
        }
        let mut keys = K::Builder::new(new.len(), &Sources::none());
        let mut hashes = Vec::with_capacity(new.len());
        for (key, hash) in new {
            keys.push_ref(key);
            hashes.push(hash);
        }
        let chunk = self.chunks.len() as u32;
        self.chunks.push(keys.finish());
        let mut ids = Vec::with_capacity(hashes.len());
        for (i, hash) in hashes.into_iter().enumerate() {
            let slot = Slot {
                hash,
                chunk,
                row: i as u32,
                live: true,
            };
            let id = match self.free.pop() {
                Some(id) => {
                    self.slots[id as usize] = slot;
                    id
                }
                None => {
                    self.slots.push(slot);
                    (self.slots.len() - 1) as u32
                }
            };
            let slots = &self.slots;
            self.index
                .insert_unique(hash, id, |&g| slots[g as usize].hash);
            ids.push(id);
        }
        ids
    }

    /// Forgets the key with this id (its id may be given to a later key).
    pub(crate) fn remove(&mut self, id: u32) {
        let hash = self.slots[id as usize].hash;
        if let Ok(entry) = self.index.find_entry(hash, |&g| g == id) {
            entry.remove();
        }
        self.slots[id as usize].live = false;
        self.free.push(id);
        self.dead_rows += 1;
    }

    /// The key with this id.
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
        self.chunks = vec![keys.finish()];
        self.dead_rows = 0;
    }

    /// Number of key chunks (for tests of reclaiming).
    #[cfg(test)]
    pub(crate) fn chunk_rows(&self) -> usize {
        self.chunks.iter().map(Column::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::key_hash_state;
    use arrow_array::StringViewArray;

    fn hash(key: &str) -> u64 {
        String::hash_key(key, key_hash_state())
    }

    fn insert(t: &mut KeyTable<String>, col: &StringViewArray) -> Vec<u32> {
        t.insert_new(col.iter().map(|k| {
            let k = k.unwrap();
            (k, hash(k))
        }))
    }

    #[test]
    fn keys_are_found_removed_and_their_ids_reused() {
        let mut t = KeyTable::<String>::new();
        let col = StringViewArray::from(vec!["short", "a key longer than twelve bytes"]);
        let ids = insert(&mut t, &col);
        assert_eq!(t.len(), 2);
        assert_eq!(t.find(hash(col.value(1)), col.value(1)), Some(ids[1]));
        assert_eq!(t.key(ids[1]), "a key longer than twelve bytes");
        drop(col); // the table owns copies
        t.remove(ids[0]);
        assert_eq!(t.ids().collect::<Vec<_>>(), vec![ids[1]]);
        let again = StringViewArray::from(vec!["new"]);
        let new = insert(&mut t, &again);
        assert_eq!(new, vec![ids[0]], "a freed id is reused");
        assert_eq!(t.key(new[0]), "new");
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
            assert_eq!(t.find(hash(&words[i]), &words[i]), Some(id));
        }
    }
}
