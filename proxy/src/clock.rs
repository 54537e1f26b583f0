//! The clock: the one place the proxy reads the system time (the policies take `now` as a
//! parameter).

use std::time::{SystemTime, UNIX_EPOCH};

use sealgate_policies::time::UnixTime;

/// Seconds since the epoch, from the system clock (the proxy is the I/O shell).
pub fn now() -> UnixTime {
    UnixTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}
