//! Wall-clock time as the host hands it in. The core never reads a clock.

use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A wall-clock instant: time since the Unix epoch (never before it).
///
/// Hosts build it from their clock (`SystemTime`, `Date.now()`, `System.currentTimeMillis()`)
/// and pass it to every call that needs "now".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(Duration);

impl UnixTime {
    /// The Unix epoch.
    pub const EPOCH: UnixTime = UnixTime(Duration::ZERO);

    /// From whole seconds and nanoseconds since the epoch (`nanos` may exceed
    /// one second). Saturates at the largest representable time.
    pub fn from_secs_nanos(secs: u64, nanos: u32) -> Self {
        UnixTime(Duration::from_secs(secs).saturating_add(Duration::from_nanos(u64::from(nanos))))
    }

    /// From milliseconds since the epoch (what JavaScript and the JVM hand out).
    pub fn from_millis(millis: u64) -> Self {
        UnixTime(Duration::from_millis(millis))
    }

    /// From a duration since the epoch.
    pub fn from_duration_since_epoch(since_epoch: Duration) -> Self {
        UnixTime(since_epoch)
    }

    /// Time since the epoch.
    pub fn since_epoch(self) -> Duration {
        self.0
    }

    /// Milliseconds since the epoch, saturating.
    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }

    /// How long after `earlier` this is; zero if it is not after.
    pub fn saturating_since(self, earlier: UnixTime) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// RFC 3339 in UTC with nine fractional digits and `Z`,
    /// e.g. `2024-01-02T03:04:05.006007008Z`: the timestamp the DDS signs over.
    pub fn to_rfc3339_nanos(self) -> String {
        let secs = i64::try_from(self.0.as_secs()).unwrap_or(i64::MAX);
        match DateTime::<Utc>::from_timestamp(secs, self.0.subsec_nanos()) {
            Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Nanos, true),
            // Beyond chrono's range (year 262 143): clamp to its last instant.
            None => DateTime::<Utc>::MAX_UTC.to_rfc3339_opts(SecondsFormat::Nanos, true),
        }
    }

    /// Parses an RFC 3339 timestamp (any offset). `None` if malformed or before the epoch.
    pub fn parse_rfc3339(text: &str) -> Option<UnixTime> {
        let dt = DateTime::parse_from_rfc3339(text).ok()?;
        let secs = u64::try_from(dt.timestamp()).ok()?;
        Some(UnixTime::from_secs_nanos(secs, dt.timestamp_subsec_nanos()))
    }

    /// Parses an HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`), as in `Retry-After`.
    pub fn parse_http_date(text: &str) -> Option<UnixTime> {
        let dt = DateTime::parse_from_rfc2822(text.trim()).ok()?;
        let secs = u64::try_from(dt.timestamp()).ok()?;
        Some(UnixTime::from_secs_nanos(secs, 0))
    }
}

impl Add<Duration> for UnixTime {
    type Output = UnixTime;
    fn add(self, rhs: Duration) -> UnixTime {
        UnixTime(self.0.saturating_add(rhs))
    }
}

impl Sub<Duration> for UnixTime {
    type Output = UnixTime;
    fn sub(self, rhs: Duration) -> UnixTime {
        UnixTime(self.0.saturating_sub(rhs))
    }
}

impl fmt::Debug for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339_nanos())
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339_nanos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(
            UnixTime::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(UnixTime::from_secs_nanos(784_111_777, 0))
        );
        assert_eq!(
            UnixTime::parse_http_date(" Wed, 21 Oct 2015 07:28:00 GMT "),
            Some(UnixTime::from_secs_nanos(1_445_412_480, 0))
        );
        assert_eq!(UnixTime::parse_http_date("not a date"), None);
        assert_eq!(UnixTime::parse_http_date(""), None);
        // Before the epoch.
        assert_eq!(
            UnixTime::parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT"),
            None
        );
    }

    #[test]
    fn rfc3339_with_offsets() {
        // 05:04:05.5 at +02:00 is 03:04:05.5Z: 1704164645 s.
        let expected = UnixTime::from_secs_nanos(1_704_164_645, 500_000_000);
        assert_eq!(
            UnixTime::parse_rfc3339("2024-01-02T05:04:05.5+02:00"),
            Some(expected)
        );
        assert_eq!(
            UnixTime::parse_rfc3339("2024-01-01T22:34:05.500-04:30"),
            Some(expected)
        );
        assert_eq!(
            UnixTime::parse_rfc3339("2024-01-02T03:04:05.500000000Z"),
            Some(expected)
        );
        assert_eq!(
            expected.to_rfc3339_nanos(),
            "2024-01-02T03:04:05.500000000Z"
        );
        assert_eq!(UnixTime::parse_rfc3339("1969-12-31T23:59:59Z"), None);
        assert_eq!(UnixTime::parse_rfc3339("2024-01-02 03:04:05"), None);
    }

    #[test]
    fn arithmetic_saturates() {
        let t = UnixTime::from_secs_nanos(10, 0);
        assert_eq!(t - Duration::from_secs(20), UnixTime::EPOCH);
        assert_eq!(
            t.saturating_since(t + Duration::from_secs(1)),
            Duration::ZERO
        );
        assert_eq!(UnixTime::from_millis(1_500).as_millis(), 1_500);
        assert_eq!(
            UnixTime::from_secs_nanos(1, 1_500_000_000),
            UnixTime::from_millis(2_500)
        );
        // Beyond chrono's range: clamped, no panic.
        let far = UnixTime::from_secs_nanos(u64::MAX, 999_999_999);
        assert!(far.to_rfc3339_nanos().starts_with('+'));
    }
}
