//! Sensor triggers: the action templates (Kubernetes objects, Argo Workflows, HTTP, messaging
//! systems, notifications, ...), their parameters, retry and rate-limit settings and policies.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::*;
use crate::eventsource::{GithubAppCreds, NATSAuth, SchemaRegistryConfig};
use crate::is_default;

/// One action of a Sensor, with how it is parameterized, retried, throttled and judged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Trigger {
    /// What the trigger does; required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<TriggerTemplate>,
    /// Parameters written into the trigger template itself before it runs.
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
    /// How success of the action is decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<TriggerPolicy>,
    /// Retry settings for the whole execution; absent means a single attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_strategy: Option<Backoff>,
    /// Upper bound on how often the trigger runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Run the trigger before acknowledging the event (at-least-once); false (the default)
    /// acknowledges first (at-most-once).
    #[serde(skip_serializing_if = "is_default")]
    pub at_least_once: bool,
    /// Trigger run when retries are exhausted; needs `atLeastOnce` here and on itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dlq_trigger: Option<Box<Trigger>>,
}

/// Throttle for a trigger: at most `requestsPerUnit` executions per `unit`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct RateLimit {
    /// `Second` (the default when empty), `Minute` or `Hour`.
    #[serde(skip_serializing_if = "is_default")]
    pub unit: String,
    /// Number of executions allowed per unit.
    #[serde(skip_serializing_if = "is_default")]
    pub requests_per_unit: i32,
}

/// The name, firing condition and action of a trigger; exactly one action key is expected.
///
/// The actions are boxed: inline, the fifteen of them made a trigger about 6.8 KB whichever
/// one it used, and a Sensor with 10 000 triggers took 160 MiB to decode in the admission
/// server (`cargo bench -p argo-events-webhook --bench memory`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TriggerTemplate {
    /// Name of the trigger, unique within the Sensor.
    #[serde(skip_serializing_if = "is_default")]
    pub name: String,
    /// Expression of dependency names with `&&`, `||` and parentheses; empty means all
    /// dependencies joined with `&&`.
    #[serde(skip_serializing_if = "is_default")]
    pub conditions: String,
    /// Creates, updates, patches or deletes a Kubernetes object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8s: Option<Box<StandardK8STrigger>>,
    /// Operates on an Argo Workflow through the `argo` CLI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argo_workflow: Option<Box<ArgoWorkflowTrigger>>,
    /// Sends an HTTP request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Box<HTTPTrigger>>,
    /// Invokes an AWS Lambda function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_lambda: Option<Box<AWSLambdaTrigger>>,
    /// Hands the action to an external gRPC trigger server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<Box<CustomTrigger>>,
    /// Produces a message on a Kafka topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<Box<KafkaTrigger>>,
    /// Publishes a message on a NATS subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats: Option<Box<NATSTrigger>>,
    /// Posts a Slack message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack: Option<Box<SlackTrigger>>,
    /// Invokes an OpenWhisk action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_whisk: Option<Box<OpenWhiskTrigger>>,
    /// Writes the events to the Sensor's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<Box<LogTrigger>>,
    /// Sends an event to an Azure Event Hub.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_event_hubs: Option<Box<AzureEventHubsTrigger>>,
    /// Produces a message on a Pulsar topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pulsar: Option<Box<PulsarTrigger>>,
    /// Schedules that clear the partially satisfied condition state.
    #[serde(skip_serializing_if = "is_default")]
    pub conditions_reset: Vec<ConditionsResetCriteria>,
    /// Sends a message to an Azure Service Bus queue or topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_service_bus: Option<Box<AzureServiceBusTrigger>>,
    /// Sends an email over SMTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Box<EmailTrigger>>,
}

impl TriggerTemplate {
    /// JSON key of the action that runs: the first one set, in upstream's order of
    /// preference; `None` when no action is set.
    pub fn kind(&self) -> Option<&'static str> {
        let set = [
            ("k8s", self.k8s.is_some()),
            ("argoWorkflow", self.argo_workflow.is_some()),
            ("http", self.http.is_some()),
            ("awsLambda", self.aws_lambda.is_some()),
            ("azureEventHubs", self.azure_event_hubs.is_some()),
            ("azureServiceBus", self.azure_service_bus.is_some()),
            ("kafka", self.kafka.is_some()),
            ("pulsar", self.pulsar.is_some()),
            ("nats", self.nats.is_some()),
            ("slack", self.slack.is_some()),
            ("openWhisk", self.open_whisk.is_some()),
            ("custom", self.custom.is_some()),
            ("log", self.log.is_some()),
            ("email", self.email.is_some()),
        ];
        set.into_iter().find(|(_, on)| *on).map(|(key, _)| key)
    }
}

/// One way of clearing a trigger's stored dependency state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ConditionsResetCriteria {
    /// Clear the state on a cron schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_time: Option<ConditionsResetByTime>,
}

/// A cron schedule on which stored dependency state is cleared.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ConditionsResetByTime {
    /// Five-field cron expression.
    #[serde(skip_serializing_if = "is_default")]
    pub cron: String,
    /// IANA time zone of the schedule; UTC when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub timezone: String,
}

/// Acts on a Kubernetes object read from an artifact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct StandardK8STrigger {
    /// Where the object's manifest comes from; required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ArtifactLocation>,
    /// `create` (the default when empty), `update`, `patch` or `delete`.
    #[serde(skip_serializing_if = "is_default")]
    pub operation: String,
    /// Parameters written into the fetched object.
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
    /// Patch content type for `patch`; `application/merge-patch+json` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub patch_strategy: String,
    /// For `update`: read the current object from the cluster instead of using the artifact.
    #[serde(skip_serializing_if = "is_default")]
    pub live_object: bool,
}

/// Acts on an Argo Workflow with the `argo` command-line tool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ArgoWorkflowTrigger {
    /// Where the workflow manifest comes from; required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ArtifactLocation>,
    /// `submit`, `submit-from`, `suspend`, `resubmit`, `retry`, `resume`, `terminate` or
    /// `stop`; must be set.
    #[serde(skip_serializing_if = "is_default")]
    pub operation: String,
    /// Parameters written into the fetched workflow.
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
    /// Extra arguments passed to the `argo` command.
    #[serde(skip_serializing_if = "is_default")]
    pub args: Vec<String>,
}

/// Where a trigger's Kubernetes manifest is read from; one location is expected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ArtifactLocation {
    /// An object in an S3-compatible bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Artifact>,
    /// The manifest written inline as a YAML or JSON string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    /// A file on the Sensor pod's filesystem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileArtifact>,
    /// A document fetched over HTTP(S).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<URLArtifact>,
    /// A key of a ConfigMap (mounted into the Sensor pod).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configmap: Option<ConfigMapKeySelector>,
    /// A file in a Git repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<GitArtifact>,
    /// The object embedded directly as YAML/JSON, kept as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<serde_json::Value>,
}

/// A manifest stored in a local file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct FileArtifact {
    /// Path of the file.
    #[serde(skip_serializing_if = "is_default")]
    pub path: String,
}

/// A manifest fetched from a URL.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct URLArtifact {
    /// The full URL.
    #[serde(skip_serializing_if = "is_default")]
    pub path: String,
    /// Verify the server's TLS certificate; false by default.
    #[serde(skip_serializing_if = "is_default")]
    pub verify_cert: bool,
}

/// A manifest stored in a Git repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct GitArtifact {
    /// Repository URL.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Local directory the repository is cloned into.
    #[serde(skip_serializing_if = "is_default")]
    pub clone_directory: String,
    /// User name and password for HTTPS access.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creds: Option<GitCreds>,
    /// Secret key holding an SSH private key for SSH access.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_key_secret: Option<SecretKeySelector>,
    /// Path of the manifest inside the repository.
    #[serde(skip_serializing_if = "is_default")]
    pub file_path: String,
    /// Branch to check out.
    #[serde(skip_serializing_if = "is_default")]
    pub branch: String,
    /// Tag to check out.
    #[serde(skip_serializing_if = "is_default")]
    pub tag: String,
    /// Ref to fetch with a shallow clone.
    #[serde(rename = "ref", skip_serializing_if = "is_default")]
    pub ref_: String,
    /// Remote to fetch from; `origin` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<GitRemoteConfig>,
    /// Skip verification of the SSH host key.
    #[serde(skip_serializing_if = "is_default")]
    pub insecure_ignore_host_key: bool,
    /// GitHub App credentials used to access the repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_app: Option<GithubAppCreds>,
}

/// A named Git remote.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct GitRemoteConfig {
    /// Name of the remote.
    #[serde(skip_serializing_if = "is_default")]
    pub name: String,
    /// URLs of the remote; the first one is fetched from.
    #[serde(skip_serializing_if = "is_default")]
    pub urls: Vec<String>,
}

/// Git user name and password, each from a secret key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct GitCreds {
    /// Secret key holding the user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<SecretKeySelector>,
    /// Secret key holding the password or token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretKeySelector>,
}

/// Sends an HTTP request built from event data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct HTTPTrigger {
    /// URL the request is sent to; required.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Parameters that build the JSON request body; an entry with an empty `dest` supplies
    /// the whole body.
    #[serde(skip_serializing_if = "is_default")]
    pub payload: Vec<TriggerParameter>,
    /// TLS settings of the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// `GET`, `DELETE`, `PATCH`, `POST` or `PUT`; `POST` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub method: String,
    /// Parameters written into this HTTP trigger's own fields.
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
    /// Request timeout in seconds; 60 when zero.
    #[serde(skip_serializing_if = "is_default")]
    pub timeout: i64,
    /// Basic authentication for the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Fixed request headers.
    #[serde(skip_serializing_if = "is_default")]
    pub headers: BTreeMap<String, String>,
    /// Request headers whose values come from secrets or config maps.
    #[serde(skip_serializing_if = "is_default")]
    pub secure_headers: Vec<SecureHeader>,
    /// Request headers whose values come from the events; `dest` is the header name.
    #[serde(skip_serializing_if = "is_default")]
    pub dynamic_headers: Vec<TriggerParameter>,
    /// Value of the `Host` header, for virtual hosting.
    #[serde(skip_serializing_if = "is_default")]
    pub host: String,
}

/// A header whose value is read from a secret or config map.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SecureHeader {
    /// Header name.
    #[serde(skip_serializing_if = "is_default")]
    pub name: String,
    /// Where the header value is read from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ValueFromSource>,
}

/// A value read from a key of a secret or of a config map.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ValueFromSource {
    /// Secret key holding the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeySelector>,
    /// Config map key holding the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<ConfigMapKeySelector>,
}

/// Invokes an AWS Lambda function with a payload built from event data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AWSLambdaTrigger {
    /// Name of the function; required.
    #[serde(skip_serializing_if = "is_default")]
    pub function_name: String,
    /// Secret key holding the AWS access key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<SecretKeySelector>,
    /// Secret key holding the AWS secret access key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<SecretKeySelector>,
    /// AWS region of the function; required.
    #[serde(skip_serializing_if = "is_default")]
    pub region: String,
    /// Parameters that build the JSON invocation payload; required.
    #[serde(skip_serializing_if = "is_default")]
    pub payload: Vec<TriggerParameter>,
    /// Parameters written into this trigger's own fields.
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
    /// `RequestResponse` (synchronous, the default), `Event` (asynchronous) or `DryRun`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_type: Option<String>,
    /// ARN of an IAM role to assume before invoking.
    #[serde(rename = "roleARN", skip_serializing_if = "is_default")]
    pub role_arn: String,
}

/// Sends an event to an Azure Event Hub.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AzureEventHubsTrigger {
    /// Namespace host name, e.g. `<namespace>.servicebus.windows.net`.
    #[serde(skip_serializing_if = "is_default")]
    pub fqdn: String,
    /// Name of the Event Hub.
    #[serde(skip_serializing_if = "is_default")]
    pub hub_name: String,
    /// Secret key holding the shared access key name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_access_key_name: Option<SecretKeySelector>,
    /// Secret key holding the shared access key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_access_key: Option<SecretKeySelector>,
    /// Parameters that build the JSON message.
    #[serde(skip_serializing_if = "is_default")]
    pub payload: Vec<TriggerParameter>,
    /// Parameters written into this trigger's own fields.
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
}

/// Sends a message to an Azure Service Bus queue or topic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AzureServiceBusTrigger {
    /// Secret key holding the connection string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<SecretKeySelector>,
    /// Queue to send to (instead of a topic).
    #[serde(skip_serializing_if = "is_default")]
    pub queue_name: String,
    /// Topic to send to (instead of a queue).
    #[serde(skip_serializing_if = "is_default")]
    pub topic_name: String,
    /// Subscription of the topic.
    #[serde(skip_serializing_if = "is_default")]
    pub subscription_name: String,
    /// TLS settings of the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Parameters that build the JSON message.
    #[serde(skip_serializing_if = "is_default")]
    pub payload: Vec<TriggerParameter>,
    /// Parameters written into this trigger's own fields.
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
}

/// Produces a message on a Kafka topic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct KafkaTrigger {
    /// Comma-separated broker addresses; required.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Topic to produce to; required.
    #[serde(skip_serializing_if = "is_default")]
    pub topic: String,
    /// Deprecated and ignored: partition to produce to.
    #[serde(skip_serializing_if = "is_default")]
    pub partition: i32,
    /// Parameters written into this trigger's own fields.
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
    /// Broker acknowledgements the producer waits for; 1 (leader only) when zero.
    #[serde(skip_serializing_if = "is_default")]
    pub required_acks: i32,
    /// Compress messages with snappy; off by default.
    #[serde(skip_serializing_if = "is_default")]
    pub compress: bool,
    /// How often batches are flushed, in milliseconds; 500 when zero.
    #[serde(skip_serializing_if = "is_default")]
    pub flush_frequency: i32,
    /// TLS settings of the producer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Parameters that build the JSON message; required.
    #[serde(skip_serializing_if = "is_default")]
    pub payload: Vec<TriggerParameter>,
    /// Message key used to choose the partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitioning_key: Option<String>,
    /// Kafka protocol version to speak; 1.0.0 when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub version: String,
    /// SASL authentication of the producer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sasl: Option<SASLConfig>,
    /// Schema registry used to encode messages as Avro.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<SchemaRegistryConfig>,
    /// Fixed message headers.
    #[serde(skip_serializing_if = "is_default")]
    pub headers: BTreeMap<String, String>,
    /// Message headers whose values come from secrets or config maps.
    #[serde(skip_serializing_if = "is_default")]
    pub secure_headers: Vec<SecureHeader>,
}

/// Produces a message on a Pulsar topic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct PulsarTrigger {
    /// Service URL of the Pulsar cluster.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Topic to produce to.
    #[serde(skip_serializing_if = "is_default")]
    pub topic: String,
    /// Parameters written into this trigger's own fields.
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
    /// Parameters that build the JSON message.
    #[serde(skip_serializing_if = "is_default")]
    pub payload: Vec<TriggerParameter>,
    /// Secret key holding the trusted TLS certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_trust_certs_secret: Option<SecretKeySelector>,
    /// Accept untrusted broker certificates.
    #[serde(skip_serializing_if = "is_default")]
    pub tls_allow_insecure_connection: bool,
    /// Check the broker's host name against its certificate.
    #[serde(skip_serializing_if = "is_default")]
    pub tls_validate_hostname: bool,
    /// TLS settings of the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Secret key holding an authentication token (instead of Athenz).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token_secret: Option<SecretKeySelector>,
    /// Retry settings for connecting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_backoff: Option<Backoff>,
    /// Athenz authentication parameters (instead of a token).
    #[serde(skip_serializing_if = "is_default")]
    pub auth_athenz_params: BTreeMap<String, String>,
    /// Secret key holding the Athenz private key; needed with `authAthenzParams`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_athenz_secret: Option<SecretKeySelector>,
}

/// Publishes a message on a NATS subject.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct NATSTrigger {
    /// URL of the NATS server; required.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Subject to publish on; required.
    #[serde(skip_serializing_if = "is_default")]
    pub subject: String,
    /// Parameters that build the JSON message; required.
    #[serde(skip_serializing_if = "is_default")]
    pub payload: Vec<TriggerParameter>,
    /// Parameters written into this trigger's own fields.
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
    /// TLS settings of the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Authentication with the NATS server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<NATSAuth>,
}

/// Calls a user-provided gRPC trigger server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct CustomTrigger {
    /// Address of the gRPC server; required.
    #[serde(rename = "serverURL", skip_serializing_if = "is_default")]
    pub server_url: String,
    /// Connect with TLS; needs `certSecret`.
    #[serde(skip_serializing_if = "is_default")]
    pub secure: bool,
    /// Secret key holding the certificate for the TLS connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_secret: Option<SecretKeySelector>,
    /// Server name expected in the server's certificate.
    #[serde(skip_serializing_if = "is_default")]
    pub server_name_override: String,
    /// Free-form specification passed to the server, which knows how to read it; required.
    #[serde(skip_serializing_if = "is_default")]
    pub spec: BTreeMap<String, String>,
    /// Parameters written into the resource the server returns.
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
    /// Parameters that build the JSON payload sent to the server.
    #[serde(skip_serializing_if = "is_default")]
    pub payload: Vec<TriggerParameter>,
}

/// Sends an email through an SMTP server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EmailTrigger {
    /// Parameters written into this trigger's own fields (e.g. `body`, `to`).
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
    /// User name for the SMTP server.
    #[serde(skip_serializing_if = "is_default")]
    pub username: String,
    /// Secret key holding the SMTP password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_password: Option<SecretKeySelector>,
    /// SMTP server host; required.
    #[serde(skip_serializing_if = "is_default")]
    pub host: String,
    /// SMTP server port (0 to 65535).
    #[serde(skip_serializing_if = "is_default")]
    pub port: i32,
    /// Recipient addresses.
    #[serde(skip_serializing_if = "is_default")]
    pub to: Vec<String>,
    /// Sender address.
    #[serde(skip_serializing_if = "is_default")]
    pub from: String,
    /// Subject line.
    #[serde(skip_serializing_if = "is_default")]
    pub subject: String,
    /// Message text.
    #[serde(skip_serializing_if = "is_default")]
    pub body: String,
}

/// Posts a message to Slack.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SlackTrigger {
    /// Parameters written into this trigger's own fields (e.g. `message`).
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
    /// Secret key holding the Slack token; required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_token: Option<SecretKeySelector>,
    /// Channel to post to.
    #[serde(skip_serializing_if = "is_default")]
    pub channel: String,
    /// Message text.
    #[serde(skip_serializing_if = "is_default")]
    pub message: String,
    /// Slack attachments, as a JSON array in a string.
    #[serde(skip_serializing_if = "is_default")]
    pub attachments: String,
    /// Slack blocks, as a JSON array in a string.
    #[serde(skip_serializing_if = "is_default")]
    pub blocks: String,
    /// Settings for posting into a thread.
    #[serde(skip_serializing_if = "is_default")]
    pub thread: SlackThread,
    /// How the posting app presents itself.
    #[serde(skip_serializing_if = "is_default")]
    pub sender: SlackSender,
}

/// Name and icon shown for the Slack app that posts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SlackSender {
    /// Display name of the app.
    #[serde(skip_serializing_if = "is_default")]
    pub username: String,
    /// Emoji code (e.g. `:robot_face:`) or image URL used as the icon.
    #[serde(skip_serializing_if = "is_default")]
    pub icon: String,
}

/// Groups Slack messages into threads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SlackThread {
    /// Messages with the same key go to the same thread.
    #[serde(skip_serializing_if = "is_default")]
    pub message_aggregation_key: String,
    /// Also show thread replies in the channel.
    #[serde(skip_serializing_if = "is_default")]
    pub broadcast_message_to_channel: bool,
}

/// Invokes an OpenWhisk action.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct OpenWhiskTrigger {
    /// OpenWhisk host URL; required.
    #[serde(skip_serializing_if = "is_default")]
    pub host: String,
    /// API version; `v1` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub version: String,
    /// Namespace of the action; `_` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub namespace: String,
    /// Secret key holding the authentication token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<SecretKeySelector>,
    /// Name of the action; required.
    #[serde(skip_serializing_if = "is_default")]
    pub action_name: String,
    /// Parameters that build the JSON invocation payload; required.
    #[serde(skip_serializing_if = "is_default")]
    pub payload: Vec<TriggerParameter>,
    /// Parameters written into this trigger's own fields.
    #[serde(skip_serializing_if = "is_default")]
    pub parameters: Vec<TriggerParameter>,
}

/// Writes the triggering events to the Sensor's log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct LogTrigger {
    /// Log at most once per this many seconds; 0 logs every time.
    #[serde(skip_serializing_if = "is_default")]
    pub interval_seconds: u64,
}

/// A value taken from an event and written at a path of a JSON document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TriggerParameter {
    /// Where the value comes from; required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<TriggerParameterSource>,
    /// sjson path the value is written to (`-1` appends to an array).
    #[serde(skip_serializing_if = "is_default")]
    pub dest: String,
    /// `overwrite` (also when empty), `append` or `prepend` to the existing value.
    #[serde(skip_serializing_if = "is_default")]
    pub operation: String,
}

/// Where a parameter's value is read from in a dependency's event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TriggerParameterSource {
    /// Name of the dependency whose event is read; required.
    #[serde(skip_serializing_if = "is_default")]
    pub dependency_name: String,
    /// gjson path into the event's context.
    #[serde(skip_serializing_if = "is_default")]
    pub context_key: String,
    /// Go template (with sprig) over the context as `.Input`; tried before `contextKey`.
    #[serde(skip_serializing_if = "is_default")]
    pub context_template: String,
    /// gjson path into the event's data.
    #[serde(skip_serializing_if = "is_default")]
    pub data_key: String,
    /// Go template (with sprig) over the data as `.Input`; tried before `dataKey`.
    #[serde(skip_serializing_if = "is_default")]
    pub data_template: String,
    /// Literal fallback when nothing else resolves (or when the dependency has no event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Insert non-string values (numbers, booleans, objects) as raw JSON instead of text.
    #[serde(skip_serializing_if = "is_default")]
    pub use_raw_data: bool,
}

/// Rules deciding whether a trigger run succeeded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TriggerPolicy {
    /// For `k8s` and `argoWorkflow` triggers: wait for labels on the created object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8s: Option<K8SResourcePolicy>,
    /// For HTTP-like triggers: accepted response status codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusPolicy>,
}

/// Polls a created Kubernetes object until it carries the given labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct K8SResourcePolicy {
    /// Labels that mark the object as successful.
    #[serde(skip_serializing_if = "is_default")]
    pub labels: BTreeMap<String, String>,
    /// Polling schedule; upstream's default backoff when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Count the run as failed when polling ends without a match.
    #[serde(skip_serializing_if = "is_default")]
    pub error_on_backoff_timeout: bool,
}

/// Response status codes that count as success.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct StatusPolicy {
    /// Accepted status codes; any other fails the run.
    #[serde(skip_serializing_if = "is_default")]
    pub allow: Vec<i32>,
}
