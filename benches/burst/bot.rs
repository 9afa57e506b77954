//! `crmbot serve` as a process of its own (the release binary cargo built for this
//! benchmark), so its memory and CPU are measured apart from the load and the fakes.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Bot {
    child: Child,
    pub base: String,
    log: std::path::PathBuf,
}

impl Bot {
    /// Starts serve with `env` in `dir` (its crmbot.toml is read from there) and waits for
    /// it to log its address.
    pub fn start(dir: &Path, env: &[(&str, String)]) -> (Bot, Duration) {
        let log = dir.join("serve.log");
        let started = Instant::now();
        // BENCH_CRMBOT: another build of crmbot to measure (an earlier commit, another
        // allocator); the one cargo built by default.
        let program = std::env::var("BENCH_CRMBOT")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_crmbot").to_string());
        let child = Command::new(program)
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // As an operator runs it: INFO, formatted, into a file.
            .env("RUST_LOG", "info")
            .env("CRMBOT_LISTEN", "127.0.0.1:0")
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .envs(extra_env())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("serve log"))
            .spawn()
            .expect("crmbot serve starts");
        let mut bot = Bot {
            child,
            base: String::new(),
            log,
        };
        while started.elapsed() < Duration::from_secs(30) {
            let text = bot.log_text();
            if let Some(port) = text
                .lines()
                .filter(|l| l.contains("crmbot serving Slack"))
                .find_map(|l| l.split("addr=127.0.0.1:").nth(1))
                .and_then(|rest| {
                    rest.split(|c: char| !c.is_ascii_digit())
                        .next()?
                        .parse::<u16>()
                        .ok()
                })
            {
                bot.base = format!("http://127.0.0.1:{port}");
                return (bot, started.elapsed());
            }
            if let Ok(Some(status)) = bot.child.try_wait() {
                panic!("crmbot exited ({status}):\n{text}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("crmbot did not start:\n{}", bot.log_text());
    }

    fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Resident memory of the process, MB.
    pub fn rss_mb(&self) -> f64 {
        self.status_mb("VmRSS:")
    }

    /// Its anonymous part (heap, stacks): what the process allocated, without the pages of
    /// its own binary that running more of its code maps in.
    pub fn anon_mb(&self) -> f64 {
        self.status_mb("RssAnon:")
    }

    fn status_mb(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }

    /// CPU seconds the process has used (all its threads, user and system).
    pub fn cpu_secs(&self) -> f64 {
        let tick = 100.0; // USER_HZ on Linux
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            return f64::NAN;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields
            .get(11)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        let stime: f64 = fields
            .get(12)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        (utime + stime) / tick
    }
}

/// `BENCH_SERVE_ENV="K=V K=V"`: more environment for serve (an allocator setting, a
/// config override), to compare runs.
fn extra_env() -> Vec<(String, String)> {
    std::env::var("BENCH_SERVE_ENV")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Drop for Bot {
    fn drop(&mut self) {
        // At once: a backlog may still be queued, and a graceful stop would wait for it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
