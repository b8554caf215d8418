//! The clock: the time pyswap stamps on what it records, and how it writes a time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in Unix seconds (0 before 1970, `i64::MAX` past it).
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unix seconds as RFC 3339 UTC (`2026-11-23T18:30:00Z`).
pub(crate) fn rfc3339(unix: i64) -> String {
    use std::fmt::Write as _;
    // RFC 3339 has four-digit years: a time past 9999-12-31 (a test clock, a corrupt row) is
    // shown as its Unix seconds rather than failing the formatter.
    const LAST: i64 = 253_402_300_799;
    if unix > LAST {
        return format!("@{unix}");
    }
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    let mut out = String::new();
    if write!(out, "{}", humantime::format_rfc3339_seconds(t)).is_err() {
        return format!("@{unix}");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(253_402_300_800), "@253402300800");
    }
}
