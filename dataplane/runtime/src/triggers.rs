//! Trigger execution: performs what the Sensor engine rendered (`argo_events_engine::render`)
//! for one firing — a Kubernetes object, an Argo Workflow, an HTTP request, a NATS message or a
//! log line — and judges the outcome with the trigger's policy.
//!
//! Supported kinds: `k8s`, `argoWorkflow` (through the Kubernetes API, not the `argo` CLI),
//! `http`, `nats` and `log`. Every other kind is refused with [`TriggerError::Unsupported`].
//! Retries (`retryStrategy`), rate limits and metrics are the caller's: [`Executor::execute`]
//! runs one attempt, and [`TriggerError::is_retryable`] says whether another may help.

mod http;
mod k8s;
mod nats;
mod workflow;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argo_events_api::TriggerPolicy;
use argo_events_api::cloudevent::Event;
use argo_events_engine::render::Rendered;
use argo_events_eventsource::secrets::SecretReader;
use serde_json::Value;

/// Label on created objects naming the Sensor (upstream's key).
pub const LABEL_SENSOR: &str = "events.argoproj.io/sensor";
/// Label on created objects naming the trigger (upstream's key).
pub const LABEL_TRIGGER: &str = "events.argoproj.io/trigger";
/// Label on created objects with the creation time in milliseconds since the epoch.
pub const LABEL_ACTION_TIMESTAMP: &str = "events.argoproj.io/action-timestamp";
/// Field manager of every write to the Kubernetes API (server-side apply included).
pub const FIELD_MANAGER: &str = "argo-events-sensor";
/// Where upstream mounts the ConfigMaps a Sensor references (`<root>/<name>/<key>`).
pub const DEFAULT_CONFIG_ROOT: &str = "/argo-events/config";
/// The trigger kinds [`Executor`] performs.
pub const SUPPORTED_KINDS: &[&str] = &["k8s", "argoWorkflow", "http", "nats", "log"];

/// How `k8s` and `argoWorkflow` triggers reach Kubernetes.
#[derive(Clone)]
pub enum KubeTarget {
    /// A real API server.
    Client(kube::Client),
    /// No API server: objects and patches are handed to [`ActionSink::print_resource`] and
    /// the action counts as done (local runs, dry runs).
    Print,
    /// No API server and no printing: such triggers fail with this reason.
    Unavailable(String),
}

/// Everything trigger execution needs from the process that runs the Sensor.
#[derive(Clone)]
pub struct TriggerContext {
    /// The Sensor's name (the `events.argoproj.io/sensor` label).
    pub sensor: String,
    /// The Sensor's namespace: the namespace of objects that name none.
    pub namespace: String,
    /// Secret values referenced by trigger specs.
    pub secrets: Arc<dyn SecretReader>,
    /// How Kubernetes is reached.
    pub kube: KubeTarget,
    /// The HTTP client of `http` triggers without TLS settings (per-request timeouts are set
    /// by the trigger).
    pub http: reqwest::Client,
    /// Where log lines and printed resources go.
    pub sink: Arc<dyn ActionSink>,
}

/// Receives what triggers write rather than send.
pub trait ActionSink: Send + Sync {
    /// A `log` trigger's message.
    fn log(&self, trigger: &str, message: &str);
    /// An object (or patch) a `k8s` / `argoWorkflow` trigger would send, in print mode;
    /// `operation` is the trigger's operation (`create`, `patch`, `submit`, `suspend`, …).
    fn print_resource(&self, trigger: &str, operation: &str, resource: &Value);
}

/// What a successful action did, for logs and `run` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResult {
    /// One line, e.g. `created argoproj.io/v1alpha1 Workflow argo-events/build-x7k2p` or
    /// `POST http://svc/hook → 200`.
    pub summary: String,
}

impl ActionResult {
    fn new(summary: impl Into<String>) -> Self {
        ActionResult {
            summary: summary.into(),
        }
    }
}

/// Why one execution of a trigger failed.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The trigger kind has no implementation here.
    #[error(
        "the {kind} trigger is not supported yet; supported kinds: k8s, argoWorkflow, http, nats, log"
    )]
    Unsupported {
        /// The action kind (`kafka`, `slack`, …).
        kind: String,
    },
    /// The rendered trigger cannot be performed as written (missing name, unknown operation,
    /// bad URL, unsupported option…).
    #[error("trigger {trigger}: {message}")]
    InvalidSpec {
        /// Trigger name.
        trigger: String,
        /// What is wrong.
        message: String,
    },
    /// A secret or config map value could not be read.
    #[error("trigger {trigger}: {message}")]
    Secret {
        /// Trigger name.
        trigger: String,
        /// Which value, and why.
        message: String,
    },
    /// The HTTP request got no response (connection refused, timeout, TLS…).
    #[error("trigger {trigger}: {method} {url} failed: {source}")]
    HttpRequest {
        /// Trigger name.
        trigger: String,
        /// Request method.
        method: String,
        /// Request URL.
        url: String,
        /// The client error.
        #[source]
        source: reqwest::Error,
    },
    /// The response status is not in the trigger's `policy.status.allow`.
    #[error("trigger {trigger}: {method} {url}: http response status {status} is not allowed")]
    HttpStatus {
        /// Trigger name.
        trigger: String,
        /// Request method.
        method: String,
        /// Request URL.
        url: String,
        /// The response status.
        status: u16,
    },
    /// No connection to the NATS server.
    #[error("trigger {trigger}: connecting to NATS at {url} failed: {message}")]
    NatsConnect {
        /// Trigger name.
        trigger: String,
        /// Server URL.
        url: String,
        /// The client error.
        message: String,
    },
    /// The NATS message was not published (or not flushed to the server).
    #[error("trigger {trigger}: publishing on subject {subject} at {url} failed: {message}")]
    NatsPublish {
        /// Trigger name.
        trigger: String,
        /// Server URL.
        url: String,
        /// Subject.
        subject: String,
        /// The client error.
        message: String,
    },
    /// A Kubernetes API call failed.
    #[error("trigger {trigger}: {operation} {target} failed: {source}")]
    Kube {
        /// Trigger name.
        trigger: String,
        /// What was attempted (`create`, `get`, `patch`, `discover`…).
        operation: String,
        /// The object, e.g. `apps/v1 Deployment default/web`.
        target: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The trigger needs Kubernetes and this process has no API server.
    #[error("trigger {trigger}: no Kubernetes API server: {why}")]
    KubeUnavailable {
        /// Trigger name.
        trigger: String,
        /// Why there is none.
        why: String,
    },
    /// `policy.k8s` with `errorOnBackoffTimeout`: the object never got the labels.
    #[error(
        "trigger {trigger}: failed to determine status of the triggered resource {target}: \
         labels {labels} not present after {attempts} checks (policy.k8s.errorOnBackoffTimeout)"
    )]
    PolicyTimeout {
        /// Trigger name.
        trigger: String,
        /// The object polled.
        target: String,
        /// The awaited labels, `k=v,…`.
        labels: String,
        /// How many times it was read.
        attempts: u32,
    },
    /// One attempt took longer than the trigger's timeout and was abandoned.
    #[error("trigger {trigger}: the {kind} action did not finish within {after:?}")]
    TimedOut {
        /// Trigger name.
        trigger: String,
        /// The action kind.
        kind: String,
        /// The timeout.
        after: Duration,
    },
    /// An Argo Workflow operation that needs the Argo Server's API.
    #[error(
        "trigger {trigger}: argoWorkflow operation {operation:?} needs the Argo Server API, which \
         this Sensor does not use (it drives Workflows through the Kubernetes API); `submit` of \
         a new Workflow, `submit-from`, `suspend`, `resume`, `terminate` and `stop` work"
    )]
    WorkflowOperation {
        /// Trigger name.
        trigger: String,
        /// `retry` or `resubmit`.
        operation: String,
    },
}

impl TriggerError {
    /// Whether another attempt may succeed: network errors, timeouts, 5xx/429 answers and
    /// conflicts are; invalid specs, missing secrets, 4xx answers and refusals are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            TriggerError::HttpRequest { source, .. } => !source.is_builder(),
            TriggerError::HttpStatus { status, .. } => retryable_status(*status),
            TriggerError::NatsConnect { .. }
            | TriggerError::NatsPublish { .. }
            | TriggerError::TimedOut { .. } => true,
            TriggerError::Kube { source, .. } => kube_retryable(source),
            TriggerError::Unsupported { .. }
            | TriggerError::InvalidSpec { .. }
            | TriggerError::Secret { .. }
            | TriggerError::KubeUnavailable { .. }
            | TriggerError::PolicyTimeout { .. }
            | TriggerError::WorkflowOperation { .. } => false,
        }
    }
}

/// 408, 429 and 5xx may pass on another attempt.
fn retryable_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

fn kube_retryable(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 409 || retryable_status(status.code),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Performs rendered triggers. One per Sensor; it keeps the state upstream keeps per trigger
/// (the log trigger's last time, NATS connections, TLS HTTP clients) and the API discovery
/// cache.
pub struct Executor {
    ctx: TriggerContext,
    config_root: PathBuf,
    last_logged: Mutex<HashMap<String, Instant>>,
    nats: tokio::sync::Mutex<HashMap<String, async_nats::Client>>,
    tls_clients: Mutex<HashMap<String, reqwest::Client>>,
    discovery: Mutex<HashMap<(String, String), k8s::Discovered>>,
}

impl Executor {
    /// An executor over a context; ConfigMap values are read under [`DEFAULT_CONFIG_ROOT`].
    pub fn new(ctx: TriggerContext) -> Self {
        Executor {
            ctx,
            config_root: PathBuf::from(DEFAULT_CONFIG_ROOT),
            last_logged: Mutex::new(HashMap::new()),
            nats: tokio::sync::Mutex::new(HashMap::new()),
            tls_clients: Mutex::new(HashMap::new()),
            discovery: Mutex::new(HashMap::new()),
        }
    }

    /// Reads ConfigMap values (`configMapKeyRef` secure headers) under `root` instead.
    pub fn with_config_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.config_root = root.into();
        self
    }

    /// The context this executor was built with.
    pub fn context(&self) -> &TriggerContext {
        &self.ctx
    }

    /// Performs one attempt of a rendered trigger. `events` are the events of the firing
    /// (dependency name → event); `policy` is the trigger's `policy`.
    pub async fn execute(
        &self,
        trigger_name: &str,
        rendered: &Rendered,
        events: &BTreeMap<String, Event>,
        policy: Option<&TriggerPolicy>,
    ) -> Result<ActionResult, TriggerError> {
        let started = Instant::now();
        let result = match rendered.kind {
            "log" => self.log(trigger_name, rendered),
            "http" => http::execute(self, trigger_name, rendered, policy).await,
            "nats" => nats::execute(self, trigger_name, rendered).await,
            "k8s" => k8s::execute(self, trigger_name, rendered, events, policy).await,
            "argoWorkflow" => workflow::execute(self, trigger_name, rendered, policy).await,
            other => Err(TriggerError::Unsupported {
                kind: other.to_owned(),
            }),
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(done) => tracing::info!(
                sensor = %self.ctx.sensor,
                trigger = trigger_name,
                kind = rendered.kind,
                elapsed_ms,
                summary = %done.summary,
                "trigger executed"
            ),
            Err(error) => tracing::warn!(
                sensor = %self.ctx.sensor,
                trigger = trigger_name,
                kind = rendered.kind,
                elapsed_ms,
                retryable = error.is_retryable(),
                %error,
                "trigger failed"
            ),
        }
        result
    }

    /// The log trigger: the rendered message to the sink, at most once per `intervalSeconds`
    /// per trigger (a skipped message is still a success, as upstream).
    fn log(&self, trigger: &str, rendered: &Rendered) -> Result<ActionResult, TriggerError> {
        let interval = rendered
            .template
            .log
            .as_ref()
            .map_or(0, |l| l.interval_seconds);
        let message = match &rendered.output {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let now = Instant::now();
        {
            let mut last = self
                .last_logged
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(previous) = last.get(trigger)
                && now.duration_since(*previous) < Duration::from_secs(interval)
            {
                return Ok(ActionResult::new(format!(
                    "not logged: last message less than {interval}s ago (intervalSeconds)"
                )));
            }
            last.insert(trigger.to_owned(), now);
        }
        self.ctx.sink.log(trigger, &message);
        Ok(ActionResult::new("logged"))
    }

    /// A secret value, or an error naming what it is for.
    fn secret(
        &self,
        trigger: &str,
        what: &str,
        selector: &argo_events_api::SecretKeySelector,
    ) -> Result<String, TriggerError> {
        self.ctx
            .secrets
            .read(selector)
            .map_err(|e| TriggerError::Secret {
                trigger: trigger.to_owned(),
                message: format!("{what}: {e}"),
            })
    }

    /// A ConfigMap value from the mounted volume (`<config root>/<name>/<key>`).
    fn config_value(
        &self,
        trigger: &str,
        what: &str,
        selector: &argo_events_api::ConfigMapKeySelector,
    ) -> Result<String, TriggerError> {
        let path = self.config_root.join(&selector.name).join(&selector.key);
        std::fs::read_to_string(&path)
            .map(|v| v.trim_end_matches('\n').to_owned())
            .map_err(|e| TriggerError::Secret {
                trigger: trigger.to_owned(),
                message: format!(
                    "{what}: config map {}/{} ({}): {e}",
                    selector.name,
                    selector.key,
                    path.display()
                ),
            })
    }
}

/// An [`TriggerError::InvalidSpec`].
fn invalid(trigger: &str, message: impl Into<String>) -> TriggerError {
    TriggerError::InvalidSpec {
        trigger: trigger.to_owned(),
        message: message.into(),
    }
}

/// Milliseconds since the epoch, as upstream writes `events.argoproj.io/action-timestamp`.
fn action_timestamp() -> String {
    chrono::Utc::now().timestamp_millis().to_string()
}

/// Adds the three labels upstream puts on objects a trigger creates.
fn add_trigger_labels(object: &mut Value, sensor: &str, trigger: &str) {
    let Some(meta) = metadata_mut(object) else {
        return;
    };
    let labels = meta
        .entry("labels")
        .or_insert_with(|| Value::Object(Default::default()));
    if !labels.is_object() {
        *labels = Value::Object(Default::default());
    }
    if let Value::Object(labels) = labels {
        labels.insert(LABEL_SENSOR.into(), Value::String(sensor.to_owned()));
        labels.insert(LABEL_TRIGGER.into(), Value::String(trigger.to_owned()));
        labels.insert(
            LABEL_ACTION_TIMESTAMP.into(),
            Value::String(action_timestamp()),
        );
    }
}

/// `metadata` of an object, created when absent; `None` when `object` is not an object.
fn metadata_mut(object: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    let meta = object
        .as_object_mut()?
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    if !meta.is_object() {
        *meta = Value::Object(Default::default());
    }
    meta.as_object_mut()
}

/// A string field of `metadata` (empty when absent).
fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A top-level string field (empty when absent).
fn top_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object.get(field).and_then(Value::as_str).unwrap_or("")
}

/// `ns/name` or `name`.
fn qualified(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_owned(),
    }
}

/// An [`ActionSink`] for pods: log messages and printed resources go to the log.
pub struct LogSink;

impl ActionSink for LogSink {
    fn log(&self, trigger: &str, message: &str) {
        tracing::info!(trigger, message, "log trigger");
    }

    fn print_resource(&self, trigger: &str, operation: &str, resource: &serde_json::Value) {
        tracing::info!(trigger, operation, resource = %resource, "resource (print mode)");
    }
}
