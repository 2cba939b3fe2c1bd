//! `Unboxed`: a Python key or value held by the engine's keyed state and windows, natively when
//! it is an exact `int` within `i64` or an exact `str`, as the object otherwise.
//!
//! State and windows touch every key of every batch: hashing and comparing keys, and adding
//! values with a recognised `+`, natively, keeps the GIL out of them for the usual word counts;
//! anything else goes through Python exactly as the object would.

use std::fmt;
use std::sync::Arc;

use dstreams::ahash::RandomState;
use dstreams::arrow_array::ArrayRef;
use dstreams::arrow_buffer::Buffer;
use dstreams::arrow_schema::DataType;
use dstreams::data::{Column, ColumnBuilder, ScopeId, Sources};
use dstreams::{Data, Key, Value};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString, PyTuple};

use crate::element::{PyArg, PyColumn, PyObj};
use crate::errors::python_failure;

/// A key or value: an exact `int` within `i64`, an exact `str`, or any object.
#[derive(Clone)]
pub enum Unboxed {
    Int(i64),
    Str(Arc<str>),
    Obj(PyObj),
}

impl Unboxed {
    /// The native form of `obj` where it has one.
    pub fn of(obj: &Bound<'_, PyAny>) -> PyResult<Unboxed> {
        if obj.is_exact_instance_of::<PyInt>()
            && let Ok(i) = obj.extract::<i64>()
        {
            return Ok(Unboxed::Int(i));
        }
        if obj.is_exact_instance_of::<PyString>() {
            return Ok(Unboxed::Str(Arc::from(
                obj.cast::<PyString>()?.to_cow()?.as_ref(),
            )));
        }
        Ok(Unboxed::Obj(PyObj::of(obj)))
    }

    /// The Python object.
    pub fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            Unboxed::Int(i) => i.into_pyobject(py)?.into_any(),
            Unboxed::Str(s) => PyString::new(py, s).into_any(),
            Unboxed::Obj(o) => o.bind(py).clone(),
        })
    }

    /// `a + b` (or `a - b`): natively for two `i64`s that do not overflow, else Python's.
    pub fn arith(a: &Unboxed, b: &Unboxed, subtract: bool) -> PyResult<Unboxed> {
        if let (Unboxed::Int(x), Unboxed::Int(y)) = (a, b) {
            let native = if subtract {
                x.checked_sub(*y)
            } else {
                x.checked_add(*y)
            };
            if let Some(n) = native {
                return Ok(Unboxed::Int(n));
            }
        }
        Python::attach(|py| {
            let (x, y) = (a.to_py(py)?, b.to_py(py)?);
            Unboxed::of(&if subtract { x.sub(y)? } else { x.add(y)? })
        })
    }
}

/// A column of [`Unboxed`].
#[derive(Clone)]
pub struct UnboxedColumn(Arc<Vec<Unboxed>>);

/// Builds an [`UnboxedColumn`].
pub struct UnboxedBuilder(Vec<Unboxed>);

impl Data for Unboxed {
    type Ref<'a> = &'a Unboxed;
    type Arg = PyArg;
    type Column = UnboxedColumn;
    type Builder = UnboxedBuilder;

    fn to_owned_value(r: &Unboxed) -> Self {
        r.clone()
    }
    fn shorten<'a, 'b: 'a>(r: &'b Unboxed) -> &'a Unboxed {
        r
    }
    fn arg(_r: &Unboxed, _scope: ScopeId) -> PyArg {
        PyArg
    }
    fn fmt_spark(r: &Unboxed, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match r {
            Unboxed::Int(i) => write!(f, "{i}"),
            Unboxed::Str(s) => f.write_str(s),
            Unboxed::Obj(o) => PyObj::fmt_spark(o, f),
        }
    }
    /// Checkpointed as the objects' pickles, as [`PyObj`] is.
    fn data_type() -> DataType {
        PyObj::data_type()
    }
    fn column_from_arrow(array: &ArrayRef) -> dstreams::Result<UnboxedColumn> {
        let objects = PyObj::column_from_arrow(array)?;
        Python::attach(|py| {
            let values = objects
                .0
                .iter()
                .map(|o| Unboxed::of(o.bind(py)))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(UnboxedColumn(Arc::new(values)))
        })
        .map_err(|e| python_failure("reading checkpointed Python objects", e))
    }
}

impl Column for UnboxedColumn {
    type Item = Unboxed;
    fn len(&self) -> usize {
        self.0.len()
    }
    fn value(&self, i: usize) -> &Unboxed {
        &self.0[i]
    }
    fn to_arrow(&self) -> ArrayRef {
        let objects = Python::attach(|py| {
            self.0
                .iter()
                .map(|v| Ok(PyObj::of(&v.to_py(py)?)))
                .collect::<PyResult<Vec<_>>>()
        });
        match objects {
            Ok(o) => PyColumn(Arc::new(o)).to_arrow(),
            Err(e) => panic!(
                "{}",
                python_failure("pickling Python objects for a checkpoint", e)
            ),
        }
    }
    fn data_buffers(&self, _out: &mut Vec<Buffer>) {}
    fn empty() -> Self {
        UnboxedColumn(Arc::new(Vec::new()))
    }
}

impl ColumnBuilder for UnboxedBuilder {
    type Item = Unboxed;
    fn new(capacity: usize, _sources: &Sources) -> Self {
        UnboxedBuilder(Vec::with_capacity(capacity))
    }
    fn push_ref(&mut self, v: &Unboxed) {
        self.0.push(v.clone());
    }
    fn push(&mut self, v: Unboxed) {
        self.0.push(v);
    }
    fn push_placeholder(&mut self) {
        self.0.push(Unboxed::Int(0));
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn finish(self) -> UnboxedColumn {
        UnboxedColumn(Arc::new(self.0))
    }
}

impl Value for Unboxed {
    type Data = Unboxed;
    fn append_to(self, builder: &mut UnboxedBuilder) {
        builder.0.push(self);
    }
    fn view(&self) -> Option<&Unboxed> {
        Some(self)
    }
}

/// Python's hash of an `int` (`hash(n)`: `n` modulo 2^61 - 1, keeping its sign; -1 is -2),
/// which `1.0` and `True` share with `1`.
fn python_int_hash(n: i64) -> i64 {
    const MODULUS: i128 = (1 << 61) - 1;
    let h = ((n as i128).abs() % MODULUS) as i64;
    let h = if n < 0 { -h } else { h };
    if h == -1 { -2 } else { h }
}

/// Keys of the engine's keyed state and windows. Equal keys (Python's `==`) must hash equally
/// in every process, since checkpointed state is partitioned by the hash and read back by
/// another process: strings and bytes hash their contents (Python's own `str` hash is seeded per
/// process), tuples combine their items', numbers, `None` and `bool` use Python's hash
/// (deterministic, and `1`, `1.0` and `True` are one key in Python), other objects their
/// `__hash__` (as in PySpark, checkpointed state keyed by them needs `PYTHONHASHSEED` fixed).
/// `Int` and `Str` hash and compare natively; an unhashable key panics, failing the batch with
/// Python's `TypeError`.
impl Key for Unboxed {
    fn hash_key(k: &Unboxed, state: &RandomState) -> u64 {
        match k {
            Unboxed::Int(i) => state.hash_one(python_int_hash(*i)),
            Unboxed::Str(s) => state.hash_one(s.as_bytes()),
            Unboxed::Obj(o) => match Python::attach(|py| stable_hash(o.bind(py), state)) {
                Ok(h) => h,
                Err(e) => panic!("{}", python_failure("hashing a key", e)),
            },
        }
    }
    fn eq_key(a: &Unboxed, b: &Unboxed) -> bool {
        match (a, b) {
            (Unboxed::Int(x), Unboxed::Int(y)) => x == y,
            (Unboxed::Str(x), Unboxed::Str(y)) => x == y,
            (Unboxed::Int(_), Unboxed::Str(_)) | (Unboxed::Str(_), Unboxed::Int(_)) => false,
            _ => match Python::attach(|py| a.to_py(py)?.eq(b.to_py(py)?)) {
                Ok(eq) => eq,
                Err(e) => panic!("{}", python_failure("comparing keys", e)),
            },
        }
    }
}

/// A hash of `obj` equal for objects Python finds equal and the same in every process; equal to
/// the native variants' for an `int` or a `str`.
fn stable_hash(obj: &Bound<'_, PyAny>, state: &RandomState) -> PyResult<u64> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(state.hash_one(s.to_cow()?.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(state.hash_one(b.as_bytes()));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let items = t
            .iter()
            .map(|item| stable_hash(&item, state))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(state.hash_one(items));
    }
    Ok(state.hash_one(obj.hash()? as i64))
}
