//! The inverse path's running table: one partition of a window's result, kept up to date by
//! adding the entering pane and subtracting the expiring one (`f` and its inverse), with a count
//! of the panes each key has a value in, so that a key whose window emptied can be recognised.
//!
//! Keys live in a [`KeyTable`]: a pane's new keys are copied when they first enter, so the table
//! never pins an input batch's buffers, and the emitted result's string keys are views into the
//! table's key chunks. Values are owned.
//!
//! A key the window forgets (its window emptied) loses its entry at once but stays in the key
//! table for a while, *dormant*: a key that comes back (keys come and go all the time in a
//! window over a large vocabulary) then finds its id again instead of being copied in and
//! indexed anew. Dormant keys are dropped from the key table once they outnumber the live ones.

use crate::data::key_table::KeyTable;
use crate::data::{Column, ColumnBuilder, Data, Key, PairColumn, Sources};
use crate::error::{Error, Result};

/// What happens to a key once no pane of its window holds a value for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum EmptyKeys {
    /// Spark's behaviour: the key stays, at the value the inverse function left (usually a zero),
    /// and is emitted every slide.
    #[default]
    Keep,
    /// The key is forgotten as soon as its window is empty, and not emitted.
    Drop,
}

/// What a window holds for one key.
struct Entry<V> {
    /// `None` only between a recompute's reset and its fold.
    value: Option<V>,
    /// Panes of the current window with a value for this key.
    panes: u32,
}

/// One partition of the running window result.
pub(crate) struct RunningTable<K: Data, V> {
    keys: KeyTable<K>,
    /// Indexed by key id; `None` for a dormant key.
    entries: Vec<Option<Entry<V>>>,
    /// Keys of the table that are not dormant.
    live: usize,
}

/// Dormant keys a table keeps at least before dropping them (below this, dropping them saves
/// nothing worth a pass).
const DORMANT_KEPT: usize = 1024;

impl<K: Key, V: Data + Clone> RunningTable<K, V> {
    pub(crate) fn new() -> Self {
        RunningTable {
            keys: KeyTable::new(),
            entries: Vec::new(),
            live: 0,
        }
    }

    /// Number of keys held (dormant ones are not).
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    fn entry(&mut self, id: u32) -> &mut Entry<V> {
        self.entries[id as usize]
            .as_mut()
            .expect("a held key always has an entry")
    }

    /// Folds a pane (one partition: distinct keys) into the window: `f(value, v)` for keys held,
    /// new entries for the others (their keys copied into the table). Returns the id of each of
    /// the pane's keys, row by row, for [`subtract`](Self::subtract) when the pane expires.
    pub(crate) fn add(
        &mut self,
        pane: &PairColumn<K, V>,
        f: &impl Fn(V, V) -> V,
    ) -> Result<Vec<u32>> {
        let mut ids = vec![0u32; pane.a.len()];
        let mut new_rows = Vec::new();
        let found = self.keys.find_column(&pane.a);
        for (row, (slot, found)) in ids.iter_mut().zip(found).enumerate() {
            match found {
                (_, Some(id)) => {
                    *slot = id;
                    let v = V::to_owned_value(pane.b.value(row));
                    match &mut self.entries[id as usize] {
                        Some(e) => {
                            e.value = Some(match e.value.take() {
                                Some(prev) => f(prev, v),
                                None => v,
                            });
                            e.panes += 1;
                        }
                        dormant @ None => {
                            *dormant = Some(Entry {
                                value: Some(v),
                                panes: 1,
                            });
                            self.live += 1;
                        }
                    }
                }
                (hash, None) => new_rows.push((row, hash)),
            }
        }
        let new_ids = self.keys.insert_new(
            new_rows
                .iter()
                .map(|&(row, hash)| (pane.a.value(row), hash)),
        )?;
        self.entries.resize_with(self.keys.id_bound(), || None);
        self.live += new_ids.len();
        for (id, (row, _)) in new_ids.into_iter().zip(new_rows) {
            ids[row] = id;
            self.entries[id as usize] = Some(Entry {
                value: Some(V::to_owned_value(pane.b.value(row))),
                panes: 1,
            });
        }
        Ok(ids)
    }

    /// Takes an expiring pane out of the window: `inv(value, v)` for each of its keys, found by
    /// the ids [`add`](Self::add) returned for it (no hashing, no probing: a key is held at the
    /// same id as long as a pane of the window holds it). Keys whose window is now empty are
    /// dropped under [`EmptyKeys::Drop`].
    pub(crate) fn subtract(
        &mut self,
        pane: &PairColumn<K, V>,
        ids: &[u32],
        inv: &impl Fn(V, V) -> V,
        empty: EmptyKeys,
    ) -> Result<()> {
        if ids.len() != pane.a.len() {
            return Err(Error::Internal(format!(
                "an expiring pane of {} keys comes with {} key ids",
                pane.a.len(),
                ids.len()
            )));
        }
        for (row, &id) in ids.iter().enumerate() {
            debug_assert!(K::eq_key(self.keys.key(id), pane.a.value(row)));
            let v = V::to_owned_value(pane.b.value(row));
            let e = self.entry(id);
            let prev = e
                .value
                .take()
                .expect("a held key always has a value outside a recompute");
            e.value = Some(inv(prev, v));
            e.panes = e.panes.saturating_sub(1);
            if e.panes == 0 && empty == EmptyKeys::Drop {
                self.forget(id);
            }
        }
        Ok(())
    }

    /// Forgets a key: it becomes dormant.
    fn forget(&mut self, id: u32) {
        self.entries[id as usize] = None;
        self.live -= 1;
    }

    /// Drops the dormant keys from the key table once they outnumber the live ones.
    fn drop_dormant(&mut self) {
        let dormant = self.keys.len() - self.live;
        if dormant < DORMANT_KEPT || dormant < self.live {
            return;
        }
        let gone: Vec<u32> = self
            .keys
            .ids()
            .filter(|&id| self.entries[id as usize].is_none())
            .collect();
        for id in gone {
            self.keys.remove(id);
        }
        self.keys.reclaim();
    }

    /// Recomputes the value of every key that has panes in the window from those panes with `f`
    /// alone (no inverse): bounds the drift that floating-point inverses accumulate. Keys with an
    /// empty window keep the value the inverse left them.
    pub(crate) fn recompute(&mut self, panes: &[&PairColumn<K, V>], f: &impl Fn(V, V) -> V) {
        for e in self.entries.iter_mut().flatten().filter(|e| e.panes > 0) {
            e.value = None;
        }
        for pane in panes {
            for row in 0..pane.a.len() {
                if let (_, Some(id)) = self.keys.find(pane.a.value(row))
                    && let Some(e) = &mut self.entries[id as usize]
                {
                    let v = V::to_owned_value(pane.b.value(row));
                    e.value = Some(match e.value.take() {
                        Some(prev) => f(prev, v),
                        None => v,
                    });
                }
            }
        }
    }

    /// The window's result: every key held.
    pub(crate) fn emit(&mut self) -> PairColumn<K, V> {
        let mut emitted = Vec::with_capacity(self.len());
        let mut values = V::Builder::new(self.len(), &Sources::none());
        for id in self.keys.ids() {
            let Some(e) = &self.entries[id as usize] else {
                continue; // dormant
            };
            let value = e
                .value
                .as_ref()
                .expect("a held key always has a value outside a recompute");
            emitted.push(id);
            values.push(value.clone());
        }
        let keys = self.keys.column(&emitted);
        self.drop_dormant();
        self.keys.reclaim();
        PairColumn {
            a: keys,
            b: values.finish(),
        }
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
        let first = pane(&[("a", 1), ("b", 2)]);
        let ids = t.add(&first, &add).unwrap();
        t.add(&pane(&[("a", 3)]), &add).unwrap();
        t.subtract(&first, &ids, &sub, EmptyKeys::Keep).unwrap();
        assert_eq!(
            sorted(&t.emit()),
            [("a".to_string(), 3), ("b".to_string(), 0)]
        );
    }

    #[test]
    fn drop_forgets_keys_whose_window_is_empty() {
        let mut t = RunningTable::<String, i64>::new();
        let first = pane(&[("a", 1), ("b", 2)]);
        let ids = t.add(&first, &add).unwrap();
        t.add(&pane(&[("a", 3)]), &add).unwrap();
        t.subtract(&first, &ids, &sub, EmptyKeys::Drop).unwrap();
        assert_eq!(sorted(&t.emit()), [("a".to_string(), 3)]);
        assert_eq!(t.len(), 1);
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
            let ids = t.add(&p, &add).unwrap();
            t.subtract(&p, &ids, &sub, EmptyKeys::Drop).unwrap();
            assert_eq!(t.len(), 0, "round {round}");
            drop(p);
            assert_eq!(t.emit().a.len(), 0);
        }
        assert!(t.keys.chunk_rows() <= 3000);
        t.add(&pane(&[("still-here-after-reclaim", 7)]), &add)
            .unwrap();
        assert_eq!(
            sorted(&t.emit()),
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
        let ids = t.add(&big, &|a, b| a + b).unwrap();
        t.add(&small, &|a, b| a + b).unwrap();
        t.subtract(&big, &ids, &|a, b| a - b, EmptyKeys::Keep)
            .unwrap();
        // 1e16 + 1 - 1e16 loses the 1 in f64.
        assert_eq!(t.emit().b[0], 0.0);
        t.recompute(&[&small], &|a, b| a + b);
        assert_eq!(t.emit().b[0], 1.0);
    }
}
