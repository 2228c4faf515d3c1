//! `argo-events-controller render`: the children the controller would create for a set of
//! manifests, computed offline with the pure builders of [`crate::desired`].

use std::collections::BTreeMap;

use argo_events_api::manifest::{Document, Object, decode_object};
use argo_events_api::{EventBus, JetStreamBus};
use serde::Deserialize;
use serde_json::Value;

use crate::desired::eventbus::{
    JetStreamGlobalConfig, JetStreamVersion, StanGlobalConfig, bus_config, jetstream_config_map,
    jetstream_pod_disruption_budget, jetstream_service, jetstream_stateful_set,
};
use crate::desired::eventsource::{event_source_deployment, event_source_service};
use crate::desired::sensor::sensor_deployment;
use crate::desired::stan::{stan_config_map, stan_service, stan_stateful_set};
use crate::desired::{BuildError, ControllerConfig};

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A document of our kinds did not decode.
    #[error("{file}: document {index}: {message}")]
    Decode {
        /// File of the document.
        file: String,
        /// Index of the document in the file.
        index: usize,
        /// Decoder message.
        message: String,
    },
    /// A builder failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A built object could not be encoded.
    #[error("encoding a rendered object: {0}")]
    Encode(#[from] serde_json::Error),
    /// The controller configuration file is not valid.
    #[error("controller configuration: {0}")]
    Config(String),
}

/// What rendering produced: the objects, plus notes for people (printed on stderr).
#[derive(Debug, Default)]
pub struct Rendered {
    /// The children, in input order (per input: its objects in creation order).
    pub objects: Vec<Value>,
    /// Things the reader should know (synthetic bus, skipped Secrets…).
    pub notes: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct FileConfig {
    #[serde(default)]
    event_bus: FileEventBus,
}
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct FileEventBus {
    jetstream: Option<FileJetStream>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileJetStream {
    #[serde(default)]
    settings: String,
    #[serde(default)]
    stream_config: String,
    #[serde(default)]
    versions: Vec<FileVersion>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileVersion {
    version: String,
    nats_image: String,
    config_reloader_image: String,
    metrics_exporter_image: String,
    start_command: String,
}

/// Key of the controller configuration in its ConfigMap (the file name it is mounted as).
pub const CONTROLLER_CONFIG_KEY: &str = "controller-config.yaml";

/// The controller configuration in `text`: the file as mounted in the pod, or the ConfigMap that
/// ships it (`manifests/base/controller/controller-config.yaml`), whose
/// `data."controller-config.yaml"` is then the configuration.
pub fn controller_config_document(text: &str) -> Result<String, RenderError> {
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| RenderError::Config(e.to_string()))?;
    if doc.get("kind").and_then(serde_yaml_ng::Value::as_str) != Some("ConfigMap") {
        return Ok(text.to_owned());
    }
    doc.get("data")
        .and_then(|d| d.get(CONTROLLER_CONFIG_KEY))
        .and_then(serde_yaml_ng::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            RenderError::Config(format!("a ConfigMap without data.{CONTROLLER_CONFIG_KEY}"))
        })
}

/// Parses the `eventBus.jetstream` part of the controller's `controller-config.yaml`.
pub fn parse_controller_config(text: &str) -> Result<JetStreamGlobalConfig, RenderError> {
    let file: FileConfig =
        serde_yaml_ng::from_str(text).map_err(|e| RenderError::Config(e.to_string()))?;
    let js = file
        .event_bus
        .jetstream
        .ok_or_else(|| RenderError::Config("eventBus.jetstream is missing".into()))?;
    if js.versions.is_empty() {
        return Err(RenderError::Config(
            "eventBus.jetstream.versions is empty".into(),
        ));
    }
    Ok(JetStreamGlobalConfig {
        settings: js.settings,
        stream_config: js.stream_config,
        versions: js
            .versions
            .into_iter()
            .map(|v| JetStreamVersion {
                version: v.version,
                nats_image: v.nats_image,
                config_reloader_image: v.config_reloader_image,
                metrics_exporter_image: v.metrics_exporter_image,
                start_command: v.start_command,
            })
            .collect(),
    })
}

/// Versions listed by upstream's shipped configuration.
const KNOWN_VERSIONS: &[&str] = &[
    "latest",
    "2.8.1",
    "2.8.1-alpine",
    "2.8.2",
    "2.8.2-alpine",
    "2.9.1",
    "2.9.12",
    "2.9.16",
    "2.10.29",
];

/// Stand-in controller configuration used when no `--controller-config` is given: upstream's
/// default `settings` and `streamConfig`, and for each known version the images
/// `nats:<version>`, `natsio/nats-server-config-reloader:latest`,
/// `natsio/prometheus-nats-exporter:latest` with start command `/nats-server`. The images are
/// placeholders, not upstream's pinned ones.
pub fn placeholder_global_config() -> JetStreamGlobalConfig {
    JetStreamGlobalConfig {
        settings: "max_memory_store: -1\n  max_file_store: 1TB".into(),
        stream_config: "maxMsgs: 50000\nmaxAge: 168h\nmaxBytes: -1\nreplicas: 3\nduplicates: 300s\nretention: 0\ndiscard: 0\n".into(),
        versions: KNOWN_VERSIONS
            .iter()
            .map(|v| JetStreamVersion {
                version: (*v).to_owned(),
                nats_image: format!("nats:{v}"),
                config_reloader_image: "natsio/nats-server-config-reloader:latest".into(),
                metrics_exporter_image: "natsio/prometheus-nats-exporter:latest".into(),
                start_command: "/nats-server".into(),
            })
            .collect(),
    }
}

/// A ready JetStream bus named `default` in `namespace`, standing in for a missing one.
pub fn synthetic_default_bus(namespace: &str) -> EventBus {
    let mut bus = EventBus::default();
    bus.metadata.name = Some("default".into());
    bus.metadata.namespace = Some(namespace.to_owned());
    bus.spec.jetstream = Some(JetStreamBus {
        version: "latest".into(),
        ..Default::default()
    });
    bus
}

fn with_namespace(meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, ns: &str) {
    if meta.namespace.as_deref().unwrap_or_default().is_empty() {
        meta.namespace = Some(ns.to_owned());
    }
}

/// Renders the children of every EventBus, EventSource and Sensor in `docs`, NATS Streaming
/// buses with upstream's shipped versions ([`StanGlobalConfig::upstream_defaults`]). Objects
/// without a namespace get `namespace`. Other documents are ignored (and counted in a note).
pub fn render(
    docs: &[Document],
    namespace: &str,
    cfg: &ControllerConfig,
    global: &JetStreamGlobalConfig,
) -> Result<Rendered, RenderError> {
    render_with(
        docs,
        namespace,
        cfg,
        global,
        &StanGlobalConfig::upstream_defaults(),
    )
}

/// [`render`] with the NATS Streaming versions of a controller configuration.
pub fn render_with(
    docs: &[Document],
    namespace: &str,
    cfg: &ControllerConfig,
    global: &JetStreamGlobalConfig,
    stan: &StanGlobalConfig,
) -> Result<Rendered, RenderError> {
    let mut out = Rendered::default();
    let mut objects = Vec::new();
    let mut ignored = 0usize;
    for doc in docs {
        match decode_object(&doc.value) {
            None => ignored += 1,
            Some(Err(e)) => {
                return Err(RenderError::Decode {
                    file: doc.file.clone(),
                    index: doc.index,
                    message: e.to_string(),
                });
            }
            Some(Ok(decoded)) => objects.push(decoded.value),
        }
    }
    if ignored > 0 {
        out.notes
            .push(format!("{ignored} document(s) of other kinds ignored"));
    }
    // Buses by (namespace, name), with their status.config filled in.
    let mut buses: BTreeMap<(String, String), EventBus> = BTreeMap::new();
    for obj in &mut objects {
        if let Object::EventBus(bus) = obj {
            with_namespace(&mut bus.metadata, namespace);
            bus.status.config = bus_config(bus, global)?;
            let key = (
                bus.metadata.namespace.clone().unwrap_or_default(),
                bus.metadata.name.clone().unwrap_or_default(),
            );
            buses.insert(key, (**bus).clone());
        }
    }
    let find_bus = |ns: &str, name: &str, owner: &str, notes: &mut Vec<String>| {
        let key = (ns.to_owned(), name.to_owned());
        if let Some(b) = buses.get(&key) {
            return Ok::<_, RenderError>(b.clone());
        }
        let mut bus = synthetic_default_bus(ns);
        bus.status.config = bus_config(&bus, global)?;
        notes.push(format!(
            "{owner}: EventBus {ns}/{name} is not among the inputs; using a synthetic ready \
             JetStream bus ({})",
            bus.status
                .config
                .jetstream
                .as_ref()
                .map(|j| j.url.as_str())
                .unwrap_or_default()
        ));
        Ok(bus)
    };
    for obj in &mut objects {
        match obj {
            Object::EventBus(bus) => {
                if bus.spec.jetstream.is_some() {
                    out.objects
                        .push(serde_json::to_value(jetstream_config_map(bus, global)?)?);
                    out.objects
                        .push(serde_json::to_value(jetstream_service(bus)?)?);
                    out.objects
                        .push(serde_json::to_value(jetstream_stateful_set(bus, global)?)?);
                    if let Some(pdb) = jetstream_pod_disruption_budget(bus)? {
                        out.objects.push(serde_json::to_value(pdb)?);
                    }
                    out.notes.push(format!(
                        "EventBus {}: Secrets eventbus-<bus>-js-server/-client-auth hold \
                         generated credentials and are not rendered",
                        bus.metadata.name.as_deref().unwrap_or_default()
                    ));
                } else if bus.spec.nats.as_ref().is_some_and(|n| n.native.is_some()) {
                    out.objects.push(with_kind(
                        serde_json::to_value(stan_service(bus)?)?,
                        "v1",
                        "Service",
                    ));
                    out.objects.push(with_kind(
                        serde_json::to_value(stan_config_map(bus)?)?,
                        "v1",
                        "ConfigMap",
                    ));
                    out.objects.push(with_kind(
                        serde_json::to_value(stan_stateful_set(bus, stan)?)?,
                        "apps/v1",
                        "StatefulSet",
                    ));
                    out.notes.push(format!(
                        "EventBus {}: NATS Streaming is deprecated upstream; its auth Secrets \
                         eventbus-<bus>-server/-client hold a generated token and are not rendered",
                        bus.metadata.name.as_deref().unwrap_or_default()
                    ));
                } else {
                    out.notes.push(format!(
                        "EventBus {}: an exotic or Kafka bus deploys nothing; only its \
                         status.config is used",
                        bus.metadata.name.as_deref().unwrap_or_default()
                    ));
                }
            }
            Object::EventSource(es) => {
                with_namespace(&mut es.metadata, namespace);
                let ns = es.metadata.namespace.clone().unwrap_or_default();
                let owner = format!(
                    "EventSource {ns}/{}",
                    es.metadata.name.as_deref().unwrap_or_default()
                );
                let bus = find_bus(
                    &ns,
                    es.spec.effective_event_bus_name(),
                    &owner,
                    &mut out.notes,
                )?;
                out.objects.push(with_kind(
                    serde_json::to_value(event_source_deployment(es, &bus, cfg)?)?,
                    "apps/v1",
                    "Deployment",
                ));
                if let Some(svc) = event_source_service(es)? {
                    out.objects
                        .push(with_kind(serde_json::to_value(svc)?, "v1", "Service"));
                }
            }
            Object::Sensor(sensor) => {
                with_namespace(&mut sensor.metadata, namespace);
                let ns = sensor.metadata.namespace.clone().unwrap_or_default();
                let owner = format!(
                    "Sensor {ns}/{}",
                    sensor.metadata.name.as_deref().unwrap_or_default()
                );
                let bus = find_bus(
                    &ns,
                    sensor.spec.effective_event_bus_name(),
                    &owner,
                    &mut out.notes,
                )?;
                out.objects.push(with_kind(
                    serde_json::to_value(sensor_deployment(sensor, &bus, cfg)?)?,
                    "apps/v1",
                    "Deployment",
                ));
            }
        }
    }
    if out.objects.iter().any(|o| {
        o.pointer("/metadata/ownerReferences/0/uid")
            .and_then(Value::as_str)
            .is_some_and(str::is_empty)
    }) {
        out.notes.push(
            "ownerReferences carry an empty uid: the inputs have no metadata.uid (the \
             controller fills it from the live object)"
                .to_owned(),
        );
    }
    Ok(out)
}

/// k8s-openapi resources serialise `apiVersion`/`kind` already; this only makes sure.
fn with_kind(mut v: Value, api_version: &str, kind: &str) -> Value {
    if let Value::Object(map) = &mut v {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(api_version.to_owned()));
        map.entry("kind")
            .or_insert_with(|| Value::String(kind.to_owned()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use argo_events_api::manifest::{load, parse_documents};
    use base64::Engine as _;
    use std::path::PathBuf;

    fn corpus(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpus/argo-events-examples")
            .join(rel)
    }

    fn cfg() -> ControllerConfig {
        ControllerConfig::new("img:test")
    }

    #[test]
    fn corpus_examples_with_synthetic_bus() {
        let (docs, errors) = load(&[
            corpus("event-sources/webhook.yaml"),
            corpus("sensors/special-workflow-trigger.yaml"),
        ])
        .unwrap();
        assert!(errors.is_empty());
        let out = render(&docs, "argo-events", &cfg(), &placeholder_global_config()).unwrap();
        let kinds: Vec<_> = out
            .objects
            .iter()
            .map(|o| {
                let m = &o["metadata"];
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    m["name"].as_str().or(m["generateName"].as_str()).unwrap()
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "Deployment/webhook-eventsource-",
                "Service/webhook-eventsource-svc",
                "Deployment/special-workflow-trigger-sensor-"
            ]
        );
        assert_eq!(out.notes.len(), 3, "{:?}", out.notes);
        assert!(out.notes[0].contains("synthetic"));
    }

    #[test]
    fn bus_from_inputs_feeds_event_bus_config() {
        let text = "apiVersion: argoproj.io/v1alpha1\nkind: EventBus\nmetadata: {name: js, namespace: ns1}\n\
                    spec: {jetstream: {version: latest, replicas: 1}}\n---\n\
                    apiVersion: argoproj.io/v1alpha1\nkind: EventSource\nmetadata: {name: w, namespace: ns1}\n\
                    spec: {eventBusName: js, webhook: {a: {port: \"1\", endpoint: /a, method: POST}}}\n---\n\
                    apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n";
        let (docs, err) = parse_documents("t.yaml", text);
        assert!(err.is_none());
        let out = render(&docs, "default", &cfg(), &placeholder_global_config()).unwrap();
        let kinds: Vec<_> = out
            .objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["ConfigMap", "Service", "StatefulSet", "Deployment"]);
        let env = &out.objects[3]["spec"]["template"]["spec"]["containers"][0]["env"];
        let bus_cfg = env
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "EVENTBUS_CONFIG")
            .unwrap()["value"]
            .as_str()
            .unwrap();
        let decoded: Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(bus_cfg)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            decoded["jetstream"]["url"],
            "nats://eventbus-js-js-svc.ns1.svc:4222"
        );
        assert!(out.notes.iter().any(|n| n.contains("1 document(s)")));
    }

    #[test]
    fn controller_config_file() {
        let text = "eventBus:\n  jetstream:\n    settings: |\n      max_file_store: 1TB\n    streamConfig: |\n      maxMsgs: 1\n    versions:\n    - version: latest\n      natsImage: nats:2.10.10\n      configReloaderImage: r:1\n      metricsExporterImage: m:1\n      startCommand: /nats-server\n";
        let g = parse_controller_config(text).unwrap();
        assert_eq!(g.versions[0].nats_image, "nats:2.10.10");
        assert!(parse_controller_config("eventBus: {}").is_err());
    }
}
