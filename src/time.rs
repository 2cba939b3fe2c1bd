//! `Duration` and `Time` with Spark's rules: milliseconds, `"<n> ms"` display, batch times aligned to
//! multiples of the batch interval.

use crate::error::{Error, Result};
use std::fmt;
use std::ops::{Add, Sub};

/// A span of time in milliseconds, as Spark's `Duration`. Always positive once validated by the
/// operation that takes it. Operations take anything that converts into one: Spark's
/// [`Seconds`], [`Milliseconds`] and [`Minutes`], or a `std::time::Duration`.
///
/// ```
/// use dstreams::{Duration, Milliseconds, Seconds};
/// assert_eq!(Duration::seconds(2).to_string(), "2000 ms");
/// assert_eq!(Duration::from(Seconds(2)), Duration::seconds(2));
/// assert!(Duration::seconds(4).is_multiple_of(Milliseconds(500).into()));
/// assert_eq!(Duration::from(std::time::Duration::from_millis(1500)), Duration::millis(1500));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(i64);

impl Duration {
    /// The longest duration an interval, window, slide or remember duration may have: 100
    /// years. Far below `i64::MAX` milliseconds, so batch times (now plus a few of them) never
    /// overflow.
    pub const LONGEST: Duration = Duration(100 * 36_525 * 24 * 3_600_000 / 100);
    /// `n` milliseconds.
    pub const fn millis(n: i64) -> Self {
        Duration(n)
    }
    /// `n` seconds (saturating at `i64::MAX` milliseconds).
    pub const fn seconds(n: i64) -> Self {
        Duration(n.saturating_mul(1000))
    }
    /// `n` minutes (saturating at `i64::MAX` milliseconds).
    pub const fn minutes(n: i64) -> Self {
        Duration(n.saturating_mul(60_000))
    }
    /// As a `std::time::Duration` (zero for a negative duration).
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(self.0).unwrap_or(0))
    }
    /// The length in milliseconds.
    pub const fn as_millis(self) -> i64 {
        self.0
    }
    /// Spark's `isMultipleOf`: `self % other == 0` (false for a zero `other`).
    pub fn is_multiple_of(self, other: Duration) -> bool {
        other.0 != 0 && self.0 % other.0 == 0
    }
    /// `Ok(self)` if strictly positive and at most [`LONGEST`](Self::LONGEST), else
    /// [`Error::InvalidDuration`] naming `what`.
    ///
    /// ```
    /// use dstreams::Duration;
    /// assert!(Duration::seconds(2).usable("window").is_ok());
    /// assert!(Duration::millis(0).usable("window").is_err());
    /// let err = (Duration::seconds(1) * i64::MAX).usable("window").unwrap_err();
    /// assert!(err.to_string().contains("too large"));
    /// ```
    pub fn usable(self, what: &str) -> Result<Self> {
        if self.0 <= 0 {
            Err(Error::InvalidDuration(format!(
                "{what} must be positive, got {self}"
            )))
        } else if self > Self::LONGEST {
            Err(Error::InvalidDuration(format!(
                "{what} is too large: {self}, more than {} (100 years)",
                Self::LONGEST
            )))
        } else {
            Ok(self)
        }
    }
    /// Parses `"500ms"`, `"2s"`, `"1min"`, `"1m"`, `"1.5s"` or a plain number of milliseconds.
    ///
    /// ```
    /// use dstreams::Duration;
    /// assert_eq!(Duration::parse("1.5s").unwrap(), Duration::millis(1500));
    /// assert!(Duration::parse("soon").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let bad = || {
            Error::InvalidDuration(format!(
                "cannot parse {text:?} as a duration (use e.g. 500ms, 2s, 1min)"
            ))
        };
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let value: f64 = num.parse().map_err(|_| bad())?;
        let scale = match unit.trim() {
            "" | "ms" => 1.0,
            "s" | "sec" | "secs" => 1000.0,
            "m" | "min" | "mins" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return Err(bad()),
        };
        let ms = value * scale;
        if !ms.is_finite() || ms.fract() != 0.0 || ms > i64::MAX as f64 {
            return Err(Error::InvalidDuration(format!(
                "{text:?} is not a whole number of milliseconds"
            )));
        }
        Duration(ms as i64).usable("duration")
    }
}

/// Spark's `Seconds(n)`: `StreamingContext::new(Seconds(1))`, `window(Seconds(30), Seconds(10))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds(pub i64);

/// Spark's `Milliseconds(n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Milliseconds(pub i64);

/// Spark's `Minutes(n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Minutes(pub i64);

impl From<Seconds> for Duration {
    fn from(s: Seconds) -> Duration {
        Duration::seconds(s.0)
    }
}

impl From<Milliseconds> for Duration {
    fn from(ms: Milliseconds) -> Duration {
        Duration::millis(ms.0)
    }
}

impl From<Minutes> for Duration {
    fn from(m: Minutes) -> Duration {
        Duration::minutes(m.0)
    }
}

/// Whole milliseconds (rounded down; saturating at `i64::MAX`).
impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Duration {
        Duration(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}

/// A point in time in epoch milliseconds, as Spark's `Time`; displays as `"<ms> ms"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(i64);

impl Time {
    /// The time `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Time(ms)
    }
    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }
    /// Whether `self - zero` is a multiple of `d`.
    pub fn is_multiple_of(self, d: Duration) -> bool {
        d.0 != 0 && self.0 % d.0 == 0
    }
    /// The largest multiple of `d` (counted from `zero`) that is `<= self`.
    pub fn floor(self, d: Duration, zero: Time) -> Time {
        let rel = self.0 - zero.0;
        Time(zero.0 + rel.div_euclid(d.0) * d.0)
    }
    /// Spark's `RecurringTimer.getStartTime`: the first multiple of `interval` strictly after `now`.
    pub fn first_batch_after(now: Time, interval: Duration) -> Time {
        Time((now.0.div_euclid(interval.0) + 1) * interval.0)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0 + d.0)
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, d: Duration) -> Time {
        Time(self.0 - d.0)
    }
}

impl Sub for Time {
    type Output = Duration;
    fn sub(self, t: Time) -> Duration {
        Duration(self.0 - t.0)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, d: Duration) -> Duration {
        Duration(self.0 + d.0)
    }
}

/// `n` times the duration, saturating at `i64::MAX` (or `MIN`) milliseconds: a product too large
/// is then refused by [`Duration::usable`] where the duration is taken, never wrapped around.
impl std::ops::Mul<i64> for Duration {
    type Output = Duration;
    fn mul(self, n: i64) -> Duration {
        Duration(self.0.saturating_mul(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_batch_is_strictly_after_start_and_aligned() {
        let b = Duration::seconds(1);
        assert_eq!(Time::first_batch_after(Time(0), b), Time(1000));
        assert_eq!(Time::first_batch_after(Time(999), b), Time(1000));
        assert_eq!(Time::first_batch_after(Time(1000), b), Time(2000));
    }

    #[test]
    fn bad_durations_are_typed_errors() {
        for text in ["", "0", "-1s", "1.0005s", "3 fortnights", "nan"] {
            assert!(
                matches!(Duration::parse(text), Err(Error::InvalidDuration(_))),
                "{text}"
            );
        }
        assert_eq!(Duration::parse("2s").unwrap(), Duration::seconds(2));
        assert_eq!(Duration::parse("250").unwrap(), Duration::millis(250));
    }

    #[test]
    fn floor_to_grid() {
        let zero = Time(1000);
        assert_eq!(Time(4500).floor(Duration::seconds(1), zero), Time(4000));
        assert_eq!(Time(4000).floor(Duration::seconds(2), zero), Time(3000));
    }
}
