//! The threads that draft and answer questions, apart from the threads that ack Slack.
//!
//! A draft costs milliseconds of CPU (the model's JSON, validation, the card); an ack costs
//! microseconds but must answer within Slack's 3 s and, under a burst, within a few ms. On
//! one runtime the two share workers, so acks queue behind drafts. Here drafts and
//! questions run on a runtime of their own whose threads ask the kernel for a lower
//! priority (nice 10): when the machine is busy, acks and approvals go first and drafting
//! takes what is left; when it is idle, drafting gets every cycle.

use tokio::runtime::{Handle, Runtime};
use tracing::warn;

/// How much lower the background threads' priority is (Linux nice; 19 is the lowest).
const NICE: i32 = 10;

/// A runtime for background work. Dropping it stops its threads without waiting (allowed
/// inside async code, unlike dropping a `Runtime`).
pub struct Background {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Background {
    /// `threads` workers (0: half the machine's cores, at least one).
    pub fn start(threads: usize) -> std::io::Result<Background> {
        let threads = if threads == 0 {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get() / 2)
                .max(1)
        } else {
            threads.min(256)
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("crmbot-work")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(Background {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// Where background work is spawned.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: gettid and setpriority take plain integers and touch only this thread's
    // scheduling priority.
    let failed = unsafe {
        let tid = libc::gettid() as libc::id_t;
        // Relative to what the thread inherited: an operator's own `nice` is kept.
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, (now + NICE).min(19)) != 0
    };
    if failed {
        warn!("could not lower the priority of a background thread; drafting competes with acks");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn background_threads_run_at_a_lower_priority() {
        let bg = Background::start(1).expect("runtime");
        let nice = bg
            .handle()
            .block_on(async { tokio::spawn(async { current_nice() }).await })
            .expect("task");
        assert_eq!(nice, (current_nice() + NICE).min(19));
    }

    #[cfg(target_os = "linux")]
    fn current_nice() -> i32 {
        // SAFETY: reads this thread's priority.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[tokio::test]
    async fn dropping_it_inside_async_code_does_not_panic() {
        let bg = Background::start(1).expect("runtime");
        let got = bg.handle().spawn(async { 7 }).await.expect("task");
        assert_eq!(got, 7);
        drop(bg);
    }
}
