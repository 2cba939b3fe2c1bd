//! Operator state files: Arrow IPC files, written with their length and CRC-32 (recorded in the
//! metadata), and read back from a memory map without copying.

use super::CheckpointError;
use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::convert::try_fb_to_schema;
use arrow_ipc::reader::{FileDecoder, read_footer_length};
use arrow_ipc::root_as_footer;
use arrow_ipc::writer::FileWriter;
use arrow_schema::SchemaRef;
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
    let out = Checksummed {
        inner: BufWriter::with_capacity(1 << 20, file),
        crc: crc32fast::Hasher::new(),
        bytes: 0,
    };
    let mut writer = FileWriter::try_new(out, schema).map_err(arrow)?;
    for b in batches {
        writer.write(b).map_err(arrow)?;
    }
    writer.finish().map_err(arrow)?;
    let out = writer.into_inner().map_err(arrow)?;
    let (bytes, crc) = (out.bytes, out.crc.finalize());
    out.inner.into_inner().map_err(|e| io(e.into_error()))?;
    Ok((bytes, crc))
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
    let decoder = FileDecoder::new(Arc::new(schema), footer.version());
    let mut batches = Vec::new();
    for block in footer.recordBatches().into_iter().flatten() {
        let start = usize::try_from(block.offset()).map_err(|e| bad(e.to_string()))?;
        let block_len = block.bodyLength() as usize + block.metaDataLength() as usize;
        if start.checked_add(block_len).is_none_or(|end| end > len) {
            return Err(bad("a record batch lies beyond the end of the file".into()));
        }
        let buf = data.slice_with_length(start, block_len);
        if let Some(b) = decoder
            .read_record_batch(block, &buf)
            .map_err(|e| bad(e.to_string()))?
        {
            batches.push(b);
        }
    }
    Ok(batches)
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
}
