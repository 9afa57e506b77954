//! Fault injection, so client retry, refresh and limit handling can be tested against real
//! HTTP: a deterministic share of 503s, added latency, REQUEST_LIMIT_EXCEEDED after N calls,
//! expiry of minted tokens, "fail the next N requests under this path", a slow commit (the
//! write lands even when the client has gone), and answers lost after a commit (504, an
//! empty 200, no answer at all). Settable when starting and at runtime
//! (`RunningSandbox::set_faults`); counters restart at each set.

use std::time::Duration;

use serde_json::{Value, json};

/// What to break. `Faults::default()` breaks nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Every Nth authenticated API request (counted from when the faults were set) answers
    /// 503 `SERVER_UNAVAILABLE` — e.g. 3 fails requests 3, 6, 9, ...
    pub unavailable_every: Option<u64>,
    /// Added to every response.
    pub latency: Option<Duration>,
    /// After this many counted API calls (from when the faults were set) every API request
    /// answers 403 `REQUEST_LIMIT_EXCEEDED`.
    pub limit_after: Option<u64>,
    /// When set, every access token minted so far by the OAuth endpoint expires at once
    /// (later mints work): the next call with one answers 401 `INVALID_SESSION_ID`.
    pub expire_minted_tokens: bool,
    /// One-shot failures for requests whose path starts with a prefix.
    pub fail_next: Vec<FailNext>,
    /// Every write waits this long before it commits, as an org busy with triggers and
    /// flows does. The write is carried out even if the client stops waiting or is killed,
    /// as Salesforce carries on with a request whose connection dropped.
    pub commit_delay: Option<Duration>,
    /// One-shot: the next requests under a path commit, then their answer is lost.
    pub after_commit: Vec<AfterCommit>,
}

/// What the client gets instead of the real answer of a request that did commit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LostAnswer {
    /// 504 Gateway Timeout from a proxy in front of the org, with an HTML body.
    GatewayTimeout,
    /// 200 with an empty body.
    EmptyOk,
    /// No answer for this long (the client's timeout fires first), then the real one.
    Silence(Duration),
}

/// The next `count` requests whose path starts with `path_prefix` commit normally and then
/// answer `answer` instead.
#[derive(Debug, Clone, PartialEq)]
pub struct AfterCommit {
    pub path_prefix: String,
    pub count: u32,
    pub answer: LostAnswer,
    /// Only requests that write count (a composite of GETs passes untouched).
    pub writes_only: bool,
}

impl AfterCommit {
    pub fn new(path_prefix: &str, count: u32, answer: LostAnswer) -> AfterCommit {
        AfterCommit {
            path_prefix: path_prefix.to_string(),
            count,
            answer,
            writes_only: false,
        }
    }

    /// The same, for the next `count` requests under the path that write.
    pub fn writes(path_prefix: &str, count: u32, answer: LostAnswer) -> AfterCommit {
        AfterCommit {
            writes_only: true,
            ..AfterCommit::new(path_prefix, count, answer)
        }
    }
}

/// Fail the next `count` requests whose path starts with `path_prefix` (any path, the OAuth
/// endpoint included) with `status` and a Salesforce error body.
#[derive(Debug, Clone, PartialEq)]
pub struct FailNext {
    pub path_prefix: String,
    pub count: u32,
    pub status: u16,
}

impl FailNext {
    pub fn new(path_prefix: &str, count: u32, status: u16) -> FailNext {
        FailNext {
            path_prefix: path_prefix.to_string(),
            count,
            status,
        }
    }
}

/// The faults in force and their counters.
#[derive(Debug, Default)]
pub struct FaultState {
    pub faults: Faults,
    seen: u64,
    counted: u64,
}

/// An injected failure: status and body.
pub type Injected = (u16, Value);

impl FaultState {
    pub fn new(faults: Faults) -> FaultState {
        FaultState {
            faults,
            seen: 0,
            counted: 0,
        }
    }

    /// A one-shot failure for this path, if one is armed.
    pub fn take_fail_next(&mut self, path: &str) -> Option<Injected> {
        let rule = self
            .faults
            .fail_next
            .iter_mut()
            .find(|r| r.count > 0 && path.starts_with(&r.path_prefix))?;
        rule.count -= 1;
        let status = rule.status;
        let (code, message) = match status {
            401 => ("INVALID_SESSION_ID", "Session expired or invalid"),
            403 => ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            503 => ("SERVER_UNAVAILABLE", "maintenance"),
            500 => ("UNKNOWN_EXCEPTION", "An unexpected error occurred."),
            _ => ("INJECTED_FAULT", "injected failure"),
        };
        Some((status, json!([{"message": message, "errorCode": code}])))
    }

    /// A lost answer armed for this path, if any.
    pub fn take_after_commit(&mut self, path: &str, writes: bool) -> Option<LostAnswer> {
        let rule = self.faults.after_commit.iter_mut().find(|r| {
            r.count > 0 && path.starts_with(&r.path_prefix) && (writes || !r.writes_only)
        })?;
        rule.count -= 1;
        Some(rule.answer)
    }

    /// The 503 share and the call limit, for an authenticated API request.
    pub fn api_fault(&mut self) -> Option<Injected> {
        self.seen += 1;
        if let Some(n) = self.faults.unavailable_every.filter(|n| *n > 0)
            && self.seen.is_multiple_of(n)
        {
            return Some((
                503,
                json!([{"message": "maintenance", "errorCode": "SERVER_UNAVAILABLE"}]),
            ));
        }
        if let Some(limit) = self.faults.limit_after
            && self.counted >= limit
        {
            return Some(limit_exceeded());
        }
        None
    }

    /// Notes one counted API call.
    pub fn count(&mut self) {
        self.counted += 1;
    }
}

/// 403 REQUEST_LIMIT_EXCEEDED.
pub fn limit_exceeded() -> Injected {
    (
        403,
        json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_request_is_unavailable_and_fail_next_is_one_shot() {
        let mut state = FaultState::new(Faults {
            unavailable_every: Some(3),
            fail_next: vec![FailNext::new("/services/data/v62.0/composite", 1, 500)],
            ..Faults::default()
        });
        let statuses: Vec<_> = (0..6).map(|_| state.api_fault().map(|f| f.0)).collect();
        assert_eq!(statuses, [None, None, Some(503), None, None, Some(503)]);
        assert_eq!(
            state
                .take_fail_next("/services/data/v62.0/composite")
                .map(|f| f.0),
            Some(500)
        );
        assert!(
            state
                .take_fail_next("/services/data/v62.0/composite")
                .is_none()
        );
    }
}
