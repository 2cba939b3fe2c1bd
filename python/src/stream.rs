//! `Stream`: one engine DStream of one of the stream kinds, and the operations the Python
//! package builds its `DStream` from.
//!
//! Native operations (the recognised functions: `split(" ")`, `(w, 1)`, `a + b`, `a - b`, the
//! summing update function) keep a stream in the engine's types and never call Python. Python
//! functions run once per batch over all its partitions (`per_batch`), or, where the engine
//! keeps state across batches (`update_state`, `reduce_window`), once per key.

use std::sync::Arc;

use dstreams::{Batch, DStream, Duration, Separators};
use dstreams::{UpdateStateSpec, Window};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::batch::{AnyBatch, batch_of, map_with_gil};
use crate::element::PyObj;
use crate::errors::python_failure;
use crate::fused::map_then_combine_partition;
use crate::rdd::Rdd;
use crate::unboxed::Unboxed;

/// A stream of one of the kinds [`AnyBatch`] has.
#[derive(Clone)]
pub enum AnyStream {
    /// Strings.
    Str(DStream<String>),
    /// Word counts.
    Counts(DStream<(String, i64)>),
    /// Python objects.
    Obj(DStream<PyObj>),
}

/// A Python function shared by the engine's threads.
type PyFn = Arc<Py<PyAny>>;

impl AnyStream {
    /// A stream of Python objects computed from each batch of this one by `f`.
    fn derive(
        &self,
        f: impl Fn(AnyBatch) -> dstreams::Result<Batch<PyObj>> + Send + Sync + 'static,
    ) -> DStream<PyObj> {
        let f = Arc::new(f);
        match self {
            AnyStream::Str(s) => s.transform(move |b: &Batch<String>| f(AnyBatch::Str(b.clone()))),
            AnyStream::Counts(s) => {
                s.transform(move |b: &Batch<(String, i64)>| f(AnyBatch::Counts(b.clone())))
            }
            AnyStream::Obj(s) => s.transform(move |b: &Batch<PyObj>| f(AnyBatch::Obj(b.clone()))),
        }
    }

    fn boxed(&self) -> DStream<PyObj> {
        match self {
            AnyStream::Obj(s) => s.clone(),
            _ => self.derive(|b| {
                Python::attach(|py| b.boxed(py)).map_err(|e| python_failure("boxing a batch", e))
            }),
        }
    }
}

/// Calls `f(time_ms, partitions)` with the batch's partitions as Python lists and reads the
/// partitions it returns.
fn call_per_batch(
    f: &PyFn,
    operation: &str,
    batch: &AnyBatch,
    time_ms: i64,
) -> dstreams::Result<Batch<PyObj>> {
    Python::attach(|py| {
        let parts = batch.partition_lists(py)?;
        let out = f.bind(py).call1((time_ms, parts))?;
        batch_of(&out)
    })
    .map_err(|e| python_failure(operation, e))
}

/// Panics with a Python function's failure: for the engine's per-key closures, which cannot
/// return an error; the scheduler fails the batch with the message (the traceback).
fn fail_batch(operation: &str, e: PyErr) -> ! {
    panic!("{}", python_failure(operation, e))
}

/// `(key, value)` tuples as the engine's pairs (PySpark fails a non-pair element too).
fn unpack_pairs(stream: &DStream<PyObj>, operation: &'static str) -> DStream<(Unboxed, Unboxed)> {
    map_with_gil(stream, operation, |py, o| {
        let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = o.bind(py).extract()?;
        Ok((Unboxed::of(&k)?, Unboxed::of(&v)?))
    })
}

/// The engine's pairs as `(key, value)` tuples.
fn pack_pairs(stream: &DStream<(Unboxed, Unboxed)>, operation: &'static str) -> DStream<PyObj> {
    map_with_gil(stream, operation, |py, (k, v)| {
        Ok(PyObj::of(
            PyTuple::new(py, [k.to_py(py)?, v.to_py(py)?])?.as_any(),
        ))
    })
}

/// `sum(new_values) + (last_sum or 0)` natively, when every value and the state are `int`s
/// within `i64` and nothing overflows.
fn native_update_sum(new: &[&Unboxed], last: Option<&Unboxed>) -> Option<i64> {
    let start = match last {
        None => 0,
        Some(Unboxed::Int(s)) => *s,
        Some(_) => return None,
    };
    let mut sum: i64 = 0;
    for v in new {
        let Unboxed::Int(v) = v else { return None };
        sum = sum.checked_add(*v)?;
    }
    sum.checked_add(start)
}

fn with_partitions<T: dstreams::Data>(s: DStream<T>, n: Option<usize>) -> DStream<T> {
    match n {
        Some(n) => s.with_partitions(n),
        None => s,
    }
}

/// One engine stream, as the Python package sees it.
#[pyclass(frozen, module = "dstreams._dstreams")]
pub struct Stream {
    pub(crate) s: AnyStream,
}

impl Stream {
    fn of(s: AnyStream) -> Stream {
        Stream { s }
    }

    /// Union with a stream of the same kind, or of both boxed.
    pub(crate) fn union_with(&self, other: &Stream) -> Stream {
        Stream::of(match (&self.s, &other.s) {
            (AnyStream::Str(a), AnyStream::Str(b)) => AnyStream::Str(a.union(b)),
            (AnyStream::Counts(a), AnyStream::Counts(b)) => AnyStream::Counts(a.union(b)),
            (a, b) => AnyStream::Obj(a.boxed().union(&b.boxed())),
        })
    }

    fn strings(&self, operation: &str) -> PyResult<&DStream<String>> {
        match &self.s {
            AnyStream::Str(s) => Ok(s),
            _ => Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "{operation} needs a stream of strings"
            ))),
        }
    }

    fn counts(&self, operation: &str) -> PyResult<&DStream<(String, i64)>> {
        match &self.s {
            AnyStream::Counts(s) => Ok(s),
            _ => Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "{operation} needs a stream of word counts"
            ))),
        }
    }
}

#[pymethods]
impl Stream {
    /// `"str"`, `"counts"` or `"obj"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.s {
            AnyStream::Str(_) => "str",
            AnyStream::Counts(_) => "counts",
            AnyStream::Obj(_) => "obj",
        }
    }

    // ---- native operations --------------------------------------------------------------

    /// `flatMap(lambda line: line.split(" "))`: Python's split, empty words kept.
    fn split_space(&self) -> PyResult<Stream> {
        Ok(Stream::of(AnyStream::Str(
            self.strings("split")?
                .split(Separators::SpaceKeepTrailingEmpty),
        )))
    }

    /// `map(lambda w: (w, 1))`.
    fn pair_one(&self) -> PyResult<Stream> {
        Ok(Stream::of(AnyStream::Counts(
            self.strings("map")?.map(|w| (w, 1i64)),
        )))
    }

    /// `countByValue()` of strings.
    #[pyo3(signature = (num_partitions=None))]
    fn count_by_value(&self, num_partitions: Option<usize>) -> PyResult<Stream> {
        let s = self.strings("countByValue")?.count_by_value();
        Ok(Stream::of(AnyStream::Counts(with_partitions(
            s,
            num_partitions,
        ))))
    }

    /// `reduceByKey(add)` of word counts. (A count is at most the number of records, so the
    /// sum cannot overflow `i64`.)
    #[pyo3(signature = (num_partitions=None))]
    fn reduce_add(&self, num_partitions: Option<usize>) -> PyResult<Stream> {
        let s = self.counts("reduceByKey")?.reduce_by_key(|a, b| a + b);
        Ok(Stream::of(AnyStream::Counts(with_partitions(
            s,
            num_partitions,
        ))))
    }

    /// `reduceByKeyAndWindow(add, sub or None, ...)` of word counts; `drop_zero` is the
    /// recognised filter `lambda kv: kv[1] != 0` (or `> 0`: counts are never negative). With
    /// `positive` (every batch's counts are at least 1: `countByValue`'s), a window's count is 0
    /// exactly when none of its batches holds the key, so the window forgets such keys instead
    /// of filtering its whole result every batch.
    #[pyo3(signature = (window_ms, slide_ms, inverse, drop_zero, positive, num_partitions=None))]
    #[allow(clippy::too_many_arguments)]
    fn window_add(
        &self,
        window_ms: i64,
        slide_ms: i64,
        inverse: bool,
        drop_zero: bool,
        positive: bool,
        num_partitions: Option<usize>,
    ) -> PyResult<Stream> {
        let mut window = Window::new(Duration::millis(window_ms), Duration::millis(slide_ms));
        if inverse {
            window = window.inverse(|a, b| a - b);
            if drop_zero && positive {
                window = window.drop_empty_keys();
            }
        }
        let s = self
            .counts("reduceByKeyAndWindow")?
            .reduce_by_key_and_window_with(|a, b| a + b, window);
        let s = with_partitions(s, num_partitions);
        let s = if drop_zero && !positive {
            s.filter(|(_, n)| n != 0)
        } else {
            s
        };
        Ok(Stream::of(AnyStream::Counts(s)))
    }

    /// `updateStateByKey(lambda new, last: sum(new) + (last or 0), initialRDD=...)` of word
    /// counts.
    #[pyo3(signature = (initial, num_partitions=None))]
    fn update_sum(
        &self,
        initial: Vec<(String, i64)>,
        num_partitions: Option<usize>,
    ) -> PyResult<Stream> {
        let mut spec = UpdateStateSpec::function(|new: &[i64], last: Option<i64>| {
            Some(new.iter().sum::<i64>() + last.unwrap_or(0))
        });
        if !initial.is_empty() {
            spec = spec.initial_state(Batch::from_vec(initial, num_partitions.unwrap_or(1)));
        }
        let s = self
            .counts("updateStateByKey")?
            .update_state_by_key_with(spec);
        Ok(Stream::of(AnyStream::Counts(with_partitions(
            s,
            num_partitions,
        ))))
    }

    /// `filter(lambda kv: kv[1] != 0)` (or `> 0`) of word counts.
    fn drop_zero_counts(&self) -> PyResult<Stream> {
        Ok(Stream::of(AnyStream::Counts(
            self.counts("filter")?.filter(|(_, n)| n != 0),
        )))
    }

    // ---- operations on any kind -----------------------------------------------------------

    /// `count()`: per batch one partition holding the number of elements (never boxing them).
    fn count(&self) -> Stream {
        Stream::of(AnyStream::Obj(self.s.derive(|b| {
            let n = b.len();
            let count =
                Python::attach(|py| Ok::<_, PyErr>(PyObj::of(&n.into_pyobject(py)?.into_any())))
                    .map_err(|e| python_failure("count", e))?;
            Ok(Batch::from_partitions(vec![
                dstreams::data::column_from_values([count]),
            ]))
        })))
    }

    fn window(&self, window_ms: i64, slide_ms: i64) -> Stream {
        let (w, s) = (Duration::millis(window_ms), Duration::millis(slide_ms));
        Stream::of(match &self.s {
            AnyStream::Str(x) => AnyStream::Str(x.window(w, s)),
            AnyStream::Counts(x) => AnyStream::Counts(x.window(w, s)),
            AnyStream::Obj(x) => AnyStream::Obj(x.window(w, s)),
        })
    }

    fn repartition(&self, num_partitions: usize) -> Stream {
        Stream::of(match &self.s {
            AnyStream::Str(x) => AnyStream::Str(x.repartition(num_partitions)),
            AnyStream::Counts(x) => AnyStream::Counts(x.repartition(num_partitions)),
            AnyStream::Obj(x) => AnyStream::Obj(x.repartition(num_partitions)),
        })
    }

    fn union(&self, other: &Stream) -> Stream {
        self.union_with(other)
    }

    /// The stream as Python objects.
    fn boxed(&self) -> Stream {
        Stream::of(AnyStream::Obj(self.s.boxed()))
    }

    // ---- Python functions -----------------------------------------------------------------

    /// `f(time_ms, partitions) -> partitions`, once per batch.
    fn per_batch(&self, f: Py<PyAny>, operation: String) -> Stream {
        let f: PyFn = Arc::new(f);
        Stream::of(AnyStream::Obj(
            self.s
                .derive(move |b| call_per_batch(&f, &operation, &b, b.time_ms())),
        ))
    }

    /// `f(time_ms, partitions, other_partitions) -> partitions`, once per batch.
    fn per_batch_with(&self, other: &Stream, f: Py<PyAny>, operation: String) -> Stream {
        let f: PyFn = Arc::new(f);
        let (a, b) = (self.s.boxed(), other.s.boxed());
        Stream::of(AnyStream::Obj(a.transform_with(
            &b,
            move |x: &Batch<PyObj>, y: &Batch<PyObj>| {
                Python::attach(|py| {
                    let xs = AnyBatch::Obj(x.clone()).partition_lists(py)?;
                    let ys = AnyBatch::Obj(y.clone()).partition_lists(py)?;
                    batch_of(&f.bind(py).call1((x.time().as_millis(), xs, ys))?)
                })
                .map_err(|e| python_failure(&operation, e))
            },
        )))
    }

    /// `map(f)` over strings followed by `reduceByKey(add)`, fused: `f` runs in Python once
    /// per partition, its `(str, int)` results are summed natively per partition (others in
    /// Python, in order), and `merge(time_ms, partials) -> partitions` merges the partitions'
    /// partial sums exactly as the package's `reduceByKey` does.
    fn map_then_add(&self, f: Py<PyAny>, merge: Py<PyAny>) -> PyResult<Stream> {
        let (f, merge): (PyFn, PyFn) = (Arc::new(f), Arc::new(merge));
        let s = self.strings("map")?;
        Ok(Stream::of(AnyStream::Obj(s.transform(
            move |b: &Batch<String>| {
                Python::attach(|py| {
                    let partials = b
                        .partitions()
                        .iter()
                        .map(|col| map_then_combine_partition(py, f.bind(py), col))
                        .collect::<PyResult<Vec<_>>>()?;
                    let partials = PyList::new(py, partials)?;
                    batch_of(&merge.bind(py).call1((b.time().as_millis(), partials))?)
                })
                .map_err(|e| python_failure("map", e))
            },
        ))))
    }

    /// `updateStateByKey(f, initialRDD=initial)` with a Python function, called once per key
    /// and batch with the key's new values (a list) and its state (`None` if none); `None`
    /// back removes the key. `native_sum`: `f` is the recognised summing function, computed
    /// natively while the values and the state are `int`s within `i64`.
    #[pyo3(signature = (f, initial, native_sum, num_partitions=None))]
    fn update_state(
        &self,
        py: Python<'_>,
        f: Py<PyAny>,
        initial: Vec<Py<PyAny>>,
        native_sum: bool,
        num_partitions: Option<usize>,
    ) -> PyResult<Stream> {
        let pairs = unpack_pairs(&self.s.boxed(), "updateStateByKey");
        let f: PyFn = Arc::new(f);
        let mut spec = UpdateStateSpec::function(move |new: &[&Unboxed], last: Option<Unboxed>| {
            if native_sum && let Some(sum) = native_update_sum(new, last.as_ref()) {
                return Some(Unboxed::Int(sum));
            }
            Python::attach(|py| {
                let new = new
                    .iter()
                    .map(|v| v.to_py(py))
                    .collect::<PyResult<Vec<_>>>()?;
                let last = match &last {
                    Some(s) => s.to_py(py)?,
                    None => py.None().into_bound(py),
                };
                let state = f.bind(py).call1((PyList::new(py, new)?, last))?;
                if state.is_none() {
                    Ok(None)
                } else {
                    Unboxed::of(&state).map(Some)
                }
            })
            .unwrap_or_else(|e| fail_batch("updateStateByKey", e))
        });
        if !initial.is_empty() {
            let pairs = initial
                .iter()
                .map(|kv| {
                    let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = kv.bind(py).extract()?;
                    Ok((Unboxed::of(&k)?, Unboxed::of(&v)?))
                })
                .collect::<PyResult<Vec<_>>>()?;
            spec = spec.initial_state(Batch::from_vec(pairs, num_partitions.unwrap_or(1)));
        }
        let state = with_partitions(pairs.update_state_by_key_with(spec), num_partitions);
        Ok(Stream::of(AnyStream::Obj(pack_pairs(
            &state,
            "updateStateByKey",
        ))))
    }

    /// `reduceByKeyAndWindow(f, inv, ...)` with Python functions, called per pair of values by
    /// the engine's keyed window (`inv` only when given). `native_add`/`native_sub`: `f` is
    /// the recognised `+` / `inv` the recognised `-`, computed natively on `int`s within `i64`
    /// and by Python's operator otherwise.
    #[pyo3(signature = (f, inv, native_add, native_sub, window_ms, slide_ms, num_partitions=None))]
    #[allow(clippy::too_many_arguments)]
    fn reduce_window(
        &self,
        f: Py<PyAny>,
        inv: Option<Py<PyAny>>,
        native_add: bool,
        native_sub: bool,
        window_ms: i64,
        slide_ms: i64,
        num_partitions: Option<usize>,
    ) -> Stream {
        let pairs = unpack_pairs(&self.s.boxed(), "reduceByKeyAndWindow");
        let function = |f: PyFn, native: bool, subtract: bool, operation: &'static str| {
            move |a: Unboxed, b: Unboxed| {
                let result = if native {
                    Unboxed::arith(&a, &b, subtract)
                } else {
                    Python::attach(|py| {
                        Unboxed::of(&f.bind(py).call1((a.to_py(py)?, b.to_py(py)?))?)
                    })
                };
                result.unwrap_or_else(|e| fail_batch(operation, e))
            }
        };
        let mut window = Window::new(Duration::millis(window_ms), Duration::millis(slide_ms));
        if let Some(inv) = inv {
            window = window.inverse(function(
                Arc::new(inv),
                native_sub,
                true,
                "reduceByKeyAndWindow's inverse function",
            ));
        }
        let reduced = pairs.reduce_by_key_and_window_with(
            function(Arc::new(f), native_add, false, "reduceByKeyAndWindow"),
            window,
        );
        Stream::of(AnyStream::Obj(pack_pairs(
            &with_partitions(reduced, num_partitions),
            "reduceByKeyAndWindow",
        )))
    }

    // ---- outputs --------------------------------------------------------------------------

    /// `foreachRDD`: `f(time_ms, rdd)` per batch, `rdd` the batch (boxed only when read).
    fn foreach(&self, f: Py<PyAny>, operation: String) {
        let f: PyFn = Arc::new(f);
        let run = move |b: AnyBatch| -> dstreams::Result<()> {
            let time = b.time_ms();
            Python::attach(|py| f.bind(py).call1((time, Rdd::new(b))).map(drop))
                .map_err(|e| python_failure(&operation, e))
        };
        match &self.s {
            AnyStream::Str(s) => {
                s.foreach_rdd(move |b: &Batch<String>| run(AnyBatch::Str(b.clone())))
            }
            AnyStream::Counts(s) => {
                s.foreach_rdd(move |b: &Batch<(String, i64)>| run(AnyBatch::Counts(b.clone())))
            }
            AnyStream::Obj(s) => {
                s.foreach_rdd(move |b: &Batch<PyObj>| run(AnyBatch::Obj(b.clone())))
            }
        }
    }

    /// `saveAsTextFiles(prefix, suffix)`: per batch the directory `prefix-<ms>[.suffix]` of
    /// part files, one `str()` of an element per line (PySpark's layout and text).
    fn save_as_text_files(&self, prefix: &str, suffix: &str) {
        let lines: DStream<String> = match &self.s {
            AnyStream::Str(s) => s.clone(),
            _ => map_with_gil(&self.s.boxed(), "saveAsTextFiles", |py, o| {
                Ok(o.bind(py).str()?.to_cow()?.into_owned())
            }),
        };
        lines.save_as_text_files(prefix, suffix);
    }
}
