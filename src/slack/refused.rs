//! Requests refused before anything is read (bad signature, stale timestamp, ...): each one
//! at debug, and a WARN summary at most once a minute with how many there were, so a flood
//! of forged requests cannot fill the logs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

/// How often the WARN summary may be written.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// Refusals counted since the last summary, and when that was.
pub struct RefusedLog {
    state: Mutex<(u64, Option<Instant>)>,
    every: Duration,
}

static LOG: RefusedLog = RefusedLog::new(SUMMARY_EVERY);

impl RefusedLog {
    pub const fn new(every: Duration) -> RefusedLog {
        RefusedLog {
            state: Mutex::new((0, None)),
            every,
        }
    }

    /// Counts one refusal; returns the count to summarise when a WARN is due (the first
    /// refusal at once, then at most one a period).
    pub fn note(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 += 1;
        if s.1
            .is_some_and(|last| now.duration_since(last) < self.every)
        {
            return None;
        }
        let count = s.0;
        *s = (0, Some(now));
        Some(count)
    }
}

/// Logs one refused request.
pub fn refused(kind: &str, reason: &dyn std::fmt::Display) {
    debug!(kind, %reason, "Slack request refused");
    if let Some(count) = LOG.note(Instant::now()) {
        warn!(
            count,
            last_kind = kind,
            last_reason = %reason,
            "Slack requests refused (bad signature, stale timestamp, ...) since the last summary; each is logged at debug"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_summary_a_period_with_the_count() {
        let log = RefusedLog::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(log.note(t0), Some(1), "the first at once");
        for i in 1..=1_000 {
            assert_eq!(log.note(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(log.note(t0 + Duration::from_secs(61)), Some(1_001));
        assert_eq!(log.note(t0 + Duration::from_secs(62)), None);
    }
}
