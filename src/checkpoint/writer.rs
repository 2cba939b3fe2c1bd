//! Checkpoints are written on a background thread: the batch that triggers one pays for its
//! snapshot (references to the operators' current columns, built into record batches) and goes
//! on, while the files are written and synced. At most one checkpoint is being written; the next
//! one waits for it, so checkpoints land in order and memory holds at most two snapshots. This is
//! the answer to Spark's periodic checkpoint spikes, where the batch that checkpoints its state
//! also writes it.

use super::metadata::Metadata;
use super::{CheckpointInfo, StateTable, store};
use crate::context::Input;
use crate::context::StreamingListener;
use crate::time::Duration;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

/// One checkpoint to write.
pub(crate) struct Job {
    pub(crate) dir: PathBuf,
    pub(crate) metadata: Metadata,
    pub(crate) states: Vec<StateTable>,
    pub(crate) keep: usize,
    /// Time the batch thread spent on the snapshot, in milliseconds.
    pub(crate) snapshot_ms: f64,
    pub(crate) listeners: Vec<Arc<dyn StreamingListener>>,
    /// The inputs, each with how far back it re-creates batches: told when the write succeeded.
    pub(crate) inputs: Vec<(Arc<dyn Input>, Duration)>,
}

/// The background writer thread and the hand-off to it.
pub(crate) struct BackgroundWriter {
    jobs: SyncSender<Job>,
    thread: JoinHandle<()>,
}

impl BackgroundWriter {
    pub(crate) fn start() -> std::io::Result<Self> {
        // A rendezvous channel: a job is handed over only when the thread is free.
        let (jobs, pending) = sync_channel::<Job>(0);
        let thread = std::thread::Builder::new()
            .name("dstreams-checkpoint-writer".into())
            .spawn(move || {
                for job in pending {
                    write(job);
                }
            })?;
        Ok(BackgroundWriter { jobs, thread })
    }

    /// Hands `job` over, waiting for the checkpoint being written (if any) to finish.
    pub(crate) fn submit(&self, job: Job) {
        if let Err(e) = self.jobs.send(job) {
            // Only if the thread died, which `write` does not let happen.
            tracing::error!(
                "checkpoint writer is gone; checkpoint for batch {} not written",
                e.0.metadata.time
            );
        }
    }

    /// Waits until every submitted checkpoint is written.
    pub(crate) fn finish(self) {
        drop(self.jobs);
        if self.thread.join().is_err() {
            tracing::error!("checkpoint writer thread panicked");
        }
    }
}

fn write(job: Job) {
    let started = Instant::now();
    let time = job.metadata.time;
    match store::write(&job.dir, job.metadata, job.states, job.keep) {
        Ok(written) => {
            for (input, history) in &job.inputs {
                input.checkpoint_written(written.oldest_kept - *history);
            }
            let info = CheckpointInfo {
                batch_time: time,
                path: written.path,
                bytes: written.bytes,
                snapshot_ms: job.snapshot_ms,
                write_ms: started.elapsed().as_secs_f64() * 1e3,
            };
            tracing::info!(
                "checkpoint for batch {time} written to {} ({} bytes, {:.1} ms snapshot, {:.1} ms write)",
                info.path.display(),
                info.bytes,
                info.snapshot_ms,
                info.write_ms
            );
            for l in &job.listeners {
                l.on_checkpoint_completed(&info);
            }
        }
        // A failed write (a full disk) leaves the previous checkpoint intact: it stays the
        // recovery point, and the next checkpoint is tried at the next interval.
        Err(e) => tracing::error!(
            "checkpoint after batch {time} failed; recovery would start from the previous one: {e}"
        ),
    }
}
