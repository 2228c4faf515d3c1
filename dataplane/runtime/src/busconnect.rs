//! Connecting to the EventBus a pod was configured with.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use argo_events_api::BusConfig;
use argo_events_bus::EventBus;
use argo_events_bus::config::{AUTH_FILE_PATH, JetStreamOptions, SECRETS_ROOT};
use argo_events_bus::jetstream::JetStreamBus;

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
