//! Desired children of a native NATS Streaming EventBus (`spec.nats.native`, upstream
//! `pkg/reconciler/eventbus/installer/nats.go`): headless Service, ConfigMap, server and client
//! auth Secrets, StatefulSet (with its volume claim template), and the `status.config.nats`
//! handed to EventSources and Sensors.
//!
//! Every object carries upstream's `resource-spec-hash`: the decimal FNV-32a of the JSON of the
//! whole object before the annotation is added (upstream's `SetObjectMeta`). Upstream creates
//! no PodDisruptionBudget for NATS Streaming, and neither does this module.
//!
//! The token of the `token` strategy comes in as an argument so every builder is
//! deterministic; [`generate_token`] makes one.

use std::collections::BTreeMap;

use argo_events_api::{EventBus, NATSConfig, NativeStrategy, SecretKeySelector};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, ContainerPort, HTTPGetAction, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, Secret, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::eventbus::{
    StanGlobalConfig, config_volume, data_directory, event_bus_labels, field_env, meta, mount,
    name, namespace, random_string, value_env,
};
use super::{BuildError, add_hash, spec_hash};

/// NATS client port.
pub const STAN_CLIENT_PORT: i32 = 4222;
/// NATS cluster (routes) port.
pub const STAN_CLUSTER_PORT: i32 = 6222;
/// NATS monitoring port.
pub const STAN_MONITOR_PORT: i32 = 8222;
/// Prometheus exporter port (upstream's `EventBusMetricsPort`).
pub const STAN_METRICS_PORT: i32 = 7777;
/// Key of `stan.conf` in the ConfigMap.
pub const STAN_CONFIG_MAP_KEY: &str = "stan-config";
/// Key of the server auth configuration in the server Secret.
pub const SERVER_AUTH_KEY: &str = "auth";
/// Key of the client credentials in the client Secret.
pub const CLIENT_AUTH_KEY: &str = "client-auth";
/// Annotation on both auth Secrets recording the auth strategy they were made for.
pub const AUTH_STRATEGY_ANNOTATION: &str = "strategy";
/// The NATS Streaming version every native bus runs (upstream's `defaultSTANVersion`).
pub const DEFAULT_STAN_VERSION: &str = "0.22.1";
/// Length of a generated token.
pub const TOKEN_LENGTH: usize = 64;

/// Default `store_limits.max_age`.
pub const DEFAULT_MAX_AGE: &str = "72h";
/// Default `store_limits.max_msgs`.
pub const DEFAULT_MAX_MSGS: u64 = 1_000_000;
/// Default `store_limits.max_subs`.
pub const DEFAULT_MAX_SUBS: u64 = 1000;
/// Default `store_limits.max_bytes`.
pub const DEFAULT_MAX_BYTES: &str = "1GB";
/// Default `max_payload`.
pub const DEFAULT_MAX_PAYLOAD: &str = "1MB";
/// Default `raft_heartbeat_timeout`.
pub const DEFAULT_RAFT_HEARTBEAT_TIMEOUT: &str = "2s";
/// Default `raft_election_timeout`.
pub const DEFAULT_RAFT_ELECTION_TIMEOUT: &str = "2s";
/// Default `raft_lease_timeout`.
pub const DEFAULT_RAFT_LEASE_TIMEOUT: &str = "1s";
/// Default `raft_commit_timeout`.
pub const DEFAULT_RAFT_COMMIT_TIMEOUT: &str = "100ms";

/// `eventbus-<bus>-stan-svc`.
pub fn service_name(bus: &EventBus) -> String {
    format!("eventbus-{}-stan-svc", name(bus))
}
/// `eventbus-<bus>-stan-configmap`.
pub fn config_map_name(bus: &EventBus) -> String {
    format!("eventbus-{}-stan-configmap", name(bus))
}
/// `eventbus-<bus>-server`.
pub fn server_secret_name(bus: &EventBus) -> String {
    format!("eventbus-{}-server", name(bus))
}
/// `eventbus-<bus>-client`.
pub fn client_secret_name(bus: &EventBus) -> String {
    format!("eventbus-{}-client", name(bus))
}
/// `eventbus-<bus>-stan`.
pub fn stateful_set_name(bus: &EventBus) -> String {
    format!("eventbus-{}-stan", name(bus))
}
/// The NATS Streaming cluster id, `eventbus-<bus>`.
pub fn cluster_id(bus: &EventBus) -> String {
    format!("eventbus-{}", name(bus))
}
/// `stan-<bus>-vol`, the volume claim template (and mount) of a persistent bus.
pub fn pvc_name(bus: &EventBus) -> String {
    format!("stan-{}-vol", name(bus))
}

/// How clients authenticate to a native NATS Streaming bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthStrategy {
    /// No authentication: the server Secret holds an empty `auth`, there is no client Secret.
    None,
    /// A shared 64-character token in both Secrets.
    Token,
}

impl AuthStrategy {
    /// The API value, `none` or `token`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthStrategy::None => "none",
            AuthStrategy::Token => "token",
        }
    }
}

fn invalid(bus: &EventBus, what: &'static str, message: String) -> BuildError {
    BuildError::StreamConfig {
        bus: name(bus).to_owned(),
        what,
        message,
    }
}

/// `spec.nats.native`, or an error naming the bus when it is not a native NATS Streaming bus.
pub fn native(bus: &EventBus) -> Result<&NativeStrategy, BuildError> {
    bus.spec
        .nats
        .as_ref()
        .and_then(|n| n.native.as_ref())
        .ok_or_else(|| {
            invalid(
                bus,
                "spec.nats.native",
                format!(
                    "EventBus {}/{} is not a native NATS Streaming bus",
                    namespace(bus),
                    name(bus)
                ),
            )
        })
}

/// The strategy of `spec.nats.native.auth` (`none` when unset). Anything else (`basic`) is an
/// error, upstream's `UnsupportedAuthStrategy`.
pub fn auth_strategy(bus: &EventBus) -> Result<AuthStrategy, BuildError> {
    match native(bus)?.auth.as_deref() {
        None | Some("none") => Ok(AuthStrategy::None),
        Some("token") => Ok(AuthStrategy::Token),
        Some(other) => Err(invalid(
            bus,
            "spec.nats.native.auth",
            format!(
                "unsupported auth strategy {other:?} for a native NATS Streaming bus \
                 (supported: none, token)"
            ),
        )),
    }
}

/// A fresh random token for the `token` strategy (64 letters and digits, as upstream).
pub fn generate_token() -> String {
    random_string(TOKEN_LENGTH)
}

/// The three labels of [`event_bus_labels`] with the bus's own labels underneath (upstream's
/// `mergeEventBusLabels`), plus `extra`.
fn merged_labels(bus: &EventBus, extra: Option<(&str, &str)>) -> BTreeMap<String, String> {
    let mut labels = bus.metadata.labels.clone().unwrap_or_default();
    if let Some((k, v)) = extra {
        labels.insert(k.to_owned(), v.to_owned());
    }
    labels.extend(event_bus_labels(bus));
    labels
}

fn owner(bus: &EventBus) -> String {
    format!("EventBus {}/{}", namespace(bus), name(bus))
}

/// Adds the FNV-32a `resource-spec-hash` of the whole object, as upstream's `SetObjectMeta`.
fn hashed<T: Serialize>(
    mut obj: T,
    bus: &EventBus,
    meta_of: fn(&mut T) -> &mut ObjectMeta,
) -> Result<T, BuildError> {
    let hash = spec_hash(&obj, &owner(bus))?;
    add_hash(meta_of(&mut obj), hash);
    Ok(obj)
}

/// Headless Service `eventbus-<bus>-stan-svc`: ports `tcp-client` 4222, `cluster` 6222,
/// `monitor` 8222; labels = bus labels + `stan: yes` + the three; selector = the three.
pub fn stan_service(bus: &EventBus) -> Result<Service, BuildError> {
    native(bus)?;
    let port = |n: &str, p: i32| ServicePort {
        name: Some(n.to_owned()),
        port: p,
        ..Default::default()
    };
    let svc = Service {
        metadata: meta(
            bus,
            service_name(bus),
            merged_labels(bus, Some(("stan", "yes"))),
        ),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            ports: Some(vec![
                port("tcp-client", STAN_CLIENT_PORT),
                port("cluster", STAN_CLUSTER_PORT),
                port("monitor", STAN_MONITOR_PORT),
            ]),
            type_: Some("ClusterIP".to_owned()),
            selector: Some(event_bus_labels(bus)),
            ..Default::default()
        }),
        status: None,
    };
    hashed(svc, bus, |s| &mut s.metadata)
}

fn duration_setting<'a>(
    bus: &EventBus,
    value: &'a Option<String>,
    default: &'a str,
    what: &'static str,
) -> Result<&'a str, BuildError> {
    let text = value.as_deref().unwrap_or(default);
    argo_events_api::duration::parse_go_duration(text)
        .map_err(|e| invalid(bus, what, e.to_string()))?;
    Ok(text)
}

/// The text of `stan.conf` (upstream's `buildConfigMap` template): monitoring port, the auth
/// include, the routes of `max(replicas, 3)` pods, `max_payload`, and the `streaming` block with
/// the Raft cluster and store limits (defaults: 72h, 1000000 msgs, 1GB, 1000 subs, 1MB payload,
/// Raft 2s/2s/1s/100ms). `maxAge` and the Raft timeouts must be Go durations.
pub fn stan_config(bus: &EventBus) -> Result<String, BuildError> {
    let n = native(bus)?;
    let replicas = n.effective_replicas();
    let max_age = duration_setting(bus, &n.max_age, DEFAULT_MAX_AGE, "spec.nats.native.maxAge")?;
    let heartbeat = duration_setting(
        bus,
        &n.raft_heartbeat_timeout,
        DEFAULT_RAFT_HEARTBEAT_TIMEOUT,
        "spec.nats.native.raftHeartbeatTimeout",
    )?;
    let election = duration_setting(
        bus,
        &n.raft_election_timeout,
        DEFAULT_RAFT_ELECTION_TIMEOUT,
        "spec.nats.native.raftElectionTimeout",
    )?;
    let lease = duration_setting(
        bus,
        &n.raft_lease_timeout,
        DEFAULT_RAFT_LEASE_TIMEOUT,
        "spec.nats.native.raftLeaseTimeout",
    )?;
    let commit = duration_setting(
        bus,
        &n.raft_commit_timeout,
        DEFAULT_RAFT_COMMIT_TIMEOUT,
        "spec.nats.native.raftCommitTimeout",
    )?;
    let max_msgs = n.max_msgs.unwrap_or(DEFAULT_MAX_MSGS);
    let max_subs = n.max_subs.unwrap_or(DEFAULT_MAX_SUBS);
    let max_bytes = n.max_bytes.as_deref().unwrap_or(DEFAULT_MAX_BYTES);
    let max_payload = n.max_payload.as_deref().unwrap_or(DEFAULT_MAX_PAYLOAD);
    let (sts, svc, ns) = (stateful_set_name(bus), service_name(bus), namespace(bus));
    let peers: Vec<String> = (0..replicas).map(|i| format!("\"{sts}-{i}\"")).collect();
    let routes: Vec<String> = (0..replicas)
        .map(|i| format!("nats://{sts}-{i}.{svc}.{ns}.svc:{STAN_CLUSTER_PORT}"))
        .collect();
    Ok(format!(
        "http: {STAN_MONITOR_PORT}\ninclude ./auth.conf\ncluster {{\n  port: {STAN_CLUSTER_PORT}\n  \
         routes: [{routes}]\n  cluster_advertise: $CLUSTER_ADVERTISE\n  connect_retries: 10\n}}\n\
         max_payload: {max_payload}\nstreaming {{\n  id: {id}\n  store: file\n  dir: /data/stan/store\n  \
         cluster {{\n\tnode_id: $POD_NAME\n\tpeers: [{peers}]\n\tlog_path: /data/stan/logs\n\t\
         raft_heartbeat_timeout: \"{heartbeat}\"\n\traft_election_timeout: \"{election}\"\n\t\
         raft_lease_timeout: \"{lease}\"\n\traft_commit_timeout: \"{commit}\"\n  }}\n  \
         store_limits {{\n    max_age: {max_age}\n\tmax_msgs: {max_msgs}\n\tmax_bytes: {max_bytes}\n\t\
         max_subs: {max_subs}\n  }}\n}}",
        routes = routes.join(","),
        peers = peers.join(","),
        id = cluster_id(bus),
    ))
}

/// ConfigMap `eventbus-<bus>-stan-configmap` with key `stan-config` = [`stan_config`]; labels =
/// bus labels + the three.
pub fn stan_config_map(bus: &EventBus) -> Result<ConfigMap, BuildError> {
    let cm = ConfigMap {
        metadata: meta(bus, config_map_name(bus), merged_labels(bus, None)),
        data: Some(BTreeMap::from([(
            STAN_CONFIG_MAP_KEY.to_owned(),
            stan_config(bus)?,
        )])),
        ..Default::default()
    };
    hashed(cm, bus, |c| &mut c.metadata)
}

/// The auth Secrets of one strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct StanSecrets {
    /// `eventbus-<bus>-server`, key `auth`, label `server-auth-secret: yes`.
    pub server: Secret,
    /// `eventbus-<bus>-client`, key `client-auth`, label `client-auth-secret: yes`; `None` for
    /// the `none` strategy, where an existing client Secret is to be deleted (as upstream).
    pub client: Option<Secret>,
}

fn auth_secret(
    bus: &EventBus,
    secret_name: String,
    label: &str,
    strategy: AuthStrategy,
    key: &str,
    value: String,
) -> Result<Secret, BuildError> {
    let mut labels = BTreeMap::from([(label.to_owned(), "yes".to_owned())]);
    labels.extend(event_bus_labels(bus));
    let mut metadata = meta(bus, secret_name, labels);
    metadata.annotations = Some(BTreeMap::from([(
        AUTH_STRATEGY_ANNOTATION.to_owned(),
        strategy.as_str().to_owned(),
    )]));
    let secret = Secret {
        metadata,
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([(
            key.to_owned(),
            ByteString(value.into_bytes()),
        )])),
        ..Default::default()
    };
    hashed(secret, bus, |s| &mut s.metadata)
}

/// The auth Secrets for the bus's strategy. `none`: the server Secret with an empty `auth`, no
/// client Secret (`token` is not used). `token`: server `auth` =
/// `authorization {\n  token: "<token>"\n}`, client `client-auth` = `token: "<token>"`. Both
/// carry the annotation `strategy: <none|token>`.
pub fn stan_secrets(bus: &EventBus, token: &str) -> Result<StanSecrets, BuildError> {
    let strategy = auth_strategy(bus)?;
    let server_auth = match strategy {
        AuthStrategy::None => String::new(),
        AuthStrategy::Token => format!("authorization {{\n  token: \"{token}\"\n}}"),
    };
    let server = auth_secret(
        bus,
        server_secret_name(bus),
        "server-auth-secret",
        strategy,
        SERVER_AUTH_KEY,
        server_auth,
    )?;
    let client = match strategy {
        AuthStrategy::None => None,
        AuthStrategy::Token => Some(auth_secret(
            bus,
            client_secret_name(bus),
            "client-auth-secret",
            strategy,
            CLIENT_AUTH_KEY,
            format!("token: \"{token}\""),
        )?),
    };
    Ok(StanSecrets { server, client })
}

/// Whether the existing auth Secrets (those controller-owned by the bus) can stay as they are
/// for `strategy` (upstream's reuse rule): `token` — both exist and both carry
/// `strategy: token`; `none` — the server Secret carries `strategy: none` and an empty `auth`
/// (a leftover client Secret must still be deleted). Otherwise new Secrets are written.
pub fn existing_secrets_current(
    strategy: AuthStrategy,
    server: Option<&Secret>,
    client: Option<&Secret>,
) -> bool {
    let has_strategy = |s: &Secret| {
        s.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(AUTH_STRATEGY_ANNOTATION))
            .is_some_and(|v| v == strategy.as_str())
    };
    match strategy {
        AuthStrategy::Token => server.is_some_and(has_strategy) && client.is_some_and(has_strategy),
        AuthStrategy::None => server.is_some_and(|s| {
            has_strategy(s)
                && s.data
                    .as_ref()
                    .and_then(|d| d.get(SERVER_AUTH_KEY))
                    .is_none_or(|v| v.0.is_empty())
        }),
    }
}

/// StatefulSet `eventbus-<bus>-stan` (upstream's `buildStatefulSet`): `max(replicas, 3)` pods;
/// containers `stan` (nats-streaming image of version [`DEFAULT_STAN_VERSION`] from the
/// controller configuration, `/nats-streaming-server -sc /etc/stan-config/stan.conf`, env
/// `POD_NAME`, `POD_NAMESPACE`, `CLUSTER_ADVERTISE`, liveness GET `/`:8222, CPU request `0`
/// unless a `containerTemplate` is given) and `metrics` (prometheus-nats-exporter on 7777);
/// volume `config-volume` (ConfigMap `stan-config` → `stan.conf`, server Secret `auth` →
/// `auth.conf`) at `/etc/stan-config`; data at `/data/stan` from the claim template
/// `stan-<bus>-vol` (persistence, 10Gi ReadWriteOnce by default) or the emptyDir `stan-data`.
pub fn stan_stateful_set(
    bus: &EventBus,
    global: &StanGlobalConfig,
) -> Result<StatefulSet, BuildError> {
    let n = native(bus)?;
    let v = global.version(name(bus), DEFAULT_STAN_VERSION)?;
    let labels = event_bus_labels(bus);
    let mut pod_labels = n
        .metadata
        .as_ref()
        .map(|m| m.labels.clone())
        .unwrap_or_default();
    pod_labels.extend(labels.clone());
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let port = |n: &str, p: i32| ContainerPort {
        name: Some(n.to_owned()),
        container_port: p,
        ..Default::default()
    };
    let stan_t = n.container_template.as_ref();
    let metrics_t = n.metrics_container_template.as_ref();
    let stan_resources = match stan_t {
        Some(t) => (t.resources != ResourceRequirements::default()).then(|| t.resources.clone()),
        None => Some(ResourceRequirements {
            requests: Some(BTreeMap::from([(
                "cpu".to_owned(),
                Quantity("0".to_owned()),
            )])),
            ..Default::default()
        }),
    };
    let metrics_resources = metrics_t
        .filter(|t| t.resources != ResourceRequirements::default())
        .map(|t| t.resources.clone());

    let mut volumes = vec![config_volume(
        config_map_name(bus),
        (STAN_CONFIG_MAP_KEY, "stan.conf"),
        server_secret_name(bus),
        &[(SERVER_AUTH_KEY, "auth.conf")],
    )];
    let mut stan_mounts = vec![mount("config-volume", "/etc/stan-config")];
    let claims = data_directory(
        n.persistence.as_ref(),
        (pvc_name(bus), "10Gi"),
        ("stan-data", "/data/stan"),
        &mut volumes,
        &mut stan_mounts,
    );

    let stan = Container {
        name: "stan".to_owned(),
        image: Some(v.nats_streaming_image.clone()),
        image_pull_policy: stan_t.and_then(|t| opt(&t.image_pull_policy)),
        ports: Some(vec![
            port("client", STAN_CLIENT_PORT),
            port("cluster", STAN_CLUSTER_PORT),
            port("monitor", STAN_MONITOR_PORT),
        ]),
        command: Some(
            [
                "/nats-streaming-server",
                "-sc",
                "/etc/stan-config/stan.conf",
            ]
            .map(str::to_owned)
            .to_vec(),
        ),
        env: Some(vec![
            field_env("POD_NAME", "metadata.name"),
            field_env("POD_NAMESPACE", "metadata.namespace"),
            value_env(
                "CLUSTER_ADVERTISE",
                format!("$(POD_NAME).{}.$(POD_NAMESPACE).svc", service_name(bus)),
            ),
        ]),
        volume_mounts: Some(stan_mounts),
        resources: stan_resources,
        security_context: stan_t.and_then(|t| t.security_context.clone()),
        liveness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/".to_owned()),
                port: IntOrString::Int(STAN_MONITOR_PORT),
                ..Default::default()
            }),
            initial_delay_seconds: Some(10),
            timeout_seconds: Some(5),
            ..Default::default()
        }),
        ..Default::default()
    };
    let metrics = Container {
        name: "metrics".to_owned(),
        image: Some(v.metrics_exporter_image.clone()),
        image_pull_policy: metrics_t.and_then(|t| opt(&t.image_pull_policy)),
        ports: Some(vec![port("metrics", STAN_METRICS_PORT)]),
        args: Some(
            [
                "-connz",
                "-routez",
                "-subz",
                "-varz",
                "-channelz",
                "-serverz",
            ]
            .map(str::to_owned)
            .into_iter()
            .chain([format!("http://localhost:{STAN_MONITOR_PORT}")])
            .collect(),
        ),
        resources: metrics_resources,
        security_context: metrics_t.and_then(|t| t.security_context.clone()),
        ..Default::default()
    };

    let sts = StatefulSet {
        metadata: meta(bus, stateful_set_name(bus), merged_labels(bus, None)),
        spec: Some(StatefulSetSpec {
            replicas: Some(n.effective_replicas()),
            service_name: Some(service_name(bus)),
            selector: LabelSelector {
                match_labels: Some(labels),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: n
                        .metadata
                        .as_ref()
                        .map(|m| m.annotations.clone())
                        .filter(|a| !a.is_empty()),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    node_selector: (!n.node_selector.is_empty()).then(|| n.node_selector.clone()),
                    tolerations: (!n.tolerations.is_empty()).then(|| n.tolerations.clone()),
                    security_context: n.security_context.clone(),
                    image_pull_secrets: (!n.image_pull_secrets.is_empty())
                        .then(|| n.image_pull_secrets.clone()),
                    service_account_name: opt(&n.service_account_name),
                    priority_class_name: opt(&n.priority_class_name),
                    priority: n.priority,
                    affinity: n.affinity.clone(),
                    volumes: Some(volumes),
                    containers: vec![stan, metrics],
                    ..Default::default()
                }),
            },
            volume_claim_templates: claims,
            ..Default::default()
        }),
        status: None,
    };
    hashed(sts, bus, |s| &mut s.metadata)
}

/// The `status.config.nats` of a native NATS Streaming bus, as upstream's installer returns it:
/// `url: nats://eventbus-<bus>-stan-svc:4222` (the short Service name, resolvable from the
/// bus's namespace, where its EventSources and Sensors run), `clusterID: eventbus-<bus>`,
/// `auth: none|token`, and for `token` `accessSecret: {name: eventbus-<bus>-client, key:
/// client-auth}`.
pub fn stan_status_config(bus: &EventBus) -> Result<NATSConfig, BuildError> {
    let strategy = auth_strategy(bus)?;
    Ok(NATSConfig {
        url: format!("nats://{}:{STAN_CLIENT_PORT}", service_name(bus)),
        cluster_id: Some(cluster_id(bus)),
        auth: Some(strategy.as_str().to_owned()),
        access_secret: (strategy != AuthStrategy::None).then(|| SecretKeySelector {
            name: client_secret_name(bus),
            key: CLIENT_AUTH_KEY.to_owned(),
            optional: None,
        }),
    })
}

#[cfg(test)]
mod tests;
