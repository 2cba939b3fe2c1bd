//! An unrecognised `map` followed by `reduceByKey(add)`, fused: the map function runs in
//! Python over a partition of words (one call), and its results are summed as they come, natively
//! while they are `(str, int)` pairs within `i64`, never materialised as a partition of tuples.
//!
//! The result is exactly what the package's Python `reduceByKey` gives for the partition: one
//! `(key, total)` per key in the order the keys first appear, each total the left-to-right `+`
//! of the key's values. A key's total leaves the native sum for Python's `+` at its first value
//! that is not an exact `int`, or when the sum would overflow `i64`; results that are not a pair
//! with an exact `str` key are folded in Python after the native ones.

use dstreams::Data;
use hashbrown::HashMap;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple};

/// A key's running total.
enum Total<'py> {
    /// While every value was an exact `int` and the sum fits.
    Native(i64),
    /// Python's `+` from then on.
    Python(Bound<'py, PyAny>),
}

impl<'py> Total<'py> {
    fn add(
        &mut self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
        exact: Option<i64>,
    ) -> PyResult<()> {
        *self = match (&*self, exact) {
            (Total::Native(sum), Some(v)) => match sum.checked_add(v) {
                Some(s) => Total::Native(s),
                None => Total::Python(sum.into_pyobject(py)?.into_any().add(value)?),
            },
            (Total::Native(sum), None) => {
                Total::Python(sum.into_pyobject(py)?.into_any().add(value)?)
            }
            (Total::Python(total), _) => Total::Python(total.add(value)?),
        };
        Ok(())
    }

    fn into_object(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Total::Native(n) => Ok(n.into_pyobject(py)?.into_any()),
            Total::Python(o) => Ok(o),
        }
    }
}

/// One key's entry, in first-appearance order.
struct Entry<'py> {
    key: Bound<'py, PyString>,
    total: Total<'py>,
}

/// The value as an `i64` when it is an exact `int` (not a `bool`) within range.
fn exact_i64(value: &Bound<'_, PyAny>) -> Option<i64> {
    if value.is_exact_instance_of::<PyInt>() {
        value.extract::<i64>().ok()
    } else {
        None
    }
}

/// The partition's words as Python `str`s, each distinct short word boxed once (sharing one
/// immutable `str` is invisible to the program; it saves most of the boxing). A word of up to
/// 12 bytes is known by its 16-byte Arrow view alone (length and bytes inline), so finding it
/// again reads no string.
fn boxed_words<'py>(
    py: Python<'py>,
    col: &<String as Data>::Column,
) -> PyResult<Bound<'py, PyList>> {
    const INLINE: u32 = 12;
    let mut short: HashMap<u128, Bound<'py, PyString>> = HashMap::new();
    let words = col.views().iter().enumerate().map(|(i, &view)| {
        if view as u32 <= INLINE {
            short
                .entry(view)
                .or_insert_with(|| PyString::new(py, col.value(i)))
                .clone()
        } else {
            PyString::new(py, col.value(i))
        }
    });
    PyList::new(py, words.collect::<Vec<_>>())
}

/// `map(f)` over the partition's words, then its `reduceByKey(add)` partial sums as a list of
/// `(key, total)` tuples.
pub fn map_then_combine_partition<'py>(
    py: Python<'py>,
    f: &Bound<'py, PyAny>,
    col: &<String as Data>::Column,
) -> PyResult<Bound<'py, PyList>> {
    let words = boxed_words(py, col)?;
    let mapped = py.import("builtins")?.getattr("map")?.call1((f, words))?;
    let mut entries: Vec<Entry<'py>> = Vec::new();
    let mut by_text: HashMap<String, usize> = HashMap::new();
    // Most keys are the very `str` objects boxed above (`lambda w: (w, ...)`): found by address
    // without reading their text. An address stays valid as its entry holds the object.
    let mut by_address: HashMap<usize, usize> = HashMap::new();
    let mut others: Vec<Bound<'py, PyAny>> = Vec::new();
    for result in mapped.try_iter()? {
        let result = result?;
        let pair = match result.cast::<PyTuple>() {
            Ok(t) if t.is_exact_instance_of::<PyTuple>() && t.len() == 2 => t,
            _ => {
                others.push(result);
                continue;
            }
        };
        let (key, value) = (pair.get_item(0)?, pair.get_item(1)?);
        if !key.is_exact_instance_of::<PyString>() {
            others.push(result);
            continue;
        }
        let exact = exact_i64(&value);
        let address = key.as_ptr() as usize;
        let index = match by_address.get(&address) {
            Some(&i) => Some(i),
            None => {
                let key = key.cast_into::<PyString>()?;
                let text = key.to_cow()?;
                match by_text.get(text.as_ref()) {
                    Some(&i) => Some(i),
                    None => {
                        by_text.insert(text.into_owned(), entries.len());
                        by_address.insert(address, entries.len());
                        let total = match exact {
                            Some(v) => Total::Native(v),
                            None => Total::Python(value.clone()),
                        };
                        entries.push(Entry { key, total });
                        None
                    }
                }
            }
        };
        if let Some(i) = index {
            entries[i].total.add(py, &value, exact)?;
        }
    }
    let native = entries
        .into_iter()
        .map(|e| PyTuple::new(py, [e.key.into_any(), e.total.into_object(py)?]))
        .collect::<PyResult<Vec<_>>>()?;
    if others.is_empty() {
        return PyList::new(py, native);
    }
    // Results of other shapes: folded after the native keys, with Python's `+`, unpacked as
    // Python's `for k, v in ...` would (a non-pair fails the batch as it does in PySpark).
    let totals = PyDict::new(py);
    for pair in native {
        totals.set_item(pair.get_item(0)?, pair.get_item(1)?)?;
    }
    for result in others {
        let (key, value): (Bound<'py, PyAny>, Bound<'py, PyAny>) = unpack_pair(&result)?;
        match totals.get_item(&key)? {
            Some(total) => totals.set_item(&key, total.add(&value)?)?,
            None => totals.set_item(&key, &value)?,
        }
    }
    PyList::new(py, totals.items())
}

/// `k, v = item`, with Python's errors for other lengths.
fn unpack_pair<'py>(item: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let values: Vec<Bound<'py, PyAny>> = item.try_iter()?.collect::<PyResult<_>>()?;
    match <[Bound<'py, PyAny>; 2]>::try_from(values) {
        Ok([k, v]) => Ok((k, v)),
        Err(values) => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "reduceByKey needs (key, value) pairs; map returned {} with {} items",
            item.repr()?,
            values.len()
        ))),
    }
}
