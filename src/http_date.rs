//! HTTP dates (RFC 9110 section 5.6.7), read where a server may send one instead of a number:
//! `Retry-After`.
//!
//! All three forms a recipient must accept: the preferred IMF-fixdate
//! (`Sun, 06 Nov 1994 08:49:37 GMT`) and the obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37
//! GMT`) and asctime (`Sun Nov  6 08:49:37 1994`) forms. Written by hand, like
//! [`crate::rfc3339`]: one small parser instead of a date crate in every cold start.

use crate::rfc3339::checked_civil_millis;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// An HTTP date as Unix milliseconds; `None` for anything that is not one of the three forms
/// (or names a day that does not exist).
pub fn parse_http_date_millis(input: &str) -> Option<i64> {
    let text = input.trim();
    if text.len() > 64 {
        return None;
    }
    let (_weekday, rest) = text.split_once([',', ' '])?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (day, month, year, time) = match (text.contains(','), fields.as_slice()) {
        // IMF-fixdate: `06 Nov 1994 08:49:37 GMT`.
        (true, [day, month, year, time, "GMT"]) => (*day, *month, year_of(year)?, *time),
        // RFC 850: `06-Nov-94 08:49:37 GMT`; a two-digit year is the nearest century's.
        (true, [date, time, "GMT"]) => {
            let mut parts = date.splitn(3, '-');
            let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
            let year = match year_of(year)? {
                yy @ 0..=49 if year.len() == 2 => 2000 + yy,
                yy if year.len() == 2 => 1900 + yy,
                yyyy => yyyy,
            };
            (day, month, year, *time)
        }
        // asctime: `Nov  6 08:49:37 1994`.
        (false, [month, day, time, year]) => (*day, *month, year_of(year)?, *time),
        _ => return None,
    };
    let month = MONTHS.iter().position(|m| *m == month)?;
    let day = number(day, 1, 2)?;
    let mut clock = time.split(':');
    let (hour, minute, second) = (
        number(clock.next()?, 2, 2)?,
        number(clock.next()?, 2, 2)?,
        number(clock.next()?, 2, 2)?,
    );
    if clock.next().is_some() {
        return None;
    }
    let month = i64::try_from(month).ok()? + 1;
    checked_civil_millis(year, month, day, hour, minute, second).ok()
}

/// A four-digit (or, for RFC 850, two-digit: before 50 is 20xx, as RFC 9110 asks that it be
/// no more than 50 years in the future) year.
fn year_of(text: &str) -> Option<i64> {
    number(text, 2, 4)
}

/// `text` as a number of `min..=max` ASCII digits.
fn number(text: &str, min: usize, max: usize) -> Option<i64> {
    let digits = (min..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1994-11-06T08:49:37Z, RFC 9110's example.
    const EXAMPLE_MS: i64 = 784_111_777_000;

    #[test]
    fn reads_the_three_forms_of_rfc_9110() {
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "  Sun, 06 Nov 1994 08:49:37 GMT ",
        ] {
            assert_eq!(parse_http_date_millis(form), Some(EXAMPLE_MS), "{form}");
        }
        assert_eq!(
            parse_http_date_millis("Wed, 02 Dec 2026 04:30:00 GMT"),
            Some(1_796_185_800_000)
        );
        assert_eq!(
            parse_http_date_millis("Tuesday, 01-Dec-26 00:00:00 GMT"),
            Some(1_796_083_200_000)
        );
    }

    #[test]
    fn refuses_what_is_not_an_http_date() {
        for bad in [
            "",
            "120",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nox 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37:00 GMT",
            "Sun, 6 Nov 19941 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994 GMT",
            "2026-12-02T04:30:00Z",
            "Sun, -6 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date_millis(bad), None, "{bad:?}");
        }
        assert_eq!(parse_http_date_millis(&"Sun, ".repeat(40)), None);
    }
}
