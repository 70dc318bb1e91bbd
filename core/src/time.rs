//! Wall-clock time as the host hands it in. The core never reads a clock.
//!
//! The calendar arithmetic is written out here (Howard Hinnant's `days_from_civil` /
//! `civil_from_days`, about thirty lines) instead of using chrono: it is all the
//! protocol needs, and it keeps chrono's ~17 KB of formatting and parsing machinery out
//! of the WebAssembly build. `humantime` cannot replace it (no offsets when parsing, and
//! an error past the year 9999 where chrono clamps); the results are byte-identical to
//! chrono's, which the tests check against chrono itself. HTTP-dates are read the way the
//! `httpdate` crate (hyper's) reads them, the three forms RFC 9110 requires, with the same
//! calendar code (the tests check it against `httpdate`).

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// Seconds in a day.
const DAY: u64 = 86_400;

/// The last second chrono can represent (+262142-12-31T23:59:59Z), to which
/// [`UnixTime::to_rfc3339_nanos`] clamps, as it always has.
const MAX_FORMATTED_SECS: u64 = days_from_civil(262_142, 12, 31) as u64 * DAY + DAY - 1;

/// Days since 1970-01-01 of a proleptic Gregorian date (`month` 1-12, `day` 1-31).
const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400; // [0, 399]
    let shifted_month = if month > 2 { month - 3 } else { month + 9 } as i64; // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + day as i64 - 1; // [0, 365]
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date (year, month 1-12, day 1-31) `days` after 1970-01-01.
const fn civil_from_days(days: u64) -> (u64, u32, u32) {
    // Only instants after the epoch are formatted: unsigned arithmetic suffices.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days - era * 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March = 0
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// Whole milliseconds in `duration`, saturating: `Duration::as_millis` without its `u128`
/// (whose arithmetic and formatting would otherwise be linked into the WebAssembly build).
pub(crate) fn millis(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(duration.subsec_millis()))
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Appends `value` as exactly `width` decimal digits (zero-padded; `value` must fit).
fn push_digits(out: &mut String, value: u64, width: u32) {
    let mut divisor = 10u64.pow(width - 1);
    while divisor > 0 {
        out.push(char::from(b'0' + (value / divisor % 10) as u8));
        divisor /= 10;
    }
}

/// A fixed-layout reader for [`UnixTime::parse_rfc3339`].
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let (head, rest) = self.0.split_at_checked(n)?;
        let mut value = 0;
        for &b in head {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
        }
        self.0 = rest;
        Some(value)
    }

    /// The next byte, if it is one of `expected`.
    fn byte(&mut self, expected: &[u8]) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        if !expected.contains(&first) {
            return None;
        }
        self.0 = rest;
        Some(first)
    }
}

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
        millis(self.0)
    }

    /// How long after `earlier` this is; zero if it is not after.
    pub fn saturating_since(self, earlier: UnixTime) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// RFC 3339 in UTC with nine fractional digits and `Z`,
    /// e.g. `2024-01-02T03:04:05.006007008Z`: the timestamp the DDS signs over.
    /// Years past 9999 carry a `+` (ISO 8601's expanded form); instants past
    /// +262142-12-31T23:59:59.999999999Z are written as that instant.
    pub fn to_rfc3339_nanos(self) -> String {
        let (secs, nanos) = match self.0.as_secs() {
            secs if secs > MAX_FORMATTED_SECS => (MAX_FORMATTED_SECS, 999_999_999),
            secs => (secs, self.0.subsec_nanos()),
        };
        let (year, month, day) = civil_from_days(secs / DAY);
        let second_of_day = secs % DAY;
        let mut out = String::with_capacity(32);
        if year > 9999 {
            out.push('+');
            out.push_str(&year.to_string());
        } else {
            push_digits(&mut out, year, 4);
        }
        for (separator, value) in [
            ('-', u64::from(month)),
            ('-', u64::from(day)),
            ('T', second_of_day / 3600),
            (':', second_of_day / 60 % 60),
            (':', second_of_day % 60),
        ] {
            out.push(separator);
            push_digits(&mut out, value, 2);
        }
        out.push('.');
        push_digits(&mut out, u64::from(nanos), 9);
        out.push('Z');
        out
    }

    /// Parses an RFC 3339 timestamp (any offset). `None` if malformed or before the epoch.
    ///
    /// Accepts what chrono's `DateTime::parse_from_rfc3339` accepts: `T`, `t` or a space
    /// between date and time, `Z`/`z` or `±HH:MM` up to 23:59, any number of fractional
    /// digits (those past the ninth ignored), and a leap second `:60`, read as the
    /// following second.
    pub fn parse_rfc3339(text: &str) -> Option<UnixTime> {
        let mut cursor = Cursor(text.as_bytes());
        let year = cursor.digits(4)?;
        cursor.byte(b"-")?;
        let month = cursor.digits(2)?;
        cursor.byte(b"-")?;
        let day = cursor.digits(2)?;
        cursor.byte(b"Tt ")?;
        let hour = cursor.digits(2)?;
        cursor.byte(b":")?;
        let minute = cursor.digits(2)?;
        cursor.byte(b":")?;
        let second = cursor.digits(2)?;
        let mut nanos = 0;
        if cursor.byte(b".").is_some() {
            let digits = cursor.0.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            let kept = digits.min(9);
            nanos = cursor.digits(kept)? * 10u32.pow(9 - kept as u32);
            cursor.0 = &cursor.0[digits - kept..];
        }
        let offset_secs: i64 = match cursor.0 {
            [b'Z' | b'z', rest @ ..] => {
                cursor.0 = rest;
                0
            }
            _ => {
                let negative = match cursor.0 {
                    [b'+', rest @ ..] => {
                        cursor.0 = rest;
                        false
                    }
                    [b'-', rest @ ..] => {
                        cursor.0 = rest;
                        true
                    }
                    // U+2212 MINUS SIGN, as chrono allows.
                    [0xE2, 0x88, 0x92, rest @ ..] => {
                        cursor.0 = rest;
                        true
                    }
                    _ => return None,
                };
                let hours = cursor.digits(2)?;
                cursor.byte(b":")?;
                let minutes = cursor.digits(2)?;
                if hours > 23 || minutes > 59 {
                    return None;
                }
                let secs = i64::from(hours * 3600 + minutes * 60);
                if negative {
                    -secs
                } else {
                    secs
                }
            }
        };
        if !cursor.0.is_empty()
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(i64::from(year), month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        // A leap second is the last second of the minute, one second long.
        let (second, leap_nanos) = if second == 60 {
            (59, 1_000_000_000)
        } else {
            (second, 0)
        };
        let local = days_from_civil(i64::from(year), month, day) * DAY as i64
            + i64::from(hour * 3600 + minute * 60 + second);
        let secs = u64::try_from(local - offset_secs).ok()?;
        Some(UnixTime::from_secs_nanos(secs, nanos + leap_nanos))
    }

    /// Parses an HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`), as in `Retry-After`: the
    /// IMF-fixdate and the two obsolete forms (RFC 850, asctime) that RFC 9110 §5.6.7
    /// obliges recipients to accept. Surrounding whitespace is ignored; a weekday that
    /// does not match the date, a time before the epoch, or anything else is `None`.
    ///
    /// The rules are those of the `httpdate` crate (hyper's), which the tests check this
    /// against; written out here with the calendar code above, it takes 3.4 KB less of the
    /// WebAssembly build than `httpdate` did.
    pub fn parse_http_date(text: &str) -> Option<UnixTime> {
        let s = text.trim().as_bytes();
        if !s.is_ascii() {
            return None;
        }
        let date = parse_imf_fixdate(s)
            .or_else(|| parse_rfc850_date(s))
            .or_else(|| parse_asctime(s))?;
        date.to_unix_time()
    }
}

/// The fields of an HTTP-date, before validation.
struct HttpDate {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Monday … 6 = Sunday.
    weekday: u32,
}

const WEEKDAYS: [&[u8]; 7] = [
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
    b"Sunday",
];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `digits.len()` ASCII digits as a number.
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0, |value, &b| {
        let digit = b.wrapping_sub(b'0');
        (digit < 10).then_some(value * 10 + u32::from(digit))
    })
}

/// The month whose three-letter name is `name` (1-12).
fn month_number(name: &[u8]) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| &m[..] == name)
        .map(|i| i as u32 + 1)
}

/// The weekday whose name is `name`: the three-letter form, or the full one if `full`.
fn weekday_number(name: &[u8], full: bool) -> Option<u32> {
    WEEKDAYS
        .iter()
        .position(|day| {
            if full {
                *day == name
            } else {
                &day[..3] == name
            }
        })
        .map(|i| i as u32)
}

/// `HH:MM:SS` at `s[at..at + 8]` (the colons already checked).
fn time_of_day(s: &[u8], at: usize) -> Option<(u32, u32, u32)> {
    Some((
        number(&s[at..at + 2])?,
        number(&s[at + 3..at + 5])?,
        number(&s[at + 6..at + 8])?,
    ))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn parse_imf_fixdate(s: &[u8]) -> Option<HttpDate> {
    if s.len() != 29
        || &s[25..] != b" GMT"
        || &s[3..5] != b", "
        || s[7] != b' '
        || s[11] != b' '
        || s[16] != b' '
        || s[19] != b':'
        || s[22] != b':'
    {
        return None;
    }
    let (hour, minute, second) = time_of_day(s, 17)?;
    Some(HttpDate {
        year: number(&s[12..16])?,
        month: month_number(&s[8..11])?,
        day: number(&s[5..7])?,
        hour,
        minute,
        second,
        weekday: weekday_number(&s[..3], false)?,
    })
}

/// `Sunday, 06-Nov-94 08:49:37 GMT` (two-digit years below 70 are 20xx).
fn parse_rfc850_date(s: &[u8]) -> Option<HttpDate> {
    let comma = s.iter().position(|&b| b == b',')?;
    let weekday = weekday_number(&s[..comma], true)?;
    let s = s[comma..].strip_prefix(b", ")?;
    if s.len() != 22
        || s[2] != b'-'
        || s[6] != b'-'
        || s[12] != b':'
        || s[15] != b':'
        || &s[18..] != b" GMT"
    {
        return None;
    }
    let (hour, minute, second) = time_of_day(s, 10)?;
    let year = number(&s[7..9])?;
    Some(HttpDate {
        year: if year < 70 { year + 2000 } else { year + 1900 },
        month: month_number(&s[3..6])?,
        day: number(&s[..2])?,
        hour,
        minute,
        second,
        weekday,
    })
}

/// `Sun Nov  6 08:49:37 1994`
fn parse_asctime(s: &[u8]) -> Option<HttpDate> {
    if s.len() != 24
        || s[3] != b' '
        || s[7] != b' '
        || s[10] != b' '
        || s[13] != b':'
        || s[16] != b':'
        || s[19] != b' '
    {
        return None;
    }
    let (hour, minute, second) = time_of_day(s, 11)?;
    let day = match s[8] {
        b' ' => number(&s[9..10])?,
        _ => number(&s[8..10])?,
    };
    Some(HttpDate {
        year: number(&s[20..24])?,
        month: month_number(&s[4..7])?,
        day,
        hour,
        minute,
        second,
        weekday: weekday_number(&s[..3], false)?,
    })
}

impl HttpDate {
    /// The instant, if the date exists, its weekday is right and it is 1970-9999.
    fn to_unix_time(&self) -> Option<UnixTime> {
        let year = i64::from(self.year);
        let valid = (1970..=9999).contains(&self.year)
            && (1..=12).contains(&self.month)
            && (1..=days_in_month(year, self.month)).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60;
        if !valid {
            return None;
        }
        let days = u64::try_from(days_from_civil(year, self.month, self.day)).ok()?;
        // 1970-01-01 was a Thursday (3 with Monday = 0).
        if (days + 3) % 7 != u64::from(self.weekday) {
            return None;
        }
        let secs = days * DAY + u64::from(self.hour * 3600 + self.minute * 60 + self.second);
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
    use chrono::{DateTime, SecondsFormat, Utc};
    use proptest::prelude::*;

    /// What chrono (the implementation this replaced) writes for the same instant.
    fn chrono_rfc3339(time: UnixTime) -> String {
        let secs = i64::try_from(time.0.as_secs()).unwrap_or(i64::MAX);
        DateTime::<Utc>::from_timestamp(secs, time.0.subsec_nanos())
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
            .to_rfc3339_opts(SecondsFormat::Nanos, true)
    }

    /// What chrono reads from the same text.
    fn chrono_parse_rfc3339(text: &str) -> Option<UnixTime> {
        let dt = DateTime::parse_from_rfc3339(text).ok()?;
        let secs = u64::try_from(dt.timestamp()).ok()?;
        Some(UnixTime::from_secs_nanos(secs, dt.timestamp_subsec_nanos()))
    }

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
        // The obsolete forms RFC 9110 requires recipients to read.
        assert_eq!(
            UnixTime::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(UnixTime::from_secs_nanos(784_111_777, 0))
        );
        assert_eq!(
            UnixTime::parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(UnixTime::from_secs_nanos(784_111_777, 0))
        );
        assert_eq!(UnixTime::parse_http_date("not a date"), None);
        assert_eq!(UnixTime::parse_http_date(""), None);
        // The weekday must match the date.
        assert_eq!(
            UnixTime::parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT"),
            None
        );
        assert_eq!(
            UnixTime::parse_http_date("Sun, 31 Nov 1994 08:49:37 GMT"),
            None
        );
        assert_eq!(
            UnixTime::parse_http_date("Sun, 06 Nov 1994 24:00:00 GMT"),
            None
        );
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
    fn rfc3339_edge_cases_match_chrono() {
        let cases = [
            "2024-01-02T03:04:05Z",
            "2024-01-02t03:04:05z",
            "2024-01-02 03:04:05Z",
            "2024-01-02T03:04:05.1234567891234Z",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05.5",
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:59:60.5+01:00",
            "2016-12-31T23:58:61Z",
            "2024-02-29T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-00-10T00:00:00Z",
            "2024-13-10T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-02T24:00:00Z",
            "2024-01-02T23:60:00Z",
            "2024-01-02T03:04:05+23:59",
            "2024-01-02T03:04:05+24:00",
            "2024-01-02T03:04:05-00:00",
            "2024-01-02T03:04:05+02:60",
            "2024-01-02T03:04:05+0200",
            "2024-01-02T03:04:05+02",
            "2024-01-02T03:04:05\u{2212}02:00",
            "2024-01-02T03:04:05Z ",
            " 2024-01-02T03:04:05Z",
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:59:59+01:00",
            "1970-01-01T01:00:00+01:00",
            "0000-03-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999-23:59",
            "2024-1-02T03:04:05Z",
            "20240102T030405Z",
            "2024-01-02T03:04:05\u{e9}",
            "",
        ];
        for text in cases {
            assert_eq!(
                UnixTime::parse_rfc3339(text),
                chrono_parse_rfc3339(text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn formatting_matches_chrono_at_the_edges() {
        let secs = [
            0,
            1,
            59,
            86_399,
            86_400,
            951_782_400,     // 2000-02-29
            4_107_542_399,   // 2100-02-28T23:59:59
            253_402_300_799, // 9999-12-31T23:59:59
            253_402_300_800, // +10000-01-01
            MAX_FORMATTED_SECS - 1,
            MAX_FORMATTED_SECS,
            MAX_FORMATTED_SECS + 1,
            i64::MAX as u64,
            i64::MAX as u64 + 1,
            u64::MAX,
        ];
        for s in secs {
            for nanos in [0, 1, 999_999_999] {
                let time = UnixTime::from_secs_nanos(s, nanos);
                assert_eq!(
                    time.to_rfc3339_nanos(),
                    chrono_rfc3339(time),
                    "({s}, {nanos})"
                );
            }
        }
        assert_eq!(
            UnixTime::from_secs_nanos(u64::MAX, 0).to_rfc3339_nanos(),
            "+262142-12-31T23:59:59.999999999Z"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn formatting_matches_chrono(secs in 0u64..=300_000_000_000, nanos in 0u32..1_000_000_000) {
            let time = UnixTime::from_secs_nanos(secs, nanos);
            let text = time.to_rfc3339_nanos();
            prop_assert_eq!(&text, &chrono_rfc3339(time));
            if secs < 253_402_300_800 {
                prop_assert_eq!(UnixTime::parse_rfc3339(&text), Some(time));
            }
        }

        #[test]
        fn parsing_matches_chrono(
            date in "[0-9]{4}-[0-9]{2}-[0-9]{2}",
            sep in "[Tt ]",
            time in "[0-9]{2}:[0-9]{2}:[0-9]{2}",
            frac in prop::option::of("[0-9]{0,12}"),
            offset in prop_oneof![
                Just("Z".to_owned()),
                Just("z".to_owned()),
                "[+-][0-9]{2}:[0-9]{2}",
                "[+-][0-9]{1,4}",
                ".{0,3}",
            ],
        ) {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            let text = format!("{date}{sep}{time}{frac}{offset}");
            prop_assert_eq!(UnixTime::parse_rfc3339(&text), chrono_parse_rfc3339(&text), "{}", text);
        }

        #[test]
        fn plausible_dates_parse_like_chrono(
            secs in 0u64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
            offset_minutes in -1439i64..=1439,
        ) {
            let local = DateTime::<Utc>::from_timestamp(secs as i64, nanos).unwrap();
            let offset = chrono::FixedOffset::east_opt((offset_minutes * 60) as i32).unwrap();
            let text = local.with_timezone(&offset).to_rfc3339_opts(SecondsFormat::AutoSi, false);
            prop_assert_eq!(UnixTime::parse_rfc3339(&text), chrono_parse_rfc3339(&text), "{}", text);
            prop_assert_eq!(UnixTime::parse_rfc3339(&text), Some(UnixTime::from_secs_nanos(secs, nanos)));
        }

        #[test]
        fn imf_fixdates_parse_like_chrono(secs in 0u64..253_402_300_799) {
            let text = DateTime::<Utc>::from_timestamp(secs as i64, 0)
                .unwrap()
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string();
            let chrono = DateTime::parse_from_rfc2822(&text)
                .ok()
                .map(|dt| UnixTime::from_secs_nanos(dt.timestamp() as u64, 0));
            prop_assert_eq!(UnixTime::parse_http_date(&text), chrono);
            prop_assert_eq!(UnixTime::parse_http_date(&text), Some(UnixTime::from_secs_nanos(secs, 0)));
        }
    }

    /// What `httpdate` (whose rules `parse_http_date` follows) reads from the same text.
    fn httpdate_parse(text: &str) -> Option<UnixTime> {
        let time = httpdate::parse_http_date(text.trim()).ok()?;
        let since = time.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(UnixTime::from_duration_since_epoch(since))
    }

    /// The instant at `secs` in each of the three HTTP-date forms.
    fn http_date_forms(secs: u64) -> [String; 3] {
        let dt = DateTime::<Utc>::from_timestamp(secs as i64, 0).unwrap();
        [
            dt.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            dt.format("%A, %d-%b-%y %H:%M:%S GMT").to_string(),
            dt.format("%a %b %e %H:%M:%S %Y").to_string(),
        ]
    }

    #[test]
    fn http_date_edge_cases_match_httpdate() {
        let cases = [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun,  6 Nov 1994 08:49:37 GMT",
            "sun, 06 nov 1994 08:49:37 gmt",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sun, 06 Nov 1994 08:49 GMT",
            "06 Nov 1994 08:49:37 GMT",
            "Sun, 06-Nov-1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-94x08:49:37 GMT",
            "Sunday,06-Nov-94 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Monday, 06-Nov-94 08:49:37 GMT",
            "Thursday, 01-Jan-70 00:00:00 GMT",
            "Friday, 31-Dec-69 23:59:59 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun Nov 06 08:49:37 1994",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  6 08:49:37 1994 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Sat, 01 Jan 10000 00:00:00 GMT",
            "Tue, 29 Feb 2000 00:00:00 GMT",
            "Thu, 29 Feb 2001 00:00:00 GMT",
            "Mon, 29 Feb 2100 00:00:00 GMT",
            "Mon, 31 Apr 2024 00:00:00 GMT",
            "Mon, 00 Jan 2024 00:00:00 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 23:60:00 GMT",
            "Sun, 06 Nov 1994 23:59:60 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{a0}",
            "Sun, 06 Nov 1994 08:49:37 G\u{e9}T",
            "Sun, 06 Nov 1994 0+:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT\n",
            "\tSun, 06 Nov 1994 08:49:37 GMT",
            "",
            ",",
        ];
        for text in cases {
            assert_eq!(
                UnixTime::parse_http_date(text),
                httpdate_parse(text),
                "{text:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn http_dates_parse_like_httpdate(secs in 0u64..253_402_300_800) {
            for text in http_date_forms(secs) {
                prop_assert_eq!(UnixTime::parse_http_date(&text), httpdate_parse(&text), "{}", text);
            }
            // The four-digit-year forms round-trip; RFC 850's two-digit year only near now.
            let [imf, rfc850, asctime] = http_date_forms(secs);
            let expected = Some(UnixTime::from_secs_nanos(secs, 0));
            prop_assert_eq!(UnixTime::parse_http_date(&imf), expected);
            prop_assert_eq!(UnixTime::parse_http_date(&asctime), expected);
            if (0..3_155_760_000).contains(&secs) {
                prop_assert_eq!(UnixTime::parse_http_date(&rfc850), expected);
            }
        }

        #[test]
        fn damaged_http_dates_parse_like_httpdate(
            secs in 0u64..4_102_444_800,
            form in 0usize..3,
            edits in prop::collection::vec((0usize..40, prop::sample::select(
                b" ,-:0123456789GMTadeinouyJFMASONDTWS\xe9".to_vec()
            )), 1..3),
        ) {
            let mut bytes = http_date_forms(secs)[form].clone().into_bytes();
            for (at, byte) in edits {
                if at < bytes.len() {
                    bytes[at] = byte;
                } else {
                    bytes.push(byte);
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            prop_assert_eq!(UnixTime::parse_http_date(&text), httpdate_parse(&text), "{}", text);
        }
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
        // Beyond the formattable range: clamped, no panic.
        let far = UnixTime::from_secs_nanos(u64::MAX, 999_999_999);
        assert!(far.to_rfc3339_nanos().starts_with('+'));
    }
}
