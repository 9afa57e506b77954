//! What every outbound HTTP call shares: reading an answer without letting it grow past a
//! bound, and saying why a connection failed in words an operator can act on ("Connection
//! refused", "failed to lookup address information") rather than "error sending request".

use std::error::Error;

/// The deepest cause of an error: the one that names what went wrong on the wire.
pub fn root_cause(e: &(dyn Error + 'static)) -> String {
    let mut deepest = e;
    while let Some(next) = deepest.source() {
        deepest = next;
    }
    deepest.to_string()
}

/// Why an answer could not be read whole.
#[derive(Debug)]
pub enum ReadError {
    /// The answer is longer than `limit` bytes; reading stopped there.
    TooLarge { limit: usize },
    /// The connection failed while reading.
    Transport(reqwest::Error),
}

impl ReadError {
    /// The text of the error for people: the limit, or the root cause.
    pub fn describe(&self) -> String {
        match self {
            ReadError::TooLarge { limit } => format!(
                "the answer is larger than {} MB, the most crmbot reads",
                limit / 1_000_000
            ),
            ReadError::Transport(e) => root_cause(e),
        }
    }

    /// True when the answer stopped because time ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ReadError::Transport(e) if e.is_timeout())
    }
}

/// Reads a response body, at most `limit` bytes: a declared length beyond it is refused
/// before reading, and a body that grows beyond it is dropped as soon as it does.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_cause_is_the_innermost_error() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let outer = std::io::Error::other(io);
        assert_eq!(root_cause(&outer), "Connection refused");
    }
}
