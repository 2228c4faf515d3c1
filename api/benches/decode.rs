//! Cost of [`gocompat::from_value`], the Go-rule decoder every manifest and every watched
//! object goes through: the quickstart Sensor and EventSource as read from
//! `manifests/examples/quickstart/`, a larger EventSource, and the Sensor with keys written in
//! other cases plus unknown fields (the slow paths: folded matches and reported paths).
//!
//! `cargo bench -p argo-events-api --bench decode`; `BENCH_ITERS` (default 50000).
//! Prints one JSON object per case on stdout.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use argo_events_api::gocompat::{self, Decoded};
use argo_events_api::{EventSource, Sensor, manifest};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iters: u32 = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000)
        .max(1);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples/quickstart");
    let sensor = read(&dir.join("sensor.yaml"))?;
    let eventsource = read(&dir.join("eventsource.yaml"))?;
    let sensor_folded = fold_and_extend(&sensor);

    run::<Sensor>("sensor-quickstart", &sensor, iters, 0)?;
    run::<EventSource>("eventsource-quickstart", &eventsource, iters, 0)?;
    run::<EventSource>("eventsource-large", &large_eventsource(), iters, 0)?;
    run::<Sensor>("sensor-folded-unknown", &sensor_folded, iters, 2)?;
    Ok(())
}

/// Reads the first document of a manifest file as JSON, the way `kubectl` sends it.
fn read(path: &Path) -> Result<Value, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let (docs, err) = manifest::parse_documents(&path.display().to_string(), &text);
    if let Some(err) = err {
        return Err(err.into());
    }
    let doc = docs
        .into_iter()
        .next()
        .ok_or_else(|| format!("{}: no document", path.display()))?;
    Ok(doc.value)
}

/// Times `iters` decodes of `value` as `T` and prints one JSON line.
fn run<T: DeserializeOwned>(
    name: &str,
    value: &Value,
    iters: u32,
    unknown: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let check: Decoded<T> = gocompat::from_value(value)?;
    if check.unknown_fields.len() != unknown {
        return Err(format!(
            "{name}: expected {unknown} unknown fields, got {:?}",
            check.unknown_fields
        )
        .into());
    }
    // Warm up caches and the allocator before timing.
    for _ in 0..iters / 10 {
        black_box(gocompat::from_value::<T>(black_box(value)).ok());
    }
    let start = Instant::now();
    for _ in 0..iters {
        black_box(gocompat::from_value::<T>(black_box(value)).ok());
    }
    let secs = start.elapsed().as_secs_f64();
    let line = json!({
        "bench": name,
        "iterations": iters,
        "decodes_per_s": (f64::from(iters) / secs).round(),
        "ns_per_decode": (secs * 1e9 / f64::from(iters)).round(),
    });
    println!("{line}");
    Ok(())
}

/// The Sensor with every `spec` key upper-cased (matched by folding) and two unknown keys.
fn fold_and_extend(sensor: &Value) -> Value {
    fn upper_keys(v: &Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.to_uppercase(), upper_keys(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(upper_keys).collect()),
            other => other.clone(),
        }
    }
    let mut out = sensor.clone();
    if let Some(spec) = out.get("spec").map(upper_keys) {
        out["spec"] = spec;
    }
    out["spec"]["staleField"] = json!(true);
    out["metadata"]["unknownKey"] = json!("x");
    out
}

/// An EventSource with several webhook endpoints and calendars, as a real one might have.
fn large_eventsource() -> Value {
    let mut webhook = serde_json::Map::new();
    for i in 0..8 {
        webhook.insert(
            format!("hook-{i}"),
            json!({
                "port": "12000",
                "endpoint": format!("/hook/{i}"),
                "method": "POST",
                "url": "https://events.example.invalid",
                "metadata": {"team": "build", "index": i.to_string()},
                "authSecret": {"name": "webhook-token", "key": "token"},
                "maxPayloadSize": 1_048_576,
            }),
        );
    }
    let mut calendar = serde_json::Map::new();
    for i in 0..4 {
        calendar.insert(
            format!("cal-{i}"),
            json!({
                "schedule": format!("{i} 2 * * *"),
                "timezone": "Europe/Berlin",
                "exclusionDates": ["2026-12-25T00:00:00Z"],
                "metadata": {"kind": "nightly"},
            }),
        );
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "EventSource",
        "metadata": {
            "name": "many",
            "namespace": "argo-events",
            "labels": {"app.kubernetes.io/name": "many", "app.kubernetes.io/part-of": "ci"},
            "annotations": {"example.com/owner": "platform"},
            "generation": 3,
            "resourceVersion": "123456",
            "uid": "6f1c2a0e-0000-4000-8000-000000000001",
        },
        "spec": {
            "eventBusName": "default",
            "replicas": 1,
            "template": {"serviceAccountName": "events-sa"},
            "service": {"ports": [{"port": 12000, "targetPort": 12000}]},
            "webhook": webhook,
            "calendar": calendar,
        },
    })
}
