//! One batch of any of the stream kinds, and its conversions to and from Python lists.
//!
//! Streams stay in the engine's native types while the program's functions are recognised
//! (lines and words as `String`, word counts as `(String, i64)`); a batch is *boxed* into Python
//! objects (`str`, `(str, int)` tuples) only where Python code needs it, one partition at a time
//! under the GIL. Boxing is invisible to the program: a boxed word is an exact `str`.

use std::sync::Arc;

use dstreams::data::{Column, column_from_values, column_iter};
use dstreams::{Batch, DStream, Data};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::element::{PyColumn, PyObj};

/// A batch of one of the stream kinds.
#[derive(Clone)]
pub enum AnyBatch {
    /// Strings (lines, words).
    Str(Batch<String>),
    /// `(str, int)` pairs with the int within `i64` (word counts).
    Counts(Batch<(String, i64)>),
    /// Any Python objects.
    Obj(Batch<PyObj>),
}

impl AnyBatch {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            AnyBatch::Str(b) => b.len(),
            AnyBatch::Counts(b) => b.len(),
            AnyBatch::Obj(b) => b.len(),
        }
    }

    /// The batch time, in epoch milliseconds.
    pub fn time_ms(&self) -> i64 {
        match self {
            AnyBatch::Str(b) => b.time().as_millis(),
            AnyBatch::Counts(b) => b.time().as_millis(),
            AnyBatch::Obj(b) => b.time().as_millis(),
        }
    }

    /// Number of partitions.
    pub fn num_partitions(&self) -> usize {
        match self {
            AnyBatch::Str(b) => b.num_partitions(),
            AnyBatch::Counts(b) => b.num_partitions(),
            AnyBatch::Obj(b) => b.num_partitions(),
        }
    }

    /// Partition `p` as a Python list.
    pub fn partition_list<'py>(&self, py: Python<'py>, p: usize) -> PyResult<Bound<'py, PyList>> {
        match self {
            AnyBatch::Str(b) => box_strings(py, &b.partitions()[p]),
            AnyBatch::Counts(b) => box_counts(py, &b.partitions()[p]),
            AnyBatch::Obj(b) => b.partitions()[p].to_list(py),
        }
    }

    /// Every partition as a list of Python lists.
    pub fn partition_lists<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let parts = (0..self.num_partitions())
            .map(|p| self.partition_list(py, p))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, parts)
    }

    /// The first `n` elements, in partition order, boxed.
    pub fn take<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for p in 0..self.num_partitions() {
            if out.len() >= n {
                break;
            }
            let part = self.partition_list(py, p)?;
            for item in part.iter().take(n - out.len()) {
                out.append(item)?;
            }
        }
        Ok(out)
    }

    /// The batch as Python objects.
    pub fn boxed(&self, py: Python<'_>) -> PyResult<Batch<PyObj>> {
        if let AnyBatch::Obj(b) = self {
            return Ok(b.clone());
        }
        let parts = (0..self.num_partitions())
            .map(|p| Ok(column_of(&self.partition_list(py, p)?)))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Batch::from_partitions(parts))
    }
}

/// A stream of `f` of every element of `stream`, computed under the GIL one partition at a
/// time; a Python error fails the batch as `operation`'s.
pub fn map_with_gil<T: Data, U: Data>(
    stream: &DStream<T>,
    operation: &'static str,
    f: impl Fn(Python<'_>, T::Ref<'_>) -> PyResult<U> + Send + Sync + 'static,
) -> DStream<U> {
    stream.transform(move |b: &Batch<T>| {
        Python::attach(|py| {
            let parts = b
                .partitions()
                .iter()
                .map(|col| {
                    let values = column_iter(col)
                        .map(|x| f(py, x))
                        .collect::<PyResult<Vec<U>>>()?;
                    Ok(column_from_values(values))
                })
                .collect::<PyResult<Vec<_>>>()?;
            Ok(Batch::from_partitions(parts))
        })
        .map_err(|e| crate::errors::python_failure(operation, e))
    })
}

/// A column of the list's objects.
pub fn column_of(list: &Bound<'_, PyList>) -> PyColumn {
    PyColumn(Arc::new(
        list.iter().map(|o| PyObj::new(o.unbind())).collect(),
    ))
}

/// A batch of Python lists (one per partition), as the engine's batch of Python objects.
pub fn batch_of(parts: &Bound<'_, PyAny>) -> PyResult<Batch<PyObj>> {
    let columns = parts
        .try_iter()?
        .map(|part| {
            let part = part?;
            let items = part
                .try_iter()?
                .map(|o| Ok(PyObj::new(o?.unbind())))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyColumn(Arc::new(items)))
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Batch::from_partitions(columns))
}

fn box_strings<'py>(
    py: Python<'py>,
    col: &<String as dstreams::Data>::Column,
) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, (0..col.len()).map(|i| PyString::new(py, col.value(i))))
}

fn box_counts<'py>(
    py: Python<'py>,
    col: &<(String, i64) as dstreams::Data>::Column,
) -> PyResult<Bound<'py, PyList>> {
    let items = (0..col.len())
        .map(|i| {
            let (word, n) = col.value(i);
            PyTuple::new(
                py,
                [
                    PyString::new(py, word).into_any(),
                    n.into_pyobject(py)?.into_any(),
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}
