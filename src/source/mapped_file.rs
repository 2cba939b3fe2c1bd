//! Files mapped read-only as Arrow [`Buffer`]s, without copying.
//!
//! [`map_file`] maps an existing file read-only as a `Buffer`. It is `unsafe` because a mapped
//! file that another process truncates or rewrites changes memory that Rust treats as immutable
//! (and a read past a truncated end raises `SIGBUS`); only the caller knows whether its files are
//! immutable.

use std::path::Path;

use arrow_buffer::Buffer;
use memmap2::Mmap;

use crate::source::segment::SegmentError;

/// Maps a regular file read-only as an Arrow buffer, without copying it.
///
/// A file whose size is 0 is read instead: it is empty, or it is a file whose size says nothing
/// (Linux's `/proc` and `/sys` files, which have content but report a size of 0). A directory,
/// FIFO, device or socket is refused before it is opened (opening a FIFO waits for a writer; a
/// device such as `/dev/zero` maps as 0 bytes or never ends).
///
/// # Safety
///
/// The file must not be truncated or modified, by this or any other process, while the returned
/// buffer or anything sliced or viewed from it is alive. A modification changes bytes that Rust
/// code (and validated UTF-8 views) treat as immutable; a truncation makes later reads raise
/// `SIGBUS`. Use it for files known to be immutable (finished, renamed-into-place inputs);
/// otherwise read the file into a [`SegmentWriter`](crate::source::segment::SegmentWriter)
/// instead.
///
/// # Errors
///
/// [`SegmentError::MapFile`] if the file cannot be opened or mapped.
pub unsafe fn map_file(path: impl AsRef<Path>) -> Result<Buffer, SegmentError> {
    let path = path.as_ref();
    let error = |source| SegmentError::MapFile {
        path: path.to_path_buf(),
        source,
    };
    let mut file = crate::durable::open_regular(path).map_err(error)?;
    if file.metadata().map_err(error)?.len() == 0 {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).map_err(error)?;
        return Ok(Buffer::from_vec(bytes));
    }
    // SAFETY: the caller guarantees that the file stays unmodified while the mapping (kept
    // alive by the returned buffer) exists, which is all `Mmap::map` requires.
    let mmap = unsafe { Mmap::map(&file) }.map_err(error)?;
    Ok(Buffer::from(bytes::Bytes::from_owner(mmap)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("dstreams-ingest-{}-{name}", std::process::id()))
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot mmap a file")]
    fn map_file_reads_the_file_without_copying() {
        let path = temp_path("map_file");
        std::fs::write(&path, b"line one\nline two\n").unwrap();
        // SAFETY: this test owns the file and does not modify it while the buffer lives.
        let buffer = unsafe { map_file(&path) }.unwrap();
        assert_eq!(buffer.as_slice(), b"line one\nline two\n");
        drop(buffer);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn map_file_of_an_empty_file_maps_nothing() {
        // An empty file gives an empty heap buffer; nothing is mapped (so Miri runs this).
        let path = temp_path("map_file_empty");
        std::fs::write(&path, b"").unwrap();
        // SAFETY: this test owns the file and does not modify it while the buffer lives.
        let empty = unsafe { map_file(&path) }.unwrap();
        assert!(empty.is_empty());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn map_file_reports_a_missing_file() {
        let path = temp_path("does-not-exist");
        // SAFETY: the file does not exist, so nothing is mapped.
        let err = unsafe { map_file(&path) }.unwrap_err();
        assert!(matches!(err, SegmentError::MapFile { .. }));
        assert!(err.to_string().contains("does-not-exist"), "{err}");
    }
}
