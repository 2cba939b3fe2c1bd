//! `PyObj`: one Python object as an element of the engine's streams.
//!
//! The engine clones, moves and drops elements on threads that do not hold the GIL (builders,
//! shuffles, window panes, state), so an element is an `Arc` around the object: cloning it never
//! touches the object's reference count, and the last `Arc` dropped off the GIL leaves the
//! decref to pyo3's reference pool. A column is a shared `Vec` of them; its Arrow form (for
//! checkpoints) is a `Binary` column of pickles.

use std::fmt;
use std::sync::Arc;

use dstreams::arrow_array::{Array, ArrayRef, BinaryArray};
use dstreams::arrow_buffer::Buffer;
use dstreams::arrow_schema::DataType;
use dstreams::data::{Column, ColumnBuilder, ScopeId, Sources};
use dstreams::{Data, Value};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::python_failure;

/// A Python object in a stream.
pub struct PyObj(Arc<Py<PyAny>>);

impl Clone for PyObj {
    fn clone(&self) -> Self {
        PyObj(self.0.clone())
    }
}

impl PyObj {
    /// Wraps an owned reference.
    pub fn new(obj: Py<PyAny>) -> Self {
        PyObj(Arc::new(obj))
    }

    /// Wraps a borrowed object (one incref).
    pub fn of(obj: &Bound<'_, PyAny>) -> Self {
        PyObj::new(obj.clone().unbind())
    }

    /// The object, for the thread holding the GIL.
    pub fn bind<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.0.bind(py)
    }
}

/// What a per-element engine closure would receive. Python functions are never called per
/// element through the engine's closures, so nothing reads it; `Data` wants a `Copy` type.
#[derive(Clone, Copy)]
pub struct PyArg;

/// One partition of Python objects.
#[derive(Clone)]
pub struct PyColumn(pub Arc<Vec<PyObj>>);

impl PyColumn {
    /// The partition as a Python list (one incref per element).
    pub fn to_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        pyo3::types::PyList::new(py, self.0.iter().map(|o| o.bind(py)))
    }
}

/// Builds a [`PyColumn`].
pub struct PyBuilder(Vec<PyObj>);

impl Data for PyObj {
    type Ref<'a> = &'a PyObj;
    type Arg = PyArg;
    type Column = PyColumn;
    type Builder = PyBuilder;

    fn to_owned_value(r: &PyObj) -> Self {
        r.clone()
    }
    fn shorten<'a, 'b: 'a>(r: &'b PyObj) -> &'a PyObj {
        r
    }
    fn arg(_r: &PyObj, _scope: ScopeId) -> PyArg {
        PyArg
    }
    /// `str()` of the object: what PySpark's `saveAsTextFiles` writes.
    fn fmt_spark(r: &PyObj, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = Python::attach(|py| r.bind(py).str().map(|s| s.to_string()));
        f.write_str(&s.map_err(|_| fmt::Error)?)
    }
    fn data_type() -> DataType {
        DataType::Binary
    }
    /// Unpickles a `Binary` column (the checkpointed form).
    fn column_from_arrow(array: &ArrayRef) -> dstreams::Result<PyColumn> {
        let pickles = array
            .as_any()
            .downcast_ref::<BinaryArray>()
            .ok_or_else(|| dstreams::Error::ArrowType {
                expected: "Binary (pickled Python objects)".into(),
                found: array.data_type().to_string(),
            })?;
        Python::attach(|py| {
            let loads = py.import("pickle")?.getattr("loads")?;
            let objects = (0..pickles.len())
                .map(|i| {
                    Ok(PyObj::new(
                        loads.call1((PyBytes::new(py, pickles.value(i)),))?.unbind(),
                    ))
                })
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyColumn(Arc::new(objects)))
        })
        .map_err(|e| python_failure("unpickling checkpointed Python objects", e))
    }
}

impl Column for PyColumn {
    type Item = PyObj;
    fn len(&self) -> usize {
        self.0.len()
    }
    fn value(&self, i: usize) -> &PyObj {
        &self.0[i]
    }
    /// Pickles every element (checkpoints). The engine's signature cannot fail, so an
    /// unpicklable element panics, which fails the batch with the pickling error's traceback
    /// (PySpark fails the same program with a `PicklingError`).
    fn to_arrow(&self) -> ArrayRef {
        let pickles = Python::attach(|py| {
            let dumps = py.import("pickle")?.getattr("dumps")?;
            self.0
                .iter()
                .map(|o| dumps.call1((o.bind(py),))?.extract::<Vec<u8>>())
                .collect::<PyResult<Vec<_>>>()
        });
        match pickles {
            Ok(p) => Arc::new(BinaryArray::from_iter_values(p)),
            Err(e) => panic!(
                "{}",
                python_failure("pickling Python objects for a checkpoint", e)
            ),
        }
    }
    fn data_buffers(&self, _out: &mut Vec<Buffer>) {}
    fn empty() -> Self {
        PyColumn(Arc::new(Vec::new()))
    }
}

impl ColumnBuilder for PyBuilder {
    type Item = PyObj;
    fn new(capacity: usize, _sources: &Sources) -> Self {
        PyBuilder(Vec::with_capacity(capacity))
    }
    fn push_ref(&mut self, v: &PyObj) {
        self.0.push(v.clone());
    }
    fn push(&mut self, v: PyObj) {
        self.0.push(v);
    }
    fn push_placeholder(&mut self) {
        self.0.push(Python::attach(|py| PyObj::new(py.None())));
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn finish(self) -> PyColumn {
        PyColumn(Arc::new(self.0))
    }
}

impl Value for PyObj {
    type Data = PyObj;
    fn append_to(self, builder: &mut PyBuilder) {
        builder.0.push(self);
    }
    fn view(&self) -> Option<&PyObj> {
        Some(self)
    }
}
