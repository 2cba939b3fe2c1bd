//! The checkpoint directory: one subdirectory per checkpoint, `checkpoint-<batch ms>`, holding
//! `metadata` and one Arrow IPC file per stateful operator.
//!
//! A checkpoint is written as one durable directory ([`durable::write_dir`]: a hidden temporary
//! directory, every file synced, renamed into place, the parent synced): a checkpoint either
//! exists whole or not at all, and a write that fails (a full disk) leaves the earlier ones as
//! they were. The newest
//! `keep` checkpoints are kept. Loading takes the newest checkpoint whose metadata and files pass
//! their checksums, and falls back to older ones with a warning.

use super::arrow_file;
use super::metadata::{Metadata, OperatorEntry};
use super::{CheckpointError, StateTable};
use crate::durable;
use crate::source::mapped_file::map_file;
use crate::time::Time;
use arrow_buffer::Buffer;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

const PREFIX: &str = "checkpoint-";
const METADATA: &str = "metadata";

/// A checkpoint read back and verified.
pub(crate) struct Loaded {
    pub(crate) path: PathBuf,
    pub(crate) metadata: Metadata,
    /// Each operator's state file, mapped, by operator id.
    pub(crate) files: HashMap<String, Buffer>,
}

/// What a successful write produced.
pub(crate) struct Written {
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
    /// The batch time of the oldest checkpoint kept (recovery falls back as far as it).
    pub(crate) oldest_kept: Time,
}

fn dir_name(time: Time) -> String {
    format!("{PREFIX}{}", time.as_millis())
}

/// The checkpoints in `dir`, newest first.
fn list(dir: &Path) -> Result<Vec<(Time, PathBuf)>, CheckpointError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CheckpointError::io(dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CheckpointError::io(dir, e))?;
        let name = entry.file_name();
        let Some(ms) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        found.push((Time::from_millis(ms), entry.path()));
    }
    found.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    Ok(found)
}

/// Writes the checkpoint of batch `metadata.time` with the operators' `states`, then removes all
/// but the newest `keep` checkpoints.
pub(crate) fn write(
    dir: &Path,
    mut metadata: Metadata,
    states: Vec<StateTable>,
    keep: usize,
) -> Result<Written, CheckpointError> {
    let time = metadata.time;
    let path = dir.join(dir_name(time));
    // A batch re-run after falling back to an older checkpoint writes its time again: replaced.
    let bytes = durable::write_dir(&path, |tmp| write_files(tmp, &mut metadata, states))?;
    let found = list(dir)?;
    for (_, old) in found.iter().skip(keep.max(1)) {
        if let Err(e) = fs::remove_dir_all(old) {
            tracing::warn!("could not remove old checkpoint {}: {e}", old.display());
        }
    }
    let oldest_kept = found
        .iter()
        .take(keep.max(1))
        .map(|(t, _)| *t)
        .min()
        .map_or(time, |t| t.min(time));
    Ok(Written {
        path,
        bytes,
        oldest_kept,
    })
}

/// Writes the state files and `metadata` into `tmp` (synced by [`durable::write_dir`]); returns
/// their bytes.
fn write_files(
    tmp: &Path,
    metadata: &mut Metadata,
    states: Vec<StateTable>,
) -> Result<u64, CheckpointError> {
    let mut total = 0;
    for (i, state) in states.into_iter().enumerate() {
        let file = format!("op-{i}.arrow");
        let (bytes, crc) = arrow_file::write(&tmp.join(&file), &state.schema, &state.batches)?;
        total += bytes;
        metadata.operators.push(OperatorEntry {
            id: state.id,
            kind: state.kind,
            file,
            bytes,
            crc,
        });
    }
    let text = metadata.encode();
    let path = tmp.join(METADATA);
    let io = |e| CheckpointError::io(&path, e);
    let mut file = fs::File::create_new(&path).map_err(io)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)?;
    Ok(total + text.len() as u64)
}

/// The newest usable checkpoint in `dir`: `None` if there is none, an error if there are
/// checkpoints and none of them can be read (starting afresh would silently lose their state).
pub(crate) fn load_latest(dir: &Path) -> Result<Option<Loaded>, CheckpointError> {
    remove_temporaries(dir);
    let found = list(dir)?;
    let mut reasons = Vec::new();
    for (_, path) in &found {
        match load(path) {
            Ok(loaded) => {
                if !reasons.is_empty() {
                    tracing::warn!(
                        "recovering from the older checkpoint {} ({} newer one(s) unusable)",
                        path.display(),
                        reasons.len()
                    );
                }
                return Ok(Some(loaded));
            }
            Err(e) => {
                tracing::warn!("checkpoint {} is unusable: {e}", path.display());
                reasons.push(format!("{}: {e}", path.display()));
            }
        }
    }
    if found.is_empty() {
        Ok(None)
    } else {
        Err(CheckpointError::NoneUsable {
            dir: dir.to_path_buf(),
            reasons: reasons.join("; "),
        })
    }
}

/// The lock file of a checkpoint directory: locked (`flock`, exclusive) by the context that
/// uses the directory, holding that process's id. The operating system releases the lock when
/// the process ends, however it ends.
const LOCK_FILE: &str = ".lock";

/// A checkpoint directory held by this context until dropped.
pub(crate) struct DirLock {
    _file: fs::File,
}

/// Takes `dir`'s lock ([`LOCK_FILE`]), or fails with [`CheckpointError::Locked`] naming the
/// process that holds it.
pub(crate) fn lock_dir(dir: &Path) -> Result<DirLock, CheckpointError> {
    let path = dir.join(LOCK_FILE);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| CheckpointError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path)
                .ok()
                .and_then(|pid| pid.trim().parse::<u32>().ok())
                .map_or_else(|| "a process".to_string(), |pid| format!("process {pid}"));
            return Err(CheckpointError::Locked {
                dir: dir.to_path_buf(),
                holder,
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(CheckpointError::io(&path, e)),
    }
    let pid = std::process::id().to_string();
    file.set_len(0)
        .and_then(|()| std::io::Write::write_all(&mut file, pid.as_bytes()))
        .map_err(|e| CheckpointError::io(&path, e))?;
    Ok(DirLock { _file: file })
}

/// Removes what interrupted writes left behind.
fn remove_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&format!(".{PREFIX}")) && durable::is_temporary(&name) {
            tracing::info!("removing an interrupted checkpoint write: {name}");
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn load(path: &Path) -> Result<Loaded, CheckpointError> {
    let meta_path = path.join(METADATA);
    let text =
        crate::durable::read_regular(&meta_path).map_err(|e| CheckpointError::io(&meta_path, e))?;
    let metadata = Metadata::decode(&text)?;
    let mut files = HashMap::new();
    for op in &metadata.operators {
        let file = path.join(&op.file);
        // SAFETY: checkpoint files are written once into a temporary directory and renamed into
        // place; nothing in dstreams writes to them afterwards (old checkpoints are unlinked,
        // which leaves a mapping intact). Another process truncating a checkpoint file while it
        // is being restored is outside the contract documented in ARCHITECTURE.md.
        let data = unsafe { map_file(&file) }.map_err(|e| CheckpointError::Corrupt {
            reason: e.to_string(),
        })?;
        arrow_file::verify(&file, &data, op.bytes, op.crc)?;
        files.insert(op.id.clone(), data);
    }
    Ok(Loaded {
        path: path.to_path_buf(),
        metadata,
        files,
    })
}
