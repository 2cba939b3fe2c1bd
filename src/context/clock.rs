//! Clocks decide when batches happen: the system clock in production, a manual clock in tests (no
//! sleeping: the test advances time) and a fast clock that runs batches back to back.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::lock::lock;
use crate::time::{Duration, Time};

/// A source of batch times.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Time;
    /// Blocks until `now() >= time`, returning `true`, or until `interrupted` is set and the clock
    /// is woken by [`Clock::wake`], returning `false`.
    fn wait_until(&self, time: Time, interrupted: &AtomicBool) -> bool;
    /// Wakes every waiter so it re-checks its interrupt flag.
    fn wake(&self);
    /// Whether batches should run back to back, each as soon as the previous one finished, rather
    /// than queueing up on a timer (the fast clock).
    fn back_to_back(&self) -> bool {
        false
    }
}

/// Wall-clock time in epoch milliseconds.
pub(crate) fn wall_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The system clock (Spark's `SystemClock`).
#[derive(Default)]
pub struct SystemClock {
    sleep: Mutex<()>,
    cv: Condvar,
}

impl SystemClock {
    /// A system clock.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Time {
        Time::from_millis(wall_millis())
    }
    fn wait_until(&self, time: Time, interrupted: &AtomicBool) -> bool {
        let mut guard = lock(&self.sleep);
        loop {
            if interrupted.load(Ordering::SeqCst) {
                return false;
            }
            let left = time.as_millis() - wall_millis();
            if left <= 0 {
                return true;
            }
            let wait = std::time::Duration::from_millis(left as u64);
            guard = self
                .cv
                .wait_timeout(guard, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
    fn wake(&self) {
        let _g = lock(&self.sleep);
        self.cv.notify_all();
    }
}

/// A clock that only moves when told to (Spark's `ManualClock`): tests advance it and batches
/// happen deterministically, without sleeping.
///
/// ```
/// use dstreams::{ManualClock, Clock, Duration, Time};
/// let clock = ManualClock::new(Time::from_millis(0));
/// clock.advance(Duration::seconds(1));
/// assert_eq!(clock.now(), Time::from_millis(1000));
/// ```
pub struct ManualClock {
    time: Mutex<Time>,
    cv: Condvar,
}

impl ManualClock {
    /// A manual clock showing `start`.
    pub fn new(start: Time) -> Self {
        ManualClock {
            time: Mutex::new(start),
            cv: Condvar::new(),
        }
    }
    /// Moves the clock forward.
    pub fn advance(&self, by: impl Into<Duration>) {
        let mut t = lock(&self.time);
        *t = *t + by.into();
        self.cv.notify_all();
    }
    /// Sets the clock.
    pub fn set(&self, time: Time) {
        *lock(&self.time) = time;
        self.cv.notify_all();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        *lock(&self.time)
    }
    fn wait_until(&self, time: Time, interrupted: &AtomicBool) -> bool {
        let mut t = lock(&self.time);
        loop {
            if interrupted.load(Ordering::SeqCst) {
                return false;
            }
            if *t >= time {
                return true;
            }
            t = self.cv.wait(t).unwrap_or_else(|e| e.into_inner());
        }
    }
    fn wake(&self) {
        let _g = lock(&self.time);
        self.cv.notify_all();
    }
}

/// A clock for replaying recorded data as fast as possible: each batch time is reached as soon as
/// the previous batch has finished.
pub struct FastClock {
    now: AtomicI64,
}

impl FastClock {
    /// A fast clock starting at `start`.
    pub fn new(start: Time) -> Self {
        FastClock {
            now: AtomicI64::new(start.as_millis()),
        }
    }
}

impl Clock for FastClock {
    fn now(&self) -> Time {
        Time::from_millis(self.now.load(Ordering::SeqCst))
    }
    fn wait_until(&self, time: Time, interrupted: &AtomicBool) -> bool {
        if interrupted.load(Ordering::SeqCst) {
            return false;
        }
        self.now.fetch_max(time.as_millis(), Ordering::SeqCst);
        true
    }
    fn wake(&self) {}
    fn back_to_back(&self) -> bool {
        true
    }
}
