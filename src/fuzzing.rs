//! Entry points for the fuzz targets and their corpus replay; not part of the API.
//!
//! Each function hands bytes (or what a fuzz target cut them into) to the engine's own reader
//! code, as the engine calls it, without files: the checks live with the targets, in
//! `tests/fuzz/checks.rs`.

use crate::checkpoint::CheckpointError;
use crate::checkpoint::arrow_file;
use crate::checkpoint::metadata::Metadata;
use crate::error::{Error, Result};
use crate::source::kafka::range_log;
use crate::source::receiver::{ReceiverHandle, segment_writer};
use crate::source::{OffsetRange, ReceiverConfig, wal};
use crate::time::Time;
use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_schema::SchemaRef;
use std::path::Path;
use std::sync::Weak;

/// The name reader errors give the bytes they read.
const INPUT: &str = "fuzz-input";

/// A piece of a byte stream as one socket read returns it.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    /// The bytes read.
    pub bytes: &'a [u8],
    /// Whether a batch is sealed after storing them.
    pub then_seal: bool,
}

/// What a receiver made of a byte stream (see [`receive`]).
#[derive(Clone, Debug, Default)]
pub struct Received {
    /// Each sealed batch's bytes, its buffers concatenated.
    pub batches: Vec<Vec<u8>>,
    /// Per chunk, the skipped bytes its [`Error::LineTooLong`] reported, if it reported one.
    pub too_long: Vec<Option<usize>>,
    /// The records the handle counted.
    pub records_stored: u64,
}

/// Stores `chunks` through a receiver handle configured with `max_line_length` and
/// `segment_capacity`, as the socket receiver's reader thread does (an over-long line is
/// reported and reading goes on), sealing a batch where a chunk asks; then ends the stream (the
/// peer closed) and seals the rest.
///
/// # Errors
///
/// An invalid configuration, or storing or sealing failing otherwise than for an over-long line.
pub fn receive(
    max_line_length: usize,
    segment_capacity: usize,
    chunks: &[Chunk<'_>],
) -> Result<Received> {
    let config = ReceiverConfig {
        max_line_length,
        segment_capacity,
        ..ReceiverConfig::default()
    };
    let writer = segment_writer(&config)?;
    let handle = ReceiverHandle::new(INPUT.to_string(), config, writer, Weak::new());
    let mut received = Received::default();
    let seal = |received: &mut Received| -> Result<()> {
        let buffers = handle.seal(false)?;
        received
            .batches
            .push(buffers.iter().flat_map(|b| b.as_slice()).copied().collect());
        Ok(())
    };
    for chunk in chunks {
        received
            .too_long
            .push(match handle.store_bytes(chunk.bytes) {
                Ok(()) => None,
                Err(Error::LineTooLong { skipped_bytes, .. }) => Some(skipped_bytes),
                Err(e) => return Err(e),
            });
        if chunk.then_seal {
            seal(&mut received)?;
        }
    }
    handle.end_of_stream()?;
    seal(&mut received)?;
    received.records_stored = handle.records_stored();
    Ok(received)
}

/// Checkpoint metadata read from a file, and the file the writer writes for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataFile {
    /// The metadata read, every field, as `Debug` text.
    pub decoded: String,
    /// The file the checkpoint writer writes for it.
    pub encoded: String,
}

/// A checkpoint metadata file holding `bytes`, decoded (checksum, version and fields checked, as
/// a restart reads it) and encoded again by the checkpoint writer.
///
/// # Errors
///
/// Why the file is not a checkpoint's metadata.
pub fn checkpoint_metadata(bytes: &[u8]) -> Result<MetadataFile, CheckpointError> {
    Metadata::decode(bytes).map(|metadata| MetadataFile {
        decoded: format!("{metadata:?}"),
        encoded: metadata.encode(),
    })
}

/// The record batches of a checkpoint state file (an Arrow IPC file) holding `bytes`, read as a
/// restart reads the mapped file.
///
/// # Errors
///
/// Why the file is not a readable Arrow IPC file.
pub fn read_checkpoint_state(bytes: &[u8]) -> Result<Vec<RecordBatch>, CheckpointError> {
    arrow_file::read(Path::new(INPUT), &Buffer::from(bytes))
}

/// The state file the checkpoint writer writes for `batches` (all of `schema`), checked against
/// the length and CRC-32 it records for the metadata, as a restart checks it.
///
/// # Errors
///
/// Arrow cannot write the batches.
pub fn write_checkpoint_state(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, CheckpointError> {
    let path = Path::new(INPUT);
    let (file, bytes, crc) =
        arrow_file::encode(Vec::new(), schema, batches).map_err(|e| CheckpointError::Arrow {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    arrow_file::verify(path, &Buffer::from(file.as_slice()), bytes, crc)?;
    Ok(file)
}

/// The buffers a receiver write-ahead log file holding `bytes` re-creates its batch from.
pub fn wal_batch(bytes: &[u8]) -> Vec<Buffer> {
    wal::logged_batch(bytes.to_vec())
}

/// `bytes` cut after line ends into pieces of at most `max` bytes, as the write-ahead log reader
/// cuts a file (its `max` is what line views address, far beyond a fuzzer's inputs).
pub fn wal_pieces(bytes: &[u8], max: usize) -> Vec<Buffer> {
    wal::cut_at_lines(Buffer::from(bytes), max)
}

/// The name of the write-ahead log file of the batch at `time`.
pub fn wal_file_name(time: Time) -> String {
    wal::file_name(time)
}

/// The batch time a file name of a write-ahead log directory stands for, if any.
pub fn wal_file_time(name: &str) -> Option<Time> {
    wal::logged_time(name)
}

/// The Kafka offset ranges of a range-log file holding `bytes`, as a restart reads them.
///
/// # Errors
///
/// [`Error::Checkpoint`] ([`CheckpointError::Corrupt`]) naming the malformed line, or saying the
/// file is not UTF-8.
pub fn decode_ranges(bytes: &[u8]) -> Result<Vec<OffsetRange>> {
    range_log::decode_ranges(Path::new(INPUT), bytes.to_vec())
}

/// The range-log file the Kafka source writes for `ranges`.
pub fn encode_ranges(ranges: &[OffsetRange]) -> String {
    range_log::encode_ranges(ranges)
}

/// The name of the range-log file of the batch at `time`.
pub fn range_file_name(time: Time) -> String {
    range_log::file_name(time)
}

/// The batch time a file name of a range-log directory stands for, if any.
pub fn range_file_time(name: &str) -> Option<Time> {
    range_log::logged_time(name)
}
