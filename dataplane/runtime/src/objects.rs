//! Where a pod's object and bus configuration come from: upstream's environment variables
//! (`EVENTSOURCE_OBJECT` / `SENSOR_OBJECT`: base64 JSON of the object; `EVENTBUS_CONFIG`: base64
//! JSON of the EventBus `status.config`) or a manifest file.

use std::path::Path;

use anyhow::Context;
use argo_events_api::manifest;
use argo_events_api::{BusConfig, EventSource, Sensor, gocompat};
use base64::Engine as _;
use serde::de::DeserializeOwned;

/// Env var holding the EventSource of an EventSource pod.
pub const EVENTSOURCE_OBJECT: &str = "EVENTSOURCE_OBJECT";
/// Env var holding the Sensor of a Sensor pod.
pub const SENSOR_OBJECT: &str = "SENSOR_OBJECT";
/// Env var holding the EventBus client configuration.
pub const EVENTBUS_CONFIG: &str = "EVENTBUS_CONFIG";

/// Decodes base64 JSON with upstream's decoding rules; unknown fields are logged.
pub fn decode_b64_object<T: DeserializeOwned>(what: &str, b64: &str) -> anyhow::Result<T> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .with_context(|| format!("{what} is not base64"))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{what} is not JSON"))?;
    let decoded = gocompat::from_value::<T>(&value).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    for path in decoded.unknown_fields {
        tracing::warn!(object = what, field = %path, "unknown field ignored");
    }
    Ok(decoded.value)
}

/// Reads the one object of kind `kind` from a manifest file; unknown fields are logged.
pub fn object_from_file<T: DeserializeOwned>(path: &Path, kind: &'static str) -> anyhow::Result<T> {
    let decoded = manifest::read_one::<T>(path, kind).map_err(anyhow::Error::msg)?;
    for field in decoded.unknown_fields {
        tracing::warn!(file = %path.display(), field = %field, "unknown field ignored");
    }
    Ok(decoded.value)
}

/// The EventSource from `-f FILE` or `EVENTSOURCE_OBJECT`.
pub fn event_source(file: Option<&Path>) -> anyhow::Result<EventSource> {
    match file {
        Some(f) => object_from_file(f, "EventSource"),
        None => decode_b64_object(
            EVENTSOURCE_OBJECT,
            &std::env::var(EVENTSOURCE_OBJECT)
                .with_context(|| format!("neither -f nor {EVENTSOURCE_OBJECT} given"))?,
        ),
    }
}

/// The Sensor from `-f FILE` or `SENSOR_OBJECT`.
pub fn sensor(file: Option<&Path>) -> anyhow::Result<Sensor> {
    match file {
        Some(f) => object_from_file(f, "Sensor"),
        None => decode_b64_object(
            SENSOR_OBJECT,
            &std::env::var(SENSOR_OBJECT)
                .with_context(|| format!("neither -f nor {SENSOR_OBJECT} given"))?,
        ),
    }
}

/// The bus configuration from `EVENTBUS_CONFIG`, if set.
pub fn bus_config_from_env() -> anyhow::Result<Option<BusConfig>> {
    match std::env::var(EVENTBUS_CONFIG) {
        Ok(v) if !v.trim().is_empty() => Ok(Some(decode_b64_object(EVENTBUS_CONFIG, &v)?)),
        _ => Ok(None),
    }
}
