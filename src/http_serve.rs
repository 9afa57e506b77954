//! Serving HTTP with every bound a public endpoint needs: a connection that sends no request
//! headers within `header_timeout` (also the idle time of a kept-alive one) is closed; a
//! request not answered within `request_timeout` (a body trickling in included) gets 408;
//! bodies are capped; and at most `max_connections` are open — at the bound the oldest
//! connection with no request in flight makes room, so idle sockets piled up by anyone
//! cannot keep Slack's signed requests out. axum's own `serve` has none of these.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tower_service::Service;
use tracing::{debug, warn};

use crate::config::ServerSettings;

/// One open connection: its requests in flight, and how to close it to make room.
struct Entry {
    busy: Arc<AtomicUsize>,
    evict: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct Connections {
    next: u64,
    open: BTreeMap<u64, Entry>,
}

impl Connections {
    /// Admits a new connection, closing the oldest idle one at the bound; `None` when every
    /// connection is working on a request (the new one is turned away).
    fn admit(&mut self, max: usize) -> Option<(u64, Arc<AtomicUsize>, oneshot::Receiver<()>)> {
        if self.open.len() >= max {
            let idle = self
                .open
                .iter()
                .find(|(_, e)| e.busy.load(Ordering::SeqCst) == 0 && e.evict.is_some())
                .map(|(id, _)| *id)?;
            if let Some(kill) = self.open.get_mut(&idle).and_then(|e| e.evict.take()) {
                let _ = kill.send(());
            }
        }
        let id = self.next;
        self.next += 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let (evict, evicted) = oneshot::channel();
        self.open.insert(
            id,
            Entry {
                busy: busy.clone(),
                evict: Some(evict),
            },
        );
        Some((id, busy, evicted))
    }
}

/// Counts a request in flight for as long as it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(busy: &Arc<AtomicUsize>) -> InFlight {
        busy.fetch_add(1, Ordering::SeqCst);
        InFlight(busy.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves `router` on `listener` until `stop` turns true; then lets requests in flight
/// finish (at most `drain`) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerSettings,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let router = router.layer(DefaultBodyLimit::max(limits.max_body_bytes));
    let connections = Arc::new(Mutex::new(Connections::default()));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped(&mut stop) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let admitted = match connections.lock() {
            Ok(mut c) => c.admit(limits.max_connections.max(1)),
            Err(_) => None,
        };
        let Some((id, busy, evicted)) = admitted else {
            debug!("every connection is busy; turning a new one away");
            continue;
        };
        let service = hyper::service::service_fn({
            let router = router.clone();
            let timeout = limits.request_timeout;
            move |request: Request<Incoming>| {
                let mut router = router.clone();
                let in_flight = InFlight::new(&busy);
                async move {
                    let request = request.map(Body::new);
                    let response = match tokio::time::timeout(timeout, router.call(request)).await {
                        Ok(Ok(response)) => response,
                        Ok(Err(never)) => match never {},
                        Err(_) => too_slow(),
                    };
                    drop(in_flight);
                    Ok::<_, Infallible>(response)
                }
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connections = connections.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            tokio::select! {
                done = connection.as_mut() => {
                    if let Err(e) = done {
                        debug!(error = %e, "connection closed");
                    }
                }
                _ = evicted => debug!("idle connection closed to make room"),
                _ = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(drain, connection.as_mut()).await;
                }
            }
            if let Ok(mut c) = connections.lock() {
                c.open.remove(&id);
            }
        });
    }
    // Requests in flight finish; idle connections close at once.
    let started = Instant::now();
    while started.elapsed() < drain
        && connections
            .lock()
            .map(|c| !c.open.is_empty())
            .unwrap_or(false)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Resolves when `stop` turns true (without holding its guard across an await).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

fn too_slow() -> Response {
    (
        StatusCode::REQUEST_TIMEOUT,
        [(header::CONNECTION, "close")],
        "the request did not arrive in time",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_bound_the_oldest_idle_connection_makes_room() {
        let mut c = Connections::default();
        let (_, first_busy, _first) = c.admit(2).unwrap();
        let (_, _, mut second) = c.admit(2).unwrap();
        first_busy.fetch_add(1, Ordering::SeqCst);
        let (_, third_busy, _third) = c.admit(2).unwrap();
        assert!(second.try_recv().is_ok(), "the idle one was asked to close");
        c.open.remove(&1);
        third_busy.fetch_add(1, Ordering::SeqCst);
        assert!(c.admit(2).is_none(), "every connection busy: turned away");
    }
}
