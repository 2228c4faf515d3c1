//! Event sources that receive HTTP requests: the plain webhook and the services that call one
//! (GitHub, GitLab, Bitbucket, Bitbucket Server, Gerrit, Slack, Stripe, AWS SNS, StorageGRID).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::*;
use crate::is_default;

/// The HTTP server settings of a webhook-style event source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct WebhookContext {
    /// URL path the server routes to this event, e.g. `/push`; must start with `/`.
    #[serde(skip_serializing_if = "is_default")]
    pub endpoint: String,
    /// The only HTTP method accepted for this event (GET or POST produce events).
    #[serde(skip_serializing_if = "is_default")]
    pub method: String,
    /// Port the HTTP server listens on, written as a string (e.g. `"12000"`); events may share a port.
    #[serde(skip_serializing_if = "is_default")]
    pub port: String,
    /// Externally reachable base URL, used with `endpoint` when registering hooks at the remote service.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Secret key holding the TLS certificate; with `serverKeySecret` the server speaks HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cert_secret: Option<SecretKeySelector>,
    /// Secret key holding the TLS private key; with `serverCertSecret` the server speaks HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_key_secret: Option<SecretKeySelector>,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Secret key holding a token that requests must present as `Authorization: Bearer <token>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_secret: Option<SecretKeySelector>,
    /// Largest request body accepted, in bytes; 1048576 (1 MiB) when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_payload_size: Option<i64>,
    /// User name and password that requests must present with HTTP basic authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
}

/// A plain HTTP endpoint whose requests become events (`spec.webhook.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct WebhookEventSource {
    /// URL path the server routes to this event, e.g. `/example`; must start with `/`.
    #[serde(skip_serializing_if = "is_default")]
    pub endpoint: String,
    /// The only HTTP method accepted for this event (GET or POST produce events).
    #[serde(skip_serializing_if = "is_default")]
    pub method: String,
    /// Port the HTTP server listens on, written as a string (e.g. `"12000"`); events may share a port.
    #[serde(skip_serializing_if = "is_default")]
    pub port: String,
    /// Externally reachable base URL of the server (informational for a plain webhook).
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Secret key holding the TLS certificate; with `serverKeySecret` the server speaks HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cert_secret: Option<SecretKeySelector>,
    /// Secret key holding the TLS private key; with `serverCertSecret` the server speaks HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_key_secret: Option<SecretKeySelector>,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Secret key holding a token that requests must present as `Authorization: Bearer <token>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_secret: Option<SecretKeySelector>,
    /// Largest request body accepted, in bytes; 1048576 (1 MiB) when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_payload_size: Option<i64>,
    /// User name and password that requests must present with HTTP basic authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}

impl WebhookEventSource {
    /// The HTTP server settings of this webhook as a separate [`WebhookContext`].
    pub fn context(&self) -> WebhookContext {
        WebhookContext {
            endpoint: self.endpoint.clone(),
            method: self.method.clone(),
            port: self.port.clone(),
            url: self.url.clone(),
            server_cert_secret: self.server_cert_secret.clone(),
            server_key_secret: self.server_key_secret.clone(),
            metadata: self.metadata.clone(),
            auth_secret: self.auth_secret.clone(),
            max_payload_size: self.max_payload_size,
            basic_auth: self.basic_auth.clone(),
        }
    }
}

/// A repository owner and the names of its repositories to hook.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct OwnedRepositories {
    /// User or organization that owns the repositories.
    #[serde(skip_serializing_if = "is_default")]
    pub owner: String,
    /// Names of the repositories under `owner`.
    #[serde(skip_serializing_if = "is_default")]
    pub names: Vec<String>,
}

/// Credentials of a GitHub App, used instead of a personal token to manage hooks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct GithubAppCreds {
    /// Secret key holding the app's private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<SecretKeySelector>,
    /// Numeric id of the GitHub App.
    #[serde(rename = "appID", skip_serializing_if = "is_default")]
    pub app_id: i64,
    /// Numeric id of the app's installation.
    #[serde(rename = "installationID", skip_serializing_if = "is_default")]
    pub installation_id: i64,
}

/// GitHub repository or organization webhooks (`spec.github.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct GithubEventSource {
    /// Deprecated and unused: the id of the hook.
    #[serde(skip_serializing_if = "is_default")]
    pub id: i64,
    /// HTTP server that receives GitHub's deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookContext>,
    /// Deprecated (use `repositories`): owner of the single repository to hook.
    #[serde(skip_serializing_if = "is_default")]
    pub owner: String,
    /// Deprecated (use `repositories`): name of the single repository to hook.
    #[serde(skip_serializing_if = "is_default")]
    pub repository: String,
    /// GitHub event names the hook subscribes to, e.g. `push` or `*`.
    #[serde(skip_serializing_if = "is_default")]
    pub events: Vec<String>,
    /// Secret key holding a GitHub API token used to manage hooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_token: Option<SecretKeySelector>,
    /// Secret key holding the shared secret used to sign deliveries; no check when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<SecretKeySelector>,
    /// Let GitHub deliver to the hook URL without verifying its TLS certificate.
    #[serde(skip_serializing_if = "is_default")]
    pub insecure: bool,
    /// Whether the created hook is active and delivers events.
    #[serde(skip_serializing_if = "is_default")]
    pub active: bool,
    /// Encoding of deliveries: `json` or `form`.
    #[serde(skip_serializing_if = "is_default")]
    pub content_type: String,
    /// API base URL of a GitHub Enterprise server; set together with `githubUploadURL`.
    #[serde(rename = "githubBaseURL", skip_serializing_if = "is_default")]
    pub github_base_url: String,
    /// Upload URL of a GitHub Enterprise server; set together with `githubBaseURL`.
    #[serde(rename = "githubUploadURL", skip_serializing_if = "is_default")]
    pub github_upload_url: String,
    /// Remove the created hooks when the event source stops.
    #[serde(skip_serializing_if = "is_default")]
    pub delete_hook_on_finish: bool,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Repositories to hook, grouped by owner; not needed when `organizations` is set.
    #[serde(skip_serializing_if = "is_default")]
    pub repositories: Vec<OwnedRepositories>,
    /// Organizations to hook at organization level; not needed when `repositories` is set.
    #[serde(skip_serializing_if = "is_default")]
    pub organizations: Vec<String>,
    /// GitHub App credentials, an alternative to `apiToken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_app: Option<GithubAppCreds>,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}

/// GitLab project or group webhooks (`spec.gitlab.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct GitlabEventSource {
    /// HTTP server that receives GitLab's deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookContext>,
    /// Deprecated (use `projects`): id of the single project to hook.
    #[serde(rename = "projectID", skip_serializing_if = "is_default")]
    pub project_id: String,
    /// GitLab hook options to enable, e.g. `PushEvents`.
    #[serde(skip_serializing_if = "is_default")]
    pub events: Vec<String>,
    /// Secret key holding the GitLab API access token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<SecretKeySelector>,
    /// Whether GitLab verifies the TLS certificate of the hook URL.
    #[serde(rename = "enableSSLVerification", skip_serializing_if = "is_default")]
    pub enable_ssl_verification: bool,
    /// Base URL of the GitLab server, e.g. `https://gitlab.com`.
    #[serde(rename = "gitlabBaseURL", skip_serializing_if = "is_default")]
    pub gitlab_base_url: String,
    /// Remove the created hooks when the event source stops.
    #[serde(skip_serializing_if = "is_default")]
    pub delete_hook_on_finish: bool,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Project ids or paths (`group/project`) to hook.
    #[serde(skip_serializing_if = "is_default")]
    pub projects: Vec<String>,
    /// Secret key holding the token GitLab sends in `X-Gitlab-Token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_token: Option<SecretKeySelector>,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// Group ids or names to hook at group level.
    #[serde(skip_serializing_if = "is_default")]
    pub groups: Vec<String>,
}

/// Bitbucket Cloud repository webhooks (`spec.bitbucket.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct BitbucketEventSource {
    /// Remove the created hooks when the event source stops.
    #[serde(skip_serializing_if = "is_default")]
    pub delete_hook_on_finish: bool,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// HTTP server that receives Bitbucket's deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookContext>,
    /// Credentials used to manage hooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<BitbucketAuth>,
    /// Bitbucket event keys the hook subscribes to, e.g. `repo:push`.
    #[serde(skip_serializing_if = "is_default")]
    pub events: Vec<String>,
    /// Deprecated (use `repositories`): owner of the single repository to hook.
    #[serde(skip_serializing_if = "is_default")]
    pub owner: String,
    /// Deprecated (use `repositories`): key of the project of the repository.
    #[serde(skip_serializing_if = "is_default")]
    pub project_key: String,
    /// Deprecated (use `repositories`): slug of the single repository to hook.
    #[serde(skip_serializing_if = "is_default")]
    pub repository_slug: String,
    /// Repositories to hook.
    #[serde(skip_serializing_if = "is_default")]
    pub repositories: Vec<BitbucketRepository>,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}

/// A Bitbucket Cloud repository, by owner and slug.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct BitbucketRepository {
    /// Workspace or user that owns the repository.
    #[serde(skip_serializing_if = "is_default")]
    pub owner: String,
    /// URL-friendly name of the repository.
    #[serde(skip_serializing_if = "is_default")]
    pub repository_slug: String,
}

/// How to authenticate to Bitbucket Cloud: basic credentials or an OAuth token.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct BitbucketAuth {
    /// User name and password (or app password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic: Option<BitbucketBasicAuth>,
    /// Secret key holding an OAuth bearer token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_token: Option<SecretKeySelector>,
}

/// Bitbucket user name and password, each from a secret key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct BitbucketBasicAuth {
    /// Secret key holding the user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<SecretKeySelector>,
    /// Secret key holding the password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretKeySelector>,
}

/// Bitbucket Server (Data Center) webhooks (`spec.bitbucketserver.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct BitbucketServerEventSource {
    /// HTTP server that receives Bitbucket Server's deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookContext>,
    /// Deprecated (use `repositories`): key of the project of the single repository.
    #[serde(skip_serializing_if = "is_default")]
    pub project_key: String,
    /// Deprecated (use `repositories`): slug of the single repository to hook.
    #[serde(skip_serializing_if = "is_default")]
    pub repository_slug: String,
    /// Project keys whose repositories all get the hook.
    #[serde(skip_serializing_if = "is_default")]
    pub projects: Vec<String>,
    /// Repositories to hook.
    #[serde(skip_serializing_if = "is_default")]
    pub repositories: Vec<BitbucketServerRepository>,
    /// Bitbucket Server event keys the hook subscribes to, e.g. `repo:refs_changed`.
    #[serde(skip_serializing_if = "is_default")]
    pub events: Vec<String>,
    /// Ignore branch `repo:refs_changed` events while the branch has an open pull request.
    #[serde(
        rename = "skipBranchRefsChangedOnOpenPR",
        skip_serializing_if = "is_default"
    )]
    pub skip_branch_refs_changed_on_open_pr: bool,
    /// Publish one event per ref change of a `repo:refs_changed` delivery.
    #[serde(skip_serializing_if = "is_default")]
    pub one_event_per_change: bool,
    /// Secret key holding the API token used to manage hooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<SecretKeySelector>,
    /// Secret key holding the HMAC secret deliveries are signed with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<SecretKeySelector>,
    /// Base URL of the server's REST API, e.g. `https://bitbucket.example.com/rest`.
    #[serde(rename = "bitbucketserverBaseURL", skip_serializing_if = "is_default")]
    pub bitbucketserver_base_url: String,
    /// Remove the created hooks when the event source stops.
    #[serde(skip_serializing_if = "is_default")]
    pub delete_hook_on_finish: bool,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// TLS settings for calls to the server's API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
    /// How often to check that the hooks still exist (Go duration); `1m` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub check_interval: String,
}

/// A Bitbucket Server repository, by project key and slug.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct BitbucketServerRepository {
    /// Key of the project holding the repository.
    #[serde(skip_serializing_if = "is_default")]
    pub project_key: String,
    /// URL-friendly name of the repository.
    #[serde(skip_serializing_if = "is_default")]
    pub repository_slug: String,
}

/// Gerrit project webhooks (`spec.gerrit.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct GerritEventSource {
    /// HTTP server that receives Gerrit's deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookContext>,
    /// Name under which the hook is registered in Gerrit.
    #[serde(skip_serializing_if = "is_default")]
    pub hook_name: String,
    /// Gerrit stream event types to deliver, e.g. `patchset-created`.
    #[serde(skip_serializing_if = "is_default")]
    pub events: Vec<String>,
    /// User name and password for the Gerrit API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<BasicAuth>,
    /// Base URL of the Gerrit server.
    #[serde(rename = "gerritBaseURL", skip_serializing_if = "is_default")]
    pub gerrit_base_url: String,
    /// Remove the created hooks when the event source stops.
    #[serde(skip_serializing_if = "is_default")]
    pub delete_hook_on_finish: bool,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Project paths to hook, e.g. `argo/webhook`.
    #[serde(skip_serializing_if = "is_default")]
    pub projects: Vec<String>,
    /// Verify the Gerrit server's TLS certificate.
    #[serde(skip_serializing_if = "is_default")]
    pub ssl_verify: bool,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// How many times Gerrit retries a delivery to the hook URL.
    #[serde(skip_serializing_if = "is_default")]
    pub max_tries: i64,
}

/// Slack Events API, interactions and slash commands (`spec.slack.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SlackEventSource {
    /// Secret key holding the Slack app signing secret used to verify requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<SecretKeySelector>,
    /// Secret key holding the token for Slack's URL verification handshake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretKeySelector>,
    /// HTTP server that receives Slack's requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookContext>,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}

/// Stripe webhook notifications (`spec.stripe.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct StripeEventSource {
    /// HTTP server that receives Stripe's deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookContext>,
    /// Register the webhook endpoint at Stripe through its API.
    #[serde(skip_serializing_if = "is_default")]
    pub create_webhook: bool,
    /// Secret key holding the Stripe API key; needed when `createWebhook` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretKeySelector>,
    /// Stripe event types to keep, e.g. `charge.succeeded`; all when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub event_filter: Vec<String>,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
}

/// AWS SNS topic notifications delivered over HTTP (`spec.sns.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SNSEventSource {
    /// HTTP server that SNS delivers notifications to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookContext>,
    /// ARN of the SNS topic to subscribe to.
    #[serde(rename = "topicArn", skip_serializing_if = "is_default")]
    pub topic_arn: String,
    /// Secret key holding the AWS access key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<SecretKeySelector>,
    /// Secret key holding the AWS secret access key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<SecretKeySelector>,
    /// AWS region of the topic.
    #[serde(skip_serializing_if = "is_default")]
    pub region: String,
    /// ARN of an IAM role to assume.
    #[serde(rename = "roleARN", skip_serializing_if = "is_default")]
    pub role_arn: String,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Verify the signature of every SNS message.
    #[serde(skip_serializing_if = "is_default")]
    pub validate_signature: bool,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// SNS API endpoint to use instead of AWS's own (e.g. a local emulator).
    #[serde(skip_serializing_if = "is_default")]
    pub endpoint: String,
}

/// NetApp StorageGRID bucket notifications delivered over HTTP (`spec.storageGrid.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct StorageGridEventSource {
    /// HTTP server that StorageGRID delivers notifications to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookContext>,
    /// S3 notification names to register, e.g. `s3:ObjectCreated:*`.
    #[serde(skip_serializing_if = "is_default")]
    pub events: Vec<String>,
    /// Object key prefix and suffix the notifications must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<StorageGridFilter>,
    /// ARN of the StorageGRID notification topic.
    #[serde(rename = "topicArn", skip_serializing_if = "is_default")]
    pub topic_arn: String,
    /// Bucket to register notifications for.
    #[serde(skip_serializing_if = "is_default")]
    pub bucket: String,
    /// S3 region of the bucket; `us-east-1` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub region: String,
    /// Secret key holding the StorageGRID API token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<SecretKeySelector>,
    /// URL of the StorageGRID management API.
    #[serde(rename = "apiURL", skip_serializing_if = "is_default")]
    pub api_url: String,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// TLS settings for calls to the StorageGRID API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TLSConfig>,
}

/// Object key constraints for StorageGRID notifications.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct StorageGridFilter {
    /// Keys must start with this.
    #[serde(skip_serializing_if = "is_default")]
    pub prefix: String,
    /// Keys must end with this.
    #[serde(skip_serializing_if = "is_default")]
    pub suffix: String,
}
