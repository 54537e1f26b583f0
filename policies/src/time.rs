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
    fn displays_rfc3339() {
        assert_eq!(UnixTime(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(UnixTime(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(UnixTime(1_795_756_528).to_string(), "2026-11-27T05:15:28Z");
    }
}
