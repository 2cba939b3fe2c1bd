//! A batch: the partitions of one DStream at one batch time (Spark's RDD for that time).

use super::{Column, ColumnBuilder, Data, Sources, Value, collect_owned, column_iter};
use crate::error::Result;
use crate::time::Time;
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{Field, Schema};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The data of one stream for one batch time: a list of partitions, each an Arrow-backed column
/// (Spark's RDD of that time). Cloning is cheap (partitions are shared).
///
/// # RDD operations
///
/// A batch is Spark's RDD of its time and has the RDD operations a Spark program calls inside
/// `transform`: `map`, `flat_map`, `filter`, `map_values`, `flat_map_values`, `distinct`,
/// `union`, `zip_with_index`, `sort_by`, `glom`, `repartition`; on pairs `reduce_by_key`,
/// `combine_by_key`, `group_by_key`, the joins, `cogroup`, `subtract_by_key`; and the actions
/// `count`, `collect`, `take`, `first`, `reduce`. Closures receive views that borrow from the
/// batch and may return them, so strings taken from the input stay views into its buffers.
///
/// ```
/// use dstreams::Batch;
/// let lines = Batch::from_vec(vec!["to be or not", "to be, be"], 2);
/// let counts = lines
///     .flat_map(|line| line.split(' '))
///     .map(|w| (w.trim_end_matches(','), 1))
///     .reduce_by_key(|a, b| a + b);
/// let top = counts.sort_by_descending(|(_, n)| *n);
/// assert_eq!(top.first(), Some(("be".to_string(), 3)));
/// assert_eq!(top.num_partitions(), 2);
/// ```
///
/// Partitioning follows Spark: narrow operations keep the partitions (`union` concatenates
/// them); shuffles hash-partition their result by key, with the same hash and partition
/// function as the DStream shuffles, into as many partitions as the largest input has (Spark's
/// default partitioner without `spark.default.parallelism`; `distinct` and `subtract_by_key`
/// take their own batch's count), or as many as [`shuffle_into`](Batch::shuffle_into) says;
/// `sort_by` cuts its sorted result into contiguous ranges, one per partition.
pub struct Batch<T: Data> {
    partitions: Arc<Vec<T::Column>>,
    time: Time,
    origin: Option<Arc<Origin>>,
}

/// Which partitions of a larger, distributed whole a batch's partitions are (distributed mode):
/// partition `i` of the batch is partition `ids[i]` of `of`. A Kafka stream in group mode cuts its
/// batches by the source partitions this process owns; an exchange's result by the exchange
/// partitions this process owns. Narrow operations keep it; everything else drops it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// How many partitions the whole has (the source topic's, or the exchange's `P`).
    pub of: u32,
    /// The whole's partition each batch partition is, in batch partition order.
    pub ids: Vec<u32>,
    /// Source partitions whose records here belong to an earlier batch: a range the
    /// partition's previous owner committed under that batch time and may not have sent, which
    /// the exchanges send again under it (empty but for a source partition just taken over).
    pub resent: BTreeMap<u32, Time>,
}

impl<T: Data> Clone for Batch<T> {
    fn clone(&self) -> Self {
        Batch {
            partitions: self.partitions.clone(),
            time: self.time,
            origin: self.origin.clone(),
        }
    }
}

impl<T: Data> Batch<T> {
    /// A batch made of the given partitions.
    pub fn from_partitions(partitions: Vec<T::Column>) -> Self {
        Batch {
            partitions: Arc::new(partitions),
            time: Time::default(),
            origin: None,
        }
    }

    /// The batch time this batch was computed for (Spark's `time` of `foreachRDD((rdd, time)
    /// => ...)`); `0 ms` for a batch built by hand until a stream hands it out.
    pub fn time(&self) -> Time {
        self.time
    }

    /// This batch at batch time `time`.
    pub(crate) fn at(mut self, time: Time) -> Self {
        self.time = time;
        self
    }

    /// Which partitions of a distributed whole this batch's partitions are (see [`Origin`]);
    /// `None` outside distributed mode.
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_deref()
    }

    /// The origin, shared (to label a batch made from this one's partitions).
    pub(crate) fn shared_origin(&self) -> Option<Arc<Origin>> {
        self.origin.clone()
    }

    /// This batch with partition `i` marked as partition `origin.ids[i]` of `origin.of`.
    pub(crate) fn with_origin(mut self, origin: Arc<Origin>) -> Self {
        debug_assert_eq!(origin.ids.len(), self.partitions.len());
        self.origin = Some(origin);
        self
    }

    /// This batch with the origin of `like` (a narrow operation's input: same partitions).
    pub(crate) fn with_origin_of<U: Data>(mut self, like: &Batch<U>) -> Self {
        if like.num_partitions() == self.num_partitions() {
            self.origin = like.origin.clone();
        }
        self
    }

    /// Spreads values over `num_partitions` partitions as Spark's `parallelize` does
    /// (partition `i` holds elements `[i*n/p, (i+1)*n/p)`). Values are what closures return
    /// ([`Value`]): `&str`s become `String`s, integer literals `i64`s.
    ///
    /// ```
    /// use dstreams::Batch;
    /// let b = Batch::from_vec((1..=4).collect(), 2);
    /// assert_eq!(b.num_partitions(), 2);
    /// assert_eq!(b.to_vec(), vec![1, 2, 3, 4]);
    /// let seen = Batch::from_vec(vec![("hello", 1), ("world", 1)], 1); // Batch<(String, i64)>
    /// assert_eq!(seen.to_vec(), [("hello".to_string(), 1i64), ("world".to_string(), 1)]);
    /// ```
    pub fn from_vec<V: Value<Data = T>>(values: Vec<V>, num_partitions: usize) -> Self {
        let p = num_partitions.max(1);
        let n = values.len();
        let mut parts = Vec::with_capacity(p);
        let mut iter = values.into_iter();
        for i in 0..p {
            let len = (i + 1) * n / p - i * n / p;
            let mut b = T::Builder::new(len, &Sources::none());
            for v in iter.by_ref().take(len) {
                v.append_to(&mut b);
            }
            parts.push(b.finish());
        }
        Batch::from_partitions(parts)
    }

    /// An empty batch with one empty partition.
    pub fn empty() -> Self {
        Batch::from_partitions(vec![T::Column::empty()])
    }

    /// The partitions.
    pub fn partitions(&self) -> &[T::Column] {
        &self.partitions
    }

    /// Number of partitions.
    pub fn num_partitions(&self) -> usize {
        self.partitions.len()
    }

    /// Number of elements over all partitions.
    pub fn len(&self) -> usize {
        self.partitions.iter().map(Column::len).sum()
    }

    /// Whether the batch holds no element.
    pub fn is_empty(&self) -> bool {
        self.partitions.iter().all(Column::is_empty)
    }

    /// The views of all elements, partition after partition.
    pub fn iter(&self) -> impl Iterator<Item = T::Ref<'_>> {
        self.partitions.iter().flat_map(column_iter)
    }

    /// All elements as owned values, partition after partition (also named
    /// [`collect`](Self::collect), as in Spark).
    pub fn to_vec(&self) -> Vec<T> {
        self.partitions.iter().flat_map(collect_owned).collect()
    }

    /// The byte buffers that string views of this batch point into.
    pub fn sources(&self) -> Sources {
        Sources::of_columns(self.partitions.iter())
    }

    /// One Arrow `RecordBatch` per partition. Tuples become one column per field (`_1`, `_2`,
    /// ...); other types a single column named `value`. Buffers are shared, not copied.
    pub fn to_record_batches(&self) -> Result<Vec<RecordBatch>> {
        self.partitions
            .iter()
            .map(|p| record_batch(p.to_arrow()))
            .collect()
    }

    /// The whole batch as one Arrow `RecordBatch`, columns as in
    /// [`to_record_batches`](Self::to_record_batches). A batch of one partition shares its
    /// buffers; otherwise the partitions are appended into one column, with strings as views
    /// of the partitions' buffers (their bytes are not copied).
    ///
    /// ```
    /// use dstreams::Batch;
    /// let b = Batch::from_vec(vec![("a".to_string(), 1i64), ("b".to_string(), 2)], 2);
    /// let rb = b.to_record_batch()?;
    /// assert_eq!((rb.num_rows(), rb.num_columns()), (2, 2));
    /// assert_eq!(rb.schema().field(0).name(), "_1");
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        if let [one] = self.partitions.as_slice() {
            return record_batch(one.to_arrow());
        }
        let mut all = T::Builder::new(self.len(), &self.sources());
        for v in self.iter() {
            all.push_ref(v);
        }
        record_batch(all.finish().to_arrow())
    }
}

/// A record batch of one column's array: a struct array's fields as columns, any other array
/// (or a struct array with nulls, an `Option` of a tuple) as the column `value`.
fn record_batch(array: ArrayRef) -> Result<RecordBatch> {
    if let Some(s) = array.as_any().downcast_ref::<StructArray>()
        && s.null_count() == 0
    {
        return Ok(RecordBatch::from(s.clone()));
    }
    let field = Field::new("value", array.data_type().clone(), array.null_count() > 0);
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(vec![field])),
        vec![array],
    )?)
}

impl<T: Data> fmt::Debug for Batch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for v in self.iter() {
            l.entry(&format_args!("{}", super::SparkDisplay::<T>(v)));
        }
        l.finish()
    }
}
