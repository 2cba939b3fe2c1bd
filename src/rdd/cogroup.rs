//! Grouping the rows of one or two batches of pairs by key: Spark's `groupByKey`, `cogroup`, the
//! joins and `subtractByKey`. Every one is the same hash shuffle (rows grouped by key per
//! output partition, keys in first-seen order, this batch's rows first) followed by what each
//! operation emits for a group; keys and values stay views into the inputs.

use super::ShuffleInto;
use crate::data::{Batch, ColumnBuilder, Data, Key};
use crate::kernels::shuffle::{CoGroup, KeyedInput, cogroup_rows};
use rayon::prelude::*;

/// One side of a keyed operation.
fn keyed<K: Key, V: Data>(batch: &Batch<(K, V)>) -> KeyedInput<'_, K, V> {
    KeyedInput {
        parts: batch.partitions().iter().map(|p| (&p.a, &p.b)).collect(),
    }
}

/// The rows of `left` and `right` grouped by key into `partitions` hash partitions, each group
/// handed to `emit` with a builder of the result partition (whose string views may point into
/// either side).
fn grouped<'c, K: Key, V: Data, W: Data, O: Data>(
    left: &KeyedInput<'c, K, V>,
    right: &KeyedInput<'c, K, W>,
    partitions: usize,
    emit: impl Fn(&CoGroup, &mut O::Builder) + Sync,
) -> Batch<O> {
    let groups = cogroup_rows(left, right, partitions);
    let sources = left.sources_with(right);
    let parts = groups
        .into_par_iter()
        .map(|gs| {
            let mut out = O::Builder::new(gs.len(), &sources);
            for g in &gs {
                emit(g, &mut out);
            }
            out.finish()
        })
        .collect();
    Batch::from_partitions(parts)
}

impl<K: Key, V: Data> Batch<(K, V)> {
    /// The values of each key as one list (Spark's `groupByKey`; lists print as
    /// `CompactBuffer(...)`), values in the order they come partition after partition.
    /// Hash-partitioned by key into as many partitions as this batch has; keys and values stay
    /// views.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let b = Batch::from_vec(vec![(1i64, "x".to_string()), (2, "y".to_string()), (1, "z".to_string())], 2);
    /// let mut groups = b.group_by_key().collect();
    /// groups.sort();
    /// assert_eq!(groups[0], (1, vec!["x".to_string(), "z".to_string()]));
    /// ```
    pub fn group_by_key(&self) -> Batch<(K, Vec<V>)> {
        self.default_shuffle(0).group_by_key()
    }

    /// For each key of either batch, the lists of its values in this batch and in `other`
    /// (Spark's `cogroup`). Hash-partitioned by key into as many partitions as the larger
    /// input has.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let a = Batch::from_vec(vec![("k".to_string(), 1i64), ("k".to_string(), 2)], 1);
    /// let b = Batch::from_vec(vec![("k".to_string(), 9i64), ("j".to_string(), 0)], 1);
    /// let mut got = a.cogroup(&b).collect();
    /// got.sort();
    /// assert_eq!(got[0], ("j".to_string(), (vec![], vec![0])));
    /// assert_eq!(got[1], ("k".to_string(), (vec![1, 2], vec![9])));
    /// ```
    pub fn cogroup<W: Data>(&self, other: &Batch<(K, W)>) -> Batch<(K, (Vec<V>, Vec<W>))> {
        self.default_shuffle(other.num_partitions()).cogroup(other)
    }

    /// The pairs of values of each key present in both batches (Spark's `join`, an inner
    /// join): for a key with values `v1, v2` here and `w1, w2` in `other`, `(k, (v1, w1))`,
    /// `(k, (v1, w2))`, `(k, (v2, w1))`, `(k, (v2, w2))`, in that order (as the outer joins
    /// pair them too). Hash-partitioned by key into as many partitions as the larger input
    /// has.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let counts = Batch::from_vec(vec![("spam".to_string(), 3i64), ("ham".to_string(), 1)], 2);
    /// let flags = Batch::from_vec(vec![("spam".to_string(), true)], 1);
    /// assert_eq!(counts.join(&flags).collect(), [("spam".to_string(), (3, true))]);
    /// ```
    pub fn join<W: Data>(&self, other: &Batch<(K, W)>) -> Batch<(K, (V, W))> {
        self.default_shuffle(other.num_partitions()).join(other)
    }

    /// Every pair of this batch, with `Some` of each matching value of `other`, or `None` when
    /// `other` lacks the key (Spark's `leftOuterJoin`). Partitioned as [`join`](Self::join).
    ///
    /// ```
    /// use dstreams::Batch;
    /// let a = Batch::from_vec(vec![(1i64, "a".to_string()), (2, "b".to_string())], 1);
    /// let b = Batch::from_vec(vec![(1i64, 10i64)], 1);
    /// let mut got = a.left_outer_join(&b).collect();
    /// got.sort();
    /// assert_eq!(got, [(1, ("a".to_string(), Some(10))), (2, ("b".to_string(), None))]);
    /// ```
    pub fn left_outer_join<W: Data>(&self, other: &Batch<(K, W)>) -> Batch<(K, (V, Option<W>))> {
        self.default_shuffle(other.num_partitions())
            .left_outer_join(other)
    }

    /// Every pair of `other`, with `Some` of each matching value of this batch, or `None` when
    /// this batch lacks the key (Spark's `rightOuterJoin`). Partitioned as [`join`](Self::join).
    ///
    /// ```
    /// use dstreams::Batch;
    /// let a = Batch::from_vec(vec![(1i64, 10i64)], 1);
    /// let b = Batch::from_vec(vec![(1i64, "a".to_string()), (2, "b".to_string())], 1);
    /// let mut got = a.right_outer_join(&b).collect();
    /// got.sort();
    /// assert_eq!(got, [(1, (Some(10), "a".to_string())), (2, (None, "b".to_string()))]);
    /// ```
    pub fn right_outer_join<W: Data>(&self, other: &Batch<(K, W)>) -> Batch<(K, (Option<V>, W))> {
        self.default_shuffle(other.num_partitions())
            .right_outer_join(other)
    }

    /// Every key of either batch: the pairs of matching values, with `None` on the side that
    /// lacks the key (Spark's `fullOuterJoin`). Partitioned as [`join`](Self::join).
    ///
    /// ```
    /// use dstreams::Batch;
    /// let a = Batch::from_vec(vec![(1i64, 10i64)], 1);
    /// let b = Batch::from_vec(vec![(2i64, 20i64)], 1);
    /// let mut got = a.full_outer_join(&b).collect();
    /// got.sort();
    /// assert_eq!(got, [(1, (Some(10), None)), (2, (None, Some(20)))]);
    /// ```
    pub fn full_outer_join<W: Data>(
        &self,
        other: &Batch<(K, W)>,
    ) -> Batch<(K, (Option<V>, Option<W>))> {
        self.default_shuffle(other.num_partitions())
            .full_outer_join(other)
    }

    /// The pairs of this batch whose key `other` lacks (Spark's `subtractByKey`), the pairs of
    /// a key together. Hash-partitioned by key into as many partitions as this batch has
    /// (Spark's default here, whatever `other` has).
    ///
    /// ```
    /// use dstreams::Batch;
    /// let a = Batch::from_vec(vec![("keep".to_string(), 1i64), ("drop".to_string(), 2)], 1);
    /// let b = Batch::from_vec(vec![("drop".to_string(), 0i64)], 4);
    /// let kept = a.subtract_by_key(&b);
    /// assert_eq!((kept.num_partitions(), kept.collect()), (1, vec![("keep".to_string(), 1)]));
    /// ```
    pub fn subtract_by_key<W: Data>(&self, other: &Batch<(K, W)>) -> Batch<(K, V)> {
        self.default_shuffle(0).subtract_by_key(other)
    }
}

impl<'b, K: Key, V: Data> ShuffleInto<'b, (K, V)> {
    /// The rows of this shuffle's batch and `other` grouped by key into its partitions, each
    /// group emitted by `emit`.
    fn cogrouped<W: Data, O: Data>(
        self,
        other: &'b Batch<(K, W)>,
        emit: impl Fn(&KeyedInput<'b, K, V>, &KeyedInput<'b, K, W>, &CoGroup, &mut O::Builder) + Sync,
    ) -> Batch<O> {
        let (left, right) = (keyed(self.batch), keyed(other));
        grouped(&left, &right, self.partitions, |g, out| {
            emit(&left, &right, g, out)
        })
    }

    /// [`Batch::group_by_key`] into the chosen number of partitions.
    pub fn group_by_key(self) -> Batch<(K, Vec<V>)> {
        let left = keyed(self.batch);
        let none = KeyedInput::<K, V> { parts: Vec::new() };
        grouped(
            &left,
            &none,
            self.partitions,
            |g, out: &mut <(K, Vec<V>) as Data>::Builder| {
                out.0.push_ref(left.group_key(&none, g));
                for &r in &g.left {
                    out.1.push_element_ref(left.row_value(r));
                }
                out.1.close_list();
            },
        )
    }

    /// [`Batch::cogroup`] into the chosen number of partitions.
    pub fn cogroup<W: Data>(self, other: &'b Batch<(K, W)>) -> Batch<(K, (Vec<V>, Vec<W>))> {
        self.cogrouped(
            other,
            |l, r, g, out: &mut <(K, (Vec<V>, Vec<W>)) as Data>::Builder| {
                out.0.push_ref(l.group_key(r, g));
                let lists = &mut out.1;
                for &a in &g.left {
                    lists.0.push_element_ref(l.row_value(a));
                }
                lists.0.close_list();
                for &b in &g.right {
                    lists.1.push_element_ref(r.row_value(b));
                }
                lists.1.close_list();
            },
        )
    }

    /// [`Batch::join`] into the chosen number of partitions.
    pub fn join<W: Data>(self, other: &'b Batch<(K, W)>) -> Batch<(K, (V, W))> {
        self.cogrouped(
            other,
            |l, r, g, out: &mut <(K, (V, W)) as Data>::Builder| {
                let k = l.group_key(r, g);
                for &a in &g.left {
                    for &b in &g.right {
                        out.push_ref((k, (l.row_value(a), r.row_value(b))));
                    }
                }
            },
        )
    }

    /// [`Batch::left_outer_join`] into the chosen number of partitions.
    pub fn left_outer_join<W: Data>(self, other: &'b Batch<(K, W)>) -> Batch<(K, (V, Option<W>))> {
        self.cogrouped(
            other,
            |l, r, g, out: &mut <(K, (V, Option<W>)) as Data>::Builder| {
                let k = l.group_key(r, g);
                for &a in &g.left {
                    if g.right.is_empty() {
                        out.push_ref((k, (l.row_value(a), None)));
                    }
                    for &b in &g.right {
                        out.push_ref((k, (l.row_value(a), Some(r.row_value(b)))));
                    }
                }
            },
        )
    }

    /// [`Batch::right_outer_join`] into the chosen number of partitions.
    pub fn right_outer_join<W: Data>(self, other: &'b Batch<(K, W)>) -> Batch<(K, (Option<V>, W))> {
        self.cogrouped(
            other,
            |l, r, g, out: &mut <(K, (Option<V>, W)) as Data>::Builder| {
                let k = l.group_key(r, g);
                if g.left.is_empty() {
                    for &b in &g.right {
                        out.push_ref((k, (None, r.row_value(b))));
                    }
                }
                for &a in &g.left {
                    for &b in &g.right {
                        out.push_ref((k, (Some(l.row_value(a)), r.row_value(b))));
                    }
                }
            },
        )
    }

    /// [`Batch::full_outer_join`] into the chosen number of partitions.
    pub fn full_outer_join<W: Data>(
        self,
        other: &'b Batch<(K, W)>,
    ) -> Batch<(K, (Option<V>, Option<W>))> {
        self.cogrouped(
            other,
            |l, r, g, out: &mut <(K, (Option<V>, Option<W>)) as Data>::Builder| {
                let k = l.group_key(r, g);
                match (g.left.is_empty(), g.right.is_empty()) {
                    (false, true) => g
                        .left
                        .iter()
                        .for_each(|&a| out.push_ref((k, (Some(l.row_value(a)), None)))),
                    (true, false) => g
                        .right
                        .iter()
                        .for_each(|&b| out.push_ref((k, (None, Some(r.row_value(b)))))),
                    _ => {
                        for &a in &g.left {
                            for &b in &g.right {
                                out.push_ref((k, (Some(l.row_value(a)), Some(r.row_value(b)))));
                            }
                        }
                    }
                }
            },
        )
    }

    /// [`Batch::subtract_by_key`] into the chosen number of partitions.
    pub fn subtract_by_key<W: Data>(self, other: &'b Batch<(K, W)>) -> Batch<(K, V)> {
        self.cogrouped(other, |l, r, g, out: &mut <(K, V) as Data>::Builder| {
            if g.right.is_empty() {
                let k = l.group_key(r, g);
                for &a in &g.left {
                    out.push_ref((k, l.row_value(a)));
                }
            }
        })
    }
}
