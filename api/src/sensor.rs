//! The `Sensor` kind: which events it waits for (dependencies, with filters and transforms) and
//! what it does once they arrive (triggers).

mod trigger;
pub use trigger::*;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::*;
use crate::is_default;

/// A Sensor: listens on an EventBus for events of its dependencies and runs its triggers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Sensor {
    /// API group and version, `argoproj.io/v1alpha1`.
    #[serde(skip_serializing_if = "is_default")]
    pub api_version: String,
    /// Object kind, `Sensor`.
    #[serde(skip_serializing_if = "is_default")]
    pub kind: String,
    /// Standard Kubernetes object metadata (name, namespace, labels, ...).
    pub metadata: ObjectMeta,
    /// What the Sensor depends on and what it triggers.
    pub spec: SensorSpec,
    /// State reported by the controller.
    #[serde(skip_serializing_if = "is_default")]
    pub status: SensorStatus,
}

impl Sensor {
    /// The `kind` of this resource.
    pub const KIND: &str = "Sensor";
}

/// Desired state of a Sensor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SensorSpec {
    /// Events the Sensor listens for; at least one is required.
    #[serde(skip_serializing_if = "is_default")]
    pub dependencies: Vec<EventDependency>,
    /// Actions the Sensor performs; at least one is required and names must be unique.
    #[serde(skip_serializing_if = "is_default")]
    pub triggers: Vec<Trigger>,
    /// Customisation of the Sensor's pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<Template>,
    /// Meant to put the Sensor into an error state after a failed trigger round; accepted but
    /// not acted upon by upstream.
    #[serde(skip_serializing_if = "is_default")]
    pub error_on_failed_round: bool,
    /// Name of the EventBus to read events from; `default` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub event_bus_name: String,
    /// Number of Sensor pods; 1 when unset, and never less than 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// How many old Deployment revisions to keep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Extra key-value pairs intended for log lines (has no effect upstream).
    #[serde(skip_serializing_if = "is_default")]
    pub logging_fields: BTreeMap<String, String>,
}

/// One event the Sensor waits for, identified by EventSource name and event name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EventDependency {
    /// Name of the dependency, unique in the Sensor; used by trigger conditions and parameters.
    #[serde(skip_serializing_if = "is_default")]
    pub name: String,
    /// Name of the EventSource object that produces the event.
    #[serde(skip_serializing_if = "is_default")]
    pub event_source_name: String,
    /// Name of the event inside that EventSource (its map key).
    #[serde(skip_serializing_if = "is_default")]
    pub event_name: String,
    /// Conditions an event must meet to count for this dependency; none means every event counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<EventDependencyFilter>,
    /// Rewrite of the event data applied before filtering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transform: Option<EventDependencyTransformer>,
    /// How the different kinds of filter combine: `and` (the default when empty) or `or`.
    #[serde(skip_serializing_if = "is_default")]
    pub filters_logical_operator: String,
}

/// Rewrite of an event's data, with jq or a Lua script (jq wins when both are set).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EventDependencyTransformer {
    /// A jq program whose first output object replaces the event data.
    #[serde(skip_serializing_if = "is_default")]
    pub jq: String,
    /// A Lua script that receives the data as `event` and returns the new data table.
    #[serde(skip_serializing_if = "is_default")]
    pub script: String,
}

/// The filters of a dependency; each kind that is set takes part in the decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EventDependencyFilter {
    /// Daily time window the event must fall into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeFilter>,
    /// Exact values some CloudEvent attributes must have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<EventContext>,
    /// Comparisons of values found at paths in the event data.
    #[serde(skip_serializing_if = "is_default")]
    pub data: Vec<DataFilter>,
    /// Boolean expressions over named values taken from the event data.
    #[serde(skip_serializing_if = "is_default")]
    pub exprs: Vec<ExprFilter>,
    /// How the `data` filters combine: `and` (the default when empty) or `or`.
    #[serde(skip_serializing_if = "is_default")]
    pub data_logical_operator: String,
    /// How the `exprs` filters combine: `and` (the default when empty) or `or`.
    #[serde(skip_serializing_if = "is_default")]
    pub expr_logical_operator: String,
    /// A Lua script given the data as `event`; the event passes when it returns `true`.
    #[serde(skip_serializing_if = "is_default")]
    pub script: String,
}

/// A daily window, in `HH:MM:SS`, during which events pass; it wraps past midnight when
/// `stop` is earlier than `start`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TimeFilter {
    /// Beginning of the window (inclusive), `HH:MM:SS`.
    #[serde(skip_serializing_if = "is_default")]
    pub start: String,
    /// End of the window (exclusive), `HH:MM:SS`.
    #[serde(skip_serializing_if = "is_default")]
    pub stop: String,
    /// IANA time zone the window is read in; UTC when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub timezone: String,
}

/// The CloudEvent attributes of an event; as a filter, every non-empty field among `type`,
/// `subject`, `source` and `datacontenttype` must match exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct EventContext {
    /// Identifier of the event, unique per producer.
    #[serde(skip_serializing_if = "is_default")]
    pub id: String,
    /// The producer: the EventSource object name.
    #[serde(skip_serializing_if = "is_default")]
    pub source: String,
    /// CloudEvents specification version, `1.0`.
    #[serde(skip_serializing_if = "is_default")]
    pub specversion: String,
    /// Type of the EventSource that produced the event, e.g. `webhook`.
    #[serde(rename = "type", skip_serializing_if = "is_default")]
    pub type_: String,
    /// Media type of the event data, normally `application/json`.
    #[serde(skip_serializing_if = "is_default")]
    pub datacontenttype: String,
    /// Name of the event inside its EventSource.
    #[serde(skip_serializing_if = "is_default")]
    pub subject: String,
    /// When the EventSource emitted the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
}

/// A comparison of the value found at a path in the event data against allowed values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct DataFilter {
    /// gjson path into the event data, e.g. `body.action`.
    #[serde(skip_serializing_if = "is_default")]
    pub path: String,
    /// How the value is compared: `string` (regular expressions), `number` or `bool`.
    #[serde(rename = "type", skip_serializing_if = "is_default")]
    pub type_: String,
    /// Accepted values; the filter passes when any of them matches.
    #[serde(skip_serializing_if = "is_default")]
    pub value: Vec<String>,
    /// One of `>=`, `>`, `=`, `!=`, `<`, `<=`; `=` when empty.
    #[serde(skip_serializing_if = "is_default")]
    pub comparator: String,
    /// Go template (with sprig) applied to the found value, as `.Input`, before comparing.
    #[serde(skip_serializing_if = "is_default")]
    pub template: String,
}

/// A boolean expression over values picked out of the event data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ExprFilter {
    /// The expression, referring to the names bound in `fields`.
    #[serde(skip_serializing_if = "is_default")]
    pub expr: String,
    /// Names bound to values in the event data for use in `expr`.
    #[serde(skip_serializing_if = "is_default")]
    pub fields: Vec<PayloadField>,
}

/// Binds a name to the value at a path in the event data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct PayloadField {
    /// gjson path into the event data.
    #[serde(skip_serializing_if = "is_default")]
    pub path: String,
    /// Name under which the value is visible to the expression.
    #[serde(skip_serializing_if = "is_default")]
    pub name: String,
}

/// Observed state of a Sensor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SensorStatus {
    /// Conditions `DependenciesProvided`, `TriggersProvided` and `Deployed`, sorted by type.
    #[serde(skip_serializing_if = "is_default")]
    pub conditions: Vec<Condition>,
}
