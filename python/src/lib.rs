//! The native half of the Python package `dstreams` (`dstreams._dstreams`): the engine's
//! streaming context and streams over Python objects. The Python modules (`python/dstreams/`)
//! give them `pyspark.streaming`'s API and choose, per operation, the native implementation of
//! a recognised function or a call into Python.

mod batch;
mod context;
mod element;
mod errors;
mod fused;
mod rdd;
mod stream;
mod unboxed;

use pyo3::prelude::*;

#[pymodule]
fn _dstreams(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<context::Context>()?;
    m.add_class::<stream::Stream>()?;
    m.add_class::<rdd::Rdd>()?;
    m.add("DStreamsError", m.py().get_type::<errors::DStreamsError>())?;
    Ok(())
}
