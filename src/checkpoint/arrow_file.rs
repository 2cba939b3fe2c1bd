//! Operator state files: Arrow IPC files, written with their length and CRC-32 (recorded in the
//! metadata), and read back from a memory map without copying.

use super::CheckpointError;
use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_data::BufferSpec;
use arrow_ipc::convert::try_fb_to_schema;
use arrow_ipc::reader::{FileDecoder, read_footer_length};
use arrow_ipc::root_as_footer;
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Fields, Schema, SchemaRef};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

/// Passes writes through and keeps their length and CRC-32.
struct Checksummed<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
    bytes: u64,
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `batches` (all of `schema`) to a new file at `path`; returns its length and CRC-32.
/// (The checkpoint's durable directory write syncs it.)
pub(crate) fn write(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(u64, u32), CheckpointError> {
    let io = |e: std::io::Error| CheckpointError::io(path, e);
    let arrow = |e: arrow_schema::ArrowError| CheckpointError::Arrow {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = File::create_new(path).map_err(io)?;
    let (out, bytes, crc) =
        encode(BufWriter::with_capacity(1 << 20, file), schema, batches).map_err(arrow)?;
    out.into_inner().map_err(|e| io(e.into_error()))?;
    Ok((bytes, crc))
}

/// Writes `batches` (all of `schema`) as an Arrow IPC file to `out`; returns `out` and the
/// file's length and CRC-32.
pub(crate) fn encode<W: Write>(
    out: W,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(W, u64, u32), arrow_schema::ArrowError> {
    let out = Checksummed {
        inner: out,
        crc: crc32fast::Hasher::new(),
        bytes: 0,
    };
    let mut writer = FileWriter::try_new(out, schema)?;
    for b in batches {
        writer.write(b)?;
    }
    writer.finish()?;
    let out = writer.into_inner()?;
    Ok((out.inner, out.bytes, out.crc.finalize()))
}

/// Checks a mapped state file against the length and CRC-32 the metadata recorded.
pub(crate) fn verify(
    path: &Path,
    data: &Buffer,
    bytes: u64,
    crc: u32,
) -> Result<(), CheckpointError> {
    if data.len() as u64 != bytes {
        return Err(CheckpointError::Corrupt {
            reason: format!(
                "{} has {} bytes, the metadata says {bytes}",
                path.display(),
                data.len()
            ),
        });
    }
    if crc32fast::hash(data.as_slice()) != crc {
        return Err(CheckpointError::Corrupt {
            reason: format!("{} fails its checksum", path.display()),
        });
    }
    Ok(())
}

/// The record batches of an Arrow IPC file held in `data` (a mapped file: the arrays share its
/// pages).
pub(crate) fn read(path: &Path, data: &Buffer) -> Result<Vec<RecordBatch>, CheckpointError> {
    let bad = |message: String| CheckpointError::Arrow {
        path: path.to_path_buf(),
        message,
    };
    let len = data.len();
    if len < 10 {
        return Err(bad("too short for an Arrow file".into()));
    }
    let trailer: [u8; 10] = data.as_slice()[len - 10..]
        .try_into()
        .expect("ten bytes were sliced");
    let footer_len = read_footer_length(trailer).map_err(|e| bad(e.to_string()))?;
    let footer_start = (len - 10)
        .checked_sub(footer_len)
        .ok_or_else(|| bad("footer longer than the file".into()))?;
    let footer = root_as_footer(&data.as_slice()[footer_start..len - 10])
        .map_err(|e| bad(format!("footer: {e}")))?;
    let schema = footer
        .schema()
        .ok_or_else(|| bad("no schema in the footer".into()))?;
    let schema = try_fb_to_schema(schema).map_err(|e| bad(e.to_string()))?;
    let schema = Arc::new(schema);
    let decoder = FileDecoder::new(schema.clone(), footer.version());
    let mut batches = Vec::new();
    for block in footer.recordBatches().into_iter().flatten() {
        let start = usize::try_from(block.offset()).map_err(|e| bad(e.to_string()))?;
        let metadata_len =
            usize::try_from(block.metaDataLength()).map_err(|e| bad(e.to_string()))?;
        let body_len = usize::try_from(block.bodyLength()).map_err(|e| bad(e.to_string()))?;
        let block_len = metadata_len
            .checked_add(body_len)
            .ok_or_else(|| bad("a record batch longer than the file".into()))?;
        if start.checked_add(block_len).is_none_or(|end| end > len) {
            return Err(bad("a record batch lies beyond the end of the file".into()));
        }
        let buf = data.slice_with_length(start, block_len);
        check_buffers(&buf, metadata_len, body_len, &schema).map_err(bad)?;
        if let Some(b) = decoder
            .read_record_batch(block, &buf)
            .map_err(|e| bad(e.to_string()))?
        {
            batches.push(b);
        }
    }
    Ok(batches)
}

/// Checks what Arrow's IPC reader takes on trust (it panics instead of failing on them): that a
/// record batch's block (`metadata_len` bytes of message, then `body_len` bytes of body) holds
/// the message's prefix, that every buffer the message names lies within the body, 8-byte
/// aligned as the format requires, and that each fixed-width buffer of `schema`'s fields holds
/// whole values.
fn check_buffers(
    block: &[u8],
    metadata_len: usize,
    body_len: usize,
    schema: &Schema,
) -> Result<(), String> {
    // A message starts with the continuation marker and its length, or (before format 0.15)
    // with its length alone.
    let prefix = if block.starts_with(&[0xff; 4]) { 8 } else { 4 };
    if metadata_len < prefix {
        return Err(format!(
            "a record batch's message of {metadata_len} bytes is too short"
        ));
    }
    let message = arrow_ipc::root_as_message(&block[prefix..])
        .map_err(|e| format!("a record batch's message: {e}"))?;
    let Some(batch) = message.header_as_record_batch() else {
        return Ok(());
    };
    let buffers: Vec<arrow_ipc::Buffer> = batch.buffers().into_iter().flatten().copied().collect();
    for buffer in &buffers {
        let end = usize::try_from(buffer.offset())
            .ok()
            .zip(usize::try_from(buffer.length()).ok())
            .and_then(|(offset, length)| offset.checked_add(length));
        if buffer.offset() % 8 != 0 || end.is_none_or(|end| end > body_len) {
            return Err(format!(
                "a buffer at {} of {} bytes is misaligned or beyond its record batch's body of \
                 {body_len} bytes",
                buffer.offset(),
                buffer.length()
            ));
        }
    }
    if batch.compression().is_some() {
        // Compressed lengths say nothing of the values; reading them fails anyway (no codec).
        return Ok(());
    }
    let mut variadic_counts = batch.variadicBufferCounts().into_iter().flatten();
    check_value_widths(schema.fields(), &mut buffers.iter(), &mut variadic_counts)
}

/// Walks `fields` (depth first, as a record batch's message lists their buffers) and checks that
/// each fixed-width buffer's length is a whole number of values; stops where the buffers run out
/// (the reader reports that).
fn check_value_widths<'a>(
    fields: &Fields,
    buffers: &mut impl Iterator<Item = &'a arrow_ipc::Buffer>,
    variadic_counts: &mut impl Iterator<Item = i64>,
) -> Result<(), String> {
    for field in fields {
        let data_type = field.data_type();
        let layout = arrow_data::layout(data_type);
        if layout.can_contain_null_mask {
            buffers.next();
        }
        for spec in &layout.buffers {
            let Some(buffer) = buffers.next() else {
                return Ok(());
            };
            // A zero width (`FixedSizeBinary(0)`) holds any number of values in any length.
            if let BufferSpec::FixedWidth { byte_width, .. } = spec
                && buffer
                    .length()
                    .checked_rem(*byte_width as i64)
                    .is_some_and(|rest| rest != 0)
            {
                return Err(format!(
                    "a buffer of {} bytes of field {:?} ({data_type}) is not a whole number of \
                     {byte_width}-byte values",
                    buffer.length(),
                    field.name()
                ));
            }
        }
        if layout.variadic {
            let count = variadic_counts.next().unwrap_or(0).max(0);
            for _ in 0..count {
                if buffers.next().is_none() {
                    return Ok(());
                }
            }
        }
        let children = match data_type {
            DataType::Struct(children) => children.clone(),
            DataType::Union(children, _) => children.iter().map(|(_, f)| f.clone()).collect(),
            DataType::List(child)
            | DataType::LargeList(child)
            | DataType::ListView(child)
            | DataType::LargeListView(child)
            | DataType::FixedSizeList(child, _)
            | DataType::Map(child, _) => Fields::from(vec![child.clone()]),
            DataType::RunEndEncoded(run_ends, values) => {
                Fields::from(vec![run_ends.clone(), values.clone()])
            }
            _ => Fields::empty(),
        };
        check_value_widths(&children, buffers, variadic_counts)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringViewArray};
    use arrow_schema::{DataType, Field, Schema};

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot create files here")]
    fn writes_and_reads_back_with_checksums() {
        let dir = std::env::temp_dir().join(format!("dstreams-arrow-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.arrow");
        let _ = std::fs::remove_file(&path);
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8View, false),
            Field::new("state", DataType::Int64, true),
        ]));
        let batches: Vec<RecordBatch> = (0..3)
            .map(|p| {
                let keys: Vec<String> = (0..100).map(|i| format!("a longer key {p}-{i}")).collect();
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(StringViewArray::from_iter_values(keys)),
                        Arc::new(Int64Array::from_iter_values(0..100)),
                    ],
                )
                .unwrap()
            })
            .collect();
        let (bytes, crc) = write(&path, &schema, &batches).unwrap();
        let data = Buffer::from_vec(std::fs::read(&path).unwrap());
        verify(&path, &data, bytes, crc).unwrap();
        assert_eq!(read(&path, &data).unwrap(), batches);
        assert!(verify(&path, &data, bytes, crc ^ 1).is_err());
        let cut = data.slice_with_length(0, data.len() - 20);
        assert!(read(&path, &cut).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_state_file_with_a_record_batch_byte_altered_is_read_or_refused_without_panicking() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8View, true),
            Field::new("state", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringViewArray::from(vec![Some("to"), None])),
                Arc::new(Int64Array::from(vec![Some(2), None])),
            ],
        )
        .unwrap();
        let (file, _, _) = encode(Vec::new(), &schema, &[batch]).unwrap();
        let path = Path::new("state.arrow");
        // The fuzzer's case: a buffer's length in the record batch's message made huge. Every
        // byte before the footer, each set to a few values, must give batches or an error.
        let footer_start = file.len()
            - 10
            - read_footer_length(file[file.len() - 10..].try_into().unwrap()).unwrap();
        for at in 0..footer_start {
            for value in [0x00, 0x01, 0x0d, 0x7f, 0x80, 0xff] {
                let mut altered = file.clone();
                altered[at] = value;
                let _ = read(path, &Buffer::from_vec(altered));
            }
        }
    }
}
