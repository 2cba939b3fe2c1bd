//! Grouping the rows of one or two batches of pairs by key: Spark's `groupByKey`, `cogroup`, the
//! joins and `subtractByKey`. Every one is the same hash shuffle (rows grouped by key per
//! output partition, keys in first-seen order, this batch's rows first) followed by what each
//! operation emits for a group; keys and values stay views into the inputs.

use super::ShuffleInto;
use crate::data::{Batch, Column, ColumnBuilder, Data, Key};
use crate::kernels::narrow::per_partition;
use crate::kernels::shuffle::{CoGroup, KeyedInput, cogroup_rows};
use emit::EmitGroup;
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

/// Writes one group of `group_by_key`: its key and its values as one list.
fn push_group<'c, K: Key, V: Data>(
    out: &mut <(K, Vec<V>) as Data>::Builder,
    key: K::Ref<'c>,
    values: impl Iterator<Item = V::Ref<'c>>,
) {
    out.0.push_ref(key);
    values.for_each(|v| out.1.push_element_ref(v));
    out.1.close_list();
}

/// One key's values on both sides of a keyed operation, each side in order: the rows of a
/// shuffle (`rows`), or the lists of a cogroup made elsewhere (a distributed exchange's merged
/// partials, `dstream::pair`).
pub(crate) struct Group<K, L, R> {
    pub(crate) key: K,
    pub(crate) left: L,
    pub(crate) right: R,
}

/// Group `g`'s rows of `l` and `r`.
fn rows<'a, 'c, K: Key, V: Data, W: Data>(
    l: &'a KeyedInput<'c, K, V>,
    r: &'a KeyedInput<'c, K, W>,
    g: &'a CoGroup,
) -> Group<
    K::Ref<'c>,
    impl Iterator<Item = V::Ref<'c>> + Clone + 'a,
    impl Iterator<Item = W::Ref<'c>> + Clone + 'a,
> {
    Group {
        key: l.group_key(r, g),
        left: g.left.iter().map(move |&a| l.row_value(a)),
        right: g.right.iter().map(move |&b| r.row_value(b)),
    }
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
    /// The rows of this shuffle's batch and `other` grouped by key into its partitions, what
    /// `e` emits for each key.
    pub(crate) fn emit_cogrouped<W: Data, E: EmitGroup<K, V, W>>(
        self,
        other: &'b Batch<(K, W)>,
        e: &E,
    ) -> Batch<E::Out> {
        let (left, right) = (keyed(self.batch), keyed(other));
        grouped(&left, &right, self.partitions, |g, out| {
            e.emit(rows(&left, &right, g), out)
        })
    }

    /// [`Batch::group_by_key`] into the chosen number of partitions.
    pub fn group_by_key(self) -> Batch<(K, Vec<V>)> {
        let left = keyed(self.batch);
        let none = KeyedInput::<K, V> { parts: Vec::new() };
        grouped(&left, &none, self.partitions, |g, out| {
            let values = g.left.iter().map(|&r| left.row_value(r));
            push_group::<K, V>(out, left.group_key(&none, g), values)
        })
    }

    /// [`Batch::cogroup`] into the chosen number of partitions.
    pub fn cogroup<W: Data>(self, other: &'b Batch<(K, W)>) -> Batch<(K, (Vec<V>, Vec<W>))> {
        self.emit_cogrouped(other, &emit::Cogroup)
    }

    /// [`Batch::join`] into the chosen number of partitions.
    pub fn join<W: Data>(self, other: &'b Batch<(K, W)>) -> Batch<(K, (V, W))> {
        self.emit_cogrouped(other, &emit::Join)
    }

    /// [`Batch::left_outer_join`] into the chosen number of partitions.
    pub fn left_outer_join<W: Data>(self, other: &'b Batch<(K, W)>) -> Batch<(K, (V, Option<W>))> {
        self.emit_cogrouped(other, &emit::LeftOuterJoin)
    }

    /// [`Batch::right_outer_join`] into the chosen number of partitions.
    pub fn right_outer_join<W: Data>(self, other: &'b Batch<(K, W)>) -> Batch<(K, (Option<V>, W))> {
        self.emit_cogrouped(other, &emit::RightOuterJoin)
    }

    /// [`Batch::full_outer_join`] into the chosen number of partitions.
    pub fn full_outer_join<W: Data>(
        self,
        other: &'b Batch<(K, W)>,
    ) -> Batch<(K, (Option<V>, Option<W>))> {
        self.emit_cogrouped(other, &emit::FullOuterJoin)
    }

    /// [`Batch::subtract_by_key`] into the chosen number of partitions.
    pub fn subtract_by_key<W: Data>(self, other: &'b Batch<(K, W)>) -> Batch<(K, V)> {
        self.emit_cogrouped(other, &emit::SubtractByKey)
    }
}

impl<K: Key, V: Data> ShuffleInto<'_, (K, Vec<V>)> {
    /// Groups made apart merged (a distributed `group_by_key`'s partials): each key's lists
    /// concatenated in the order their rows come.
    pub(crate) fn concat_groups(self) -> Batch<(K, Vec<V>)> {
        let rows = keyed(self.batch);
        let none = KeyedInput::<K, Vec<V>> { parts: Vec::new() };
        grouped(&rows, &none, self.partitions, |g, out| {
            let values = g.left.iter().flat_map(|&r| rows.row_value(r).iter());
            push_group::<K, V>(out, rows.group_key(&none, g), values)
        })
    }
}

impl<K: Key, V: Data, W: Data> ShuffleInto<'_, (K, (Vec<V>, Vec<W>))> {
    /// Cogroups made apart merged (a distributed `cogroup`'s or join's partials): each key's
    /// lists on each side concatenated in the order their rows come.
    pub(crate) fn concat_cogroups(self) -> Batch<(K, (Vec<V>, Vec<W>))> {
        let rows = keyed(self.batch);
        let none = KeyedInput::<K, (Vec<V>, Vec<W>)> { parts: Vec::new() };
        grouped(&rows, &none, self.partitions, |g, out| {
            let lists = g.left.iter().map(|&r| rows.row_value(r));
            let group = Group {
                key: rows.group_key(&none, g),
                left: lists.clone().flat_map(|(vs, _)| vs.iter()),
                right: lists.flat_map(|(_, ws)| ws.iter()),
            };
            emit::Cogroup.emit(group, out)
        })
    }
}

impl<K: Key, V: Data, W: Data> Batch<(K, (Vec<V>, Vec<W>))> {
    /// What `e` emits for each row's key and lists, partition by partition (a distributed
    /// join's output from its merged cogroups; the batch's origin kept).
    pub(crate) fn emit_groups<E: EmitGroup<K, V, W>>(&self, e: &E) -> Batch<E::Out> {
        per_partition(self, |_, col, out| {
            for i in 0..col.len() {
                let (vs, ws) = (col.b.a.value(i), col.b.b.value(i));
                let group = Group {
                    key: col.a.value(i),
                    left: vs.iter(),
                    right: ws.iter(),
                };
                e.emit(group, out);
            }
        })
    }
}

/// What `cogroup` and the joins emit for one key's [`Group`] (Spark's order: every left value
/// with every right value, left major), the same whether the group comes from a shuffle's rows
/// or from lists cogrouped elsewhere.
pub(crate) mod emit {
    use super::Group;
    use crate::data::{ColumnBuilder, Data, Key};

    /// One side's values of a key, in order.
    pub(crate) trait Side<'c, T: Data>: Iterator<Item = T::Ref<'c>> + Clone {}
    impl<'c, T: Data, I: Iterator<Item = T::Ref<'c>> + Clone> Side<'c, T> for I {}

    /// A key's [`Group`].
    pub(crate) type KeyGroup<'c, K, L, R> = Group<<K as Data>::Ref<'c>, L, R>;
    /// The builder of an output type.
    type Builder<O> = <O as Data>::Builder;

    /// One keyed operation's output for a key.
    pub(crate) trait EmitGroup<K: Key, V: Data, W: Data>: Send + Sync + 'static {
        type Out: Data;
        fn emit<'c>(
            &self,
            g: KeyGroup<'c, K, impl Side<'c, V>, impl Side<'c, W>>,
            out: &mut Builder<Self::Out>,
        );
    }

    /// Spark's `cogroup`: the key and the lists of its values on both sides.
    pub(crate) struct Cogroup;
    /// Spark's `join`: every pair of a left and a right value.
    pub(crate) struct Join;
    /// Spark's `leftOuterJoin`: every left value, with each right value, or with `None`.
    pub(crate) struct LeftOuterJoin;
    /// Spark's `rightOuterJoin`: every right value, with each left value, or with `None`.
    pub(crate) struct RightOuterJoin;
    /// Spark's `fullOuterJoin`: every pair, or each value of the only side that has any.
    pub(crate) struct FullOuterJoin;
    /// Spark's `subtractByKey`: the left values of a key the right side lacks.
    pub(crate) struct SubtractByKey;

    impl<K: Key, V: Data, W: Data> EmitGroup<K, V, W> for Cogroup {
        type Out = (K, (Vec<V>, Vec<W>));
        fn emit<'c>(
            &self,
            g: KeyGroup<'c, K, impl Side<'c, V>, impl Side<'c, W>>,
            out: &mut Builder<Self::Out>,
        ) {
            out.0.push_ref(g.key);
            let lists = &mut out.1;
            g.left.for_each(|a| lists.0.push_element_ref(a));
            lists.0.close_list();
            g.right.for_each(|b| lists.1.push_element_ref(b));
            lists.1.close_list();
        }
    }

    impl<K: Key, V: Data, W: Data> EmitGroup<K, V, W> for Join {
        type Out = (K, (V, W));
        fn emit<'c>(
            &self,
            g: KeyGroup<'c, K, impl Side<'c, V>, impl Side<'c, W>>,
            out: &mut Builder<Self::Out>,
        ) {
            for a in g.left {
                g.right.clone().for_each(|b| out.push_ref((g.key, (a, b))));
            }
        }
    }

    impl<K: Key, V: Data, W: Data> EmitGroup<K, V, W> for LeftOuterJoin {
        type Out = (K, (V, Option<W>));
        fn emit<'c>(
            &self,
            g: KeyGroup<'c, K, impl Side<'c, V>, impl Side<'c, W>>,
            out: &mut Builder<Self::Out>,
        ) {
            let right_empty = g.right.clone().next().is_none();
            for a in g.left {
                if right_empty {
                    out.push_ref((g.key, (a, None)));
                }
                g.right
                    .clone()
                    .for_each(|b| out.push_ref((g.key, (a, Some(b)))));
            }
        }
    }

    impl<K: Key, V: Data, W: Data> EmitGroup<K, V, W> for RightOuterJoin {
        type Out = (K, (Option<V>, W));
        fn emit<'c>(
            &self,
            g: KeyGroup<'c, K, impl Side<'c, V>, impl Side<'c, W>>,
            out: &mut Builder<Self::Out>,
        ) {
            if g.left.clone().next().is_none() {
                g.right
                    .clone()
                    .for_each(|b| out.push_ref((g.key, (None, b))));
            }
            for a in g.left {
                g.right
                    .clone()
                    .for_each(|b| out.push_ref((g.key, (Some(a), b))));
            }
        }
    }

    impl<K: Key, V: Data, W: Data> EmitGroup<K, V, W> for FullOuterJoin {
        type Out = (K, (Option<V>, Option<W>));
        fn emit<'c>(
            &self,
            g: KeyGroup<'c, K, impl Side<'c, V>, impl Side<'c, W>>,
            out: &mut Builder<Self::Out>,
        ) {
            let key = g.key;
            match (g.left.clone().next(), g.right.clone().next()) {
                (Some(_), None) => g.left.for_each(|a| out.push_ref((key, (Some(a), None)))),
                (None, Some(_)) => g.right.for_each(|b| out.push_ref((key, (None, Some(b))))),
                _ => {
                    for a in g.left {
                        g.right
                            .clone()
                            .for_each(|b| out.push_ref((key, (Some(a), Some(b)))));
                    }
                }
            }
        }
    }

    impl<K: Key, V: Data, W: Data> EmitGroup<K, V, W> for SubtractByKey {
        type Out = (K, V);
        fn emit<'c>(
            &self,
            g: KeyGroup<'c, K, impl Side<'c, V>, impl Side<'c, W>>,
            out: &mut Builder<Self::Out>,
        ) {
            if g.right.clone().next().is_none() {
                g.left.for_each(|a| out.push_ref((g.key, a)));
            }
        }
    }
}
