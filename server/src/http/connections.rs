//! The accept loop and the limits on connections themselves.
//!
//! - At most `max_connections` are served at once. A connection past the cap gets one
//!   `503 {"detail"}` with `Retry-After` and is closed (a few such answers at a time; beyond
//!   that it is closed at once), so idle sockets can never use up the file descriptors.
//! - A new connection must deliver a whole request head within the header-read timeout, and
//!   so must a kept-alive one once its next request's first byte arrived.
//! - A kept-alive connection with no request in flight is closed after the idle timeout. A
//!   request in flight (a streamed chat answer included) is never cut by either timer.
//! - Accept errors such as `EMFILE` back off (10 ms doubling to 1 s) and the loop goes on.
//! - On shutdown, accepting stops, idle connections close and requests in flight finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use crate::config::ConnectionSettings;
use crate::http::error::ApiError;

/// Connections answered 503 at the same time; past this they are closed without an answer.
const MAX_REFUSALS: usize = 32;
/// How long a refused connection may take to send its request before it is closed.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` resolves, then waits for the requests in
/// flight. The router sees each connection's peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionSettings,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let limits = Arc::new(limits);
    // Dropped to tell the connections to shut down; `done_tx.closed()` waits for them all.
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    let mut backoff = BACKOFF_MIN;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = BACKOFF_MIN;
                pair
            }
            Err(err) if is_connection_error(&err) => continue,
            Err(err) => {
                // Out of descriptors or memory: the connection waits in the backlog until
                // another one closes.
                tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "cannot accept a connection");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut shutdown => break,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let conn = Connection {
                    router: router.clone(),
                    limits: limits.clone(),
                    stop: stop_rx.clone(),
                    done: done_rx.clone(),
                };
                tokio::spawn(conn.run(stream, peer, permit));
            }
            Err(_) => match refusals.clone().try_acquire_owned() {
                Ok(permit) => {
                    tracing::warn!(%peer, max = limits.max_connections, "connection limit reached: answering 503");
                    tokio::spawn(refuse(stream, permit));
                }
                Err(_) => drop(stream),
            },
        }
    }
    drop(listener);
    drop(stop_rx);
    drop(done_rx);
    drop(stop_tx);
    done_tx.closed().await;
}

/// Errors of one connection (it went away before it was accepted), not of the listener.
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted
    )
}

struct Connection {
    router: Router,
    limits: Arc<ConnectionSettings>,
    stop: watch::Receiver<()>,
    /// Held until the connection ends, so shutdown can wait for it.
    done: watch::Receiver<()>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, peer: SocketAddr, permit: OwnedSemaphorePermit) {
        let activity = Arc::new(Activity::new());
        // The slot is held by the socket itself, so an upgraded WebSocket keeps it too.
        let io = Tracked {
            inner: stream,
            activity: activity.clone(),
            _slot: permit,
        };
        let router = self.router.clone();
        let service_activity = activity.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let in_flight = InFlight::begin(&service_activity);
            let router = router.clone();
            async move {
                let response = tower::ServiceExt::oneshot(router, req.map(Body::new)).await?;
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(GuardedBody {
                        inner: body,
                        _in_flight: in_flight,
                    })
                }))
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            // The head and idle deadlines are kept by `idle_deadline`, for both protocols.
            .header_read_timeout(None)
            .max_buf_size(self.limits.max_header_bytes);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(self.limits.max_header_bytes).unwrap_or(u32::MAX))
            .enable_connect_protocol();
        let mut conn = pin!(builder.serve_connection_with_upgrades(TokioIo::new(io), service));
        let mut expired = pin!(activity.expired(self.limits.clone()));
        let mut stopping = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                    break;
                }
                // Nothing in flight: dropping the connection loses nothing.
                () = &mut expired => {
                    tracing::debug!(%peer, "closing an idle connection");
                    break;
                }
                changed = self.stop.changed(), if !stopping => {
                    let _ = changed;
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
        drop(self.done);
    }
}

/// Answers one request `503 {"detail"}` with `Retry-After: 1` and closes.
async fn refuse(stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
        Ok::<_, Infallible>(busy_response())
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_TIMEOUT)
        .keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT * 2, conn).await;
}

fn busy_response() -> Response<Body> {
    let mut response =
        ApiError::Unavailable("The server is at its connection limit; retry shortly".into())
            .into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// What one connection is doing, for its head and idle deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ActivityState {
    /// Requests whose response has not been sent completely.
    in_flight: usize,
    /// Requests started on this connection so far.
    requests: u64,
    /// When the connection opened or its last request finished.
    idle_since: Instant,
    /// The first byte read while nothing was in flight (a request head is arriving).
    head_started: Option<Instant>,
}

/// When an idle or half-sent connection is to be closed; `None` while a request is in flight.
fn deadline(state: &ActivityState, limits: &ConnectionSettings) -> Option<Instant> {
    if state.in_flight > 0 {
        return None;
    }
    Some(match state.head_started {
        Some(started) => started + limits.header_read_timeout,
        // A new connection is for a request; it gets no idle time before its first one.
        None if state.requests == 0 => state.idle_since + limits.header_read_timeout,
        None => state.idle_since + limits.idle_timeout,
    })
}

struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                requests: 0,
                idle_since: Instant::now(),
                head_started: None,
            }),
            changed: Notify::new(),
        }
    }

    fn update(&self, change: impl FnOnce(&mut ActivityState)) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let before = *state;
        change(&mut state);
        if *state != before {
            self.changed.notify_one();
        }
    }

    fn read_some(&self) {
        self.update(|s| {
            if s.in_flight == 0 && s.head_started.is_none() {
                s.head_started = Some(Instant::now());
            }
        });
    }

    /// Resolves once the connection has passed its deadline.
    async fn expired(&self, limits: Arc<ConnectionSettings>) {
        loop {
            let due = {
                let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                deadline(&state, &limits)
            };
            match due {
                None => self.changed.notified().await,
                Some(due) if due <= Instant::now() => return,
                Some(due) => {
                    tokio::select! {
                        () = self.changed.notified() => {}
                        () = tokio::time::sleep_until(due) => {}
                    }
                }
            }
        }
    }
}

/// One request from the moment its head arrived until its response body ended or was dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.update(|s| {
            s.in_flight += 1;
            s.requests += 1;
            s.head_started = None;
        });
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
                s.head_started = None;
            }
        });
    }
}

/// A response body that keeps its request counted as in flight until it is done.
struct GuardedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl HttpBody for GuardedBody {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket of a served connection: notes reads for the deadlines and holds the slot.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionSettings {
        ConnectionSettings {
            max_connections: 8,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 16_384,
        }
    }

    #[test]
    fn deadlines_follow_what_the_connection_is_doing() {
        let t0 = Instant::now();
        let mut state = ActivityState {
            in_flight: 0,
            requests: 0,
            idle_since: t0,
            head_started: None,
        };
        let limits = limits();
        assert_eq!(
            deadline(&state, &limits),
            Some(t0 + limits.header_read_timeout),
            "a new connection owes a request head"
        );
        state.in_flight = 1;
        state.requests = 1;
        assert_eq!(deadline(&state, &limits), None, "never cut a request");
        state.in_flight = 0;
        assert_eq!(
            deadline(&state, &limits),
            Some(t0 + limits.idle_timeout),
            "kept alive for the idle timeout"
        );
        let t1 = t0 + Duration::from_secs(30);
        state.head_started = Some(t1);
        assert_eq!(
            deadline(&state, &limits),
            Some(t1 + limits.header_read_timeout),
            "a started head must finish in time"
        );
    }
}
