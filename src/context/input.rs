//! What the context needs of an input stream: starting and stopping it with the context, whether
//! it holds data or is finished, and the position a checkpoint saves (Spark's
//! `InputDStream` with its `DStreamCheckpointData`).

use crate::error::Result;
use crate::time::Time;

/// An input stream, registered once with its context ([`Core::add_input`](super::Core::add_input)).
/// The lifecycle defaults fit inputs that hold their data already (queue, replay): nothing to
/// start or stop, nothing received and pending, never exhausted.
pub(crate) trait Input: Send + Sync {
    /// What the input is (`queue`, `replay`, `files`, `receiver`, `kafka`); a checkpointed
    /// position is restored only into an input of the same kind.
    fn kind(&self) -> &'static str;
    fn start(&self) -> Result<()> {
        Ok(())
    }
    fn stop(&self) {}
    /// Whether data was received that no batch has taken yet (graceful stop waits for it).
    fn has_pending(&self) -> bool {
        false
    }
    /// Whether the source is finite and every record of it has been handed to a batch. An
    /// unbounded source (files, sockets, Kafka without a record limit) never is.
    fn is_exhausted(&self) -> bool {
        false
    }
    /// Records a receiver stored since the context started (other inputs receive nothing).
    fn records_received(&self) -> u64 {
        0
    }
    /// Whether the source keeps a write-ahead log (under the checkpoint directory, which
    /// `start` then requires).
    fn write_ahead_log(&self) -> bool {
        false
    }
    /// Entries from which the input re-creates its batches at times in `(since, upto]` and
    /// continues after `upto`, the batch just completed.
    fn save(&self, since: Time, upto: Time) -> Vec<String>;
    /// Takes a checkpoint's entries back (an input that cannot be recovered refuses).
    fn restore(&self, entries: &[String]) -> Result<()>;
    /// Distributed mode: the input's batch at `t` is about to be sent on through the exchanges.
    /// A Kafka stream in group mode commits its ranges first; `false` when that fails (the
    /// group may have moved the partitions: its generation fences a member that lost them), and
    /// then the batch's records must not be sent: the stream reads them again, or their
    /// partitions' next owners do.
    fn exchanging(&self, _t: Time) -> bool {
        true
    }
    /// Distributed mode: the batch at `t` was committed but its partials could not all be sent;
    /// a Kafka stream gives its records back to be sent again under `t`.
    fn not_exchanged(&self, _t: Time) {}
    /// Forgets what it keeps about batches at or before `t` (no window needs them any more).
    fn forget_before(&self, _t: Time) {}
    /// A checkpoint was written durably: no checkpoint that is kept needs the input's batches at
    /// or before `t` any more (neither to re-run them nor to rebuild a window), so what the input
    /// stores for them outside the checkpoint (a receiver's write-ahead log) may go.
    fn checkpoint_written(&self, _t: Time) {}
}
