//! Narrow operations: each partition is transformed on its own, so the result has the input's
//! partitions (Spark's `map`, `flatMap`, `filter`, `mapValues`, `flatMapValues`,
//! `zipWithIndex`, `glom`). Strings a closure returns from its input stay views.

use crate::data::{Batch, Column, ColumnBuilder, Data, PairColumn, Sources, Value, column_iter};
use crate::kernels::narrow::{map_columns, per_partition};

impl<T: Data> Batch<T> {
    /// One result per element (Spark's `map`). The closure receives a view of the element and
    /// may return views of it: a returned `&str` that lies in the batch's buffers stays a view.
    /// Keeps the partitions.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let words = Batch::from_vec(vec!["to".to_string(), "be".to_string()], 2);
    /// let pairs = words.map(|w| (w, 1)); // Batch<(String, i64)>, `w` not copied
    /// assert_eq!(pairs.collect(), [("to".to_string(), 1), ("be".to_string(), 1)]);
    /// let lengths = words.map(|w| w.len() as i64);
    /// assert_eq!(lengths.num_partitions(), 2);
    /// ```
    pub fn map<'a, R, F>(&'a self, f: F) -> Batch<R::Data>
    where
        R: Value,
        F: Fn(T::Ref<'a>) -> R + Sync,
    {
        per_partition(self, |_, col, b| {
            for v in column_iter(col) {
                f(v).append_to(b);
            }
        })
    }

    /// Zero or more results per element (Spark's `flatMap`): the closure returns anything
    /// iterable. Keeps the partitions.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let lines = Batch::from_vec(vec!["to be".to_string(), "or not".to_string()], 1);
    /// let words = lines.flat_map(|line| line.split(' ')); // views into the lines
    /// assert_eq!(words.collect(), ["to", "be", "or", "not"]);
    /// ```
    pub fn flat_map<'a, I, F>(&'a self, f: F) -> Batch<<I::Item as Value>::Data>
    where
        I: IntoIterator,
        I::Item: Value,
        F: Fn(T::Ref<'a>) -> I + Sync,
    {
        per_partition(self, |_, col, b| {
            for v in column_iter(col) {
                for out in f(v) {
                    out.append_to(b);
                }
            }
        })
    }

    /// The elements for which the predicate holds (Spark's `filter`). Keeps the partitions;
    /// strings stay views.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let words = Batch::from_vec(vec!["a".to_string(), String::new(), "b".to_string()], 2);
    /// assert_eq!(words.filter(|w| !w.is_empty()).collect(), ["a", "b"]);
    /// ```
    pub fn filter<'a, F>(&'a self, f: F) -> Batch<T>
    where
        F: Fn(T::Ref<'a>) -> bool + Sync,
    {
        per_partition(self, |_, col, b: &mut T::Builder| {
            for v in column_iter(col) {
                if f(v) {
                    b.push_ref(v);
                }
            }
        })
    }

    /// Each element with its index: partition by partition, in order, starting at 0 (Spark's
    /// `zipWithIndex`). Keeps the partitions; the elements' columns are shared, not rebuilt.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let b = Batch::from_vec(vec!["x".to_string(), "y".to_string(), "z".to_string()], 2);
    /// let indexed = b.zip_with_index();
    /// assert_eq!(indexed.num_partitions(), 2);
    /// assert_eq!(indexed.collect()[2], ("z".to_string(), 2));
    /// ```
    pub fn zip_with_index(&self) -> Batch<(T, i64)> {
        let starts = self.partition_starts();
        map_columns(self, |i, col| PairColumn {
            a: col.clone(),
            b: (starts[i]..starts[i] + col.len())
                .map(|index| index as i64)
                .collect::<Vec<i64>>()
                .into(),
        })
    }

    /// Each partition as one list (Spark's `glom`): a batch of as many one-element partitions
    /// as this one has partitions.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let b = Batch::from_vec((1..=3).collect::<Vec<i64>>(), 2);
    /// assert_eq!(b.glom().collect(), [vec![1], vec![2, 3]]);
    /// ```
    pub fn glom(&self) -> Batch<Vec<T>> {
        per_partition(self, |_, col, b: &mut <Vec<T> as Data>::Builder| {
            for v in column_iter(col) {
                b.push_element_ref(v);
            }
            b.close_list();
        })
    }
}

impl<K: Data, V: Data> Batch<(K, V)> {
    /// Each value transformed, keys kept (Spark's `mapValues`). Keeps the partitions; the key
    /// columns are shared, not rebuilt.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let counts = Batch::from_vec(vec![("a".to_string(), 2i64)], 1);
    /// assert_eq!(counts.map_values(|n| n * 10).collect(), [("a".to_string(), 20)]);
    /// ```
    pub fn map_values<'a, R, F>(&'a self, f: F) -> Batch<(K, R::Data)>
    where
        R: Value,
        F: Fn(V::Ref<'a>) -> R + Sync,
    {
        map_columns(self, |_, col| {
            let mut values =
                <R::Data as Data>::Builder::new(col.len(), &Sources::of_columns([&col.b]));
            for v in column_iter(&col.b) {
                f(v).append_to(&mut values);
            }
            PairColumn {
                a: col.a.clone(),
                b: values.finish(),
            }
        })
    }

    /// Zero or more values per value, each with the original key (Spark's `flatMapValues`).
    /// Keeps the partitions.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let b = Batch::from_vec(vec![(1i64, "x y".to_string())], 1);
    /// assert_eq!(
    ///     b.flat_map_values(|v| v.split(' ')).collect(),
    ///     [(1, "x".to_string()), (1, "y".to_string())]
    /// );
    /// ```
    pub fn flat_map_values<'a, I, F>(&'a self, f: F) -> Batch<(K, <I::Item as Value>::Data)>
    where
        I: IntoIterator,
        I::Item: Value,
        F: Fn(V::Ref<'a>) -> I + Sync,
    {
        per_partition(
            self,
            |_, col, b: &mut <(K, <I::Item as Value>::Data) as Data>::Builder| {
                for i in 0..col.len() {
                    let before = b.1.len();
                    for out in f(col.b.value(i)) {
                        out.append_to(&mut b.1);
                    }
                    for _ in before..b.1.len() {
                        b.0.push_ref(col.a.value(i));
                    }
                }
            },
        )
    }
}
