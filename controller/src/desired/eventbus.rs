//! Desired children of a native JetStream EventBus (upstream
//! `pkg/reconciler/eventbus/installer/jetstream.go`): Secrets, ConfigMap, headless Service,
//! StatefulSet, and the `status.config` handed to EventSources and Sensors.
//!
//! Generated credentials come in as a [`JetStreamCredentials`] value so that every builder is
//! deterministic; [`generate_credentials`] makes them (random passwords and keys, TLS
//! certificates). The controller's `eventBus.nats` configuration ([`StanGlobalConfig`]) lives
//! here too, next to [`JetStreamGlobalConfig`]; the NATS Streaming builders are in
//! [`super::stan`].

use std::collections::BTreeMap;

use argo_events_api::{
    BusConfig, EventBus, JetStreamBus, JetStreamConfig, PersistenceStrategy, SecretKeySelector,
};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapProjection, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, ExecAction, HTTPGetAction, KeyToPath, Lifecycle, LifecycleHandler,
    ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec,
    PodTemplateSpec, Probe, ProjectedVolumeSource, Secret, SecretKeySelector as CoreSecretKey,
    SecretProjection, Service, ServicePort, ServiceSpec, Volume, VolumeMount, VolumeProjection,
    VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rand::RngExt as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{BuildError, owner_reference};
use crate::constants::*;

/// NATS client port.
pub const JS_CLIENT_PORT: i32 = 4222;
/// NATS cluster (routes) port.
pub const JS_CLUSTER_PORT: i32 = 6222;
/// NATS monitoring port.
pub const JS_MONITOR_PORT: i32 = 8222;
/// Prometheus exporter port.
pub const JS_METRICS_PORT: i32 = 7777;
/// Key of the nats config in the ConfigMap.
pub const CONFIG_MAP_KEY: &str = "nats-js";
/// Key of the client credentials in the client Secret.
pub const CLIENT_AUTH_KEY: &str = "client-auth";
/// Default `max_payload`.
pub const DEFAULT_MAX_PAYLOAD: &str = "1MB";

/// One JetStream version of the controller configuration (`eventBus.jetstream.versions[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JetStreamVersion {
    /// Version name matched against `spec.jetstream.version`.
    pub version: String,
    /// nats-server image.
    pub nats_image: String,
    /// Config reloader image.
    pub config_reloader_image: String,
    /// prometheus-nats-exporter image.
    pub metrics_exporter_image: String,
    /// Command starting the server, e.g. `/nats-server`.
    pub start_command: String,
}

/// The `eventBus.jetstream` part of the controller configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JetStreamGlobalConfig {
    /// Body of the `jetstream {}` block when the bus sets no `settings`.
    pub settings: String,
    /// Stream settings YAML the bus's `streamConfig` is merged over.
    pub stream_config: String,
    /// Known versions.
    pub versions: Vec<JetStreamVersion>,
}

impl JetStreamGlobalConfig {
    /// The version entry named `version`.
    pub fn version(&self, bus: &str, version: &str) -> Result<&JetStreamVersion, BuildError> {
        self.versions
            .iter()
            .find(|v| v.version == version)
            .ok_or_else(|| BuildError::UnknownJetStreamVersion {
                bus: bus.to_owned(),
                version: version.to_owned(),
            })
    }
}

/// One NATS Streaming version of the controller configuration (`eventBus.nats.versions[]`,
/// upstream's `StanVersion`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StanVersion {
    /// Version name; native NATS Streaming buses always use
    /// [`super::stan::DEFAULT_STAN_VERSION`].
    pub version: String,
    /// nats-streaming image of the `stan` container.
    pub nats_streaming_image: String,
    /// prometheus-nats-exporter image of the `metrics` container.
    pub metrics_exporter_image: String,
}

/// The `eventBus.nats` part of the controller configuration (upstream's `StanConfig`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct StanGlobalConfig {
    /// Known versions.
    #[serde(default)]
    pub versions: Vec<StanVersion>,
}

impl StanGlobalConfig {
    /// Reads `eventBus.nats` from the text of `controller-config.yaml`; no `eventBus.nats`
    /// gives an empty version list (upstream refuses to start then; here the version lookup
    /// of a native NATS bus fails with an error naming the missing version).
    pub fn from_controller_config(text: &str) -> Result<Self, serde_yaml_ng::Error> {
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct File {
            #[serde(default)]
            event_bus: Bus,
        }
        #[derive(serde::Deserialize, Default)]
        struct Bus {
            #[serde(default)]
            nats: Option<StanGlobalConfig>,
        }
        let file: File = serde_yaml_ng::from_str(text)?;
        Ok(file.event_bus.nats.unwrap_or_default())
    }

    /// The versions upstream's shipped controller configuration lists: `latest`
    /// (`nats-streaming:latest`, `natsio/prometheus-nats-exporter:latest`) and `0.22.1`
    /// (`nats-streaming:0.22.1`, `natsio/prometheus-nats-exporter:0.8.0`).
    pub fn upstream_defaults() -> Self {
        let v = |version: &str, image: &str, exporter: &str| StanVersion {
            version: version.to_owned(),
            nats_streaming_image: image.to_owned(),
            metrics_exporter_image: exporter.to_owned(),
        };
        Self {
            versions: vec![
                v(
                    "latest",
                    "nats-streaming:latest",
                    "natsio/prometheus-nats-exporter:latest",
                ),
                v(
                    "0.22.1",
                    "nats-streaming:0.22.1",
                    "natsio/prometheus-nats-exporter:0.8.0",
                ),
            ],
        }
    }

    /// The version entry named `version`; the error names the bus and the known versions.
    pub fn version(&self, bus: &str, version: &str) -> Result<&StanVersion, BuildError> {
        self.versions
            .iter()
            .find(|v| v.version == version)
            .ok_or_else(|| BuildError::StreamConfig {
                bus: bus.to_owned(),
                what: "controller configuration eventBus.nats.versions",
                message: format!(
                    "NATS Streaming version {version:?} is not listed (listed: {:?})",
                    self.versions
                        .iter()
                        .map(|v| v.version.as_str())
                        .collect::<Vec<_>>()
                ),
            })
    }
}

/// Generated secrets of a bus: passwords and PEM-encoded keys/certificates.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct JetStreamCredentials {
    /// User of the `js` account (8 chars).
    pub js_user: String,
    /// Password of the `js` user (16 chars).
    pub js_password: String,
    /// Password of the `sys` user (24 chars).
    pub sys_password: String,
    /// JetStream encryption key (32 chars).
    pub encryption_key: String,
    /// Server TLS private key (PEM).
    pub server_key_pem: String,
    /// Server certificate (PEM).
    pub server_cert_pem: String,
    /// CA of the server certificate (PEM).
    pub ca_cert_pem: String,
    /// Cluster TLS private key (PEM).
    pub cluster_key_pem: String,
    /// Cluster certificate (PEM).
    pub cluster_cert_pem: String,
    /// CA of the cluster certificate (PEM).
    pub cluster_ca_cert_pem: String,
}

pub(super) fn random_string(len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

/// Fresh random user, passwords and encryption key (lengths as upstream: 8, 16, 24, 32). The
/// PEM fields stay empty; [`generate_credentials`] fills them too.
pub fn generate_passwords() -> JetStreamCredentials {
    JetStreamCredentials {
        js_user: random_string(8),
        js_password: random_string(16),
        sys_password: random_string(24),
        encryption_key: random_string(32),
        ..Default::default()
    }
}

/// Organisation (`O=`) of the generated certificates, upstream's `certOrg`.
pub const CERT_ORG: &str = "io.argoproj";
/// Validity of the generated certificates in days: 10 × 365, as upstream.
pub const CERT_VALIDITY_DAYS: i64 = 10 * 365;

/// DNS names of the server certificate: `<svc>.<ns>.svc.cluster.local`, `<svc>.<ns>.svc`.
pub fn server_cert_hosts(bus: &EventBus) -> Vec<String> {
    let (svc, ns) = (service_name(bus), namespace(bus));
    vec![
        format!("{svc}.{ns}.svc.cluster.local"),
        format!("{svc}.{ns}.svc"),
    ]
}

/// DNS names of the cluster (routes) certificate: `*.<svc>.<ns>.svc.cluster.local`,
/// `*.<svc>.<ns>.svc`.
pub fn cluster_cert_hosts(bus: &EventBus) -> Vec<String> {
    let (svc, ns) = (service_name(bus), namespace(bus));
    vec![
        format!("*.{svc}.{ns}.svc.cluster.local"),
        format!("*.{svc}.{ns}.svc"),
    ]
}

/// A private key and its certificate, plus the CA certificate that signed it (all PEM).
struct CertBundle {
    key_pem: String,
    cert_pem: String,
    ca_cert_pem: String,
}

/// Proleptic Gregorian `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let year =
        i32::try_from(year).expect("invariant: a year derived from the system clock fits i32");
    let month = u8::try_from(month).expect("invariant: a month is 1..=12");
    let day = u8::try_from(day).expect("invariant: a day is 1..=31");
    (year, month, day)
}

/// Parameters valid from today 00:00 UTC until [`CERT_VALIDITY_DAYS`] later.
fn validity() -> rcgen::CertificateParams {
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs() / 86_400).unwrap_or(0))
        .unwrap_or(0);
    let mut params = rcgen::CertificateParams::default();
    let (y, m, d) = civil_from_days(today);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = civil_from_days(today + CERT_VALIDITY_DAYS);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    params
}

fn random_serial() -> rcgen::SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive and 16 bytes long: the top bit clear, some bit of the top byte set.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    rcgen::SerialNumber::from_slice(&bytes)
}

/// A self-signed CA and a leaf certificate it signs, both `O=io.argoproj`, carrying `hosts` as
/// DNS names, valid [`CERT_VALIDITY_DAYS`] (upstream's `tls.CreateCerts`). The CA has key usages
/// certSign + digitalSignature and extended usages serverAuth + clientAuth; the leaf has
/// digitalSignature, serverAuth, and clientAuth too when `client`.
///
/// Keys are ECDSA P-256 (SHA-256 signatures), not upstream's RSA-2048: the crate's rcgen runs
/// on ring, which cannot generate RSA keys. The private key is PKCS#8 PEM (`PRIVATE KEY`).
fn create_certs(
    bus: &EventBus,
    hosts: &[String],
    client: bool,
    what: &'static str,
) -> Result<CertBundle, BuildError> {
    use rcgen::{
        BasicConstraints, DistinguishedName, DnType, ExtendedKeyUsagePurpose as Eku, IsCa, KeyPair,
        KeyUsagePurpose as Ku, SanType,
    };
    let fail = |step: &str, e: rcgen::Error| BuildError::StreamConfig {
        bus: name(bus).to_owned(),
        what,
        message: format!("generating the {step} for {}: {e}", hosts.join(", ")),
    };
    let sans = hosts
        .iter()
        .map(|h| {
            h.clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| fail("subject alternative names", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, CERT_ORG);
    let base = validity();
    let params = |is_ca: IsCa, key_usages: Vec<Ku>, ekus: Vec<Eku>| {
        let mut p = base.clone();
        p.serial_number = Some(random_serial());
        p.distinguished_name = dn.clone();
        p.subject_alt_names = sans.clone();
        p.is_ca = is_ca;
        p.key_usages = key_usages;
        p.extended_key_usages = ekus;
        p
    };

    let ca_key = KeyPair::generate().map_err(|e| fail("CA key", e))?;
    let ca = rcgen::CertifiedIssuer::self_signed(
        params(
            IsCa::Ca(BasicConstraints::Unconstrained),
            vec![Ku::KeyCertSign, Ku::DigitalSignature],
            vec![Eku::ServerAuth, Eku::ClientAuth],
        ),
        ca_key,
    )
    .map_err(|e| fail("CA certificate", e))?;

    let leaf_key = KeyPair::generate().map_err(|e| fail("private key", e))?;
    let mut ekus = vec![Eku::ServerAuth];
    if client {
        ekus.push(Eku::ClientAuth);
    }
    let leaf = params(IsCa::ExplicitNoCa, vec![Ku::DigitalSignature], ekus)
        .signed_by(&leaf_key, &ca)
        .map_err(|e| fail("certificate", e))?;
    Ok(CertBundle {
        key_pem: leaf_key.serialize_pem(),
        cert_pem: leaf.pem(),
        ca_cert_pem: ca.pem(),
    })
}

/// Everything [`jetstream_secrets`] needs, freshly generated: the random user, passwords and
/// encryption key of [`generate_passwords`], plus, as upstream, a server CA + certificate for
/// [`server_cert_hosts`] (serverAuth) and a separate cluster CA + certificate for
/// [`cluster_cert_hosts`] (serverAuth + clientAuth, used by the routes). See `create_certs`
/// for the one deviation (ECDSA P-256 keys instead of RSA-2048).
pub fn generate_credentials(bus: &EventBus) -> Result<JetStreamCredentials, BuildError> {
    let server = create_certs(
        bus,
        &server_cert_hosts(bus),
        false,
        "server TLS certificate",
    )?;
    let cluster = create_certs(
        bus,
        &cluster_cert_hosts(bus),
        true,
        "cluster TLS certificate",
    )?;
    Ok(JetStreamCredentials {
        server_key_pem: server.key_pem,
        server_cert_pem: server.cert_pem,
        ca_cert_pem: server.ca_cert_pem,
        cluster_key_pem: cluster.key_pem,
        cluster_cert_pem: cluster.cert_pem,
        cluster_ca_cert_pem: cluster.ca_cert_pem,
        ..generate_passwords()
    })
}

pub(super) fn name(bus: &EventBus) -> &str {
    bus.metadata.name.as_deref().unwrap_or_default()
}
pub(super) fn namespace(bus: &EventBus) -> &str {
    bus.metadata.namespace.as_deref().unwrap_or_default()
}
/// `eventbus-<bus>-js-svc`.
pub fn service_name(bus: &EventBus) -> String {
    format!("eventbus-{}-js-svc", name(bus))
}
/// `eventbus-<bus>-js`.
pub fn stateful_set_name(bus: &EventBus) -> String {
    format!("eventbus-{}-js", name(bus))
}
/// `eventbus-<bus>-js-config`.
pub fn config_map_name(bus: &EventBus) -> String {
    format!("eventbus-{}-js-config", name(bus))
}
/// `eventbus-<bus>-js-server`.
pub fn server_secret_name(bus: &EventBus) -> String {
    format!("eventbus-{}-js-server", name(bus))
}
/// `eventbus-<bus>-js-client-auth`.
pub fn client_secret_name(bus: &EventBus) -> String {
    format!("eventbus-{}-js-client-auth", name(bus))
}
/// `eventbus-<bus>-js-vol`.
pub fn pvc_name(bus: &EventBus) -> String {
    format!("eventbus-{}-js-vol", name(bus))
}

/// The three labels of every child: `controller`, `eventbus-name`, `owner-name`.
pub fn event_bus_labels(bus: &EventBus) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_CONTROLLER.to_owned(), CONTROLLER_EVENT_BUS.to_owned()),
        (LABEL_EVENT_BUS_NAME.to_owned(), name(bus).to_owned()),
        (LABEL_OWNER_NAME.to_owned(), name(bus).to_owned()),
    ])
}

fn jetstream(bus: &EventBus) -> Result<&JetStreamBus, BuildError> {
    bus.spec
        .jetstream
        .as_ref()
        .ok_or_else(|| BuildError::NotJetStream {
            bus: format!("{}/{}", namespace(bus), name(bus)),
        })
}

/// SHA-256 hex of the JSON of `v` (upstream `MustHash`).
fn sha256_hash<T: Serialize>(v: &T, bus: &EventBus) -> Result<String, BuildError> {
    let bytes = serde_json::to_vec(v).map_err(|source| BuildError::Encode {
        what: "EventBus child",
        owner: format!("EventBus {}/{}", namespace(bus), name(bus)),
        source,
    })?;
    Ok(Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

pub(super) fn meta(
    bus: &EventBus,
    obj_name: String,
    labels: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(obj_name),
        namespace: bus.metadata.namespace.clone(),
        labels: Some(labels),
        owner_references: Some(vec![owner_reference(EventBus::KIND, &bus.metadata)]),
        ..Default::default()
    }
}

fn with_hash(mut m: ObjectMeta, hash: String) -> ObjectMeta {
    m.annotations = Some(BTreeMap::from([(
        ANNOTATION_RESOURCE_SPEC_HASH.to_owned(),
        hash,
    )]));
    m
}

/// The nats-server configuration text (upstream's `nats.conf` / `nats-cluster.conf` templates).
pub fn nats_config(bus: &EventBus, global: &JetStreamGlobalConfig) -> Result<String, BuildError> {
    let js = jetstream(bus)?;
    let replicas = js.effective_replicas();
    let settings = js
        .settings
        .clone()
        .unwrap_or_else(|| global.settings.clone());
    let max_payload = js.max_payload.as_deref().unwrap_or(DEFAULT_MAX_PAYLOAD);
    let mut out = format!(
        "max_payload: {max_payload}\nport: {JS_CLIENT_PORT}\npid_file: \"/var/run/nats/nats.pid\"\n\
         http: {JS_MONITOR_PORT}\nserver_name: $POD_NAME\n\
         jetstream {{\n  key: \"$JS_KEY\"\n  store_dir: \"/data/jetstream/store\"\n  {settings}\n}}\n"
    );
    if replicas > 2 {
        let svc = service_name(bus);
        let sts = stateful_set_name(bus);
        let ns = namespace(bus);
        let routes: Vec<String> = (0..replicas)
            .map(|i| format!("nats://{sts}-{i}.{svc}.{ns}.svc:{JS_CLUSTER_PORT}"))
            .collect();
        out.push_str(&format!(
            "cluster {{\n  port: {JS_CLUSTER_PORT}\n  name: {}\n  routes: [{}]\n  \
             cluster_advertise: $CLUSTER_ADVERTISE\n  connect_retries: 120\n\n  tls {{\n  \
             cert_file: \"/etc/nats-config/cluster-server-cert.pem\"\n  \
             key_file:  \"/etc/nats-config/cluster-server-key.pem\"\n  \
             ca_file:   \"/etc/nats-config/cluster-ca-cert.pem\"\n  }}\n}}\n\n\
             lame_duck_duration: 120s\n",
            name(bus),
            routes.join(",")
        ));
    } else {
        out.push_str("lame_duck_duration: 30s\n");
    }
    out.push_str("include ./auth.conf");
    Ok(out)
}

/// ConfigMap `eventbus-<bus>-js-config` with key `nats-js`.
pub fn jetstream_config_map(
    bus: &EventBus,
    global: &JetStreamGlobalConfig,
) -> Result<ConfigMap, BuildError> {
    let data = BTreeMap::from([(CONFIG_MAP_KEY.to_owned(), nats_config(bus, global)?)]);
    let hash = sha256_hash(&data, bus)?;
    Ok(ConfigMap {
        metadata: with_hash(meta(bus, config_map_name(bus), event_bus_labels(bus)), hash),
        data: Some(data),
        ..Default::default()
    })
}

/// Headless Service `eventbus-<bus>-js-svc`.
pub fn jetstream_service(bus: &EventBus) -> Result<Service, BuildError> {
    let port = |n: &str, p: i32| ServicePort {
        name: Some(n.to_owned()),
        port: p,
        ..Default::default()
    };
    let spec = ServiceSpec {
        ports: Some(vec![
            port("tcp-client", JS_CLIENT_PORT),
            port("cluster", JS_CLUSTER_PORT),
            port("metrics", JS_METRICS_PORT),
            port("monitor", JS_MONITOR_PORT),
        ]),
        type_: Some("ClusterIP".to_owned()),
        cluster_ip: Some("None".to_owned()),
        publish_not_ready_addresses: Some(true),
        selector: Some(event_bus_labels(bus)),
        ..Default::default()
    };
    let hash = sha256_hash(&spec, bus)?;
    Ok(Service {
        metadata: with_hash(meta(bus, service_name(bus), event_bus_labels(bus)), hash),
        spec: Some(spec),
        status: None,
    })
}

/// The accounts configuration (`auth.conf`): system account `sys`, account `js` with JetStream
/// and one user, TLS on the client port with the server certificate.
pub fn server_auth_config(creds: &JetStreamCredentials) -> String {
    format!(
        "system_account: sys\naccounts: {{\n  js: {{\n    jetstream: enabled\n    users: [\n      \
         {{user: {}, password: {}}}\n    ]\n  }},\n  sys: {{\n    users: [\n      \
         {{user: sys, password: {}}}\n    ]\n  }}\n}}\n\
         tls {{\n  cert_file: \"/etc/nats-config/server-cert.pem\"\n  \
         key_file: \"/etc/nats-config/server-key.pem\"\n  \
         ca_file: \"/etc/nats-config/ca-cert.pem\"\n}}\n",
        creds.js_user, creds.js_password, creds.sys_password
    )
}

/// Secrets `eventbus-<bus>-js-server` and `eventbus-<bus>-js-client-auth`, in that order.
pub fn jetstream_secrets(bus: &EventBus, creds: &JetStreamCredentials) -> [Secret; 2] {
    let bytes = |s: &str| ByteString(s.as_bytes().to_vec());
    let server = Secret {
        metadata: meta(bus, server_secret_name(bus), event_bus_labels(bus)),
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([
            ("auth".to_owned(), bytes(&server_auth_config(creds))),
            ("encryption".to_owned(), bytes(&creds.encryption_key)),
            ("private-key".to_owned(), bytes(&creds.server_key_pem)),
            ("cert".to_owned(), bytes(&creds.server_cert_pem)),
            ("ca-cert".to_owned(), bytes(&creds.ca_cert_pem)),
            (
                "cluster-private-key".to_owned(),
                bytes(&creds.cluster_key_pem),
            ),
            ("cluster-cert".to_owned(), bytes(&creds.cluster_cert_pem)),
            (
                "cluster-ca-cert".to_owned(),
                bytes(&creds.cluster_ca_cert_pem),
            ),
        ])),
        ..Default::default()
    };
    let client = Secret {
        metadata: meta(bus, client_secret_name(bus), event_bus_labels(bus)),
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([(
            CLIENT_AUTH_KEY.to_owned(),
            bytes(&format!(
                "username: {}\npassword: {}",
                creds.js_user, creds.js_password
            )),
        )])),
        ..Default::default()
    };
    [server, client]
}

pub(super) fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        ..Default::default()
    }
}

fn http_probe(path: &str) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::Int(JS_MONITOR_PORT),
            ..Default::default()
        }),
        timeout_seconds: Some(5),
        initial_delay_seconds: Some(10),
        ..Default::default()
    }
}

pub(super) fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: path.to_owned(),
            }),
            ..Default::default()
        }),
    }
}

pub(super) fn value_env(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value),
        value_from: None,
    }
}

/// The projected `config-volume` of a bus's server pods: one ConfigMap key and some keys of the
/// server Secret, each as a file (`(key, path)`).
pub(super) fn config_volume(
    config_map: String,
    (cm_key, cm_path): (&str, &str),
    secret: String,
    secret_files: &[(&str, &str)],
) -> Volume {
    let files = |items: &[(&str, &str)]| {
        items
            .iter()
            .map(|(key, path)| KeyToPath {
                key: (*key).to_owned(),
                path: (*path).to_owned(),
                mode: None,
            })
            .collect()
    };
    Volume {
        name: "config-volume".to_owned(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(vec![
                VolumeProjection {
                    config_map: Some(ConfigMapProjection {
                        name: config_map,
                        items: Some(files(&[(cm_key, cm_path)])),
                        optional: None,
                    }),
                    ..Default::default()
                },
                VolumeProjection {
                    secret: Some(SecretProjection {
                        name: secret,
                        items: Some(files(secret_files)),
                        optional: None,
                    }),
                    ..Default::default()
                },
            ]),
            default_mode: None,
        }),
        ..Default::default()
    }
}

/// The data directory of a bus's server pods, mounted at `path`: a volume claim template named
/// `claim` (returned, for the StatefulSet) when `persistence` is set, else an emptyDir volume
/// named `empty_dir` (added to `volumes`).
pub(super) fn data_directory(
    persistence: Option<&PersistenceStrategy>,
    (claim, default_size): (String, &str),
    (empty_dir, path): (&str, &str),
    volumes: &mut Vec<Volume>,
    mounts: &mut Vec<VolumeMount>,
) -> Option<Vec<PersistentVolumeClaim>> {
    match persistence {
        Some(p) => {
            mounts.push(mount(&claim, path));
            Some(vec![volume_claim_template(claim, p, default_size)])
        }
        None => {
            volumes.push(Volume {
                name: empty_dir.to_owned(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            });
            mounts.push(mount(empty_dir, path));
            None
        }
    }
}

/// The volume claim template of a bus's data directory: `persistence`'s access mode (default
/// `ReadWriteOnce`), storage class and size (default `default_size`), filesystem mode.
fn volume_claim_template(
    name: String,
    p: &PersistenceStrategy,
    default_size: &str,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![
                p.access_mode
                    .clone()
                    .unwrap_or_else(|| "ReadWriteOnce".to_owned()),
            ]),
            volume_mode: Some("Filesystem".to_owned()),
            storage_class_name: p.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    p.volume_size
                        .clone()
                        .unwrap_or_else(|| Quantity(default_size.to_owned())),
                )])),
                limits: None,
            }),
            ..Default::default()
        }),
        status: None,
    }
}

/// StatefulSet `eventbus-<bus>-js` with containers `main`, `reloader` and `metrics`.
pub fn jetstream_stateful_set(
    bus: &EventBus,
    global: &JetStreamGlobalConfig,
) -> Result<StatefulSet, BuildError> {
    let js = jetstream(bus)?;
    let v = global.version(name(bus), &js.version)?;
    let labels = event_bus_labels(bus);
    let svc = service_name(bus);
    let mut pod_labels = js
        .metadata
        .as_ref()
        .map(|m| m.labels.clone())
        .unwrap_or_default();
    pod_labels.extend(labels.clone());
    let tmpl = |t: &Option<argo_events_api::ContainerTemplate>| t.clone().unwrap_or_default();
    let (main_t, reloader_t, metrics_t) = (
        tmpl(&js.container_template),
        tmpl(&js.reloader_container_template),
        tmpl(&js.metrics_container_template),
    );
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let resources = |t: &argo_events_api::ContainerTemplate| {
        (t.resources != Default::default()).then(|| t.resources.clone())
    };
    let port = |n: &str, p: i32| ContainerPort {
        name: Some(n.to_owned()),
        container_port: p,
        ..Default::default()
    };
    let config_mounts = vec![
        mount("config-volume", "/etc/nats-config"),
        mount("pid", "/var/run/nats"),
    ];
    let mut main_mounts = config_mounts.clone();
    let mut volumes = vec![
        Volume {
            name: "pid".to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
        config_volume(
            config_map_name(bus),
            (CONFIG_MAP_KEY, "nats-js.conf"),
            server_secret_name(bus),
            &[
                ("auth", "auth.conf"),
                ("private-key", "server-key.pem"),
                ("cert", "server-cert.pem"),
                ("ca-cert", "ca-cert.pem"),
                ("cluster-private-key", "cluster-server-key.pem"),
                ("cluster-cert", "cluster-server-cert.pem"),
                ("cluster-ca-cert", "cluster-ca-cert.pem"),
            ],
        ),
    ];
    let claims = data_directory(
        js.persistence.as_ref(),
        (pvc_name(bus), "20Gi"),
        ("js-data", "/data/jetstream"),
        &mut volumes,
        &mut main_mounts,
    );
    let main = Container {
        name: "main".to_owned(),
        image: Some(v.nats_image.clone()),
        image_pull_policy: opt(&main_t.image_pull_policy),
        ports: Some(vec![
            port("client", JS_CLIENT_PORT),
            port("cluster", JS_CLUSTER_PORT),
            port("monitor", JS_MONITOR_PORT),
        ]),
        command: Some(vec![
            v.start_command.clone(),
            "--config".to_owned(),
            "/etc/nats-config/nats-js.conf".to_owned(),
        ]),
        args: (!js.start_args.is_empty()).then(|| js.start_args.clone()),
        env: Some(vec![
            field_env("POD_NAME", "metadata.name"),
            value_env("SERVER_NAME", "$(POD_NAME)".to_owned()),
            field_env("POD_NAMESPACE", "metadata.namespace"),
            value_env(
                "CLUSTER_ADVERTISE",
                format!("$(POD_NAME).{svc}.$(POD_NAMESPACE).svc"),
            ),
            EnvVar {
                name: "JS_KEY".to_owned(),
                value: None,
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(CoreSecretKey {
                        name: server_secret_name(bus),
                        key: "encryption".to_owned(),
                        optional: None,
                    }),
                    ..Default::default()
                }),
            },
        ]),
        volume_mounts: Some(main_mounts),
        security_context: main_t.security_context.clone(),
        resources: resources(&main_t),
        startup_probe: Some(Probe {
            failure_threshold: Some(30),
            ..http_probe("/healthz")
        }),
        liveness_probe: Some(Probe {
            period_seconds: Some(30),
            ..http_probe("/")
        }),
        readiness_probe: Some(Probe {
            period_seconds: Some(5),
            ..http_probe("/healthz")
        }),
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                exec: Some(ExecAction {
                    command: Some(vec![
                        v.start_command.clone(),
                        "-sl=ldm=/var/run/nats/nats.pid".to_owned(),
                    ]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let reloader = Container {
        name: "reloader".to_owned(),
        image: Some(v.config_reloader_image.clone()),
        image_pull_policy: opt(&reloader_t.image_pull_policy),
        security_context: reloader_t.security_context.clone(),
        resources: resources(&reloader_t),
        args: Some(
            [
                "-pid",
                "/var/run/nats/nats.pid",
                "-config",
                "/etc/nats-config/nats-js.conf",
            ]
            .map(str::to_owned)
            .to_vec(),
        ),
        volume_mounts: Some(config_mounts),
        ..Default::default()
    };
    let metrics = Container {
        name: "metrics".to_owned(),
        image: Some(v.metrics_exporter_image.clone()),
        image_pull_policy: opt(&metrics_t.image_pull_policy),
        security_context: metrics_t.security_context.clone(),
        resources: resources(&metrics_t),
        ports: Some(vec![port("metrics", JS_METRICS_PORT)]),
        args: Some(
            [
                "-connz",
                "-routez",
                "-subz",
                "-varz",
                "-prefix=nats",
                "-use_internal_server_id",
                "-jsz=all",
            ]
            .map(str::to_owned)
            .into_iter()
            .chain([format!("http://localhost:{JS_MONITOR_PORT}")])
            .collect(),
        ),
        ..Default::default()
    };
    let spec = StatefulSetSpec {
        pod_management_policy: Some("Parallel".to_owned()),
        replicas: Some(js.effective_replicas()),
        service_name: Some(svc.clone()),
        selector: LabelSelector {
            match_labels: Some(labels.clone()),
            match_expressions: None,
        },
        template: PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(pod_labels),
                annotations: js
                    .metadata
                    .as_ref()
                    .map(|m| m.annotations.clone())
                    .filter(|a| !a.is_empty()),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                node_selector: (!js.node_selector.is_empty()).then(|| js.node_selector.clone()),
                tolerations: (!js.tolerations.is_empty()).then(|| js.tolerations.clone()),
                security_context: js.security_context.clone(),
                image_pull_secrets: (!js.image_pull_secrets.is_empty())
                    .then(|| js.image_pull_secrets.clone()),
                priority_class_name: opt(&js.priority_class_name),
                priority: js.priority,
                service_account_name: opt(&js.service_account_name),
                affinity: js.affinity.clone(),
                share_process_namespace: Some(true),
                termination_grace_period_seconds: Some(60),
                volumes: Some(volumes),
                containers: vec![main, reloader, metrics],
                ..Default::default()
            }),
        },
        volume_claim_templates: claims,
        ..Default::default()
    };
    let hash = sha256_hash(&spec, bus)?;
    let mut sts_labels = bus.metadata.labels.clone().unwrap_or_default();
    sts_labels.extend(labels);
    Ok(StatefulSet {
        metadata: with_hash(meta(bus, stateful_set_name(bus), sts_labels), hash),
        spec: Some(spec),
        status: None,
    })
}

/// PodDisruptionBudget `eventbus-<bus>-js` with `maxUnavailable: 1` for `replicas >= 3`, so a
/// voluntary eviction never costs the JetStream RAFT quorum; `None` below 3 replicas.
///
/// Not upstream behaviour: upstream's installer creates no PodDisruptionBudget. Added on request;
/// the controller shell decides whether to apply it.
pub fn jetstream_pod_disruption_budget(
    bus: &EventBus,
) -> Result<Option<PodDisruptionBudget>, BuildError> {
    let js = jetstream(bus)?;
    if js.effective_replicas() < 3 {
        return Ok(None);
    }
    let spec = PodDisruptionBudgetSpec {
        max_unavailable: Some(IntOrString::Int(1)),
        selector: Some(LabelSelector {
            match_labels: Some(event_bus_labels(bus)),
            match_expressions: None,
        }),
        ..Default::default()
    };
    let hash = sha256_hash(&spec, bus)?;
    Ok(Some(PodDisruptionBudget {
        metadata: with_hash(
            meta(bus, stateful_set_name(bus), event_bus_labels(bus)),
            hash,
        ),
        spec: Some(spec),
        status: None,
    }))
}

/// Merges the bus's `streamConfig` YAML over the global one, keys lower-cased (viper's
/// behaviour), output as YAML with sorted keys.
pub fn merged_stream_config(
    bus: &EventBus,
    global: &JetStreamGlobalConfig,
) -> Result<String, BuildError> {
    let js = jetstream(bus)?;
    let parse = |text: &str,
                 what: &'static str|
     -> Result<BTreeMap<String, serde_yaml_ng::Value>, BuildError> {
        if text.trim().is_empty() {
            return Ok(BTreeMap::new());
        }
        let map: BTreeMap<String, serde_yaml_ng::Value> =
            serde_yaml_ng::from_str(text).map_err(|e| BuildError::StreamConfig {
                bus: name(bus).to_owned(),
                what,
                message: e.to_string(),
            })?;
        Ok(map
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), v))
            .collect())
    };
    let mut merged = parse(&global.stream_config, "global streamConfig")?;
    if let Some(own) = &js.stream_config {
        merged.extend(parse(own, "spec.jetstream.streamConfig")?);
    }
    serde_yaml_ng::to_string(&merged).map_err(|e| BuildError::StreamConfig {
        bus: name(bus).to_owned(),
        what: "merged streamConfig",
        message: e.to_string(),
    })
}

/// The `status.config.jetstream` of a native JetStream bus.
pub fn jetstream_status_config(
    bus: &EventBus,
    global: &JetStreamGlobalConfig,
) -> Result<JetStreamConfig, BuildError> {
    Ok(JetStreamConfig {
        url: format!(
            "nats://{}.{}.svc:{JS_CLIENT_PORT}",
            service_name(bus),
            namespace(bus)
        ),
        access_secret: Some(SecretKeySelector {
            name: client_secret_name(bus),
            key: CLIENT_AUTH_KEY.to_owned(),
            optional: None,
        }),
        stream_config: merged_stream_config(bus, global)?,
        tls: None,
        auth: None,
    })
}

/// The `status.config` of any EventBus, as the controller fills it after a successful install:
/// native JetStream as [`jetstream_status_config`]; native NATS Streaming as
/// [`super::stan::stan_status_config`] (an unsupported `auth` is an error);
/// Kafka copied with `topic` defaulted to `<namespace>-<bus>`; exotic NATS/JetStream copied.
pub fn bus_config(bus: &EventBus, global: &JetStreamGlobalConfig) -> Result<BusConfig, BuildError> {
    let spec = &bus.spec;
    let mut out = BusConfig::default();
    if let Some(nats) = &spec.nats {
        if nats.native.is_some() {
            out.nats = Some(super::stan::stan_status_config(bus)?);
        } else {
            out.nats = nats.exotic.clone();
        }
    } else if spec.jetstream.is_some() {
        out.jetstream = Some(jetstream_status_config(bus, global)?);
    } else if let Some(kafka) = &spec.kafka {
        let mut kafka = kafka.clone();
        if kafka.topic.is_empty() {
            kafka.topic = format!("{}-{}", namespace(bus), name(bus));
        }
        out.kafka = Some(kafka);
    } else if let Some(exotic) = &spec.jetstream_exotic {
        out.jetstream = Some(exotic.clone());
    }
    if out == BusConfig::default() {
        return Err(BuildError::UnsupportedEventBus {
            namespace: namespace(bus).to_owned(),
            bus: name(bus).to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
