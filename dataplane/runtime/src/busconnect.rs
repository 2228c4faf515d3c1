//! Connecting to the EventBus a pod was configured with.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use argo_events_api::BusConfig;
use argo_events_bus::config::{AUTH_FILE_PATH, JetStreamOptions, SECRETS_ROOT};
use argo_events_bus::jetstream::JetStreamBus;
use argo_events_bus::{BusError, EventBus};

/// Connects to the bus of `EVENTBUS_CONFIG`, or to `url_override` (a plain JetStream URL, for
/// local runs). Only JetStream buses are supported by this runtime.
pub async fn connect(
    bus: Option<&BusConfig>,
    url_override: Option<&str>,
) -> anyhow::Result<Arc<dyn EventBus>> {
    connect_with(options(bus, url_override)?).await
}

/// The connection options of the bus of `EVENTBUS_CONFIG`, or of `url_override`.
pub fn options(
    bus: Option<&BusConfig>,
    url_override: Option<&str>,
) -> anyhow::Result<JetStreamOptions> {
    Ok(match (url_override, bus) {
        (Some(url), _) => JetStreamOptions::new(url),
        (None, Some(cfg)) => JetStreamOptions::from_bus_config(
            cfg,
            Path::new(AUTH_FILE_PATH),
            Path::new(SECRETS_ROOT),
        )?,
        (None, None) => anyhow::bail!(
            "no event bus: set EVENTBUS_CONFIG (as the controller does) or pass --bus-url nats://HOST:PORT"
        ),
    })
}

/// Connects with `options`.
pub async fn connect_with(options: JetStreamOptions) -> anyhow::Result<Arc<dyn EventBus>> {
    for warning in options.stream.warnings() {
        tracing::warn!(%warning, "stream settings can lose events");
    }
    let bus = JetStreamBus::connect(options)
        .await
        .context("connecting to the event bus")?;
    Ok(Arc::new(bus))
}

/// The waits between connection attempts at startup: 250 ms doubling up to 5 s, so a bus
/// that comes back is used within 5 s and a bus that stays away costs one attempt (and one
/// log line) per 5 s.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(5))
    }
}

impl Backoff {
    /// Waits from `first`, doubling up to `max`.
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            next: first.min(max),
            max,
        }
    }

    /// The wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        wait
    }
}

/// Whether another connection attempt may succeed: the bus was unreachable or did not answer
/// (not a configuration error or a refusal, which stay as they are).
pub fn is_transient(error: &BusError) -> bool {
    matches!(error, BusError::Unavailable(_))
}

/// Connects with `options`, waiting out a bus that is down at startup: every failed attempt
/// that may succeed later is handed to `on_retry` (attempt number from 1, the wait before the
/// next one, the error) and tried again after [`Backoff`]. Returns `Ok(None)` when `shutdown`
/// comes first; a configuration error or a refusal is returned at once.
pub async fn connect_retrying(
    options: JetStreamOptions,
    shutdown: &tokio_util::sync::CancellationToken,
    mut on_retry: impl FnMut(u32, Duration, &BusError),
) -> anyhow::Result<Option<Arc<dyn EventBus>>> {
    for warning in options.stream.warnings() {
        tracing::warn!(%warning, "stream settings can lose events");
    }
    let mut backoff = Backoff::default();
    let mut attempt = 0u32;
    loop {
        attempt = attempt.saturating_add(1);
        let connected = tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            c = JetStreamBus::connect(options.clone()) => c,
        };
        match connected {
            Ok(bus) => {
                if attempt > 1 {
                    tracing::info!(url = %options.url, attempt, "connected to the event bus");
                }
                return Ok(Some(Arc::new(bus)));
            }
            Err(e) if is_transient(&e) => {
                let wait = backoff.next_wait();
                on_retry(attempt, wait, &e);
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(None),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Err(e) => return Err(e).context("connecting to the event bus"),
        }
    }
}

/// Logs a startup connection attempt that failed (one line per attempt; [`Backoff`] spaces
/// them at most 5 s apart).
pub fn log_retry(attempt: u32, wait: Duration, error: &BusError) {
    tracing::warn!(attempt, retry_in = ?wait, %error, "the event bus is not reachable yet; waiting for it");
}
