//! When a failed delivery is tried again.
//!
//! - [`scheduled_delay`]: attempt n+1 follows attempt n after `base × 4^(n-1)` — with the
//!   default base of one minute: 1, 4, 16 and 64 minutes.
//! - [`with_jitter`]: ±20 % so that many deliveries that failed together spread out.
//! - [`honour_retry_after`]: a receiver's `Retry-After` (on 429 and 503) may lengthen the
//!   delay up to 4× the scheduled one (so a receiver cannot park a delivery for days), but
//!   never shortens it: `Retry-After: 0` or a date in the past cannot collapse the backoff
//!   and burn all attempts in milliseconds.
//! - [`is_final`]: whether the attempt that just failed was the last one.
//!
//! All pure; the engine supplies the random number and the clock.

use std::time::Duration;

/// The delay after attempt `failed_attempt` (1-based) fails, before jitter.
pub fn scheduled_delay(base: Duration, failed_attempt: u32) -> Duration {
    let exponent = failed_attempt.saturating_sub(1).min(64);
    let nanos = 4u128
        .checked_pow(exponent)
        .and_then(|factor| base.as_nanos().checked_mul(factor));
    match nanos {
        Some(n) if n <= Duration::MAX.as_nanos() => {
            Duration::new((n / 1_000_000_000) as u64, (n % 1_000_000_000) as u32)
        }
        _ => Duration::MAX,
    }
}

/// Spreads `delay` over ±20 %; `unit` is a uniform random number in `[0, 1)`.
pub fn with_jitter(delay: Duration, unit: f64) -> Duration {
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.5
    };
    Duration::try_from_secs_f64(delay.as_secs_f64() * (0.8 + 0.4 * unit)).unwrap_or(Duration::MAX)
}

/// The delay to use when the receiver asked for `retry_after`: at least the scheduled
/// delay, at most 4× it.
pub fn honour_retry_after(scheduled: Duration, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(asked) => asked.clamp(scheduled, scheduled.saturating_mul(4)),
        None => scheduled,
    }
}

/// Whether attempt `attempt_in_round` (1-based, counted from the start of the current
/// round) was the last one allowed.
pub fn is_final(attempt_in_round: u32, max_attempts: u32) -> bool {
    attempt_in_round >= max_attempts
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date, relative to `now`.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn matches_the_published_defaults() {
        let delays: Vec<_> = (1..=4)
            .map(|n| scheduled_delay(MINUTE, n).as_secs() / 60)
            .collect();
        assert_eq!(delays, [1, 4, 16, 64]);
    }

    #[test]
    fn edges() {
        assert_eq!(scheduled_delay(MINUTE, 0), MINUTE);
        assert_eq!(scheduled_delay(Duration::ZERO, 5), Duration::ZERO);
        assert_eq!(scheduled_delay(MINUTE, u32::MAX), Duration::MAX);
        assert_eq!(with_jitter(Duration::MAX, 1.0), Duration::MAX);
        assert_eq!(
            with_jitter(Duration::from_secs(100), 0.0),
            Duration::from_secs(80)
        );
        assert_eq!(
            with_jitter(Duration::from_secs(100), 1.0),
            Duration::from_secs(120)
        );
        assert_eq!(
            with_jitter(Duration::from_secs(100), f64::NAN),
            Duration::from_secs(100)
        );
        assert_eq!(
            with_jitter(Duration::from_secs(100), -3.0),
            Duration::from_secs(80)
        );
        assert_eq!(
            honour_retry_after(MINUTE, Some(Duration::from_secs(3600))),
            4 * MINUTE
        );
        assert_eq!(honour_retry_after(MINUTE, None), MINUTE);
        assert!(!is_final(4, 5));
        assert!(is_final(5, 5));
    }

    #[test]
    fn retry_after_never_shortens_the_backoff() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let asked = |value: &str| honour_retry_after(MINUTE, parse_retry_after(value, now));
        // Zero, a short delay and dates in the past keep the scheduled delay.
        assert_eq!(asked("0"), MINUTE);
        assert_eq!(asked("5"), MINUTE);
        assert_eq!(asked("Sun, 09 Sep 2001 00:00:00 GMT"), MINUTE);
        assert_eq!(asked("Thu, 01 Jan 1970 00:00:00 GMT"), MINUTE);
        // Longer is honoured up to 4x the scheduled delay.
        assert_eq!(asked("90"), Duration::from_secs(90));
        assert_eq!(asked("240"), 4 * MINUTE);
        assert_eq!(asked("241"), 4 * MINUTE);
        assert_eq!(asked("18446744073709551615"), 4 * MINUTE);
        assert_eq!(asked("Fri, 31 Dec 9999 23:59:59 GMT"), 4 * MINUTE);
        // Garbage is ignored.
        for garbage in ["", "soon", "-1", "1.5", "0x10", "99999999999999999999999"] {
            assert_eq!(asked(garbage), MINUTE, "{garbage:?}");
        }
        // A zero schedule stays zero; a huge one does not overflow.
        assert_eq!(
            honour_retry_after(Duration::ZERO, Some(MINUTE)),
            Duration::ZERO
        );
        assert_eq!(
            honour_retry_after(Duration::MAX, Some(MINUTE)),
            Duration::MAX
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 09 Sep 2001 02:46:40 GMT", now),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            parse_retry_after("Sun, 09 Sep 2001 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
