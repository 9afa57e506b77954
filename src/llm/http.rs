//! Sending a request to a model provider with the retry policy every provider shares:
//! 429 honours `Retry-After` / `retry-after-ms`; 5xx, 529 (overloaded) and connection errors
//! are retried with jittered backoff; the number of retries is bounded by the settings. A
//! timeout is never retried: the server may still be generating the abandoned request (a
//! local server does, for minutes), and a second request doubles its work. Errors come back
//! as `LlmError`, with the provider's own message when it sent one.

use std::time::Duration;

use reqwest::RequestBuilder;
use serde_json::Value;
use tracing::warn;

use super::LlmError;
use crate::net::{ReadError, read_capped, root_cause};

/// The most of a model's answer crmbot reads: a completion of `max_tokens` is far smaller.
const MAX_ANSWER_BYTES: usize = 4_000_000;

/// Sends the request built by `build` (called again for each retry); returns the JSON body
/// of a 2xx answer and how many retries it took. `retry_server_errors` false: a 5xx is
/// returned at once (while probing which request shape a server accepts). `base_url`
/// names the server in errors.
pub async fn send_json(
    build: impl Fn() -> RequestBuilder,
    max_retries: u32,
    retry_server_errors: bool,
    base_url: &str,
) -> Result<(Value, u32), LlmError> {
    let unreachable = |cause: String| LlmError::Transport {
        url: base_url.to_string(),
        cause,
    };
    let mut attempt = 0;
    loop {
        let (error, wait) = match build().send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let wait = retry_after(response.headers());
                let body = match read_capped(response, MAX_ANSWER_BYTES).await {
                    Ok(b) => b,
                    Err(ReadError::TooLarge { limit }) => {
                        return Err(LlmError::TooLarge {
                            limit_mb: limit / 1_000_000,
                        });
                    }
                    Err(e) if e.is_timeout() => return Err(LlmError::Timeout),
                    Err(e) => return Err(unreachable(e.describe())),
                };
                if (200..300).contains(&status) {
                    return serde_json::from_slice(&body)
                        .map(|v| (v, attempt))
                        .map_err(|e| LlmError::Provider {
                            status,
                            message: format!("the answer is not JSON: {e}"),
                        });
                }
                let message = provider_message(&body);
                let error = match status {
                    429 => LlmError::RateLimited {
                        retry_after_secs: wait.map(|d| d.as_secs()),
                    },
                    _ => LlmError::Provider { status, message },
                };
                (error, wait)
            }
            Err(e) if e.is_timeout() => (LlmError::Timeout, None),
            Err(e) => (unreachable(root_cause(&e)), None),
        };
        let retryable = match &error {
            LlmError::RateLimited { .. } | LlmError::Transport { .. } => true,
            LlmError::Provider { status, .. } => *status >= 500 && retry_server_errors,
            _ => false,
        };
        if !retryable || attempt >= max_retries {
            return Err(error);
        }
        let wait = wait.unwrap_or_else(|| backoff(attempt));
        warn!(%error, attempt, wait_ms = wait.as_millis() as u64, "model call failed; retrying");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// OpenAI's `{"error": {"message"}}` and Anthropic's `{"type":"error","error":{"message"}}`.
fn provider_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| {
            String::from_utf8_lossy(body)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(200)
                .collect()
        })
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let wait = get("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| get("retry-after"))?;
    Some(Duration::from_millis(
        (wait.clamp(0.0, 60.0) * 1000.0) as u64,
    ))
}

fn backoff(attempt: u32) -> Duration {
    let base = 500u64.saturating_mul(1 << attempt.min(5));
    Duration::from_millis(base + rand::random_range(0..=base / 2))
}
