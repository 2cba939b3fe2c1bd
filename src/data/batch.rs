//! A batch: the partitions of one DStream at one batch time (Spark's RDD for that time).

use super::{Column, ColumnBuilder, Data, Sources, collect_owned, column_iter};
use crate::error::Result;
use arrow_array::{Array, RecordBatch, StructArray};
use arrow_schema::{Field, Schema};
use std::fmt;
use std::sync::Arc;

/// The data of one stream for one batch time: a list of partitions, each an Arrow-backed column.
/// Cloning is cheap (partitions are shared).
pub struct Batch<T: Data> {
    partitions: Arc<Vec<T::Column>>,
}

impl<T: Data> Clone for Batch<T> {
    fn clone(&self) -> Self {
        Batch {
            partitions: self.partitions.clone(),
        }
    }
}

impl<T: Data> Batch<T> {
    /// A batch made of the given partitions.
    pub fn from_partitions(partitions: Vec<T::Column>) -> Self {
        Batch {
            partitions: Arc::new(partitions),
        }
    }

    /// Spreads owned values over `num_partitions` partitions as Spark's `parallelize` does
    /// (partition `i` holds elements `[i*n/p, (i+1)*n/p)`).
    ///
    /// ```
    /// use dstreams::Batch;
    /// let b = Batch::from_vec((1..=4).collect::<Vec<i64>>(), 2);
    /// assert_eq!(b.num_partitions(), 2);
    /// assert_eq!(b.to_vec(), vec![1, 2, 3, 4]);
    /// ```
    pub fn from_vec(values: Vec<T>, num_partitions: usize) -> Self {
        let p = num_partitions.max(1);
        let n = values.len();
        let mut parts = Vec::with_capacity(p);
        let mut iter = values.into_iter();
        for i in 0..p {
            let len = (i + 1) * n / p - i * n / p;
            let mut b = T::Builder::new(len, &Sources::none());
            for v in iter.by_ref().take(len) {
                b.push(v);
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
            .map(|p| {
                let array = p.to_arrow();
                if let Some(s) = array.as_any().downcast_ref::<StructArray>() {
                    return Ok(RecordBatch::from(s.clone()));
                }
                let field = Field::new("value", array.data_type().clone(), array.null_count() > 0);
                Ok(RecordBatch::try_new(
                    Arc::new(Schema::new(vec![field])),
                    vec![array],
                )?)
            })
            .collect()
    }
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
