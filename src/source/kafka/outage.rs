//! A broker that does not answer: each failed metadata request is noted, warned about at most
//! every [`WARN_EVERY`] (with how long it has lasted), and once nothing has answered for
//! [`KafkaConfig::unreachable_timeout`] the batch fails with one clear error instead of the
//! stream retrying forever.
//!
//! [`KafkaConfig::unreachable_timeout`]: super::KafkaConfig::unreachable_timeout

use crate::error::{Error, Result};
use crate::time::Duration;
use std::time::Instant;

/// The shortest time between two warnings of one outage.
const WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The current outage, if the last request failed.
#[derive(Default)]
pub(super) struct Outage {
    /// When the first failed request of the outage was made.
    since: Option<Instant>,
    /// When it was last warned about.
    warned: Option<Instant>,
}

impl Outage {
    /// Notes a failed request (`what` says which, with the error): a warning if none was given
    /// in the last [`WARN_EVERY`], and an error once the outage has lasted `limit`.
    pub(super) fn failed(&mut self, what: &str, brokers: &str, limit: Duration) -> Result<()> {
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        let lasted = now - since;
        if lasted >= limit.to_std() {
            return Err(Error::kafka_failure(
                format!("reaching the Kafka brokers {brokers}"),
                format!(
                    "no answer for {} s (the limit is {limit}): {what}",
                    lasted.as_secs()
                ),
            ));
        }
        if self.warned.is_none_or(|at| now - at >= WARN_EVERY) {
            self.warned = Some(now);
            tracing::warn!(
                "Kafka {what}; unreachable for {} s, giving up after {limit}",
                lasted.as_secs()
            );
        }
        Ok(())
    }

    /// Notes a request that was answered: the outage, if any, is over.
    pub(super) fn answered(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                "Kafka brokers answer again after {} s",
                since.elapsed().as_secs()
            );
        }
        self.warned = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_warned_about_once_and_fails_after_its_limit() {
        let mut outage = Outage::default();
        outage
            .failed("metadata", "b:1", Duration::seconds(60))
            .unwrap();
        let warned = outage.warned;
        outage
            .failed("metadata", "b:1", Duration::seconds(60))
            .unwrap();
        assert_eq!(
            outage.warned, warned,
            "the second failure is not warned about again"
        );
        let err = outage
            .failed("metadata of topic t: timed out", "b:1", Duration::millis(0))
            .unwrap_err();
        assert!(err.to_string().contains("no answer for 0 s"), "{err}");
        outage.answered();
        assert!(outage.since.is_none() && outage.warned.is_none());
    }
}
