//! Time as a value. `policies` never reads a clock: callers pass [`UnixTime`] in.

use std::fmt;

/// Seconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The number of seconds.
    pub fn as_secs(self) -> u64 {
        self.0
    }

    /// Parses RFC 3339 (`2026-11-27T05:15:28Z`, `2021-10-07T13:56:59.123+02:00`); fractions are
    /// dropped. `None` for anything else: impossible dates, leap seconds, times before 1970.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        rfc3339(s).map(|(t, _)| t)
    }

    /// As [`Self::parse_rfc3339`], also saying whether a non-zero fraction was dropped (so a
    /// validity window's start can round up).
    pub fn parse_rfc3339_fraction(s: &str) -> Option<(Self, bool)> {
        rfc3339(s)
    }

    pub(crate) fn to_webpki(self) -> rustls_pki_types::UnixTime {
        rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(self.0))
    }
}

impl fmt::Display for UnixTime {
    /// RFC 3339 in UTC (`2026-11-27T05:15:28Z`), computed without a date library.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0 / 86_400;
        let rem = self.0 % 86_400;
        let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
        // Civil-from-days (Howard Hinnant), valid for every u64 day count we will see.
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let mo = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(mo <= 2);
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
    }
}

/// Parses an RFC 3339 timestamp (`2021-10-07T13:56:59.000Z`, `…+02:00`) into whole seconds
/// since the epoch and whether a non-zero fraction was dropped. Times before 1970 and leap
/// seconds (which protobuf `Timestamp` excludes) are refused.
fn rfc3339(s: &str) -> Option<(UnixTime, bool)> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0u64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u64::from(d - b'0'))
        })
    };
    let year = num(0..4)?;
    let month = num(5..7)?;
    let day = num(8..10)?;
    let hour = num(11..13)?;
    let minute = num(14..16)?;
    let second = num(17..19)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = b.get(19..)?;
    let mut fractional = false;
    if let Some((b'.', tail)) = rest.split_first() {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&n) {
            return None;
        }
        fractional = tail.iter().take(n).any(|&c| c != b'0');
        rest = tail.get(n..)?;
    }
    let offset: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let [h1, h2, m1, m2] = digits.map(|d| i64::from(d - b'0'));
            let (oh, om) = (h1 * 10 + h2, m1 * 10 + m2);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day)?;
    let local = days
        .checked_mul(86_400)?
        .checked_add(i64::try_from(hour * 3600 + minute * 60 + second).ok()?)?;
    let utc = local.checked_sub(offset)?;
    Some((UnixTime(u64::try_from(utc).ok()?), fractional))
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<i64> {
    let y = i64::try_from(year).ok()? - i64::from(month <= 2);
    let m = i64::try_from(month).ok()?;
    let d = i64::try_from(day).ok()?;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        for t in [0u64, 951_782_400, 1_795_756_528, 4_102_444_800] {
            assert_eq!(
                UnixTime::parse_rfc3339(&UnixTime(t).to_string()),
                Some(UnixTime(t))
            );
        }
        assert_eq!(
            UnixTime::parse_rfc3339("2021-10-07T13:56:59.000Z"),
            Some(UnixTime(1_633_615_019))
        );
        assert_eq!(
            UnixTime::parse_rfc3339("2021-10-07T15:56:59+02:00"),
            Some(UnixTime(1_633_615_019))
        );
        for bad in [
            "",
            "2021-10-07",
            "2021-13-07T00:00:00Z",
            "2021-10-07T00:00:00",
            "1969-12-31T23:59:59Z",
            "2021-10-07T00:00:00.Z",
            "2021-1a-07T00:00:00Z",
            "２021-10-07T00:00:00Z",
        ] {
            assert_eq!(UnixTime::parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn displays_rfc3339() {
        assert_eq!(UnixTime(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(UnixTime(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(UnixTime(1_795_756_528).to_string(), "2026-11-27T05:15:28Z");
    }
}
