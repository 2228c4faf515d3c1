//! The one HTTP/1 listener setup of the suite. Every server we ship (the webhook-family
//! EventSource ports, the admission server, the admin/metrics ports of the EventSource and
//! Sensor pods, the controller and the webhook) serves through [`serve`] or [`serve_with`], so
//! each gets the same defences against slow, broken and hostile clients:
//!
//! - **header-read timeout** ([`Limits::header_read_timeout`]): hyper's own timer, which also
//!   runs while a keep-alive connection waits for its next request, so it is the **idle
//!   timeout** too;
//! - **body-read deadline** ([`Limits::body_read_timeout`]): the whole body must arrive within
//!   it, counted from the end of the headers; the reader gets a [`BodyTimeout`] error (answer
//!   it 408, see [`is_body_timeout`]) and the connection closes, since the body was not read;
//! - **connection cap** ([`Limits::max_connections`], lowered to fit the process's open-file
//!   limit): past it the listener stops accepting, so further connections wait in the kernel's
//!   backlog until one closes, and says so once per 10 s;
//! - **strict heads**: a bare LF in a request head is answered 400 ([`strict`]);
//! - **fd exhaustion**: an `accept` failing with `EMFILE`/`ENFILE` backs off (10 ms doubling to
//!   1 s) while the connections already open are served, and is logged at a bounded rate.
//!
//! Defaults come from [`Limits::default`]; binaries flatten [`LimitsArgs`] (flags and
//! `HTTP_*` environment variables), the EventSource listeners read the same variables with
//! [`Limits::from_env`].

mod accept;
mod body;
mod strict;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

pub use body::{BodyTimeout, is_body_timeout};

use accept::{AcceptError, Backoff, RateLimit};

/// Descriptors kept free of connections under a low open-file limit (files, the bus, the
/// Kubernetes client, other listeners).
const FD_RESERVE: u64 = 64;
/// Smallest connection cap the open-file limit may lower [`Limits::max_connections`] to.
const MIN_CAP: usize = 16;
/// How often the cap and accept-failure lines may be logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The limits of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Time for the request head (and for a TLS handshake); also how long an idle keep-alive
    /// connection is kept.
    pub header_read_timeout: Duration,
    /// Time for the whole request body, from the end of the head.
    pub body_read_timeout: Duration,
    /// Most connections open at once (lowered to fit the open-file limit).
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Environment variable of [`Limits::header_read_timeout`], in milliseconds.
pub const ENV_HEADER_READ_TIMEOUT: &str = "HTTP_HEADER_READ_TIMEOUT_MS";
/// Environment variable of [`Limits::body_read_timeout`], in milliseconds.
pub const ENV_BODY_READ_TIMEOUT: &str = "HTTP_BODY_READ_TIMEOUT_MS";
/// Environment variable of [`Limits::max_connections`].
pub const ENV_MAX_CONNECTIONS: &str = "HTTP_MAX_CONNECTIONS";

impl Limits {
    /// The defaults, overridden by the `HTTP_*` environment variables that are set and parse
    /// (one that does not parse is logged and ignored).
    pub fn from_env() -> Limits {
        let read = |name: &str| -> Option<u64> {
            let value = std::env::var(name).ok()?;
            match value.trim().parse::<u64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    tracing::warn!(variable = name, value, "not a positive integer; ignored");
                    None
                }
            }
        };
        let mut limits = Limits::default();
        if let Some(ms) = read(ENV_HEADER_READ_TIMEOUT) {
            limits.header_read_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = read(ENV_BODY_READ_TIMEOUT) {
            limits.body_read_timeout = Duration::from_millis(ms);
        }
        if let Some(n) = read(ENV_MAX_CONNECTIONS) {
            limits.max_connections = usize::try_from(n).unwrap_or(usize::MAX);
        }
        limits
    }

    /// The cap actually used: [`Limits::max_connections`], at most the soft open-file limit
    /// less [`FD_RESERVE`] (so the cap is reached before `accept` runs out of descriptors),
    /// never below [`MIN_CAP`].
    pub fn effective_max_connections(&self) -> usize {
        let wanted = self.max_connections.max(1);
        match open_file_limit() {
            Some(soft) => {
                let room = usize::try_from(soft.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
                wanted.min(room.max(MIN_CAP))
            }
            None => wanted,
        }
    }
}

/// The listener flags of a server binary, each also read from its environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitsArgs {
    /// Milliseconds a client may take to send a request head (and a TLS handshake); also how
    /// long an idle keep-alive connection is kept open.
    #[arg(long, env = ENV_HEADER_READ_TIMEOUT, default_value_t = 10_000)]
    pub http_header_read_timeout_ms: u64,
    /// Milliseconds a client may take to send a whole request body, from the end of its head;
    /// later, the request is answered 408 and the connection closed.
    #[arg(long, env = ENV_BODY_READ_TIMEOUT, default_value_t = 30_000)]
    pub http_body_read_timeout_ms: u64,
    /// Most connections open at once per listener (lowered to fit the open-file limit); more
    /// wait in the kernel's backlog until one closes.
    #[arg(long, env = ENV_MAX_CONNECTIONS, default_value_t = 1024)]
    pub http_max_connections: usize,
}

impl LimitsArgs {
    /// The limits these flags give.
    pub fn limits(&self) -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(self.http_header_read_timeout_ms.max(1)),
            body_read_timeout: Duration::from_millis(self.http_body_read_timeout_ms.max(1)),
            max_connections: self.http_max_connections.max(1),
        }
    }
}

/// The soft `RLIMIT_NOFILE`, from `/proc/self/limits` (Linux); `None` elsewhere or unlimited.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves `router` over plain HTTP/1 on `listener` until `shutdown` completes, then lets the
/// connections finish their requests. `name` labels the log lines.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    serve_with(
        name,
        listener,
        router,
        limits,
        |tcp| async move { Ok(tcp) },
        shutdown,
    )
    .await;
}

/// [`serve`], with `handshake` run on each accepted connection first (a TLS accept); it must
/// finish within [`Limits::header_read_timeout`].
pub async fn serve_with<H, F, IO>(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    handshake: H,
    shutdown: impl Future<Output = ()> + Send,
) where
    H: Fn(TcpStream) -> F + Send + Sync + 'static,
    F: Future<Output = io::Result<IO>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let cap = limits.effective_max_connections();
    let permits = Arc::new(Semaphore::new(cap));
    let handshake = Arc::new(handshake);
    let (stop_tx, stop_rx) = watch::channel(false);
    let address = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    tracing::info!(
        listener = name,
        %address,
        max_connections = cap,
        header_read_timeout_ms = limits.header_read_timeout.as_millis() as u64,
        body_read_timeout_ms = limits.body_read_timeout.as_millis() as u64,
        "listening"
    );
    let accepting = accept_loop(
        name, &listener, &router, limits, &permits, &handshake, &stop_rx,
    );
    tokio::select! {
        () = accepting => {}
        () = shutdown => {}
    }
    drop(listener);
    // Connections finish their request in flight, then close.
    let _ = stop_tx.send(true);
    let _all_closed = permits.acquire_many(cap as u32).await;
    tracing::info!(listener = name, %address, "stopped");
}

async fn accept_loop<H, F, IO>(
    name: &'static str,
    listener: &TcpListener,
    router: &Router,
    limits: &Limits,
    permits: &Arc<Semaphore>,
    handshake: &Arc<H>,
    stop: &watch::Receiver<bool>,
) where
    H: Fn(TcpStream) -> F + Send + Sync + 'static,
    F: Future<Output = io::Result<IO>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut backoff = Backoff::default();
    let mut cap_log = RateLimit::new(LOG_EVERY);
    let mut accept_log = RateLimit::new(LOG_EVERY);
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if let Some(held_back) = cap_log.check(Instant::now()) {
                    tracing::warn!(
                        listener = name,
                        max_connections = limits.effective_max_connections(),
                        times_since_last_line = held_back,
                        "connection cap reached: not accepting until a connection closes \
                         (new ones wait in the backlog)"
                    );
                }
                match permits.clone().acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => return,
                }
            }
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            Err(e) => {
                match accept::classify(&e) {
                    AcceptError::Resources => {
                        let pause = backoff.failed();
                        if let Some(held_back) = accept_log.check(Instant::now()) {
                            tracing::error!(
                                listener = name,
                                error = %e,
                                retry_in_ms = pause.as_millis() as u64,
                                times_since_last_line = held_back,
                                "cannot accept connections: out of file descriptors or memory; \
                                 the open connections are still served, new ones wait"
                            );
                        }
                        tokio::time::sleep(pause).await;
                    }
                    AcceptError::Connection => {
                        tracing::debug!(listener = name, error = %e, "accept failed");
                    }
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let handshake = handshake.clone();
        let limits = limits.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let io = match tokio::time::timeout(limits.header_read_timeout, handshake(tcp)).await {
                Ok(Ok(io)) => io,
                Ok(Err(e)) => {
                    tracing::debug!(listener = name, %peer, error = %e, "handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(listener = name, %peer, "handshake timed out");
                    return;
                }
            };
            serve_connection(name, peer, io, router, &limits, &mut stop).await;
        });
    }
}

async fn serve_connection<IO>(
    name: &'static str,
    peer: std::net::SocketAddr,
    io: IO,
    router: Router,
    limits: &Limits,
    stop: &mut watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let body_timeout = limits.body_read_timeout;
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let req = req.map(|b| Body::new(body::DeadlineBody::new(b, body_timeout)));
        router.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(strict::StrictHead::new(io)), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(listener = name, %peer, error = %e, "connection ended with an error");
    }
}
