//! The per-person rate limit (`slack.user_rate_limit` requests a minute): each `/crm log`,
//! `/crm ask`, mention and DM starts a model call and Salesforce requests, so one person (or
//! a script with their token) cannot use up the model budget, the org's API limit or the
//! workers everyone shares. A token bucket per Slack user, kept in a bounded cache.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::sync::Cache;

/// People tracked at once; the least recently seen are forgotten first.
const USERS_TRACKED: u64 = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Cheap to clone; clones share the buckets.
#[derive(Clone)]
pub struct UserLimit {
    per_minute: u32,
    buckets: Cache<String, Arc<Mutex<Bucket>>>,
}

impl UserLimit {
    /// `per_minute` requests a minute per person, in bursts of as many; 0 turns it off.
    pub fn new(per_minute: u32) -> UserLimit {
        UserLimit {
            per_minute,
            buckets: Cache::builder()
                .max_capacity(USERS_TRACKED)
                .time_to_idle(Duration::from_secs(600))
                .build(),
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes one request from `user`'s allowance, or says how long until there is one.
    pub fn check(&self, user: &str) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let full = f64::from(self.per_minute);
        let rate = full / 60.0;
        let bucket = self.buckets.get_with(user.to_string(), || {
            Arc::new(Mutex::new(Bucket {
                tokens: full,
                at: Instant::now(),
            }))
        });
        let Ok(mut b) = bucket.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(full);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(((1.0 - b.tokens) / rate).max(1.0)))
        }
    }

    /// What the person is told when held back.
    pub fn message(&self, wait: Duration) -> String {
        format!(
            "You are sending requests faster than crmbot takes them from one person ({} a minute). Try again in {} s. Nothing was stored.",
            self.per_minute,
            wait.as_secs().max(1)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_held_back_per_person() {
        let limit = UserLimit::new(3);
        for _ in 0..3 {
            assert!(limit.check("U1").is_ok());
        }
        let wait = limit.check("U1").unwrap_err();
        assert!(wait <= Duration::from_secs(20), "{wait:?}");
        assert!(limit.check("U2").is_ok(), "per person");
        assert!(UserLimit::new(0).check("U1").is_ok(), "0 is off");
    }
}
