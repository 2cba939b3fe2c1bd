//! Running batches: a generator thread that waits for each batch time on the clock, and an executor
//! thread that runs batches one at a time in order (Spark's `JobGenerator` and `JobScheduler` with
//! `concurrentJobs = 1`).

use super::{BatchContext, BatchInfo, Core, Input, OutputOperationInfo, clock::wall_millis};
use crate::checkpoint;
use crate::error::Error;
use crate::lock::lock;
use crate::time::Time;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

thread_local! {
    static BATCH_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as one that runs batches (the executor and the worker pool).
pub(crate) fn mark_batch_thread() {
    BATCH_THREAD.with(|b| b.set(true));
}

/// Whether the caller runs inside a batch (an output function or a listener).
pub(crate) fn on_batch_thread() -> bool {
    BATCH_THREAD.with(Cell::get)
}

/// The threads of a started context.
pub(crate) struct Runtime {
    generator: JoinHandle<()>,
    executor: JoinHandle<()>,
    /// Stop generating batch times.
    stop_generating: Arc<AtomicBool>,
    /// Graceful stop asked for: generate until inputs hold nothing pending.
    draining: Arc<AtomicBool>,
    /// Immediate stop: the executor drops queued batches.
    drop_queued: Arc<AtomicBool>,
}

struct Submitted {
    time: Time,
    submission_time: i64,
}

impl Runtime {
    pub(crate) fn start(core: Arc<Core>, first: Time, pool: rayon::ThreadPool) -> Runtime {
        let stop_generating = Arc::new(AtomicBool::new(false));
        let draining = Arc::new(AtomicBool::new(false));
        let drop_queued = Arc::new(AtomicBool::new(false));
        // Back-to-back clocks hand over one batch at a time; timers may queue batches up (Spark
        // never skips or merges batches when processing falls behind).
        let capacity = if core.clock.back_to_back() {
            0
        } else {
            1 << 16
        };
        let (tx, rx) = sync_channel::<Submitted>(capacity);
        let generator = {
            let core = core.clone();
            let stop = stop_generating.clone();
            let draining = draining.clone();
            std::thread::Builder::new()
                .name("dstreams-job-generator".into())
                .spawn(move || generate(core, first, tx, stop, draining))
                .expect("spawning the job generator thread")
        };
        let executor = {
            let core = core.clone();
            let drop_queued = drop_queued.clone();
            std::thread::Builder::new()
                .name("dstreams-job-executor".into())
                .spawn(move || execute(core, rx, drop_queued, pool))
                .expect("spawning the job executor thread")
        };
        Runtime {
            generator,
            executor,
            stop_generating,
            draining,
            drop_queued,
        }
    }

    pub(crate) fn stop(self, core: &Core, inputs: &[Arc<dyn Input>], graceful: bool) {
        if graceful {
            for input in inputs {
                input.stop();
            }
            self.draining.store(true, Ordering::SeqCst);
            let deadline = std::time::Instant::now()
                + std::time::Duration::from_millis(core.graceful_stop_timeout.as_millis() as u64);
            while inputs.iter().any(|i| i.has_pending())
                && std::time::Instant::now() < deadline
                && !self.generator.is_finished()
            {
                std::thread::yield_now();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            if inputs.iter().any(|i| i.has_pending()) {
                tracing::warn!(
                    "Timed out while stopping the job generator (timeout = {}): received data that no batch took is not processed",
                    core.graceful_stop_timeout
                );
            }
        } else {
            self.drop_queued.store(true, Ordering::SeqCst);
            if let Some(distributed) = core.distributed.get() {
                distributed.stop_waiting();
            }
        }
        self.stop_generating.store(true, Ordering::SeqCst);
        core.clock.wake();
        let _ = self.generator.join();
        let _ = self.executor.join();
    }
}

fn generate(
    core: Arc<Core>,
    first: Time,
    tx: SyncSender<Submitted>,
    stop: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
) {
    let mut time = first;
    loop {
        if stop.load(Ordering::SeqCst) || !core.clock.wait_until(time, &stop) {
            break;
        }
        if core.stop_when_exhausted && core.inputs_exhausted() {
            tracing::info!(
                "all inputs exhausted; no batch after {}",
                time - core.batch_interval
            );
            break;
        }
        let submitted = Submitted {
            time,
            submission_time: wall_millis(),
        };
        if tx.send(submitted).is_err() {
            break;
        }
        if core.clock.back_to_back() {
            // One batch at a time: the next time is reached only once this batch is done.
            core.wait_completed(time);
        }
        let drained = draining.load(Ordering::SeqCst)
            && lock(&core.graph).inputs.iter().all(|i| !i.has_pending());
        if drained {
            break;
        }
        time = time + core.batch_interval;
    }
}

/// Runs the submitted batches one after the other, on a thread of the worker pool: a batch's
/// parallel work starts there without a hand-over to the pool and back (two thread wake-ups a
/// batch fewer, which is most of a small batch's fixed cost).
fn execute(
    core: Arc<Core>,
    rx: Receiver<Submitted>,
    drop_queued: Arc<AtomicBool>,
    pool: rayon::ThreadPool,
) {
    mark_batch_thread();
    pool.install(|| execute_in_pool(&core, rx, &drop_queued));
}

fn execute_in_pool(core: &Arc<Core>, rx: Receiver<Submitted>, drop_queued: &AtomicBool) {
    let mut dropped = 0usize;
    for job in rx {
        if drop_queued.load(Ordering::SeqCst) {
            dropped += 1;
            continue;
        }
        if core.stop_when_exhausted && core.inputs_exhausted() {
            // Generated while earlier batches, still queued, had the last of the inputs: no
            // data is left for it, and the run ends as if it had not been generated.
            tracing::debug!("batch {} skipped: every input is exhausted", job.time);
            continue;
        }
        run_batch(core, job);
    }
    if dropped > 0 {
        tracing::warn!("immediate stop: {dropped} generated batch(es) were not processed");
    }
    if core.stop_when_exhausted && core.inputs_exhausted() {
        // The generator ended because the inputs ran dry: the run is complete.
        let inputs = lock(&core.graph).inputs.clone();
        inputs.iter().for_each(|i| i.stop());
        checkpoint::final_checkpoint(core);
        checkpoint::finish_writes(core);
        core.mark_stopped();
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

/// The error a panic in `operation` at `time` fails its operation with: the typed error dstreams
/// itself panicked with (`State::get` without a state, a view used after its call), else
/// [`Error::Panicked`] with the panic's message.
pub(super) fn panic_error(
    time: Time,
    operation: &str,
    payload: Box<dyn std::any::Any + Send>,
) -> Error {
    match payload.downcast::<Error>() {
        Ok(e) => job_error(time, operation, *e),
        Err(payload) => Error::Panicked {
            time,
            operation: operation.to_string(),
            message: panic_message(&*payload),
        },
    }
}

fn run_batch(core: &Core, job: Submitted) {
    let time = job.time;
    let zero = core.zero_time().unwrap_or(time - core.batch_interval);
    let ctx = BatchContext::of(core, time, zero);
    let listeners = core.listeners();
    let mut info = BatchInfo {
        batch_time: time,
        stream_id_to_input_info: BTreeMap::new(),
        submission_time: job.submission_time,
        processing_start_time: None,
        processing_end_time: None,
        output_operation_infos: BTreeMap::new(),
    };
    listeners.iter().for_each(|l| l.on_batch_submitted(&info));
    info.processing_start_time = Some(wall_millis());
    listeners.iter().for_each(|l| l.on_batch_started(&info));

    let (outputs, nodes) = {
        let graph = lock(&core.graph);
        (graph.outputs.clone(), graph.nodes.clone())
    };
    let failures = Mutex::new(Vec::new());
    if let Some(distributed) = core.distributed.get()
        && let Err(e) = distributed.feed(time, &ctx)
    {
        lock(&failures).push(job_error(time, "stateful operators", e));
    }
    for (id, op) in outputs.iter().enumerate() {
        let generated = catch_unwind(AssertUnwindSafe(|| (op.generate)(time, &ctx)));
        let job = match generated {
            Ok(Ok(Some(job))) => job,
            Ok(Ok(None)) => continue,
            Ok(Err(e)) => {
                lock(&failures).push(job_error(time, &op.name, e));
                continue;
            }
            Err(p) => {
                lock(&failures).push(panic_error(time, &op.name, p));
                continue;
            }
        };
        let mut op_info = OutputOperationInfo {
            batch_time: time,
            id,
            name: op.name.clone(),
            description: op.description.clone(),
            start_time: Some(wall_millis()),
            end_time: None,
            failure_reason: None,
        };
        listeners
            .iter()
            .for_each(|l| l.on_output_operation_started(&op_info));
        let result = match catch_unwind(AssertUnwindSafe(job)) {
            Ok(r) => r.map_err(|e| job_error(time, &op.name, e)),
            Err(p) => Err(panic_error(time, &op.name, p)),
        };
        op_info.end_time = Some(wall_millis());
        if let Err(e) = result {
            op_info.failure_reason = Some(e.to_string());
            lock(&failures).push(e);
        }
        listeners
            .iter()
            .for_each(|l| l.on_output_operation_completed(&op_info));
        info.output_operation_infos.insert(id, op_info);
    }

    info.processing_end_time = Some(wall_millis());
    info.stream_id_to_input_info = ctx.take_inputs();
    let failures = failures.into_inner().unwrap_or_default();
    let failed = !failures.is_empty();
    for e in failures {
        core.report_error(e);
    }
    listeners.iter().for_each(|l| l.on_batch_completed(&info));
    // Spark's line, and the records the inputs had not reached yet (Kafka's `"lag"`).
    let lag: Option<i64> = info
        .stream_id_to_input_info
        .values()
        .filter_map(|i| i.metadata.get("lag")?.parse::<i64>().ok())
        .reduce(|a, b| a + b);
    tracing::info!(
        "Total delay: {:.3} s for time {} (execution: {:.3} s){}",
        info.total_delay().unwrap_or(0) as f64 / 1000.0,
        time,
        info.processing_delay().unwrap_or(0) as f64 / 1000.0,
        lag.map(|n| format!(", input lag: {n} records"))
            .unwrap_or_default()
    );
    for node in &nodes {
        node.clear_old(time);
    }
    if !failed {
        // A failed batch is not checkpointed: recovery runs it again.
        checkpoint_after(core, time);
    }
    core.run_late_batches(zero);
    core.batch_completed(time, failed);
}

/// Lets inputs forget old batches and takes the checkpoint due after the batch at `time`. A
/// snapshot that fails is logged and the run goes on: the previous checkpoint stays the recovery
/// point (failed writes are logged by the writer).
fn checkpoint_after(core: &Core, time: Time) {
    if let Err(e) = checkpoint::after_batch(core, time, false) {
        tracing::error!("no checkpoint after batch {time}: {e}");
    }
}

pub(super) fn job_error(time: Time, operation: &str, e: Error) -> Error {
    match e {
        e @ (Error::JobFailed { .. } | Error::Panicked { .. }) => e,
        other => Error::JobFailed {
            time,
            operation: operation.to_string(),
            source: Box::new(other),
        },
    }
}
