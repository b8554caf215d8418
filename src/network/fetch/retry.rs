//! When to try a request again, and how long to wait first.
//!
//! Transient failures (connection refused or reset, a body cut short, a timeout, HTTP 408, 429
//! and 5xx) are retried up to `retries` more times. The wait before try `k` (k = 1, 2, …) is
//! `backoff × 2^(k-1)`, capped at [`MAX_BACKOFF`], then scaled by a random factor in
//! `[0.5, 1.0)` so that a fleet does not retry in step. A `Retry-After` header (seconds or an
//! HTTP date) replaces the computed wait; one longer than [`MAX_RETRY_AFTER`] ends the retries.
//! No wait runs past the download's overall deadline.
//!
//! Written here rather than taken from a retry crate on purpose: the loop must know pyswap's
//! resumable downloads (a cut body is retried from where it stopped), honour `Retry-After`,
//! and share one deadline with the download; the crates looked at (`backoff`, `retry`) do one
//! of these each. It is 80 lines with its own tests.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// The jittered exponential wait before retry number `k` (1-based).
pub(crate) fn backoff(base: Duration, k: u32) -> Duration {
    let exp = base
        .saturating_mul(1u32.checked_shl(k.saturating_sub(1)).unwrap_or(u32::MAX))
        .min(MAX_BACKOFF);
    exp.mul_f64(0.5 + random_unit() / 2.0)
}

/// A random number in `[0, 1)` from the standard library's per-process random hash keys.
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date (relative to `now`).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `1 s`, `250 ms`: a wait as a person reads it.
pub(crate) fn human_wait(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.0} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let base = Duration::from_millis(500);
        for k in 1..=4 {
            let full = base * 2u32.pow(k - 1);
            for _ in 0..20 {
                let d = backoff(base, k);
                assert!(d >= full / 2 && d < full, "try {k}: {d:?}");
            }
        }
        assert!(backoff(base, 40) < MAX_BACKOFF);
        assert!(backoff(base, 40) >= MAX_BACKOFF / 2);
    }

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Mon, 23 Nov 2026 20:00:00 GMT").unwrap();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 20:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 19:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
