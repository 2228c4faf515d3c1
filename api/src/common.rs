//! Types shared by the three kinds: status, pod template, credentials, backoff and the two
//! special scalars upstream defines (`Int64OrString`, `Amount`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as corev1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::is_default;

/// A secret key reference (`{name, key, optional}`), as in core/v1.
pub type SecretKeySelector = corev1::SecretKeySelector;
/// A config map key reference (`{name, key, optional}`), as in core/v1.
pub type ConfigMapKeySelector = corev1::ConfigMapKeySelector;

/// One observation of an object's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    /// The kind of observation, e.g. `Deployed` or `SourcesProvided`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When the status last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A short CamelCase word saying why the status is what it is.
    #[serde(skip_serializing_if = "is_default")]
    pub reason: String,
    /// A sentence for people explaining the status.
    #[serde(skip_serializing_if = "is_default")]
    pub message: String,
}

/// Condition status values.
pub mod condition_status {
    /// The condition holds.
    pub const TRUE: &str = "True";
    /// The condition does not hold.
    pub const FALSE: &str = "False";
    /// Not yet known.
    pub const UNKNOWN: &str = "Unknown";
}

/// Label and annotation overrides for generated pods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Metadata {
    /// Annotations added to the generated pods.
    #[serde(skip_serializing_if = "is_default")]
    pub annotations: BTreeMap<String, String>,
    /// Labels added to the generated pods.
    #[serde(skip_serializing_if = "is_default")]
    pub labels: BTreeMap<String, String>,
}

/// Customisation of the pod that runs an EventSource or a Sensor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Template {
    /// Labels and annotations for the pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// ServiceAccount the pod runs as; a Sensor's triggers act with its permissions.
    #[serde(skip_serializing_if = "is_default")]
    pub service_account_name: String,
    /// Overrides merged into the `main` container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    /// Extra pod volumes (mount them through `container.volumeMounts`).
    #[serde(skip_serializing_if = "is_default")]
    pub volumes: Vec<corev1::Volume>,
    /// Pod-level security settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<corev1::PodSecurityContext>,
    /// Node labels the pod must be scheduled onto.
    #[serde(skip_serializing_if = "is_default")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pod tolerates.
    #[serde(skip_serializing_if = "is_default")]
    pub tolerations: Vec<corev1::Toleration>,
    /// Secrets used to pull the pod's images.
    #[serde(skip_serializing_if = "is_default")]
    pub image_pull_secrets: Vec<corev1::LocalObjectReference>,
    /// PriorityClass of the pod.
    #[serde(skip_serializing_if = "is_default")]
    pub priority_class_name: String,
    /// Numeric pod priority (normally filled in from the PriorityClass).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Scheduling constraints of the pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity: Option<corev1::Affinity>,
}

/// Overrides for the `main` container of a generated pod.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Container {
    /// CPU and memory requests and limits, merged over the controller's.
    #[serde(skip_serializing_if = "is_default")]
    pub resources: corev1::ResourceRequirements,
    /// Image pull policy (upstream's controller always sets its own, so this has no effect there).
    #[serde(skip_serializing_if = "is_default")]
    pub image_pull_policy: String,
    /// Container security settings, used when the controller sets none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<corev1::SecurityContext>,
    /// Volume mounts appended to the container's own.
    #[serde(skip_serializing_if = "is_default")]
    pub volume_mounts: Vec<corev1::VolumeMount>,
    /// Environment variables appended to the container's own.
    #[serde(skip_serializing_if = "is_default")]
    pub env: Vec<corev1::EnvVar>,
    /// Environment sources appended to the container's own.
    #[serde(skip_serializing_if = "is_default")]
    pub env_from: Vec<corev1::EnvFromSource>,
}

/// Resource settings for an EventBus container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerTemplate {
    /// CPU and memory requests and limits.
    #[serde(skip_serializing_if = "is_default")]
    pub resources: corev1::ResourceRequirements,
    /// Image pull policy of the container.
    #[serde(skip_serializing_if = "is_default")]
    pub image_pull_policy: String,
    /// Container security settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<corev1::SecurityContext>,
}

/// How an EventBus keeps its data on disk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct PersistenceStrategy {
    /// StorageClass of the volume claim; empty means the cluster default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Access mode of the claim; `ReadWriteOnce` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<String>,
    /// Size of the claim (20Gi for JetStream, 10Gi for NATS Streaming when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_size: Option<k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
}

/// TLS settings of a client connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TLSConfig {
    /// Secret key holding the CA certificate that signs the server's certificate.
    #[serde(rename = "caCertSecret", skip_serializing_if = "Option::is_none")]
    pub ca_cert_secret: Option<SecretKeySelector>,
    /// Secret key holding the client certificate; needs `clientKeySecret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert_secret: Option<SecretKeySelector>,
    /// Secret key holding the client private key; needs `clientCertSecret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_secret: Option<SecretKeySelector>,
    /// Do not verify the server certificate.
    #[serde(skip_serializing_if = "is_default")]
    pub insecure_skip_verify: bool,
    /// Use TLS with the system roots and no client certificate.
    #[serde(skip_serializing_if = "is_default")]
    pub enabled: bool,
}

/// User name and password, each from a secret key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct BasicAuth {
    /// Secret key holding the user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<SecretKeySelector>,
    /// Secret key holding the password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretKeySelector>,
}

/// SASL authentication for Kafka.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SASLConfig {
    /// `PLAIN` (when empty), `OAUTHBEARER`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `GSSAPI`.
    #[serde(skip_serializing_if = "is_default")]
    pub mechanism: String,
    /// Secret key holding the SASL user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_secret: Option<SecretKeySelector>,
    /// Secret key holding the SASL password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<SecretKeySelector>,
}

/// Retry policy: up to `steps` attempts, waiting `duration`, multiplied by `factor` each time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Backoff {
    /// First wait: a Go duration string (`"1s"`) or an integer number of nanoseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<Int64OrString>,
    /// Multiplier applied to the wait after each attempt (a JSON number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factor: Option<Amount>,
    /// Random extra fraction added to each wait (a JSON number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Amount>,
    /// Number of attempts; 0 means 5.
    #[serde(skip_serializing_if = "is_default")]
    pub steps: i32,
}

/// Expression evaluated by the EventSource before it publishes an event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EventSourceFilter {
    /// Boolean expression over the event payload, e.g. `body.id == 4`.
    #[serde(skip_serializing_if = "is_default")]
    pub expression: String,
}

/// Which files of a directory to watch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct WatchPathConfig {
    /// Absolute directory to watch.
    #[serde(skip_serializing_if = "is_default")]
    pub directory: String,
    /// File name, relative to the directory.
    #[serde(skip_serializing_if = "is_default")]
    pub path: String,
    /// RE2 regular expression the file name must match (instead of `path`).
    #[serde(skip_serializing_if = "is_default")]
    pub path_regexp: String,
}

/// An S3-compatible bucket connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct S3Artifact {
    /// Host and port of the S3 endpoint.
    #[serde(skip_serializing_if = "is_default")]
    pub endpoint: String,
    /// The bucket, and for a trigger source the object key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<S3Bucket>,
    /// Region of the bucket.
    #[serde(skip_serializing_if = "is_default")]
    pub region: String,
    /// Use plain HTTP.
    #[serde(skip_serializing_if = "is_default")]
    pub insecure: bool,
    /// Secret key holding the access key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<SecretKeySelector>,
    /// Secret key holding the secret key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<SecretKeySelector>,
    /// Bucket notification names to listen to, e.g. `s3:ObjectCreated:Put`.
    #[serde(skip_serializing_if = "is_default")]
    pub events: Vec<String>,
    /// Object key prefix and suffix the notifications must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<S3Filter>,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Secret key holding a CA certificate for the endpoint.
    #[serde(rename = "caCertificate", skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<SecretKeySelector>,
}

/// A bucket name and, optionally, an object key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct S3Bucket {
    /// Object key inside the bucket.
    #[serde(skip_serializing_if = "is_default")]
    pub key: String,
    /// Bucket name.
    #[serde(skip_serializing_if = "is_default")]
    pub name: String,
}

/// Object key constraints for bucket notifications.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct S3Filter {
    /// Keys must start with this.
    #[serde(skip_serializing_if = "is_default")]
    pub prefix: String,
    /// Keys must end with this.
    #[serde(skip_serializing_if = "is_default")]
    pub suffix: String,
}

/// An integer or a string, as upstream's `Int64OrString`: a JSON number is decoded as an
/// `int64` (nanoseconds, where it is a duration), a JSON string is kept as text
/// (a Go duration such as `"1s"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Int64OrString {
    /// A JSON integer.
    Int(i64),
    /// A JSON string.
    Str(String),
}

impl Int64OrString {
    /// The value read as a duration: integers are nanoseconds, strings Go durations.
    pub fn as_duration(&self) -> Result<std::time::Duration, crate::duration::DurationError> {
        match self {
            Int64OrString::Int(n) => Ok(std::time::Duration::from_nanos((*n).max(0) as u64)),
            Int64OrString::Str(s) => crate::duration::parse_go_duration(s),
        }
    }
}

impl Serialize for Int64OrString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Int64OrString::Int(n) => serializer.serialize_i64(*n),
            Int64OrString::Str(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for Int64OrString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Int64OrString;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Int64OrString::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(Int64OrString::Int)
                    .map_err(|_| E::custom(format!("integer {v} does not fit an int64")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "expected an integer or a string, got {v}"
                )))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Int64OrString::Str(v.to_owned()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for Int64OrString {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Int64OrString".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"x-kubernetes-int-or-string": true})
    }
}

/// A decimal amount, as upstream's `Amount`: the raw JSON value is kept as written and read
/// as a float when used, so `0.2` works while the string `"0.2"` decodes but fails when used.
#[derive(Clone, Debug, PartialEq)]
pub struct Amount(pub serde_json::Value);

impl Amount {
    /// The amount as a float, or an error naming what was written instead of a number.
    pub fn as_f64(&self) -> Result<f64, String> {
        match &self.0 {
            serde_json::Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| format!("{n} is not a representable number")),
            other => Err(format!("expected a number, got {other}")),
        }
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(Amount)
    }
}

impl JsonSchema for Amount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Amount".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "number"})
    }
}
