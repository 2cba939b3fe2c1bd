//! `Batch`: one batch handed to Python (`foreachRDD`, `pprint`), boxed only as far as it is read.

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::batch::AnyBatch;

/// A batch of a stream, as `foreachRDD` gets it: `count()` and `getNumPartitions()` never box
/// the elements; `take(n)` boxes `n`; `partitions()` boxes all.
#[pyclass(frozen, name = "Batch", module = "dstreams._dstreams")]
pub struct Rdd {
    batch: AnyBatch,
}

impl Rdd {
    pub fn new(batch: AnyBatch) -> Rdd {
        Rdd { batch }
    }
}

#[pymethods]
impl Rdd {
    fn count(&self) -> usize {
        self.batch.len()
    }

    fn num_partitions(&self) -> usize {
        self.batch.num_partitions()
    }

    fn take<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyList>> {
        self.batch.take(py, n)
    }

    /// Every partition as a Python list.
    fn partitions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.batch.partition_lists(py)
    }
}
