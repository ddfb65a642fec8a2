//! RFC 3339 timestamps: formatting the `ts` of audit lines and parsing
//! `CLERK_EMERGENCY_BYPASS_UNTIL`.
//!
//! Written by hand rather than pulling in a date crate: the product needs exactly two
//! conversions (Unix milliseconds <-> `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`), and every kilobyte
//! of wasm is paid on every cold start.

use std::fmt;

/// Why a timestamp was refused. The message names the expected form, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc3339Error(&'static str);

impl fmt::Display for Rfc3339Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; expected an RFC 3339 time such as 2026-11-25T18:00:00Z",
            self.0
        )
    }
}

impl std::error::Error for Rfc3339Error {}

/// Formats Unix milliseconds as RFC 3339 UTC with milliseconds, e.g. `2026-11-25T04:14:06.123Z`.
pub fn format_millis(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let millis = unix_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Parses an RFC 3339 date-time into Unix milliseconds (fractions beyond ms are truncated).
pub fn parse_millis(input: &str) -> Result<i64, Rfc3339Error> {
    let s = input.trim().as_bytes();
    if s.len() < 20 {
        return Err(Rfc3339Error("too short"));
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, Rfc3339Error> {
        let part = s.get(range).ok_or(Rfc3339Error("truncated"))?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(Rfc3339Error("a date or time field is not a number"));
        }
        Ok(part
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, allowed: &[u8]| -> Result<(), Rfc3339Error> {
        match s.get(at) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err(Rfc3339Error("misplaced separator")),
        }
    };
    let year = num(0..4)?;
    sep(4, b"-")?;
    let month = num(5..7)?;
    sep(7, b"-")?;
    let day = num(8..10)?;
    sep(10, b"Tt ")?;
    let hour = num(11..13)?;
    sep(13, b":")?;
    let minute = num(14..16)?;
    sep(16, b":")?;
    let second = num(17..19)?;

    let mut at = 19;
    let mut millis = 0i64;
    if s.get(at) == Some(&b'.') {
        let start = at + 1;
        let mut end = start;
        while s.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return Err(Rfc3339Error("empty fraction of a second"));
        }
        // Pad or cut to three digits: sub-millisecond precision is meaningless here.
        for i in 0..3 {
            let digit = if start + i < end {
                s.get(start + i).map_or(0, |d| i64::from(d - b'0'))
            } else {
                0
            };
            millis = millis * 10 + digit;
        }
        at = end;
    }
    let offset_secs = match s.get(at) {
        Some(b'Z' | b'z') if at + 1 == s.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == s.len() => {
            let oh = num(at + 1..at + 3)?;
            sep(at + 3, b":")?;
            let om = num(at + 4..at + 6)?;
            if oh > 23 || om > 59 {
                return Err(Rfc3339Error("offset out of range"));
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => {
            return Err(Rfc3339Error(
                "missing or malformed time zone (use Z or ±HH:MM)",
            ))
        }
    };
    let local = checked_civil_millis(year, month, day, hour, minute, second)?;
    Ok(local - offset_secs * 1000 + millis)
}

/// A UTC calendar time as Unix milliseconds; the error names the field out of range (the
/// HTTP date parser shares it).
pub(crate) fn checked_civil_millis(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> Result<i64, Rfc3339Error> {
    if !(1..=12).contains(&month) {
        return Err(Rfc3339Error("month out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(Rfc3339Error("day out of range"));
    }
    // 60 is allowed for a leap second and counted as the next second, as most parsers do.
    if hour > 23 || minute > 59 || second > 60 {
        return Err(Rfc3339Error("time of day out of range"));
    }
    let days = days_from_civil(year, month, day);
    Ok((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(1_666_648_250_123), "2022-10-24T21:50:50.123Z");
        assert_eq!(format_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_and_round_trips() {
        for ms in [0, 1_666_648_250_123, 951_782_400_000, 4_102_444_800_000] {
            assert_eq!(parse_millis(&format_millis(ms)), Ok(ms));
        }
        assert_eq!(parse_millis("2022-10-24T21:50:50Z"), Ok(1_666_648_250_000));
        assert_eq!(
            parse_millis(" 2022-10-24t21:50:50z "),
            Ok(1_666_648_250_000)
        );
        assert_eq!(
            parse_millis("2022-10-24T23:50:50.5+02:00"),
            Ok(1_666_648_250_500)
        );
        assert_eq!(
            parse_millis("2022-10-24T20:50:50.123456-01:00"),
            Ok(1_666_648_250_123)
        );
    }

    #[test]
    fn refuses_malformed_times() {
        for bad in [
            "",
            "tomorrow",
            "2022-10-24",
            "2022-10-24T21:50:50",
            "2022-10-24T21:50:50+0200",
            "2022-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2022-10-24T24:00:00Z",
            "2022-10-24T21:50:50.Z",
            "2022-10-24T21:50:50Zjunk",
            "２022-10-24T21:50:50Z",
        ] {
            assert!(parse_millis(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
