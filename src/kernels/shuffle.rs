//! The keyed shuffle: every row's key is hashed once; the hash picks the output partition and is
//! carried into the aggregation tables, which compare keys through their views (string keys are
//! never copied; output keys are views into the input buffers).

use crate::data::{Column, ColumnBuilder, Data, Key, Sources, key_hash_state};
use crate::kernels::hash::partition_of;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rayon::prelude::*;

/// One side of a keyed operation: per input partition, its key and value columns.
pub(crate) struct KeyedInput<'c, K: Data, V: Data> {
    pub(crate) parts: Vec<(&'c K::Column, &'c V::Column)>,
}

impl<'c, K: Key, V: Data> KeyedInput<'c, K, V> {
    fn key(&self, r: RowRef) -> K::Ref<'c> {
        self.parts[r.part as usize].0.value(r.row as usize)
    }
    fn value(&self, r: RowRef) -> V::Ref<'c> {
        self.parts[r.part as usize].1.value(r.row as usize)
    }
    fn sources(&self) -> Sources {
        let mut buffers = Vec::new();
        for (k, v) in &self.parts {
            k.data_buffers(&mut buffers);
            v.data_buffers(&mut buffers);
        }
        Sources::new(buffers)
    }
}

/// A row of an input: its partition and index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowRef {
    pub(crate) part: u32,
    pub(crate) row: u32,
}

/// Spark's `combineByKey`: combines values map-side in every input partition, then merges the
/// combiners of each output partition. Output partition `p` lists its keys in first-seen order.
pub(crate) fn combine_by_key<K, V, C, Create, MergeValue, MergeCombiners>(
    input: &KeyedInput<'_, K, V>,
    partitions: usize,
    create: Create,
    merge_value: MergeValue,
    merge_combiners: MergeCombiners,
) -> Vec<(K::Column, C::Column)>
where
    K: Key,
    V: Data,
    C: Data,
    Create: Fn(V::Ref<'_>) -> C + Sync,
    MergeValue: Fn(C, V::Ref<'_>) -> C + Sync,
    MergeCombiners: Fn(C, C) -> C + Sync,
{
    let state = key_hash_state();
    // Phase 1: per input partition, one combiner per key, then bucketed by output partition.
    let combined: Vec<Vec<Vec<(u64, RowRef, C)>>> = input
        .parts
        .par_iter()
        .enumerate()
        .map(|(pi, (keys, values))| {
            let mut table: HashTable<u32> = HashTable::new();
            let mut groups: Vec<(u64, u32, Option<C>)> = Vec::new();
            for row in 0..keys.len() {
                let k = keys.value(row);
                let h = K::hash_key(k, state);
                let v = values.value(row);
                match table.entry(
                    h,
                    |&g| {
                        groups[g as usize].0 == h
                            && K::eq_key(keys.value(groups[g as usize].1 as usize), k)
                    },
                    |&g| groups[g as usize].0,
                ) {
                    Entry::Occupied(o) => {
                        let slot = &mut groups[*o.get() as usize].2;
                        let acc = slot
                            .take()
                            .expect("a combiner is always present between updates");
                        *slot = Some(merge_value(acc, v));
                    }
                    Entry::Vacant(e) => {
                        e.insert(groups.len() as u32);
                        groups.push((h, row as u32, Some(create(v))));
                    }
                }
            }
            let mut buckets: Vec<Vec<(u64, RowRef, C)>> =
                (0..partitions).map(|_| Vec::new()).collect();
            for (h, row, acc) in groups {
                let acc = acc.expect("a combiner is always present after the pass");
                buckets[partition_of(h, partitions)].push((
                    h,
                    RowRef {
                        part: pi as u32,
                        row,
                    },
                    acc,
                ));
            }
            buckets
        })
        .collect();

    // Phase 2: per output partition, merge the combiners of every input partition in order.
    let mut by_output: Vec<Vec<Vec<(u64, RowRef, C)>>> =
        (0..partitions).map(|_| Vec::new()).collect();
    for buckets in combined {
        for (p, bucket) in buckets.into_iter().enumerate() {
            by_output[p].push(bucket);
        }
    }
    let sources = input.sources();
    by_output
        .into_par_iter()
        .map(|pieces| {
            let mut table: HashTable<u32> = HashTable::new();
            let mut groups: Vec<(u64, RowRef, Option<C>)> = Vec::new();
            for (h, r, acc) in pieces.into_iter().flatten() {
                let k = input.key(r);
                match table.entry(
                    h,
                    |&g| groups[g as usize].0 == h && K::eq_key(input.key(groups[g as usize].1), k),
                    |&g| groups[g as usize].0,
                ) {
                    Entry::Occupied(o) => {
                        let slot = &mut groups[*o.get() as usize].2;
                        let prev = slot
                            .take()
                            .expect("a combiner is always present between merges");
                        *slot = Some(merge_combiners(prev, acc));
                    }
                    Entry::Vacant(e) => {
                        e.insert(groups.len() as u32);
                        groups.push((h, r, Some(acc)));
                    }
                }
            }
            let mut kb = K::Builder::new(groups.len(), &sources);
            let mut cb = C::Builder::new(groups.len(), &Sources::none());
            for (_, r, acc) in groups {
                kb.push_ref(input.key(r));
                cb.push(acc.expect("a combiner is always present after merging"));
            }
            (kb.finish(), cb.finish())
        })
        .collect()
}

/// The rows of both sides grouped by key, per output partition, keys in first-seen order (left
/// side first): the core of `cogroup` and the joins.
pub(crate) struct CoGroup {
    pub(crate) hash: u64,
    pub(crate) left: Vec<RowRef>,
    pub(crate) right: Vec<RowRef>,
}

/// Groups the rows of two keyed inputs by key into `partitions` output partitions.
pub(crate) fn cogroup_rows<K: Key, V: Data, W: Data>(
    left: &KeyedInput<'_, K, V>,
    right: &KeyedInput<'_, K, W>,
    partitions: usize,
) -> Vec<Vec<CoGroup>> {
    let state = key_hash_state();
    let bucket = |keys: &K::Column, part: usize| {
        let mut buckets: Vec<Vec<(u64, RowRef)>> = (0..partitions).map(|_| Vec::new()).collect();
        for row in 0..keys.len() {
            let h = K::hash_key(keys.value(row), state);
            buckets[partition_of(h, partitions)].push((
                h,
                RowRef {
                    part: part as u32,
                    row: row as u32,
                },
            ));
        }
        buckets
    };
    let lb: Vec<_> = left
        .parts
        .par_iter()
        .enumerate()
        .map(|(i, (k, _))| bucket(k, i))
        .collect();
    let rb: Vec<_> = right
        .parts
        .par_iter()
        .enumerate()
        .map(|(i, (k, _))| bucket(k, i))
        .collect();
    (0..partitions)
        .into_par_iter()
        .map(|p| {
            let mut table: HashTable<u32> = HashTable::new();
            let mut groups: Vec<CoGroup> = Vec::new();
            // The key of a group, read from its first row.
            let key_of = |g: &CoGroup| -> K::Ref<'_> {
                match g.left.first() {
                    Some(&r) => left.key(r),
                    None => right.key(g.right[0]),
                }
            };
            for (is_left, buckets) in [(true, &lb), (false, &rb)] {
                for b in buckets.iter() {
                    for &(h, r) in &b[p] {
                        let k = if is_left { left.key(r) } else { right.key(r) };
                        let g = match table.entry(
                            h,
                            |&g| {
                                groups[g as usize].hash == h
                                    && K::eq_key(key_of(&groups[g as usize]), k)
                            },
                            |&g| groups[g as usize].hash,
                        ) {
                            Entry::Occupied(o) => *o.get() as usize,
                            Entry::Vacant(e) => {
                                e.insert(groups.len() as u32);
                                groups.push(CoGroup {
                                    hash: h,
                                    left: Vec::new(),
                                    right: Vec::new(),
                                });
                                groups.len() - 1
                            }
                        };
                        if is_left {
                            groups[g].left.push(r)
                        } else {
                            groups[g].right.push(r)
                        }
                    }
                }
            }
            groups
        })
        .collect()
}

impl<'c, K: Key, V: Data> KeyedInput<'c, K, V> {
    /// The key of a co-group, whichever side holds it.
    pub(crate) fn group_key<W: Data>(
        &self,
        other: &KeyedInput<'c, K, W>,
        g: &CoGroup,
    ) -> K::Ref<'c> {
        match g.left.first() {
            Some(&r) => self.key(r),
            None => other.key(g.right[0]),
        }
    }
    /// A row's value.
    pub(crate) fn row_value(&self, r: RowRef) -> V::Ref<'c> {
        self.value(r)
    }
    /// The string buffers of both sides.
    pub(crate) fn sources_with<W: Data>(&self, other: &KeyedInput<'c, K, W>) -> Sources {
        let mut buffers = Vec::new();
        for (k, v) in &self.parts {
            k.data_buffers(&mut buffers);
            v.data_buffers(&mut buffers);
        }
        for (k, w) in &other.parts {
            k.data_buffers(&mut buffers);
            w.data_buffers(&mut buffers);
        }
        Sources::new(buffers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_use_all_outputs() {
        let state = key_hash_state();
        let mut seen = [0usize; 7];
        for i in 0..10_000i64 {
            seen[partition_of(state.hash_one(i), 7)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 1000), "{seen:?}");
    }
}
