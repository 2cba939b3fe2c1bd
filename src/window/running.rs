//! The inverse path's running table: one partition of a window's result, kept up to date by
//! adding the entering pane and subtracting the expiring one (`f` and its inverse), with a count
//! of the panes each key has a value in, so that a key whose window emptied can be recognised.
//!
//! Keys live in owned, compacted key columns ("chunks"): a pane's new keys are copied into a
//! chunk when they first enter, so the table never pins an input batch's buffers, and the
//! emitted result's string keys are views into the chunks. Values are owned.

use crate::data::{Column, ColumnBuilder, Data, Key, PairColumn, Sources, key_hash_state};
use crate::error::{Error, Result};
use hashbrown::HashTable;

/// What happens to a key once no pane of its window holds a value for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum EmptyKeys {
    /// Spark's behaviour: the key stays, at the value the inverse function left (usually a zero),
    /// and is emitted every slide until a filter rejects it.
    #[default]
    Keep,
    /// The key is forgotten as soon as its window is empty, and not emitted.
    Drop,
}

/// Chunks a table may hold before its live keys are copied into one.
const MAX_CHUNKS: usize = 64;

struct Group<V> {
    hash: u64,
    chunk: u32,
    row: u32,
    /// `None` only between a recompute's reset and its fold, or in a freed slot.
    value: Option<V>,
    /// Panes of the current window with a value for this key.
    panes: u32,
    live: bool,
}

/// One partition of the running window result.
pub(crate) struct RunningTable<K: Data, V> {
    chunks: Vec<K::Column>,
    groups: Vec<Group<V>>,
    free: Vec<u32>,
    index: HashTable<u32>,
    /// Chunk rows whose group was removed (reclaimed by rebuilding the chunks).
    dead_rows: usize,
}

impl<K: Key, V: Data + Clone> RunningTable<K, V> {
    pub(crate) fn new() -> Self {
        RunningTable {
            chunks: Vec::new(),
            groups: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            dead_rows: 0,
        }
    }

    /// Number of keys held.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    fn find(&self, hash: u64, key: K::Ref<'_>) -> Option<u32> {
        let (groups, chunks) = (&self.groups, &self.chunks);
        self.index
            .find(hash, |&g| {
                let g = &groups[g as usize];
                g.hash == hash && K::eq_key(chunks[g.chunk as usize].value(g.row as usize), key)
            })
            .copied()
    }

    /// Folds a pane (one partition: distinct keys) into the window: `f(value, v)` for keys held,
    /// new groups for the others (their keys copied into a new chunk).
    pub(crate) fn add(&mut self, pane: &PairColumn<K, V>, f: &impl Fn(V, V) -> V) {
        let state = key_hash_state();
        let mut new_rows = Vec::new();
        for row in 0..pane.a.len() {
            let key = pane.a.value(row);
            let hash = K::hash_key(key, state);
            let v = V::to_owned_value(pane.b.value(row));
            match self.find(hash, key) {
                Some(g) => {
                    let g = &mut self.groups[g as usize];
                    g.value = Some(match g.value.take() {
                        Some(prev) => f(prev, v),
                        None => v,
                    });
                    g.panes += 1;
                }
                None => new_rows.push((row, hash, v)),
            }
        }
        if new_rows.is_empty() {
            return;
        }
        let mut keys = K::Builder::new(new_rows.len(), &Sources::none());
        for &(row, _, _) in &new_rows {
            keys.push_ref(pane.a.value(row));
        }
        let chunk = self.chunks.len() as u32;
        self.chunks.push(keys.finish());
        for (i, (_, hash, v)) in new_rows.into_iter().enumerate() {
            let group = Group {
                hash,
                chunk,
                row: i as u32,
                value: Some(v),
                panes: 1,
                live: true,
            };
            let id = match self.free.pop() {
                Some(id) => {
                    self.groups[id as usize] = group;
                    id
                }
                None => {
                    self.groups.push(group);
                    (self.groups.len() - 1) as u32
                }
            };
            let groups = &self.groups;
            self.index
                .insert_unique(hash, id, |&g| groups[g as usize].hash);
        }
    }

    /// Takes an expiring pane out of the window: `inv(value, v)` for each of its keys. Keys whose
    /// window is now empty are dropped under [`EmptyKeys::Drop`].
    pub(crate) fn subtract(
        &mut self,
        pane: &PairColumn<K, V>,
        inv: &impl Fn(V, V) -> V,
        empty: EmptyKeys,
    ) -> Result<()> {
        let state = key_hash_state();
        for row in 0..pane.a.len() {
            let key = pane.a.value(row);
            let hash = K::hash_key(key, state);
            let Some(id) = self.find(hash, key) else {
                return Err(Error::Unsupported(format!(
                    "internal: a key of an expiring pane is not in the window table (key hash {hash:#x}); does the key type hash consistently?"
                )));
            };
            let g = &mut self.groups[id as usize];
            let prev = g
                .value
                .take()
                .expect("a held key always has a value outside a recompute");
            g.value = Some(inv(prev, V::to_owned_value(pane.b.value(row))));
            g.panes = g.panes.saturating_sub(1);
            if g.panes == 0 && empty == EmptyKeys::Drop {
                self.remove(id);
            }
        }
        Ok(())
    }

    fn remove(&mut self, id: u32) {
        let hash = self.groups[id as usize].hash;
        if let Ok(entry) = self.index.find_entry(hash, |&g| g == id) {
            entry.remove();
        }
        let g = &mut self.groups[id as usize];
        g.live = false;
        g.value = None;
        self.free.push(id);
        self.dead_rows += 1;
    }

    /// Recomputes the value of every key that has panes in the window from those panes with `f`
    /// alone (no inverse): bounds the drift that floating-point inverses accumulate. Keys with an
    /// empty window keep the value the inverse left them.
    pub(crate) fn recompute(&mut self, panes: &[&PairColumn<K, V>], f: &impl Fn(V, V) -> V) {
        for g in self.groups.iter_mut().filter(|g| g.live && g.panes > 0) {
            g.value = None;
        }
        let state = key_hash_state();
        for pane in panes {
            for row in 0..pane.a.len() {
                let key = pane.a.value(row);
                let hash = K::hash_key(key, state);
                if let Some(id) = self.find(hash, key) {
                    let g = &mut self.groups[id as usize];
                    let v = V::to_owned_value(pane.b.value(row));
                    g.value = Some(match g.value.take() {
                        Some(prev) => f(prev, v),
                        None => v,
                    });
                }
            }
        }
    }

    /// The window's result: every key held (those `filter` accepts, if given). A key whose window
    /// is empty and that the filter rejects is forgotten, as Spark forgets it.
    pub(crate) fn emit(
        &mut self,
        filter: Option<&(dyn Fn(K::Ref<'_>, &V) -> bool + Send + Sync)>,
    ) -> PairColumn<K, V> {
        let sources = Sources::of_columns(self.chunks.iter());
        let mut keys = K::Builder::new(self.len(), &sources);
        let mut values = V::Builder::new(self.len(), &Sources::none());
        let mut forget = Vec::new();
        for (id, g) in self.groups.iter().enumerate() {
            if !g.live {
                continue;
            }
            let key = self.chunks[g.chunk as usize].value(g.row as usize);
            let value = g
                .value
                .as_ref()
                .expect("a held key always has a value outside a recompute");
            if filter.is_none_or(|keep| keep(key, value)) {
                keys.push_ref(key);
                values.push(value.clone());
            } else if g.panes == 0 {
                forget.push(id as u32);
            }
        }
        for id in forget {
            self.remove(id);
        }
        self.reclaim_chunks();
        PairColumn {
            a: keys.finish(),
            b: values.finish(),
        }
    }

    /// Copies the live keys into one new chunk once removed keys outnumber them (a table whose
    /// keys come and go does not grow without bound) or once there are many chunks (every pane
    /// with new keys adds one; results carry the list of chunk buffers).
    fn reclaim_chunks(&mut self) {
        let mostly_dead = self.dead_rows >= 1024 && self.dead_rows >= self.len();
        if !mostly_dead && self.chunks.len() <= MAX_CHUNKS {
            return;
        }
        let mut keys = K::Builder::new(self.len(), &Sources::none());
        for (row, g) in self.groups.iter_mut().filter(|g| g.live).enumerate() {
            keys.push_ref(self.chunks[g.chunk as usize].value(g.row as usize));
            g.chunk = 0;
            g.row = row as u32;
        }
        self.chunks = vec![keys.finish()];
        self.dead_rows = 0;
    }

    /// Forgets everything (before a rebuild from the panes).
    pub(crate) fn clear(&mut self) {
        *self = RunningTable::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pane(rows: &[(&str, i64)]) -> PairColumn<String, i64> {
        let mut b = <(String, i64) as Data>::Builder::new(rows.len(), &Sources::none());
        for &(k, v) in rows {
            b.push((k.to_string(), v));
        }
        b.finish()
    }

    fn sorted(col: &PairColumn<String, i64>) -> Vec<(String, i64)> {
        let mut v: Vec<_> = (0..col.a.len())
            .map(|i| (col.a.value(i).to_string(), col.b[i]))
            .collect();
        v.sort();
        v
    }

    fn add(a: i64, b: i64) -> i64 {
        a + b
    }
    fn sub(a: i64, b: i64) -> i64 {
        a - b
    }

    #[test]
    fn adds_subtracts_and_keeps_zero_keys_as_spark_does() {
        let mut t = RunningTable::<String, i64>::new();
        t.add(&pane(&[("a", 1), ("b", 2)]), &add);
        t.add(&pane(&[("a", 3)]), &add);
        t.subtract(&pane(&[("a", 1), ("b", 2)]), &sub, EmptyKeys::Keep)
            .unwrap();
        assert_eq!(
            sorted(&t.emit(None)),
            [("a".to_string(), 3), ("b".to_string(), 0)]
        );
    }

    #[test]
    fn drop_forgets_keys_whose_window_is_empty() {
        let mut t = RunningTable::<String, i64>::new();
        t.add(&pane(&[("a", 1), ("b", 2)]), &add);
        t.add(&pane(&[("a", 3)]), &add);
        t.subtract(&pane(&[("a", 1), ("b", 2)]), &sub, EmptyKeys::Drop)
            .unwrap();
        assert_eq!(sorted(&t.emit(None)), [("a".to_string(), 3)]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_filter_forgets_only_empty_keys_it_rejects() {
        let mut t = RunningTable::<String, i64>::new();
        t.add(&pane(&[("a", 1), ("b", 2)]), &add);
        t.add(&pane(&[("a", -1)]), &add);
        t.subtract(&pane(&[("a", 1), ("b", 2)]), &sub, EmptyKeys::Keep)
            .unwrap();
        let nonzero = |_: &str, v: &i64| *v != 0;
        // "a" is -1 (emitted), "b" is 0 with an empty window (forgotten).
        assert_eq!(sorted(&t.emit(Some(&nonzero))), [("a".to_string(), -1)]);
        assert_eq!(t.len(), 1);
        // A key that the filter rejects while its window is not empty stays, exactly.
        t.add(&pane(&[("a", 1)]), &add);
        assert_eq!(sorted(&t.emit(Some(&nonzero))), []);
        t.add(&pane(&[("a", 5)]), &add);
        assert_eq!(sorted(&t.emit(Some(&nonzero))), [("a".to_string(), 5)]);
    }

    #[test]
    fn long_keys_are_copied_out_of_the_pane_and_chunks_are_reclaimed() {
        let mut t = RunningTable::<String, i64>::new();
        let long: Vec<String> = (0..3000)
            .map(|i| format!("a-rather-long-key-{i}"))
            .collect();
        for round in 0..3 {
            let rows: Vec<(&str, i64)> = long.iter().map(|k| (k.as_str(), 1)).collect();
            let p = pane(&rows);
            t.add(&p, &add);
            t.subtract(&p, &sub, EmptyKeys::Drop).unwrap();
            assert_eq!(t.len(), 0, "round {round}");
            drop(p);
            assert_eq!(t.emit(None).a.len(), 0);
        }
        assert!(t.chunks.iter().map(Column::len).sum::<usize>() <= 3000);
        t.add(&pane(&[("still-here-after-reclaim", 7)]), &add);
        assert_eq!(
            sorted(&t.emit(None)),
            [("still-here-after-reclaim".to_string(), 7)]
        );
    }

    #[test]
    fn recompute_replaces_drifted_values_with_exact_folds() {
        let mut t = RunningTable::<String, f64>::new();
        let p = |v: f64| {
            let mut b = <(String, f64) as Data>::Builder::new(1, &Sources::none());
            b.push(("x".to_string(), v));
            b.finish()
        };
        let (big, small) = (p(1e16), p(1.0));
        t.add(&big, &|a, b| a + b);
        t.add(&small, &|a, b| a + b);
        t.subtract(&big, &|a, b| a - b, EmptyKeys::Keep).unwrap();
        // 1e16 + 1 - 1e16 loses the 1 in f64.
        assert_eq!(t.emit(None).b[0], 0.0);
        t.recompute(&[&small], &|a, b| a + b);
        assert_eq!(t.emit(None).b[0], 1.0);
    }
}
