//! Event sources that read from managed cloud queues and hubs: AWS SQS, GCP Pub/Sub, Azure
//! Event Hubs, Azure Service Bus, Azure Queue Storage and Alibaba Cloud MNS.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::*;
use crate::is_default;

/// Long-polls an AWS SQS queue and turns each message into an event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SQSEventSource {
    /// Secret key holding the AWS access key id; ambient credentials are used when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<SecretKeySelector>,
    /// Secret key holding the AWS secret access key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<SecretKeySelector>,
    /// AWS region of the queue.
    #[serde(skip_serializing_if = "is_default")]
    pub region: String,
    /// Name of the queue to read.
    #[serde(skip_serializing_if = "is_default")]
    pub queue: String,
    /// Seconds each receive call waits for a message before returning empty.
    #[serde(skip_serializing_if = "is_default")]
    pub wait_time_seconds: i64,
    /// ARN of an IAM role to assume before talking to SQS.
    #[serde(rename = "roleARN", skip_serializing_if = "is_default")]
    pub role_arn: String,
    /// Embed the message body as JSON instead of as a string.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// AWS account id that owns the queue, when it is not the caller's own account.
    #[serde(rename = "queueAccountId", skip_serializing_if = "is_default")]
    pub queue_account_id: String,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// A dead-letter queue is configured: leave unprocessable messages unacknowledged so they
    /// end up there (default false).
    #[serde(skip_serializing_if = "is_default")]
    pub dlq: bool,
    /// Expression a message must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// Custom SQS endpoint URL to use instead of AWS's (e.g. LocalStack).
    #[serde(skip_serializing_if = "is_default")]
    pub endpoint: String,
    /// Secret key holding an STS session token for temporary credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<SecretKeySelector>,
}

/// Pulls messages from a Google Cloud Pub/Sub subscription (creating it if needed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct PubSubEventSource {
    /// GCP project of the subscription; on GKE/GCE it defaults to the running project.
    #[serde(rename = "projectID", skip_serializing_if = "is_default")]
    pub project_id: String,
    /// GCP project of the topic; same as `projectID` when empty.
    #[serde(rename = "topicProjectID", skip_serializing_if = "is_default")]
    pub topic_project_id: String,
    /// Topic the subscription belongs to; needed to create a subscription, checked otherwise.
    #[serde(skip_serializing_if = "is_default")]
    pub topic: String,
    /// Existing subscription to use; when empty a name is derived from a hash of the settings.
    #[serde(rename = "subscriptionID", skip_serializing_if = "is_default")]
    pub subscription_id: String,
    /// Secret key holding a JSON service-account key; Workload Identity is used when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_secret: Option<SecretKeySelector>,
    /// Delete the subscription when the event source stops.
    #[serde(skip_serializing_if = "is_default")]
    pub delete_subscription_on_finish: bool,
    /// Embed the message data as JSON instead of as base64 bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression a message must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}

/// Receives events from an Azure Event Hub.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AzureEventsHubEventSource {
    /// Fully qualified host name of the Event Hubs namespace.
    #[serde(skip_serializing_if = "is_default")]
    pub fqdn: String,
    /// Secret key holding the SAS policy name; without it and `sharedAccessKey`, Azure AD
    /// credentials are used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_access_key_name: Option<SecretKeySelector>,
    /// Secret key holding the SAS key value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_access_key: Option<SecretKeySelector>,
    /// Name of the event hub.
    #[serde(skip_serializing_if = "is_default")]
    pub hub_name: String,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}

/// Receives messages from an Azure Service Bus queue or topic subscription.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AzureServiceBusEventSource {
    /// Secret key holding the connection string; without it Azure AD credentials and
    /// `fullyQualifiedNamespace` are used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<SecretKeySelector>,
    /// Queue to read; use either this or `topicName` with `subscriptionName`.
    #[serde(skip_serializing_if = "is_default")]
    pub queue_name: String,
    /// Topic whose subscription is read.
    #[serde(skip_serializing_if = "is_default")]
    pub topic_name: String,
    /// Subscription of `topicName` to read.
    #[serde(skip_serializing_if = "is_default")]
    pub subscription_name: String,
    /// TLS settings of the Service Bus client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// Embed the message body as JSON instead of as base64 bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression a message must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// Namespace host name (e.g. `x.servicebus.windows.net`) for Azure AD access; ignored when
    /// a connection string is given.
    #[serde(skip_serializing_if = "is_default")]
    pub fully_qualified_namespace: String,
    /// Lock messages and delete them only after successful processing, instead of deleting on
    /// receipt (default false).
    #[serde(skip_serializing_if = "is_default")]
    pub defer_delete: bool,
}

/// Polls an Azure Storage queue.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AzureQueueStorageEventSource {
    /// Storage account holding the queue, for Azure AD access; ignored when a connection
    /// string is given.
    #[serde(skip_serializing_if = "is_default")]
    pub storage_account_name: String,
    /// Secret key holding the storage connection string; Azure AD is used when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<SecretKeySelector>,
    /// Name of the queue to poll.
    #[serde(skip_serializing_if = "is_default")]
    pub queue_name: String,
    /// Embed the message text as JSON instead of as a string.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// A dead-letter setup exists: leave unprocessable messages in the queue (default false).
    #[serde(skip_serializing_if = "is_default")]
    pub dlq: bool,
    /// Extra key/value pairs copied into every event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression a message must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// Base64-decode each message before `jsonBody` is applied.
    #[serde(skip_serializing_if = "is_default")]
    pub decode_message: bool,
    /// Seconds to pause after an empty poll; 3 when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_time_in_seconds: Option<i32>,
}

/// Receives messages from an Alibaba Cloud MNS queue.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct MNSEventSource {
    /// Secret key holding the Alibaba Cloud access key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<SecretKeySelector>,
    /// Secret key holding the Alibaba Cloud access key secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<SecretKeySelector>,
    /// Name of the queue to read.
    #[serde(skip_serializing_if = "is_default")]
    pub queue: String,
    /// Embed the message body as JSON instead of as a string.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// MNS endpoint URL of the account and region.
    #[serde(skip_serializing_if = "is_default")]
    pub endpoint: String,
    /// Expression a message must satisfy before it is published as an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}
