//! Event sources that consume from message brokers: Kafka, NATS, AMQP (RabbitMQ), MQTT, Redis
//! pub/sub and streams, NSQ, Pulsar and Emitter, plus the Kafka/NATS helper types that Sensor
//! triggers share (`SchemaRegistryConfig`, `NATSAuth`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::*;
use crate::is_default;

// ---------------------------------------------------------------------------------------------
// Kafka
// ---------------------------------------------------------------------------------------------

/// Reads records from a Kafka topic (one partition, or a whole topic through a consumer group).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct KafkaEventSource {
    /// Broker addresses, several separated by commas.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Partition number to read, as a string; needed unless `consumerGroup` is set.
    #[serde(skip_serializing_if = "is_default")]
    pub partition: String,
    /// Topic to consume from.
    #[serde(skip_serializing_if = "is_default")]
    pub topic: String,
    /// Retry policy for connecting to the brokers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_backoff: Option<Backoff>,
    /// TLS settings of the broker connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Embed the record value as JSON in the event instead of as base64 bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Consume through this consumer group instead of a fixed partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<KafkaConsumerGroup>,
    /// Maximum number of records turned into events per second; 0 means no limit.
    #[serde(skip_serializing_if = "is_default")]
    pub limit_events_per_second: i64,
    /// Kafka protocol version the client speaks (sarama version string); `1.0.0` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub version: String,
    /// SASL authentication settings (ignored when `awsMskIamAuth` is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sasl: Option<SASLConfig>,
    /// Expression a record must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// YAML text overriding fields of the underlying sarama client configuration.
    #[serde(skip_serializing_if = "is_default")]
    pub config: String,
    /// Schema registry used to decode Avro-encoded values into JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<SchemaRegistryConfig>,
    /// Authenticate to Amazon MSK with AWS IAM credentials; turns TLS on and overrides `sasl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_msk_iam_auth: Option<AWSMSKIAMConfig>,
}

/// Kafka consumer group membership settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct KafkaConsumerGroup {
    /// Name of the consumer group to join.
    #[serde(skip_serializing_if = "is_default")]
    pub group_name: String,
    /// For a new group, start at the oldest retained record rather than the newest (default false).
    #[serde(skip_serializing_if = "is_default")]
    pub oldest: bool,
    /// Partition assignment strategy: `range` (default), `sticky` or `roundrobin`.
    #[serde(skip_serializing_if = "is_default")]
    pub rebalance_strategy: String,
}

/// Confluent-compatible schema registry used to decode Avro messages (Kafka source and trigger).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SchemaRegistryConfig {
    /// Base URL of the schema registry.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Numeric id of the schema to use.
    #[serde(skip_serializing_if = "is_default")]
    pub schema_id: i32,
    /// Basic-auth credentials for the registry, if it needs them.
    #[serde(skip_serializing_if = "is_default")]
    pub auth: BasicAuth,
}

/// AWS IAM (SASL/OAUTHBEARER) authentication against Amazon MSK.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AWSMSKIAMConfig {
    /// AWS region the MSK cluster lives in, e.g. `us-east-1`.
    #[serde(skip_serializing_if = "is_default")]
    pub region: String,
}

// ---------------------------------------------------------------------------------------------
// NATS
// ---------------------------------------------------------------------------------------------

/// Subscribes to a NATS subject (optionally as part of a queue group).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct NATSEventsSource {
    /// Address of the NATS server or cluster.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Subject to subscribe to.
    #[serde(skip_serializing_if = "is_default")]
    pub subject: String,
    /// Retry policy for connecting to NATS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_backoff: Option<Backoff>,
    /// Embed the message payload as JSON instead of as base64 bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// TLS settings of the NATS connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Credentials for connecting to NATS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<NATSAuth>,
    /// Expression a message must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// Queue group to join; when set it must not be empty, when absent a plain subscription is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

/// Ways to authenticate to NATS; set at most one (NATS source and trigger).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct NATSAuth {
    /// User name and password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicAuth>,
    /// Secret key holding an authentication token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretKeySelector>,
    /// Secret key holding an NKey seed.
    #[serde(rename = "nkey", skip_serializing_if = "Option::is_none")]
    pub nkey: Option<SecretKeySelector>,
    /// Secret key holding a NATS credentials (`.creds`) file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<SecretKeySelector>,
}

// ---------------------------------------------------------------------------------------------
// AMQP
// ---------------------------------------------------------------------------------------------

/// Consumes messages from a RabbitMQ (AMQP 0-9-1) exchange through a bound queue.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AMQPEventSource {
    /// Broker URL, e.g. `amqp://host:5672`; use either this or `urlSecret`.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Exchange to bind the queue to.
    #[serde(skip_serializing_if = "is_default")]
    pub exchange_name: String,
    /// Kind of the exchange, e.g. `fanout`, `direct` or `topic`.
    #[serde(skip_serializing_if = "is_default")]
    pub exchange_type: String,
    /// Routing key of the queue binding.
    #[serde(skip_serializing_if = "is_default")]
    pub routing_key: String,
    /// Retry policy for connecting to the broker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_backoff: Option<Backoff>,
    /// Embed the message body as JSON instead of as base64 bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// TLS settings of the broker connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Options used when declaring the exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange_declare: Option<AMQPExchangeDeclareConfig>,
    /// Options used when declaring the queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_declare: Option<AMQPQueueDeclareConfig>,
    /// Options used when binding the queue to the exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_bind: Option<AMQPQueueBindConfig>,
    /// Options used when starting to consume from the queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consume: Option<AMQPConsumeConfig>,
    /// User name and password for the broker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<BasicAuth>,
    /// Secret key holding the broker URL, as an alternative to `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_secret: Option<SecretKeySelector>,
    /// Expression a message must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}

/// Flags for declaring the AMQP exchange (upstream defaults to durable when the block is absent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AMQPExchangeDeclareConfig {
    /// The exchange survives a broker restart.
    #[serde(skip_serializing_if = "is_default")]
    pub durable: bool,
    /// The exchange is removed once no queue is bound to it.
    #[serde(skip_serializing_if = "is_default")]
    pub auto_delete: bool,
    /// The exchange refuses direct publishing from clients.
    #[serde(skip_serializing_if = "is_default")]
    pub internal: bool,
    /// Do not wait for the broker to confirm the declaration.
    #[serde(skip_serializing_if = "is_default")]
    pub no_wait: bool,
}

/// Flags for declaring the AMQP queue (upstream defaults to an exclusive, server-named queue).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AMQPQueueDeclareConfig {
    /// Queue name; empty lets the broker generate a unique one.
    #[serde(skip_serializing_if = "is_default")]
    pub name: String,
    /// The queue survives a broker restart.
    #[serde(skip_serializing_if = "is_default")]
    pub durable: bool,
    /// The queue is removed once it has no consumers.
    #[serde(skip_serializing_if = "is_default")]
    pub auto_delete: bool,
    /// Only this connection may use the queue, and it is deleted when the connection closes.
    #[serde(skip_serializing_if = "is_default")]
    pub exclusive: bool,
    /// Do not wait for the broker to confirm the declaration.
    #[serde(skip_serializing_if = "is_default")]
    pub no_wait: bool,
    /// Queue `x-arguments` as YAML/JSON text, e.g. `{x-queue-type: quorum}`.
    #[serde(skip_serializing_if = "is_default")]
    pub arguments: String,
}

/// Flags for binding the AMQP queue to the exchange.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AMQPQueueBindConfig {
    /// Do not wait for the broker to confirm the binding.
    #[serde(skip_serializing_if = "is_default")]
    pub no_wait: bool,
}

/// Flags for consuming from the AMQP queue (upstream defaults to auto-acknowledge).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AMQPConsumeConfig {
    /// Consumer identifier attached to each delivery; the broker picks one when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub consumer_tag: String,
    /// Deliveries count as acknowledged as soon as they are sent.
    #[serde(skip_serializing_if = "is_default")]
    pub auto_ack: bool,
    /// Ask to be the only consumer of the queue.
    #[serde(skip_serializing_if = "is_default")]
    pub exclusive: bool,
    /// Skip messages published on the same connection (RabbitMQ does not support it).
    #[serde(skip_serializing_if = "is_default")]
    pub no_local: bool,
    /// Start delivering without waiting for the broker's confirmation.
    #[serde(skip_serializing_if = "is_default")]
    pub no_wait: bool,
}

// ---------------------------------------------------------------------------------------------
// MQTT
// ---------------------------------------------------------------------------------------------

/// Subscribes to an MQTT topic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct MQTTEventSource {
    /// Broker address, e.g. `tcp://host:1883`.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Topic (filter) to subscribe to.
    #[serde(skip_serializing_if = "is_default")]
    pub topic: String,
    /// Client identifier presented to the broker.
    #[serde(rename = "clientId", skip_serializing_if = "is_default")]
    pub client_id: String,
    /// Retry policy for connecting to the broker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_backoff: Option<Backoff>,
    /// Embed the message payload as JSON instead of as base64 bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// TLS settings of the broker connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression a message must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// User name and password for the broker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<BasicAuth>,
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

/// Subscribes to Redis pub/sub channels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct RedisEventSource {
    /// `host:port` of the Redis server.
    #[serde(skip_serializing_if = "is_default")]
    pub host_address: String,
    /// Secret key holding the Redis password, if one is needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretKeySelector>,
    /// Namespace the password secret is read from; only meaningful together with `password`.
    #[serde(skip_serializing_if = "is_default")]
    pub namespace: String,
    /// Database number; 0 when unset.
    #[serde(skip_serializing_if = "is_default")]
    pub db: i32,
    /// Channels (or patterns) to subscribe to.
    #[serde(skip_serializing_if = "is_default")]
    pub channels: Vec<String>,
    /// TLS settings of the Redis connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression a message must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// Embed the message payload as JSON instead of as a plain string.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// User name for Redis ACL authentication.
    #[serde(skip_serializing_if = "is_default")]
    pub username: String,
}

/// Reads entries from Redis streams through a consumer group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct RedisStreamEventSource {
    /// `host:port` of the Redis server (the master).
    #[serde(skip_serializing_if = "is_default")]
    pub host_address: String,
    /// Secret key holding the Redis password, if one is needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretKeySelector>,
    /// Database number; 0 when unset.
    #[serde(skip_serializing_if = "is_default")]
    pub db: i32,
    /// Streams to read from, all through the same consumer group.
    #[serde(skip_serializing_if = "is_default")]
    pub streams: Vec<String>,
    /// Upper bound on entries read per stream in one read call; 10 when unset.
    #[serde(skip_serializing_if = "is_default")]
    pub max_msg_count_per_read: i32,
    /// Consumer group created on every stream; `argo-events-cg` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub consumer_group: String,
    /// TLS settings of the Redis connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression an entry must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// User name for Redis ACL authentication.
    #[serde(skip_serializing_if = "is_default")]
    pub username: String,
}

// ---------------------------------------------------------------------------------------------
// NSQ
// ---------------------------------------------------------------------------------------------

/// Consumes messages from an NSQ topic and channel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct NSQEventSource {
    /// Address of the nsqlookupd HTTP endpoint.
    #[serde(skip_serializing_if = "is_default")]
    pub host_address: String,
    /// Topic to subscribe to.
    #[serde(skip_serializing_if = "is_default")]
    pub topic: String,
    /// Channel of the topic to read from.
    #[serde(skip_serializing_if = "is_default")]
    pub channel: String,
    /// Retry policy for connecting to NSQ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_backoff: Option<Backoff>,
    /// Embed the message body as JSON instead of as base64 bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// TLS settings of the NSQ connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression a message must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}

// ---------------------------------------------------------------------------------------------
// Pulsar
// ---------------------------------------------------------------------------------------------

/// Subscribes to Apache Pulsar topics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct PulsarEventSource {
    /// Topics to subscribe to.
    #[serde(skip_serializing_if = "is_default")]
    pub topics: Vec<String>,
    /// Subscription type: `exclusive` or `shared` (upstream's validation rejects an empty value).
    #[serde(rename = "type", skip_serializing_if = "is_default")]
    pub type_: String,
    /// Service URL of the Pulsar cluster, e.g. `pulsar://host:6650`.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Secret key holding the trusted CA certificate(s) for TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_trust_certs_secret: Option<SecretKeySelector>,
    /// Accept a broker certificate that is not trusted.
    #[serde(skip_serializing_if = "is_default")]
    pub tls_allow_insecure_connection: bool,
    /// Check that the broker certificate matches its host name.
    #[serde(skip_serializing_if = "is_default")]
    pub tls_validate_hostname: bool,
    /// TLS client certificate settings of the Pulsar connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Retry policy for connecting to Pulsar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_backoff: Option<Backoff>,
    /// Embed the message payload as JSON instead of as base64 bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Secret key holding a token for token authentication (alternative to Athenz).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token_secret: Option<SecretKeySelector>,
    /// Expression a message must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// Parameters of Athenz authentication (alternative to a token).
    #[serde(skip_serializing_if = "is_default")]
    pub auth_athenz_params: BTreeMap<String, String>,
    /// Secret key holding the Athenz private key; required with `authAthenzParams`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_athenz_secret: Option<SecretKeySelector>,
}

// ---------------------------------------------------------------------------------------------
// Emitter
// ---------------------------------------------------------------------------------------------

/// Subscribes to a channel of an Emitter (emitter.io) broker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EmitterEventSource {
    /// Broker address, e.g. `tcp://host:4000`.
    #[serde(skip_serializing_if = "is_default")]
    pub broker: String,
    /// Key granting access to the channel.
    #[serde(skip_serializing_if = "is_default")]
    pub channel_key: String,
    /// Channel to subscribe to.
    #[serde(skip_serializing_if = "is_default")]
    pub channel_name: String,
    /// Secret key holding the user name for the broker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<SecretKeySelector>,
    /// Secret key holding the password for the broker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretKeySelector>,
    /// Retry policy for connecting to the broker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_backoff: Option<Backoff>,
    /// Embed the message payload as JSON instead of as base64 bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// TLS settings of the broker connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression a message must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}
