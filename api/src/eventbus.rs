//! The `EventBus` kind: the message transport that EventSources publish to and Sensors read from.
//!
//! A bus is one of NATS Streaming (`nats`, native or exotic), controller-managed JetStream
//! (`jetstream`), an external Kafka cluster (`kafka`) or an external JetStream server
//! (`jetstreamExotic`). The controller writes the finished client settings into `status.config`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as corev1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::*;
use crate::eventsource::KafkaConsumerGroup;
use crate::is_default;

/// An `argoproj.io/v1alpha1` EventBus object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EventBus {
    /// API group and version, `argoproj.io/v1alpha1`.
    #[serde(skip_serializing_if = "is_default")]
    pub api_version: String,
    /// Object kind, `EventBus`.
    #[serde(skip_serializing_if = "is_default")]
    pub kind: String,
    /// Standard Kubernetes object metadata (name, namespace, labels, ...).
    pub metadata: ObjectMeta,
    /// Which transport the bus uses and how it is set up.
    pub spec: EventBusSpec,
    /// What the controller last observed and the finished client configuration.
    #[serde(skip_serializing_if = "is_default")]
    pub status: EventBusStatus,
}

impl EventBus {
    /// The `kind` string of this type.
    pub const KIND: &str = "EventBus";
}

/// The transport of an EventBus; exactly one of the fields is expected to be set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EventBusSpec {
    /// NATS Streaming (STAN) bus, either run by the controller or external; legacy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats: Option<NATSBus>,
    /// NATS JetStream servers run by the controller as a StatefulSet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jetstream: Option<JetStreamBus>,
    /// An existing Kafka cluster; the controller deploys nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaBus>,
    /// An existing JetStream server; the controller deploys nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jetstream_exotic: Option<JetStreamConfig>,
}

impl EventBusSpec {
    /// Name of the first transport that is set, checked in the order `nats`, `jetstream`,
    /// `kafka`, `jetstreamExotic`; `None` when the spec names no transport.
    pub fn kind(&self) -> Option<&'static str> {
        if self.nats.is_some() {
            Some("nats")
        } else if self.jetstream.is_some() {
            Some("jetstream")
        } else if self.kafka.is_some() {
            Some("kafka")
        } else if self.jetstream_exotic.is_some() {
            Some("jetstreamExotic")
        } else {
            None
        }
    }
}

/// A NATS Streaming bus: either deployed by the controller (`native`) or external (`exotic`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct NATSBus {
    /// Have the controller run a NATS Streaming StatefulSet with these settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native: Option<NativeStrategy>,
    /// Connect to an already running NATS Streaming server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exotic: Option<NATSConfig>,
}

/// Settings of a controller-run NATS Streaming deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct NativeStrategy {
    /// Number of StatefulSet pods; values below 3 are raised to 3.
    #[serde(skip_serializing_if = "is_default")]
    pub replicas: i32,
    /// Client authentication: `none` (the default) or `token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Volume claim for the message store; without it an emptyDir is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistence: Option<PersistenceStrategy>,
    /// Resource and security overrides for the NATS Streaming container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_template: Option<ContainerTemplate>,
    /// Resource and security overrides for the metrics exporter container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_container_template: Option<ContainerTemplate>,
    /// Node labels the pods must be scheduled onto.
    #[serde(skip_serializing_if = "is_default")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate.
    #[serde(skip_serializing_if = "is_default")]
    pub tolerations: Vec<corev1::Toleration>,
    /// Extra labels and annotations for the pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Pod-level security settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<corev1::PodSecurityContext>,
    /// How long messages are kept, as a Go duration (`72h` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    /// Secrets used to pull the images.
    #[serde(skip_serializing_if = "is_default")]
    pub image_pull_secrets: Vec<corev1::LocalObjectReference>,
    /// ServiceAccount the StatefulSet pods run as.
    #[serde(skip_serializing_if = "is_default")]
    pub service_account_name: String,
    /// PriorityClass of the pods.
    #[serde(skip_serializing_if = "is_default")]
    pub priority_class_name: String,
    /// Numeric pod priority (normally filled in from the PriorityClass).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Scheduling constraints of the pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity: Option<corev1::Affinity>,
    /// Message limit per channel, 0 for no limit (1000000 when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_msgs: Option<u64>,
    /// Byte limit per channel as a size such as `1GB`, 0 for no limit (`1GB` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<String>,
    /// Subscription limit per channel, 0 for no limit (1000 when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_subs: Option<u64>,
    /// Largest accepted message payload as a size, 0 for no limit (`1MB` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_payload: Option<String>,
    /// Raft follower time without a leader before calling an election (`2s` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_heartbeat_timeout: Option<String>,
    /// Raft candidate time without a leader before calling an election (`2s` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_election_timeout: Option<String>,
    /// How long a Raft leader keeps leading without reaching a quorum (`1s` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_lease_timeout: Option<String>,
    /// Idle time after which a Raft leader sends a heartbeat to commit (`100ms` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_commit_timeout: Option<String>,
}

/// Client settings for a NATS Streaming server (exotic spec, or the native bus's status).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct NATSConfig {
    /// Server address, e.g. `nats://host:4222`.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// NATS Streaming cluster id; required for an exotic bus.
    #[serde(rename = "clusterID", skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Authentication kind: `none` (the default), `token` or `basic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Secret key holding the client credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_secret: Option<SecretKeySelector>,
}

/// Settings of a controller-run NATS JetStream deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct JetStreamBus {
    /// Required JetStream version; must be listed in the controller configuration.
    #[serde(skip_serializing_if = "is_default")]
    pub version: String,
    /// Number of StatefulSet pods, 1 or at least 3 (3 when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Resource and security overrides for the NATS server container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_template: Option<ContainerTemplate>,
    /// Resource and security overrides for the config reloader container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reloader_container_template: Option<ContainerTemplate>,
    /// Resource and security overrides for the metrics exporter container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_container_template: Option<ContainerTemplate>,
    /// Volume claim for stream data; without it an emptyDir is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistence: Option<PersistenceStrategy>,
    /// Extra labels and annotations for the pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Node labels the pods must be scheduled onto.
    #[serde(skip_serializing_if = "is_default")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate.
    #[serde(skip_serializing_if = "is_default")]
    pub tolerations: Vec<corev1::Toleration>,
    /// Pod-level security settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<corev1::PodSecurityContext>,
    /// Secrets used to pull the images.
    #[serde(skip_serializing_if = "is_default")]
    pub image_pull_secrets: Vec<corev1::LocalObjectReference>,
    /// PriorityClass of the pods.
    #[serde(skip_serializing_if = "is_default")]
    pub priority_class_name: String,
    /// Numeric pod priority (normally filled in from the PriorityClass).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Scheduling constraints of the pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity: Option<corev1::Affinity>,
    /// ServiceAccount the StatefulSet pods run as.
    #[serde(skip_serializing_if = "is_default")]
    pub service_account_name: String,
    /// Body of the server's `jetstream {}` block, replacing the controller's global settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<String>,
    /// Extra command-line arguments for nats-server, e.g. `-D`.
    #[serde(skip_serializing_if = "is_default")]
    pub start_args: Vec<String>,
    /// YAML stream settings merged over the controller's global stream configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_config: Option<String>,
    /// Largest accepted message payload as a size, 0 for no limit (`1MB` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_payload: Option<String>,
}

/// Client settings for a JetStream server (exotic spec, or the native bus's status).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct JetStreamConfig {
    /// Server address, e.g. `nats://host:4222`; required.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Secret key holding the client credentials as YAML (`username`/`password` or `token`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_secret: Option<SecretKeySelector>,
    /// YAML settings of the stream that clients create when it is missing.
    #[serde(skip_serializing_if = "is_default")]
    pub stream_config: String,
    /// TLS settings of the client connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Authentication kind of the connection (`none` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
}

/// Settings of a Kafka cluster used as the bus (spec, and copied into the status).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct KafkaBus {
    /// Comma-separated broker addresses; required.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Topic events go to (`<namespace>-<eventbus name>` when empty).
    #[serde(skip_serializing_if = "is_default")]
    pub topic: String,
    /// Kafka protocol version to speak; the client's oldest stable one when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub version: String,
    /// TLS settings of the client connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// SASL authentication of the client connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sasl: Option<SASLConfig>,
    /// Consumer group used by Sensors (group `<namespace>-<sensor>` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<KafkaConsumerGroup>,
    /// Producer partitioning: `random` (the default), `hash`, `roundrobin` or `manual`.
    #[serde(skip_serializing_if = "is_default")]
    pub partitioner: String,
    /// Longest a Sensor waits to fill a batch, as a Go duration; `0` disables batching (`1s` when empty).
    #[serde(skip_serializing_if = "is_default")]
    pub consumer_batch_max_wait: String,
}

/// Observed state of an EventBus.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EventBusStatus {
    /// Observations of the bus, of types `Configured` and `Deployed`, sorted by type.
    #[serde(skip_serializing_if = "is_default")]
    pub conditions: Vec<Condition>,
    /// Finished client settings handed to EventSource and Sensor pods.
    #[serde(skip_serializing_if = "is_default")]
    pub config: BusConfig,
}

/// Client settings of a bus as computed by the controller; one field is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct BusConfig {
    /// How to reach a NATS Streaming bus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats: Option<NATSConfig>,
    /// How to reach a JetStream bus (native or exotic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jetstream: Option<JetStreamConfig>,
    /// How to reach a Kafka bus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaBus>,
}
