//! A Kafka consumer whose close cannot hang its owner's drop.
//!
//! Dropping a group consumer closes it: librdkafka revokes its partitions and waits for the
//! revocation to be served, and rust-rdkafka's default handling unassigns them with a request
//! that waits without a bound. That wait was seen to last forever (a test's teardown hung in
//! `rd_kafka_incremental_unassign` while closing an exchange's consumer). A [`ClosingConsumer`]
//! closes its consumer on a thread of its own and waits for it at most [`CLOSE_BOUND`]: a close
//! that takes longer is left to finish in the background (or to end with the process), with a
//! warning.

use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use std::ops::Deref;
use std::sync::mpsc;
use std::time::Duration;

/// How long a drop waits for its consumer to close.
pub(crate) const CLOSE_BOUND: Duration = Duration::from_secs(10);

/// A consumer closed within [`CLOSE_BOUND`] when dropped; used as the consumer it holds.
pub(crate) struct ClosingConsumer<C: ConsumerContext + 'static> {
    consumer: Option<BaseConsumer<C>>,
    /// What the consumer reads, for the warning.
    what: String,
}

impl<C: ConsumerContext + 'static> ClosingConsumer<C> {
    /// Holds `consumer` (of `what`, e.g. "exchange topic app-0-exchange").
    pub(crate) fn new(consumer: BaseConsumer<C>, what: impl Into<String>) -> Self {
        ClosingConsumer {
            consumer: Some(consumer),
            what: what.into(),
        }
    }
}

impl<C: ConsumerContext + 'static> Deref for ClosingConsumer<C> {
    type Target = BaseConsumer<C>;
    fn deref(&self) -> &BaseConsumer<C> {
        self.consumer
            .as_ref()
            .expect("the consumer is taken only by drop")
    }
}

impl<C: ConsumerContext + 'static> Drop for ClosingConsumer<C> {
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.take()
            && !drop_within(consumer, CLOSE_BOUND)
        {
            tracing::warn!(
                "Kafka: the consumer of {} did not close within {CLOSE_BOUND:?}; left to close in the background",
                self.what
            );
        }
    }
}

/// Drops `value` on a thread of its own and waits at most `bound` for the drop to end: false if
/// it did not (it goes on in the background; a process that exits ends it). Also false if no
/// thread could be started (the value is then dropped here).
fn drop_within<T: Send + 'static>(value: T, bound: Duration) -> bool {
    let (done, ended) = mpsc::channel();
    let dropping = std::thread::Builder::new()
        .name("dstreams-close".into())
        .spawn(move || {
            drop(value);
            let _ = done.send(());
        });
    dropping.is_ok() && ended.recv_timeout(bound).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Blocks its drop until told (or for good, if never told).
    struct SlowDrop(mpsc::Receiver<()>);

    impl Drop for SlowDrop {
        fn drop(&mut self) {
            let _ = self.0.recv();
        }
    }

    #[test]
    fn a_drop_that_never_ends_is_given_up_on_after_the_bound() {
        let (_never, rx) = mpsc::channel();
        let started = Instant::now();
        assert!(!drop_within(SlowDrop(rx), Duration::from_millis(50)));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
    }

    #[test]
    fn a_drop_that_ends_is_waited_for() {
        let (tell, rx) = mpsc::channel();
        tell.send(()).unwrap();
        assert!(drop_within(SlowDrop(rx), Duration::from_secs(5)));
    }
}
