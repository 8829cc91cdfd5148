//! `created_at` values: Unix seconds shown as RFC 3339 UTC, `2025-01-15T10:30:00Z`.
//!
//! The core has no clock, so it only converts; the caller supplies the seconds. The
//! conversion is the proleptic Gregorian calendar (days-from-civil), valid for years 0–9999.

use core::fmt;

/// A point in time at one-second precision, shown as `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Seconds of `9999-12-31T23:59:59Z`, the last instant with a four-digit year.
const MAX_SECONDS: i64 = 253_402_300_799;
/// Seconds of `0000-01-01T00:00:00Z`.
const MIN_SECONDS: i64 = -62_167_219_200;

/// A string that is not `YYYY-MM-DDTHH:MM:SSZ`, or a number outside years 0–9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTimestamp;

impl fmt::Display for InvalidTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected an RFC 3339 UTC time like 2025-01-15T10:30:00Z")
    }
}

impl core::error::Error for InvalidTimestamp {}

impl Timestamp {
    /// Wraps Unix seconds; `None` outside years 0–9999.
    pub fn from_unix(seconds: i64) -> Option<Self> {
        (MIN_SECONDS..=MAX_SECONDS)
            .contains(&seconds)
            .then_some(Timestamp(seconds))
    }

    /// The Unix seconds.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// Parses exactly `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn parse(text: &str) -> Result<Self, InvalidTimestamp> {
        let b = text.as_bytes();
        if b.len() != 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'Z'
        {
            return Err(InvalidTimestamp);
        }
        let num = |range: core::ops::Range<usize>| -> Result<i64, InvalidTimestamp> {
            b[range].iter().try_fold(0i64, |acc, &d| {
                if d.is_ascii_digit() {
                    Ok(acc * 10 + i64::from(d - b'0'))
                } else {
                    Err(InvalidTimestamp)
                }
            })
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(InvalidTimestamp);
        }
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        Ok(Timestamp(seconds))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 UTC time like 2025-01-15T10:30:00Z")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn docs_example_round_trips() {
        let t = Timestamp::parse("2025-01-15T10:30:00Z").unwrap();
        assert_eq!(t.unix(), 1_736_937_000);
        assert_eq!(t.to_string(), "2025-01-15T10:30:00Z");
    }

    #[test]
    fn edges() {
        assert_eq!(
            Timestamp::from_unix(0).unwrap().to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix(-1).unwrap().to_string(),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(
            Timestamp::from_unix(MAX_SECONDS).unwrap().to_string(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            Timestamp::from_unix(MIN_SECONDS).unwrap().to_string(),
            "0000-01-01T00:00:00Z"
        );
        assert_eq!(Timestamp::from_unix(MAX_SECONDS + 1), None);
        assert_eq!(
            Timestamp::parse("2024-02-29T00:00:00Z")
                .unwrap()
                .to_string(),
            "2024-02-29T00:00:00Z"
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-01-15T24:00:00Z",
            "2025-01-15 10:30:00Z",
            "2025-01-15T10:30:00+00:00",
            "2025-01-15T10:30:0xZ",
            "",
        ] {
            assert_eq!(Timestamp::parse(bad), Err(InvalidTimestamp), "{bad}");
        }
    }
}
