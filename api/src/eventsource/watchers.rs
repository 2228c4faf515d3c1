//! Event sources that watch or poll something themselves: timers, Kubernetes objects, local,
//! SFTP and HDFS files, and user-provided gRPC servers.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::*;
use crate::is_default;

/// A timer that fires on a cron schedule or at a fixed interval (`spec.calendar.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct CalendarEventSource {
    /// Five-field cron expression (minute hour day-of-month month day-of-week); wins over `interval`.
    #[serde(skip_serializing_if = "is_default")]
    pub schedule: String,
    /// Fixed delay between events as a Go duration, e.g. `10s`; used when `schedule` is empty.
    #[serde(skip_serializing_if = "is_default")]
    pub interval: String,
    /// Dates on which no event fires, each written `EXDATE:YYYYMMDDTHHMMSSZ[,...]`.
    #[serde(skip_serializing_if = "is_default")]
    pub exclusion_dates: Vec<String>,
    /// IANA time zone the schedule is evaluated in; UTC when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub timezone: String,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Where the last fire is remembered, so missed fires can be replayed after a restart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistence: Option<EventPersistence>,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}

/// How a calendar remembers its last fire.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EventPersistence {
    /// Whether and how far back missed fires are replayed on start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catchup: Option<CatchupConfiguration>,
    /// ConfigMap the last event is stored in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapPersistence>,
}

/// Replay of fires missed while the event source was down.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct CatchupConfiguration {
    /// Emit the missed fires when the event source starts.
    #[serde(skip_serializing_if = "is_default")]
    pub enabled: bool,
    /// Only replay fires at most this old (Go duration); unbounded when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub max_duration: String,
}

/// The ConfigMap a calendar stores its last event in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ConfigMapPersistence {
    /// Name of the ConfigMap.
    #[serde(skip_serializing_if = "is_default")]
    pub name: String,
    /// Create the ConfigMap when it does not exist yet.
    #[serde(skip_serializing_if = "is_default")]
    pub create_if_not_exist: bool,
}

/// Changes to Kubernetes objects of one resource type (`spec.resource.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceEventSource {
    /// Namespace to watch; all namespaces when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub namespace: String,
    /// Constraints on which objects produce events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<ResourceFilter>,
    /// API group of the resource; empty for the core group.
    #[serde(skip_serializing_if = "is_default")]
    pub group: String,
    /// API version of the resource, e.g. `v1`.
    #[serde(skip_serializing_if = "is_default")]
    pub version: String,
    /// Plural resource name, e.g. `pods`.
    #[serde(skip_serializing_if = "is_default")]
    pub resource: String,
    /// Kinds of change to report: `ADD`, `UPDATE` and/or `DELETE`.
    #[serde(skip_serializing_if = "is_default")]
    pub event_types: Vec<String>,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
}

/// Constraints on the Kubernetes objects a resource event source reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceFilter {
    /// Object names must start with this.
    #[serde(skip_serializing_if = "is_default")]
    pub prefix: String,
    /// Label conditions, passed to the watch as a label selector.
    #[serde(skip_serializing_if = "is_default")]
    pub labels: Vec<Selector>,
    /// Conditions on arbitrary object fields (paths such as `spec.serviceAccountName`, regex values).
    #[serde(skip_serializing_if = "is_default")]
    pub fields: Vec<Selector>,
    /// Only objects created before this time (RFC 3339) produce events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<Time>,
    /// Drop changes that happened before the event source started.
    #[serde(skip_serializing_if = "is_default")]
    pub after_start: bool,
}

/// One condition on a label or field of a Kubernetes object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Selector {
    /// Label key or field path.
    #[serde(skip_serializing_if = "is_default")]
    pub key: String,
    /// Comparison such as `==`, `!=`, `in` or `exists`; `=` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub operation: String,
    /// Value to compare with; comma-separated for `in`/`notin`, a regex for fields.
    #[serde(skip_serializing_if = "is_default")]
    pub value: String,
}

/// Changes to files in a directory of the event source's pod (`spec.file.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct FileEventSource {
    /// File operation to report: `CREATE`, `WRITE`, `REMOVE`, `RENAME` or `CHMOD`.
    #[serde(skip_serializing_if = "is_default")]
    pub event_type: String,
    /// Directory and file name (or pattern) to watch.
    #[serde(skip_serializing_if = "is_default")]
    pub watch_path_config: WatchPathConfig,
    /// Poll the directory instead of using inotify.
    #[serde(skip_serializing_if = "is_default")]
    pub polling: bool,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}

/// Changes to files on an SFTP server, found by polling (`spec.sftp.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SFTPEventSource {
    /// File operation to report, e.g. `CREATE` or `REMOVE`.
    #[serde(skip_serializing_if = "is_default")]
    pub event_type: String,
    /// Remote directory and file name (or pattern) to watch.
    #[serde(skip_serializing_if = "is_default")]
    pub watch_path_config: WatchPathConfig,
    /// Secret key holding the SFTP user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<SecretKeySelector>,
    /// Secret key holding the SFTP password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretKeySelector>,
    /// Secret key holding an SSH private key to log in with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_key_secret: Option<SecretKeySelector>,
    /// Secret key holding the server address (`host:port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<SecretKeySelector>,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
    /// Time between two polls of the server (Go duration); `10s` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub poll_interval_duration: String,
}

/// Changes to files in an HDFS directory, found by polling (`spec.hdfs.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct HDFSEventSource {
    /// Absolute HDFS directory to watch.
    #[serde(skip_serializing_if = "is_default")]
    pub directory: String,
    /// File name to watch, relative to `directory`.
    #[serde(skip_serializing_if = "is_default")]
    pub path: String,
    /// RE2 regular expression file names must match (instead of `path`).
    #[serde(skip_serializing_if = "is_default")]
    pub path_regexp: String,
    /// File operation to report, e.g. `CREATE`.
    #[serde(rename = "type", skip_serializing_if = "is_default")]
    pub type_: String,
    /// Time between two checks of the directory (Go duration); `1m` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub check_interval: String,
    /// Addresses (`host:port`) of the HDFS name nodes.
    #[serde(skip_serializing_if = "is_default")]
    pub addresses: Vec<String>,
    /// HDFS user to act as; ignored when Kerberos is used.
    #[serde(skip_serializing_if = "is_default")]
    pub hdfs_user: String,
    /// Secret key holding a Kerberos credential cache (one of ccache or keytab).
    #[serde(rename = "krbCCacheSecret", skip_serializing_if = "Option::is_none")]
    pub krb_c_cache_secret: Option<SecretKeySelector>,
    /// Secret key holding a Kerberos keytab (one of ccache or keytab).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub krb_keytab_secret: Option<SecretKeySelector>,
    /// Kerberos user name; required with a keytab.
    #[serde(skip_serializing_if = "is_default")]
    pub krb_username: String,
    /// Kerberos realm; required with a keytab.
    #[serde(skip_serializing_if = "is_default")]
    pub krb_realm: String,
    /// ConfigMap key holding the Kerberos configuration (`krb5.conf`); required with Kerberos.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub krb_config_config_map: Option<ConfigMapKeySelector>,
    /// Kerberos principal of the HDFS service; required with Kerberos.
    #[serde(skip_serializing_if = "is_default")]
    pub krb_service_principal_name: String,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}

impl HDFSEventSource {
    /// The watched directory and file of this source as a separate [`WatchPathConfig`].
    pub fn watch_path_config(&self) -> WatchPathConfig {
        WatchPathConfig {
            directory: self.directory.clone(),
            path: self.path.clone(),
            path_regexp: self.path_regexp.clone(),
        }
    }
}

/// Events streamed from a user-provided gRPC server (`spec.generic.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct GenericEventSource {
    /// Address of the gRPC server implementing the event source.
    #[serde(skip_serializing_if = "is_default")]
    pub url: String,
    /// Configuration text handed to the server as is.
    #[serde(skip_serializing_if = "is_default")]
    pub config: String,
    /// Connect without TLS.
    #[serde(skip_serializing_if = "is_default")]
    pub insecure: bool,
    /// Treat event payloads as JSON rather than raw bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub json_body: bool,
    /// Extra key-value pairs copied into each event's `metadata`.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: BTreeMap<String, String>,
    /// Secret key holding a bearer token sent to the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_secret: Option<SecretKeySelector>,
    /// Expression an event must satisfy before it is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventSourceFilter>,
}
