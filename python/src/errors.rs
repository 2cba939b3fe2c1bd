//! Errors across the boundary: a Python exception inside a user function fails its batch with
//! the exception's traceback (as PySpark does); an engine error reaches Python as
//! `dstreams.DStreamsError`.

use pyo3::prelude::*;

pyo3::create_exception!(
    _dstreams,
    DStreamsError,
    pyo3::exceptions::PyException,
    "A batch or the context failed; the message holds the engine's error and, for a Python function, its traceback."
);

/// The exception as Python prints it: `Traceback (most recent call last): ...` and the
/// exception's type and message.
fn traceback_text(py: Python<'_>, e: &PyErr) -> String {
    let formatted = (|| -> PyResult<String> {
        let lines = py
            .import("traceback")?
            .getattr("format_exception")?
            .call1((e.get_type(py), e.value(py), e.traceback(py)))?;
        Ok(lines.extract::<Vec<String>>()?.concat())
    })();
    formatted.unwrap_or_else(|_| e.to_string())
}

/// A Python function's failure as the engine's error (the batch fails with it).
pub fn python_failure(operation: &str, e: PyErr) -> dstreams::Error {
    let message = Python::attach(|py| traceback_text(py, &e));
    dstreams::Error::UserFunction {
        operation: operation.to_string(),
        message,
    }
}

/// An engine error as a Python exception.
pub fn to_python(e: dstreams::Error) -> PyErr {
    DStreamsError::new_err(e.to_string())
}
