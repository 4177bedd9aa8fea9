//! Retry schedules (PROTOCOL §5.12, §6.4): how long to wait before retry
//! number *n*, with jitter and the server's `Retry-After` hint.
//!
//! Pure: the caller supplies the random sample and the current time, so the
//! schedule is deterministic under test.

use std::time::{Duration, SystemTime};

/// An exponential backoff schedule with a bounded number of retries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (attempts = retries + 1).
    pub max_retries: u32,
    /// Wait before the first retry; doubles with each retry.
    pub base: Duration,
    /// Upper bound of the exponential wait.
    pub cap: Duration,
    /// Upper bound of a wait the server asks for with `Retry-After`.
    pub retry_after_cap: Duration,
    /// Relative jitter: the wait is scaled by a factor in `[1 - j, 1 + j]`.
    pub jitter: f64,
}

impl RetryPolicy {
    /// Confluence GETs and token requests: 5 retries, 500 ms doubling to
    /// 30 s, ±20 % jitter, `Retry-After` honoured up to 120 s (ours, §5.12).
    pub const CONFLUENCE: RetryPolicy = RetryPolicy {
        max_retries: 5,
        base: Duration::from_millis(500),
        cap: Duration::from_secs(30),
        retry_after_cap: Duration::from_secs(120),
        jitter: 0.2,
    };

    /// Unique file-diff: 3 retries, 3 s doubling, capped at 30 s (§6.4).
    pub const UNIQUE_FILE_DIFF: RetryPolicy = RetryPolicy {
        max_retries: 3,
        base: Duration::from_secs(3),
        cap: Duration::from_secs(30),
        retry_after_cap: Duration::from_secs(30),
        jitter: 0.2,
    };

    /// Idempotent Unique GraphQL calls and token requests: the Confluence
    /// schedule with at most 3 retries (ours, §6.4 and §4.3).
    pub const IDEMPOTENT_CALLS: RetryPolicy = RetryPolicy {
        max_retries: 3,
        ..RetryPolicy::CONFLUENCE
    };

    /// The wait before retry number `retry` (1-based). `retry_after` is the
    /// server's hint, which replaces the exponential wait (capped, without
    /// jitter: the server named a time). `unit` is a uniform sample in
    /// `[0, 1)` that drives the jitter.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        if let Some(hint) = retry_after {
            return hint.min(self.retry_after_cap);
        }
        let exponent = retry.saturating_sub(1).min(31);
        let exponential = self.base.saturating_mul(1u32 << exponent).min(self.cap);
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        exponential.mul_f64(factor.max(0.0))
    }

    /// Whether retry number `retry` (1-based) is still allowed.
    pub fn allows(&self, retry: u32) -> bool {
        retry <= self.max_retries
    }
}

/// Parses a `Retry-After` header: delay-seconds or an HTTP-date (RFC 9110).
/// A date in the past means "now"; anything else unparseable is ignored.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn confluence_schedule_without_jitter_is_the_reference_schedule() {
        let policy = RetryPolicy {
            jitter: 0.0,
            ..RetryPolicy::CONFLUENCE
        };
        let waits: Vec<_> = (1..=5)
            .map(|n| policy.delay(n, None, 0.5).as_millis())
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000]);
        assert_eq!(policy.delay(12, None, 0.5), Duration::from_secs(30));
        assert!(policy.allows(5));
        assert!(!policy.allows(6));
    }

    #[test]
    fn retry_after_replaces_the_schedule_and_is_capped() {
        let policy = RetryPolicy::CONFLUENCE;
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(7)), 0.9),
            Duration::from_secs(7)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(600)), 0.9),
            Duration::from_secs(120)
        );
        assert_eq!(
            RetryPolicy::UNIQUE_FILE_DIFF.delay(1, Some(Duration::from_secs(600)), 0.0),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(" 12 ", now),
            Some(Duration::from_secs(12))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    proptest! {
        #[test]
        fn jittered_waits_stay_within_twenty_percent_of_the_capped_exponential(
            retry in 1u32..40,
            unit in 0.0f64..1.0,
        ) {
            let policy = RetryPolicy::CONFLUENCE;
            let plain = RetryPolicy { jitter: 0.0, ..policy }.delay(retry, None, unit);
            let jittered = policy.delay(retry, None, unit);
            prop_assert!(plain <= policy.cap);
            prop_assert!(jittered >= plain.mul_f64(0.8) && jittered <= plain.mul_f64(1.2));
        }

        #[test]
        fn waits_never_shrink_as_retries_grow(retry in 1u32..40) {
            let policy = RetryPolicy { jitter: 0.0, ..RetryPolicy::CONFLUENCE };
            prop_assert!(policy.delay(retry + 1, None, 0.5) >= policy.delay(retry, None, 0.5));
        }
    }
}
