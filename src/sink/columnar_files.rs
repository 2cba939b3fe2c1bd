//! `save_as_parquet_files` and `save_as_arrow_files`: a batch's partitions as Parquet or Arrow IPC
//! files in Spark's directory per batch (see [`batch_dirs`](super::batch_dirs)).
//!
//! The columns are [`Batch::to_record_batches`]'s (tuples as `_1`, `_2`, ...; other types one
//! `value` column), with every field marked nullable, as Spark marks the columns it writes to
//! Parquet: a column's nullability would otherwise depend on whether a partition happened to hold
//! a null, and the parts of a batch, and the batches of a stream, would disagree on their schema.

use super::batch_dirs::save_parts;
use crate::data::{Batch, Data};
use crate::error::{Error, Result};
use crate::kernels::compact::compact;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Field, Fields, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

/// A columnar file format of the file outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColumnarFormat {
    /// Apache Parquet, Snappy-compressed (`part-NNNNN.parquet`).
    Parquet,
    /// The Arrow IPC file format (`part-NNNNN.arrow`).
    ArrowIpc,
}

impl ColumnarFormat {
    fn extension(self) -> &'static str {
        match self {
            ColumnarFormat::Parquet => "parquet",
            ColumnarFormat::ArrowIpc => "arrow",
        }
    }
}

/// Writes one batch as a directory of part files in `format`, one per partition (a batch without
/// partitions gets one empty part, so readers still see the columns), plus `_SUCCESS`.
pub(crate) fn save_batch_as<T: Data>(
    format: ColumnarFormat,
    batch: &Batch<T>,
    dir: &Path,
) -> Result<()> {
    let parts = if batch.num_partitions() == 0 {
        Batch::<T>::empty().to_record_batches()?
    } else {
        batch.to_record_batches()?
    };
    save_parts(
        dir,
        &parts,
        batch.origin(),
        format.extension(),
        |part, path| {
            let part = for_files(part, format)?;
            match format {
                ColumnarFormat::Parquet => write_parquet(&part, path),
                ColumnarFormat::ArrowIpc => write_arrow_ipc(&part, path),
            }
        },
    )
}

/// `part` as the files hold it: every field nullable; for Arrow IPC, string views copied out of
/// the input buffers they point into (the IPC writer writes every buffer a view array holds, and
/// a partition's views point into receiver segments or files far larger than the partition).
fn for_files(part: &RecordBatch, format: ColumnarFormat) -> Result<RecordBatch> {
    let compact_views = format == ColumnarFormat::ArrowIpc;
    let columns = part
        .columns()
        .iter()
        .map(|c| prepare(c, compact_views))
        .collect::<Result<Vec<_>>>()?;
    let fields: Fields = part
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// `array` as an Arrow IPC writer should get it: [`prepare`] with views compacted (the IPC
/// writer writes whole view buffers, however little of them the views use).
pub(crate) fn prepare_for_ipc(array: &ArrayRef) -> Result<ArrayRef> {
    prepare(array, true)
}

/// `array` with the fields of its structs and lists marked nullable, at every depth, and its
/// string and binary views compacted when `compact_views`. Buffers are shared otherwise.
fn prepare(array: &ArrayRef, compact_views: bool) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let columns = s
                .columns()
                .iter()
                .map(|c| prepare(c, compact_views))
                .collect::<Result<Vec<_>>>()?;
            let fields: Fields = fields
                .iter()
                .zip(&columns)
                .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
                .collect();
            Arc::new(StructArray::try_new(fields, columns, s.nulls().cloned())?)
        }
        DataType::List(item) => {
            let list = array.as_list::<i32>();
            let values = prepare(list.values(), compact_views)?;
            let item = Field::new(item.name(), values.data_type().clone(), true);
            Arc::new(ListArray::try_new(
                Arc::new(item),
                list.offsets().clone(),
                values,
                list.nulls().cloned(),
            )?)
        }
        DataType::Utf8View if compact_views => Arc::new(compact(array.as_string_view())),
        DataType::BinaryView if compact_views => Arc::new(array.as_binary_view().gc()),
        _ => array.clone(),
    })
}

/// An I/O error while writing the part file `path`.
fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(format!("writing {}", path.display()), e)
}

fn write_parquet(part: &RecordBatch, path: &Path) -> Result<()> {
    let failed = |e: parquet::errors::ParquetError| io_error(path)(std::io::Error::other(e));
    let file = File::create(path).map_err(io_error(path))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, part.schema(), Some(properties)).map_err(failed)?;
    writer.write(part).map_err(failed)?;
    writer.close().map_err(failed)?;
    Ok(())
}

fn write_arrow_ipc(part: &RecordBatch, path: &Path) -> Result<()> {
    let failed = |e: arrow_schema::ArrowError| io_error(path)(std::io::Error::other(e));
    let file = File::create(path).map_err(io_error(path))?;
    let out = BufWriter::with_capacity(1 << 20, file);
    let mut writer = FileWriter::try_new(out, &part.schema()).map_err(failed)?;
    writer.write(part).map_err(failed)?;
    writer.finish().map_err(failed)?;
    let out = writer.into_inner().map_err(failed)?;
    out.into_inner()
        .map_err(|e| io_error(path)(e.into_error()))?;
    Ok(())
}
