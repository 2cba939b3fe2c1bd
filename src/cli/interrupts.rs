//! SIGINT and SIGTERM while a job runs: the first stops it gracefully (the running batch
//! finishes, its outputs and a final checkpoint are written, the command prints its summary and
//! exits with status 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM); a second one
//! ends the process at once, with the same status.

use dstreams::{Error, Result, StreamingContext, UiConfig};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that stopped the job, once one did (0 before).
static STOPPED_BY: AtomicI32 = AtomicI32::new(0);

/// Starts `ssc` (with the web UI `ui`, if any) and waits for it to end, stopping it gracefully on
/// the first SIGINT or SIGTERM.
pub fn run_to_the_end(ssc: &StreamingContext, ui: Option<UiConfig>) -> Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Error::io("watching for SIGINT and SIGTERM", e))?;
    let handle = signals.handle();
    let context = ssc.clone();
    let watcher = std::thread::Builder::new()
        .name("dstreams-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if STOPPED_BY
                    .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    std::process::exit(128 + signal);
                }
                eprintln!(
                    "dstreams: stopping after the running batch (signal {signal}; another one stops at once)"
                );
                let context = context.clone();
                // Stopping waits for the running batch: not on this thread, which must see a
                // second signal.
                std::thread::spawn(move || {
                    if let Err(e) = context.stop(true) {
                        tracing::error!("stopping on signal {signal}: {e}");
                    }
                });
            }
        })
        .map_err(|e| Error::io("starting the signal watcher", e))?;
    let result = super::ui::start(ssc, ui).and_then(|()| ssc.await_termination());
    handle.close();
    let _ = watcher.join();
    result
}

/// The exit status of a command whose job a signal stopped: 128 + the signal's number.
pub fn exit_status() -> Option<u8> {
    match STOPPED_BY.load(Ordering::SeqCst) {
        0 => None,
        signal => u8::try_from(128 + signal).ok(),
    }
}
