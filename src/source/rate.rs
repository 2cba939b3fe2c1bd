//! Ingestion rate control: Spark's PID rate estimator (backpressure) and a smooth rate limiter.

use crate::error::{Error, Result};
use std::time::{Duration as StdDuration, Instant};

/// Spark's `PIDRateEstimator`: after each batch, estimates how many records per second the
/// pipeline can take, from the batch's records, processing delay and scheduling delay.
///
/// ```
/// use dstreams::source::PidRateEstimator;
/// let mut pid = PidRateEstimator::new(1000, 1.0, 0.2, 0.0, 100.0).unwrap();
/// // The first batch only primes the estimator.
/// assert_eq!(pid.compute(1000, 1000, 500, 0), None);
/// // Steady state: 1000 records in 500 ms, no queueing: 2000 records/s.
/// assert_eq!(pid.compute(2000, 1000, 500, 0), Some(2000.0));
/// ```
#[derive(Clone, Debug)]
pub struct PidRateEstimator {
    batch_interval_ms: i64,
    proportional: f64,
    integral: f64,
    derivative: f64,
    min_rate: f64,
    first_run: bool,
    latest_time: i64,
    latest_rate: f64,
    latest_error: f64,
}

impl PidRateEstimator {
    /// An estimator with Spark's parameters (`spark.streaming.backpressure.pid.*`: defaults
    /// proportional 1.0, integral 0.2, derived 0.0, minRate 100).
    pub fn new(
        batch_interval_ms: i64,
        proportional: f64,
        integral: f64,
        derivative: f64,
        min_rate: f64,
    ) -> Result<Self> {
        let check = |ok: bool, msg: String| {
            if ok {
                Ok(())
            } else {
                Err(Error::InvalidArgument(msg))
            }
        };
        check(
            batch_interval_ms > 0,
            format!("Specified batch interval {batch_interval_ms} in PIDRateEstimator is invalid."),
        )?;
        check(
            proportional >= 0.0,
            format!("Proportional term {proportional} in PIDRateEstimator should be >= 0."),
        )?;
        check(
            integral >= 0.0,
            format!("Integral term {integral} in PIDRateEstimator should be >= 0."),
        )?;
        check(
            derivative >= 0.0,
            format!("Derivative term {derivative} in PIDRateEstimator should be >= 0."),
        )?;
        check(
            min_rate > 0.0,
            "Minimum rate in PIDRateEstimator should be > 0".to_string(),
        )?;
        Ok(PidRateEstimator {
            batch_interval_ms,
            proportional,
            integral,
            derivative,
            min_rate,
            first_run: true,
            latest_time: -1,
            latest_rate: -1.0,
            latest_error: -1.0,
        })
    }

    /// Spark's defaults for a batch interval.
    pub fn with_defaults(batch_interval_ms: i64) -> Result<Self> {
        Self::new(batch_interval_ms, 1.0, 0.2, 0.0, 100.0)
    }

    /// Feeds a completed batch's metrics for the input stream `stream_id` (Spark's
    /// `RateController.onBatchCompleted`) and returns the new rate limit, if there is one yet.
    pub fn compute_after(&mut self, info: &crate::BatchInfo, stream_id: usize) -> Option<f64> {
        let records = info
            .stream_id_to_input_info
            .get(&stream_id)
            .map_or(0, |i| i.num_records as i64);
        self.compute(
            info.processing_end_time?,
            records,
            info.processing_delay()?,
            info.scheduling_delay()?,
        )
    }

    /// Feeds one completed batch (`time` = processing end, ms; delays in ms) and returns the new
    /// rate limit in records/s, if there is one yet.
    pub fn compute(
        &mut self,
        time: i64,
        num_elements: i64,
        processing_delay: i64,
        scheduling_delay: i64,
    ) -> Option<f64> {
        if !(time > self.latest_time && num_elements > 0 && processing_delay > 0) {
            return None;
        }
        let delay_since_update = (time - self.latest_time) as f64 / 1000.0;
        let processing_rate = num_elements as f64 / processing_delay as f64 * 1000.0;
        let error = self.latest_rate - processing_rate;
        let historical_error =
            scheduling_delay as f64 * processing_rate / self.batch_interval_ms as f64;
        let d_error = (error - self.latest_error) / delay_since_update;
        let new_rate = (self.latest_rate
            - self.proportional * error
            - self.integral * historical_error
            - self.derivative * d_error)
            .max(self.min_rate);
        self.latest_time = time;
        if self.first_run {
            self.latest_rate = processing_rate;
            self.latest_error = 0.0;
            self.first_run = false;
            None
        } else {
            self.latest_rate = new_rate;
            self.latest_error = error;
            Some(new_rate)
        }
    }
}

/// A smooth rate limiter: records are admitted at most at `rate` per second on average, each
/// acquisition reserving time ahead (as Guava's `RateLimiter`, which Spark's receivers use).
#[derive(Debug)]
pub struct RateLimiter {
    rate: Option<f64>,
    next_free: Option<Instant>,
}

impl RateLimiter {
    /// A limiter admitting `rate` records per second; `None` (or a rate <= 0) is unlimited.
    pub fn new(rate: Option<f64>) -> Self {
        RateLimiter {
            rate: rate.filter(|r| *r > 0.0),
            next_free: None,
        }
    }

    /// The current limit in records per second.
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// Changes the limit (backpressure updates it after each batch).
    pub fn set_rate(&mut self, rate: Option<f64>) {
        self.rate = rate.filter(|r| *r > 0.0);
    }

    /// Reserves `records` at `now` and returns how long the caller must wait before storing them.
    pub fn reserve(&mut self, records: u64, now: Instant) -> StdDuration {
        let Some(rate) = self.rate else {
            return StdDuration::ZERO;
        };
        let start = self.next_free.map_or(now, |t| t.max(now));
        self.next_free = Some(start + StdDuration::from_secs_f64(records as f64 / rate));
        start - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_validates_like_spark() {
        assert!(
            PidRateEstimator::new(0, 1.0, 0.2, 0.0, 100.0)
                .unwrap_err()
                .to_string()
                .contains("batch interval 0")
        );
        assert!(PidRateEstimator::new(1000, -1.0, 0.2, 0.0, 100.0).is_err());
        assert!(PidRateEstimator::new(1000, 1.0, 0.2, 0.0, 0.0).is_err());
    }

    #[test]
    fn pid_first_estimate_is_none_and_ignores_empty_batches() {
        let mut p = PidRateEstimator::with_defaults(1000).unwrap();
        assert_eq!(p.compute(10, 1000, 100, 0), None);
        assert_eq!(p.compute(20, 0, 100, 0), None, "no elements");
        assert_eq!(p.compute(30, 10, 0, 0), None, "no processing delay");
        assert_eq!(p.compute(5, 10, 10, 0), None, "time going backwards");
    }

    #[test]
    fn pid_reacts_to_slow_processing_and_queueing() {
        let mut p = PidRateEstimator::with_defaults(1000).unwrap();
        p.compute(1000, 10_000, 1000, 0); // primes at 10,000 records/s
        // Processing slows to 5,000 records/s and a 500 ms queue builds up.
        let rate = p.compute(2000, 5000, 1000, 500).unwrap();
        // latest - kp*error - ki*historical = 10000 - 1*(10000-5000) - 0.2*(500*5000/1000) = 4500
        assert!((rate - 4500.0).abs() < 1e-9, "{rate}");
        // Never below the minimum rate.
        let floor = p.compute(3000, 1, 1000, 100_000).unwrap();
        assert_eq!(floor, 100.0);
    }

    #[test]
    fn limiter_spaces_acquisitions_at_the_rate() {
        let mut l = RateLimiter::new(Some(100.0));
        let t0 = Instant::now();
        assert_eq!(l.reserve(50, t0), StdDuration::ZERO);
        // 50 records at 100/s reserved half a second: the next caller waits for it.
        let wait = l.reserve(10, t0);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        // Later than the reservation: no wait.
        assert_eq!(
            l.reserve(1, t0 + StdDuration::from_secs(5)),
            StdDuration::ZERO
        );
        let mut unlimited = RateLimiter::new(None);
        assert_eq!(unlimited.reserve(1_000_000, t0), StdDuration::ZERO);
        unlimited.set_rate(Some(-1.0));
        assert_eq!(unlimited.rate(), None);
    }
}
