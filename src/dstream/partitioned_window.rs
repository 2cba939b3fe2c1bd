//! Keyed windows in distributed mode (`reduce_by_key_and_window` on both paths,
//! `count_by_value_and_window`, `group_by_key_and_window`): one exchange partition's window,
//! fed batch by batch (`partitioned.rs`). A partition keeps its batches' reduced values of the last window, and on
//! the inverse path the window's running result (`RunningTable`): each batch is added, the
//! batches leaving the window subtracted. At each slide the window is emitted: the running
//! result, or the batches merged with the reduce function.

use super::pair_window::ReduceFn;
use super::partitioned::PartitionOp;
use super::state::{state_record_batch, state_schema};
use super::window_options::InverseFn;
use crate::data::{Column, Data, Key, PairColumn};
use crate::error::{Error, Result};
use crate::time::{Duration, Time};
use crate::window::running::RunningTable;
use crate::window::{EmptyKeys, MergeFn, compact};
use arrow_array::{Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, SchemaRef};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The name of the column that holds a snapshot row's batch time.
const BATCH: &str = "batch";

/// A keyed window on one exchange partition.
pub(crate) struct KeyedWindow<K: Data, V: Data> {
    /// The operator's name in its kind.
    pub(crate) operator: &'static str,
    pub(crate) length: Duration,
    pub(crate) slide: Duration,
    /// Merges batches' reduced values (the window's result without an inverse function).
    pub(crate) merge: MergeFn<K, V>,
    pub(crate) inverse: Option<InversePath<V>>,
}

/// The inverse path's functions and options.
pub(crate) struct InversePath<V> {
    pub(crate) f: ReduceFn<V>,
    pub(crate) inv: InverseFn<V>,
    /// What becomes of keys whose window is empty.
    pub(crate) empty_keys: EmptyKeys,
    /// Whether each emitted result is folded again from the batches (floating-point values,
    /// whose subtraction drifts, or asked for).
    pub(crate) exact: bool,
}

/// One partition's window.
pub(crate) struct Panes<K: Data, V: Data> {
    /// By batch time, the batch's reduced values and (inverse path) their key ids in `table`.
    batches: BTreeMap<Time, (PairColumn<K, V>, Vec<u32>)>,
    table: RunningTable<K, V>,
}

impl<K: Key, V: Data + Clone> Default for Panes<K, V> {
    fn default() -> Self {
        Panes {
            batches: BTreeMap::new(),
            table: RunningTable::new(),
        }
    }
}

impl<K: Key, V: Data + Clone> KeyedWindow<K, V> {
    fn add(&self, panes: &mut Panes<K, V>, t: Time, batch: PairColumn<K, V>) -> Result<()> {
        let ids = match &self.inverse {
            Some(inverse) => panes.table.add(&batch, &|a, b| (inverse.f)(a, b))?,
            None => Vec::new(),
        };
        panes.batches.insert(t, (batch, ids));
        Ok(())
    }
}

impl<K: Key, V: Data + Clone> PartitionOp<(K, V), (K, V)> for KeyedWindow<K, V> {
    type State = Panes<K, V>;

    fn kind(&self) -> String {
        format!(
            "{}({} -> {}, window {}, slide {}{})",
            self.operator,
            K::data_type(),
            V::data_type(),
            self.length,
            self.slide,
            if self.inverse.is_some() {
                ", inverse"
            } else {
                ""
            }
        )
    }

    fn initial(&self, _p: u32, _of: u32, _first: Time) -> Result<Panes<K, V>> {
        Ok(Panes::default())
    }

    fn apply(
        &self,
        panes: &mut Panes<K, V>,
        t: Time,
        input: &PairColumn<K, V>,
    ) -> Result<Option<PairColumn<K, V>>> {
        let start = t - self.length;
        let leaving: Vec<Time> = panes.batches.range(..=start).map(|(&b, _)| b).collect();
        for b in leaving {
            let (batch, ids) = panes.batches.remove(&b).expect("listed above");
            if let Some(inverse) = &self.inverse {
                panes.table.subtract(
                    &batch,
                    &ids,
                    &|a, b| (inverse.inv)(a, b),
                    inverse.empty_keys,
                )?;
            }
        }
        self.add(panes, t, compact(input))?;
        if t.as_millis() % self.slide.as_millis() != 0 {
            return Ok(None);
        }
        let columns: Vec<&PairColumn<K, V>> = panes.batches.values().map(|(c, _)| c).collect();
        match &self.inverse {
            Some(inverse) => {
                if inverse.exact {
                    panes.table.recompute(&columns, &|a, b| (inverse.f)(a, b));
                }
                Ok(Some(panes.table.emit()))
            }
            None => (self.merge)(&columns).map(Some),
        }
    }

    fn encode(&self, panes: &Panes<K, V>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let schema = state_schema::<K, V>(&[Field::new(BATCH, DataType::Int64, false)]);
        let batches = panes
            .batches
            .iter()
            .filter(|(_, (batch, _))| !batch.is_empty())
            .map(|(t, (batch, _))| {
                let times = Int64Array::from(vec![t.as_millis(); batch.len()]);
                state_record_batch(&schema, batch, vec![Arc::new(times)])
            })
            .collect::<Result<_>>()?;
        Ok((schema, batches))
    }

    fn decode(&self, batches: &[RecordBatch]) -> Result<Panes<K, V>> {
        let mut panes = Panes::default();
        for b in batches {
            let column = |i: usize| {
                b.columns().get(i).ok_or_else(|| {
                    Error::corrupt_checkpoint(format!(
                        "a window snapshot has {} column(s), expected key, state and {BATCH}",
                        b.num_columns()
                    ))
                })
            };
            let times = column(2)?
                .as_any()
                .downcast_ref::<Int64Array>()
                .filter(|times| !times.is_empty() && times.null_count() == 0)
                .ok_or_else(|| {
                    Error::corrupt_checkpoint(format!("a window snapshot's {BATCH} column"))
                })?;
            let batch = PairColumn {
                a: K::column_from_arrow(column(0)?)?,
                b: V::column_from_arrow(column(1)?)?,
            };
            self.add(&mut panes, Time::from_millis(times.value(0)), batch)?;
        }
        Ok(panes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Batch;
    use crate::dstream::pair_window::merge_with;

    fn window(inverse: bool) -> KeyedWindow<String, i64> {
        let f: ReduceFn<i64> = Arc::new(|a, b| a + b);
        KeyedWindow {
            operator: "reduce_by_key_and_window",
            length: Duration::millis(3000),
            slide: Duration::millis(2000),
            merge: merge_with(f.clone()),
            inverse: inverse.then(|| InversePath {
                f,
                inv: Arc::new(|a, b| a - b),
                empty_keys: EmptyKeys::Drop,
                exact: false,
            }),
        }
    }

    fn counts(words: &[(&str, i64)]) -> PairColumn<String, i64> {
        let pairs: Vec<(String, i64)> = words.iter().map(|(w, c)| (w.to_string(), *c)).collect();
        Batch::from_vec(pairs, 1).partitions()[0].clone()
    }

    fn sorted(col: Option<PairColumn<String, i64>>) -> Option<Vec<(String, i64)>> {
        col.map(|c| {
            let mut v = Batch::<(String, i64)>::from_partitions(vec![c]).to_vec();
            v.sort();
            v
        })
    }

    /// The window over batches 1..=8 s, and the same with its state encoded and decoded after
    /// each batch: the same output at every batch, and the sums of the last 3 batches at each
    /// 2 s slide.
    #[test]
    fn a_window_restored_from_its_snapshot_goes_on_as_the_one_that_was_not() {
        let batches = [
            vec![("a", 1), ("b", 2)],
            vec![("a", 3)],
            vec![],
            vec![("c", 5), ("a", 1)],
            vec![("b", 1)],
            vec![],
            vec![("c", 2)],
            vec![("a", 4), ("c", 1)],
        ];
        for inverse in [true, false] {
            let op = window(inverse);
            let mut kept = op.initial(0, 1, Time::from_millis(1000)).unwrap();
            let mut moved = op.initial(0, 1, Time::from_millis(1000)).unwrap();
            for (i, batch) in batches.iter().enumerate() {
                let t = Time::from_millis(1000 * (i as i64 + 1));
                let input = counts(batch);
                let expected = sorted(op.apply(&mut kept, t, &input).unwrap());
                let (_, saved) = op.encode(&moved).unwrap();
                moved = op.decode(&saved).unwrap();
                assert_eq!(sorted(op.apply(&mut moved, t, &input).unwrap()), expected);
                if t.as_millis() % 2000 == 0 {
                    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
                    for b in &batches[i.saturating_sub(2)..=i] {
                        for (w, c) in b {
                            *sums.entry(w.to_string()).or_default() += c;
                        }
                    }
                    assert_eq!(expected, Some(sums.into_iter().collect()), "at {t}");
                } else {
                    assert_eq!(expected, None);
                }
            }
        }
    }
}
