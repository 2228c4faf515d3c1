//! The `EventSource` kind: where events come from. Each `spec` map holds one kind of source,
//! keyed by event name.

mod cloud;
mod messaging;
mod watchers;
mod webhooks;

pub use cloud::*;
pub use messaging::*;
pub use watchers::*;
pub use webhooks::*;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::*;
use crate::is_default;

/// An object that runs event sources and publishes what they receive to an EventBus.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EventSource {
    /// Always `argoproj.io/v1alpha1`.
    #[serde(rename = "apiVersion", skip_serializing_if = "is_default")]
    pub api_version: String,
    /// Always `EventSource`.
    #[serde(skip_serializing_if = "is_default")]
    pub kind: String,
    /// Name, namespace, labels and the other standard object metadata.
    pub metadata: ObjectMeta,
    /// The event sources to run and how to run them.
    pub spec: EventSourceSpec,
    /// Conditions written by the controller.
    #[serde(skip_serializing_if = "is_default")]
    pub status: EventSourceStatus,
}

impl EventSource {
    /// The `kind` of this object type.
    pub const KIND: &str = "EventSource";
}

/// What an EventSource listens to, and the pod and Service that run it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EventSourceSpec {
    /// Name of the EventBus events are published to; `default` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub event_bus_name: String,
    /// Customisation of the pod running the event sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<Template>,
    /// ClusterIP Service in front of the pod, for HTTP-based sources; none when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    /// Number of pod replicas; 1 when unset or below 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// MinIO / S3 bucket notifications, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub minio: BTreeMap<String, S3Artifact>,
    /// Cron or interval timers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub calendar: BTreeMap<String, CalendarEventSource>,
    /// Local file watchers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub file: BTreeMap<String, FileEventSource>,
    /// Kubernetes object watchers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub resource: BTreeMap<String, ResourceEventSource>,
    /// Plain HTTP endpoints, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub webhook: BTreeMap<String, WebhookEventSource>,
    /// AMQP (RabbitMQ) consumers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub amqp: BTreeMap<String, AMQPEventSource>,
    /// Kafka consumers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub kafka: BTreeMap<String, KafkaEventSource>,
    /// MQTT subscribers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub mqtt: BTreeMap<String, MQTTEventSource>,
    /// NATS subscribers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub nats: BTreeMap<String, NATSEventsSource>,
    /// AWS SNS subscriptions, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub sns: BTreeMap<String, SNSEventSource>,
    /// AWS SQS queue readers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub sqs: BTreeMap<String, SQSEventSource>,
    /// Google Cloud Pub/Sub subscribers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub pub_sub: BTreeMap<String, PubSubEventSource>,
    /// GitHub webhooks, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub github: BTreeMap<String, GithubEventSource>,
    /// GitLab webhooks, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub gitlab: BTreeMap<String, GitlabEventSource>,
    /// HDFS directory watchers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub hdfs: BTreeMap<String, HDFSEventSource>,
    /// Slack apps, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub slack: BTreeMap<String, SlackEventSource>,
    /// NetApp StorageGRID notifications, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub storage_grid: BTreeMap<String, StorageGridEventSource>,
    /// Azure Event Hubs consumers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub azure_events_hub: BTreeMap<String, AzureEventsHubEventSource>,
    /// Stripe webhooks, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub stripe: BTreeMap<String, StripeEventSource>,
    /// Emitter channel subscribers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub emitter: BTreeMap<String, EmitterEventSource>,
    /// Redis Pub/Sub subscribers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub redis: BTreeMap<String, RedisEventSource>,
    /// NSQ consumers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub nsq: BTreeMap<String, NSQEventSource>,
    /// Apache Pulsar consumers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub pulsar: BTreeMap<String, PulsarEventSource>,
    /// User-provided gRPC event sources, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub generic: BTreeMap<String, GenericEventSource>,
    /// Redis Streams consumers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub redis_stream: BTreeMap<String, RedisStreamEventSource>,
    /// Bitbucket Server webhooks, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub bitbucketserver: BTreeMap<String, BitbucketServerEventSource>,
    /// Bitbucket Cloud webhooks, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub bitbucket: BTreeMap<String, BitbucketEventSource>,
    /// Azure Service Bus receivers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub azure_service_bus: BTreeMap<String, AzureServiceBusEventSource>,
    /// Azure Queue Storage readers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub azure_queue_storage: BTreeMap<String, AzureQueueStorageEventSource>,
    /// SFTP directory pollers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub sftp: BTreeMap<String, SFTPEventSource>,
    /// Gerrit webhooks, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub gerrit: BTreeMap<String, GerritEventSource>,
    /// Alibaba Cloud MNS queue readers, by event name.
    #[serde(skip_serializing_if = "is_default")]
    pub mns: BTreeMap<String, MNSEventSource>,
}

/// Spec keys of the kinds upstream runs on one active replica under leader election
/// (`RecreateStrategyEventSources`); every other kind is rolling (active on all replicas).
/// An EventSource may not mix the two classes.
pub const RECREATE_KINDS: &[&str] = &[
    "amqp",
    "calendar",
    "kafka",
    "pubSub",
    "azureEventsHub",
    "azureServiceBus",
    "nats",
    "mqtt",
    "minio",
    "emitter",
    "nsq",
    "pulsar",
    "redis",
    "redisStream",
    "resource",
    "hdfs",
    "file",
    "sftp",
    "generic",
];

impl EventSourceSpec {
    /// Every `(spec key, event name)` pair, e.g. `("webhook", "example")`, map by map in field
    /// order and by name within a map.
    pub fn event_names(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        macro_rules! collect {
            ($($field:ident => $key:literal),* $(,)?) => {
                $(out.extend(self.$field.keys().map(|name| ($key, name.as_str())));)*
            };
        }
        collect!(
            minio => "minio",
            calendar => "calendar",
            file => "file",
            resource => "resource",
            webhook => "webhook",
            amqp => "amqp",
            kafka => "kafka",
            mqtt => "mqtt",
            nats => "nats",
            sns => "sns",
            sqs => "sqs",
            pub_sub => "pubSub",
            github => "github",
            gitlab => "gitlab",
            hdfs => "hdfs",
            slack => "slack",
            storage_grid => "storageGrid",
            azure_events_hub => "azureEventsHub",
            stripe => "stripe",
            emitter => "emitter",
            redis => "redis",
            nsq => "nsq",
            pulsar => "pulsar",
            generic => "generic",
            redis_stream => "redisStream",
            bitbucketserver => "bitbucketserver",
            bitbucket => "bitbucket",
            azure_service_bus => "azureServiceBus",
            azure_queue_storage => "azureQueueStorage",
            sftp => "sftp",
            gerrit => "gerrit",
            mns => "mns",
        );
        out
    }
}

/// The ClusterIP Service the controller creates in front of an EventSource pod.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Service {
    /// Labels and annotations added to the Service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Ports the Service exposes; no Service is created when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub ports: Vec<k8s_openapi::api::core::v1::ServicePort>,
    /// Fixed cluster IP, `None` for a headless Service, or empty to let Kubernetes choose.
    #[serde(rename = "clusterIP", skip_serializing_if = "is_default")]
    pub cluster_ip: String,
}

/// Observed state of an EventSource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EventSourceStatus {
    /// `SourcesProvided` and `Deployed` conditions, kept sorted by type.
    #[serde(skip_serializing_if = "is_default")]
    pub conditions: Vec<Condition>,
}
