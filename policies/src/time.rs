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
    /// dropped. `None` for anything else, including dates before 1970.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't' | b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let part = s.get(r)?;
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let mut rest = &s[19..];
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            rest = &frac[digits..];
        }
        let offset = match rest {
            "Z" | "z" => 0,
            _ => {
                let rb = rest.as_bytes();
                if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                    return None;
                }
                let oh: i64 = rest.get(1..3)?.parse().ok()?;
                let om: i64 = rest.get(4..6)?.parse().ok()?;
                let sign = if rb[0] == b'-' { -1 } else { 1 };
                sign * (oh * 3600 + om * 60)
            }
        };
        // Days from civil (Howard Hinnant).
        let y = if mo <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (mo + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
        u64::try_from(secs).ok().map(Self)
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
