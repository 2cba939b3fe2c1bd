//! Durable writes: a file or a directory appears under its name whole or not at all, and once a
//! write returned, it survives a crash of the process or of the machine.
//!
//! - [`write_file`]: the bytes go into `.<name>.tmp` in the same directory, which is synced
//!   (`sync_all`) and renamed into place; then the directory is synced, so the new name is on
//!   disk too.
//! - [`write_dir`]: the caller fills `.<name>.tmp` next to the target; every file in it and the
//!   directory itself are synced (concurrently), it is renamed into place (an existing directory
//!   of that name is replaced: moved aside to `.<name>.old`, removed once the new one is in
//!   place) and the parent is synced.
//!
//! A write that fails removes its temporary file or directory and leaves what was under the name
//! before as it was. What a crash in the middle leaves behind is hidden (the name starts with a
//! dot) and recognised by [`is_temporary`]; writing the same name again removes it first.
//!
//! Reading such files back goes through [`open_regular`] / [`read_regular`]: something else in a
//! file's place (a FIFO, whose `open` blocks until a writer comes, a device, a directory) is an
//! error naming what it is, never a wait or an endless read.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Opens `path` for reading if it is a regular file (followed through symbolic links); a
/// directory, FIFO, device or socket is an error saying which (checked before opening: opening a
/// FIFO waits for a writer).
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    let kind = fs::metadata(path)?.file_type();
    if kind.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        ));
    }
    if !kind.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is not a regular file (a FIFO, device or socket)",
        ));
    }
    File::open(path)
}

/// The whole of regular file `path` ([`open_regular`]).
pub(crate) fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut open_regular(path)?, &mut bytes)?;
    Ok(bytes)
}

/// A step of a durable write that failed.
#[derive(Debug)]
pub(crate) struct DurableWriteError {
    /// What was being done: `writing`, `syncing`, `renaming into place`, ...
    pub(crate) action: &'static str,
    /// The file or directory being written (not its temporary name), or the directory synced.
    pub(crate) path: PathBuf,
    /// The operating system's error.
    pub(crate) source: io::Error,
}

fn failed(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> DurableWriteError + use<> {
    let path = path.to_path_buf();
    move |source| DurableWriteError {
        action,
        path,
        source,
    }
}

/// Whether a directory entry's name is what an interrupted durable write left behind.
pub(crate) fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && (name.ends_with(".tmp") || name.ends_with(".old"))
}

/// The parent directory of `path` (`.` for a bare name) and `path`'s hidden sibling
/// `.<name>.<tag>`.
fn sibling(path: &Path, tag: &str) -> (PathBuf, PathBuf) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy();
    let hidden = parent.join(format!(".{name}.{tag}"));
    (parent, hidden)
}

/// Syncs a directory, so the names created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), DurableWriteError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(failed("syncing directory", dir))
}

/// Writes the file `path` durably and atomically with what `write` writes into it; its
/// directory must exist. An existing file of that name is replaced.
pub(crate) fn write_file(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), DurableWriteError> {
    let (dir, tmp) = sibling(path, "tmp");
    let written = (|| {
        let mut file = File::create(&tmp).map_err(failed("writing", path))?;
        write(&mut file).map_err(failed("writing", path))?;
        file.sync_all().map_err(failed("syncing", path))?;
        fs::rename(&tmp, path).map_err(failed("renaming into place", path))
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir)
}

/// Writes the directory `path` durably and atomically: `fill` writes files into the empty
/// temporary directory it is given (a flat directory: subdirectories are synced as entries, not
/// their contents), then every file and the directory are synced and it is renamed into place.
/// An existing directory of that name is replaced; missing parent directories are created.
///
/// `fill`'s error is returned as it is, after the temporary directory was removed.
pub(crate) fn write_dir<T, E: From<DurableWriteError>>(
    path: &Path,
    fill: impl FnOnce(&Path) -> Result<T, E>,
) -> Result<T, E> {
    let (parent, tmp) = sibling(path, "tmp");
    fs::create_dir_all(&parent).map_err(failed("creating", &parent))?;
    remove_dir_if_present(&tmp).map_err(failed("removing", &tmp))?;
    fs::create_dir(&tmp).map_err(failed("creating", &tmp))?;
    let filled = fill(&tmp);
    let done = filled.and_then(|value| {
        sync_entries(&tmp, path)?;
        replace(&tmp, path)?;
        Ok(value)
    });
    if done.is_err() {
        // Leave no half-written directory behind; what `path` held before is untouched.
        let _ = fs::remove_dir_all(&tmp);
    }
    let value = done?;
    sync_dir(&parent)?;
    Ok(value)
}

/// How many syncs [`sync_entries`] runs at once.
const CONCURRENT_SYNCS: usize = 32;

/// Syncs every entry of `tmp` and `tmp` itself, many at once (a thread each: a sync mostly waits
/// for the disk, and a batch has a part file per partition); errors name the entries as they
/// will be called under `path`, the directory written.
fn sync_entries(tmp: &Path, path: &Path) -> Result<(), DurableWriteError> {
    let mut targets = vec![(tmp.to_path_buf(), path.to_path_buf())];
    for entry in fs::read_dir(tmp).map_err(failed("listing", path))? {
        let entry = entry.map_err(failed("listing", path))?;
        targets.push((entry.path(), path.join(entry.file_name())));
    }
    targets.chunks(CONCURRENT_SYNCS).try_for_each(|chunk| {
        std::thread::scope(|scope| {
            let syncs: Vec<_> = chunk
                .iter()
                .map(|(target, named)| {
                    scope.spawn(move || {
                        File::open(target)
                            .and_then(|f| f.sync_all())
                            .map_err(failed("syncing", named))
                    })
                })
                .collect();
            syncs.into_iter().try_for_each(|sync| {
                sync.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        })
    })
}

/// Renames `tmp` to `path`, moving an existing `path` aside first and removing it after.
fn replace(tmp: &Path, path: &Path) -> Result<(), DurableWriteError> {
    if !path.exists() {
        return fs::rename(tmp, path).map_err(failed("renaming into place", path));
    }
    let (_, old) = sibling(path, "old");
    remove_dir_if_present(&old).map_err(failed("removing", &old))?;
    fs::rename(path, &old).map_err(failed("replacing", path))?;
    if let Err(e) = fs::rename(tmp, path) {
        // Put the old directory back: a failed write leaves the name as it was.
        let _ = fs::rename(&old, path);
        return Err(failed("renaming into place", path)(e));
    }
    if let Err(e) = fs::remove_dir_all(&old) {
        tracing::warn!("could not remove the replaced {}: {e}", old.display());
    }
    Ok(())
}

fn remove_dir_if_present(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dstreams-durable-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_is_written_and_replaced_whole() {
        let dir = temp_dir("file");
        let path = dir.join("a.log");
        write_file(&path, |f| io::Write::write_all(f, b"one")).unwrap();
        write_file(&path, |f| io::Write::write_all(f, b"two")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(names(&dir), ["a.log"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_file_write_leaves_the_old_file_and_no_temporary() {
        let dir = temp_dir("file-fails");
        let path = dir.join("a.log");
        write_file(&path, |f| io::Write::write_all(f, b"old")).unwrap();
        let err = write_file(&path, |_| Err(io::Error::other("disk full"))).unwrap_err();
        assert_eq!(
            (err.action, err.path.as_path()),
            ("writing", path.as_path())
        );
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(names(&dir), ["a.log"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_is_written_and_replaced_whole() {
        let dir = temp_dir("dir");
        let path = dir.join("new/batch-1000");
        let fill = |files: &'static [&'static str]| {
            move |tmp: &Path| -> Result<usize, DurableWriteError> {
                for f in files {
                    fs::write(tmp.join(f), f).unwrap();
                }
                Ok(files.len())
            }
        };
        assert_eq!(write_dir(&path, fill(&["part-0", "part-1"])).unwrap(), 2);
        assert_eq!(names(&path), ["part-0", "part-1"]);
        // Written again (a re-run batch): the old files go with the old directory.
        write_dir(&path, fill(&["part-0"])).unwrap();
        assert_eq!(names(&path), ["part-0"]);
        assert_eq!(names(&dir.join("new")), ["batch-1000"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_fill_leaves_the_old_directory_and_no_temporary() {
        let dir = temp_dir("dir-fails");
        let path = dir.join("batch");
        write_dir(&path, |tmp| {
            fs::write(tmp.join("old"), "old").map_err(failed("writing", tmp))
        })
        .unwrap();
        let err = write_dir(&path, |tmp| {
            fs::write(tmp.join("half"), "half").unwrap();
            Err::<(), _>(failed("writing", tmp)(io::Error::other("disk full")))
        })
        .unwrap_err();
        assert_eq!(err.source.to_string(), "disk full");
        assert_eq!(names(&path), ["old"]);
        assert_eq!(names(&dir), ["batch"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn leftovers_of_interrupted_writes_are_recognised_and_cleared() {
        let dir = temp_dir("leftovers");
        let path = dir.join("batch");
        fs::create_dir(dir.join(".batch.tmp")).unwrap();
        fs::write(dir.join(".batch.tmp/stale"), "").unwrap();
        write_dir(&path, |_| Ok::<_, DurableWriteError>(())).unwrap();
        assert_eq!(names(&dir), ["batch"]);
        assert!(is_temporary(".batch.tmp") && is_temporary(".1000.log.old"));
        assert!(!is_temporary("batch.tmp") && !is_temporary(".hidden"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
