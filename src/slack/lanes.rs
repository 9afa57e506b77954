//! Admission control: the slow work after an ack runs in lanes, one per kind of work —
//! drafts, questions, decisions (approve, reject, edit, a choice on the card) and notices
//! (short Slack messages). Each lane has its own workers and a bounded queue, so a burst of
//! `/crm log` can neither grow memory without end nor make an Approve wait behind drafts:
//! work that finds its lane full is refused at once, before anything is stored, and the
//! person is told so. One person has at most `slack.drafts_per_user` drafts in flight.
//! Drafts and questions run on the background runtime (`background.rs`), at a lower
//! priority than acks and decisions.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tracing::{Instrument, debug, warn};

use super::background::Background;
use crate::config::SlackSettings;

/// What a person reads when a lane is full.
pub const BUSY: &str = "crmbot is busy — try again in a minute. Nothing was stored.";

/// Why work was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The lane's queue is full.
    Busy,
    /// The person already has this many drafts in flight.
    UserCap(usize),
    /// Shutting down.
    Closed,
}

impl Refused {
    /// The answer for the person whose work was refused.
    pub fn message(&self) -> String {
        match self {
            Refused::Busy | Refused::Closed => BUSY.to_string(),
            Refused::UserCap(n) => format!(
                "You already have {n} draft(s) being drafted; wait for their cards, then log again. Nothing was stored."
            ),
        }
    }
}

/// Where taken work stands: how many jobs of its lane are ahead of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Jobs that must finish before this one starts (0: it starts at once).
    pub ahead: usize,
}

/// One kind of work: `workers` at a time, at most `queue` more waiting.
struct Lane {
    name: &'static str,
    permits: Arc<Semaphore>,
    workers: u32,
    queue: usize,
    /// Jobs taken and not finished (running or waiting).
    taken: Arc<AtomicUsize>,
    /// Where its jobs run; `None`: the runtime that takes them.
    runs_on: Option<Handle>,
}

impl Lane {
    fn new(name: &'static str, workers: usize, queue: usize, runs_on: Option<Handle>) -> Lane {
        let workers = workers.clamp(1, 1024);
        Lane {
            name,
            permits: Arc::new(Semaphore::new(workers)),
            workers: workers as u32,
            queue,
            taken: Arc::default(),
            runs_on,
        }
    }

    /// Takes the work `make` builds if the queue has room; it runs inside the caller's
    /// tracing span. The work's future is built when a worker starts it: a queued job
    /// holds only what `make` captured, not the whole state of a draft (tens of KB).
    fn take<M, F>(&self, make: M) -> Result<Taken, Refused>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        if self.permits.is_closed() {
            return Err(Refused::Closed);
        }
        let limit = self.workers as usize + self.queue;
        let before = self
            .taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .map_err(|_| {
                debug!(lane = self.name, "lane full; work refused");
                Refused::Busy
            })?;
        let (permits, taken) = (self.permits.clone(), self.taken.clone());
        let name = self.name;
        let job = async move {
            // Counted down however the job ends (a panic included).
            let _done = Done(taken);
            let Ok(_permit) = permits.acquire_owned().await else {
                warn!(lane = name, "shutting down; queued job dropped");
                return;
            };
            let work: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(make());
            work.await;
        }
        .instrument(tracing::Span::current());
        match &self.runs_on {
            Some(handle) => drop(handle.spawn(job)),
            None => drop(tokio::spawn(job)),
        }
        Ok(Taken {
            ahead: before.saturating_sub(self.workers as usize - 1),
        })
    }

    async fn drain(&self) {
        let _ = self.permits.acquire_many(self.workers).await;
    }
}

struct Done(Arc<AtomicUsize>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Notices (a rate-limit message, a reply to a bare mention, a busy answer) at once.
const NOTICE_WORKERS: usize = 4;
const NOTICE_QUEUE: usize = 256;

/// The lanes. Cheap to clone; clones share them.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    drafts: Lane,
    questions: Lane,
    decisions: Lane,
    notices: Lane,
    drafts_per_user: usize,
    /// Drafts in flight per person (only people with at least one).
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
    /// The drafts' and questions' runtime; stopped when the lanes are dropped.
    _background: Option<Background>,
}

impl Jobs {
    /// The lanes as `[slack]` sizes them. Drafts and questions run on a background
    /// runtime of `slack.background_threads`; when it cannot be started they run beside
    /// the acks (logged).
    pub fn new(s: &SlackSettings) -> Jobs {
        let background = match Background::start(s.background_threads) {
            Ok(bg) => Some(bg),
            Err(e) => {
                warn!(error = %e, "no background runtime; drafts run beside the acks");
                None
            }
        };
        let slow = background.as_ref().map(|bg| bg.handle().clone());
        Jobs {
            inner: Arc::new(Inner {
                drafts: Lane::new("drafts", s.workers, s.draft_queue, slow.clone()),
                questions: Lane::new("questions", s.workers, s.question_queue, slow),
                decisions: Lane::new("decisions", s.decision_workers, s.decision_queue, None),
                notices: Lane::new("notices", NOTICE_WORKERS, NOTICE_QUEUE, None),
                drafts_per_user: s.drafts_per_user,
                in_flight: Arc::default(),
                _background: background,
            }),
        }
    }

    /// A draft for `user`: refused when the drafts lane is full or `user` has
    /// `drafts_per_user` in flight already.
    pub fn draft<M, F>(&self, user: &str, work: M) -> Result<Taken, Refused>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let cap = self.inner.drafts_per_user;
        {
            let mut in_flight = lock(&self.inner.in_flight);
            let n = in_flight.entry(user.to_string()).or_default();
            if cap > 0 && *n >= cap {
                return Err(Refused::UserCap(cap));
            }
            *n += 1;
        }
        let held = UserSlot {
            map: self.inner.in_flight.clone(),
            user: user.to_string(),
        };
        self.inner.drafts.take(move || async move {
            let _held = held;
            work().await;
        })
    }

    /// A question (`/crm ask`, a mention, a DM).
    pub fn question<M, F>(&self, work: M) -> Result<Taken, Refused>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.questions.take(work)
    }

    /// A decision on a card (approve, reject, edit, a choice): its own workers, never
    /// behind drafts or questions. A full lane refuses the click (logged); the card is
    /// unchanged, so the person can click again once told.
    pub fn decide<M, F>(&self, work: M) -> Result<Taken, Refused>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.decisions.take(work).inspect_err(|e| {
            warn!(reason = ?e, "decision lane full; click refused");
        })
    }

    /// A short Slack message; dropped (logged at debug) when too many are waiting.
    pub fn notice<M, F>(&self, work: M)
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let _ = self.inner.notices.take(work);
    }

    /// Jobs taken and not finished (running or waiting), per lane.
    pub fn depths(&self) -> [(&'static str, usize); 4] {
        let i = &self.inner;
        [&i.drafts, &i.questions, &i.decisions, &i.notices]
            .map(|lane| (lane.name, lane.taken.load(Ordering::Acquire)))
    }

    /// Waits until every taken job has finished (at most `limit`), then takes no more.
    pub async fn drain(&self, limit: Duration) -> bool {
        let i = &self.inner;
        let all = tokio::time::timeout(limit, async {
            tokio::join!(
                i.drafts.drain(),
                i.questions.drain(),
                i.decisions.drain(),
                i.notices.drain()
            )
        })
        .await;
        for lane in [&i.drafts, &i.questions, &i.decisions, &i.notices] {
            lane.permits.close();
        }
        all.is_ok()
    }
}

/// A person's draft in flight; given back when the job ends or is refused.
struct UserSlot {
    map: Arc<Mutex<HashMap<String, usize>>>,
    user: String,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut map = lock(&self.map);
        if let Some(n) = map.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.user);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Notify;

    fn settings(workers: usize, queue: usize, per_user: usize) -> SlackSettings {
        SlackSettings {
            workers,
            decision_workers: 1,
            draft_queue: queue,
            question_queue: queue,
            decision_queue: queue,
            drafts_per_user: per_user,
            ..SlackSettings::default()
        }
    }

    #[tokio::test]
    async fn a_full_lane_refuses_and_a_finished_job_makes_room() {
        let jobs = Jobs::new(&settings(1, 1, 0));
        let gate = Arc::new(Notify::new());
        let g = gate.clone();
        assert_eq!(
            jobs.draft("U1", move || async move { g.notified().await }),
            Ok(Taken { ahead: 0 })
        );
        assert_eq!(jobs.draft("U2", || async {}), Ok(Taken { ahead: 1 }));
        assert_eq!(jobs.draft("U3", || async {}), Err(Refused::Busy));
        assert!(
            jobs.question(|| async {}).is_ok(),
            "another lane is not full"
        );
        gate.notify_one();
        assert!(jobs.drain(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn a_queued_job_is_built_only_when_a_worker_takes_it() {
        let jobs = Jobs::new(&settings(1, 5, 0));
        let gate = Arc::new(Notify::new());
        let g = gate.clone();
        assert!(
            jobs.draft("U1", move || async move { g.notified().await })
                .is_ok()
        );
        let built = Arc::new(AtomicUsize::new(0));
        let b = built.clone();
        assert!(
            jobs.draft("U2", move || {
                b.fetch_add(1, Ordering::SeqCst);
                async {}
            })
            .is_ok()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(built.load(Ordering::SeqCst), 0, "still queued: not built");
        gate.notify_one();
        assert!(jobs.drain(Duration::from_secs(5)).await);
        assert_eq!(built.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn one_person_has_at_most_the_cap_in_flight() {
        let jobs = Jobs::new(&settings(4, 10, 2));
        let (open, gate) = tokio::sync::watch::channel(false);
        for _ in 0..2 {
            let mut g = gate.clone();
            assert!(
                jobs.draft("U1", move || async move {
                    let _ = g.wait_for(|o| *o).await;
                })
                .is_ok()
            );
        }
        assert_eq!(jobs.draft("U1", || async {}), Err(Refused::UserCap(2)));
        assert!(jobs.draft("U2", || async {}).is_ok(), "per person");
        let _ = open.send(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            jobs.draft("U1", || async {}).is_ok(),
            "room again once drafted"
        );
    }
}
