//! What a resource event source makes of one change: whether its type is watched, whether an
//! UPDATE changed anything, whether the object passes `filter`, and the event data.
//!
//! Upstream's rules, in upstream's order (`passFilters` in its `start.go`):
//!
//! - only the `eventTypes` listed produce events;
//! - an UPDATE whose new resourceVersion equals the old one is dropped (informer resyncs and
//!   relists of unchanged objects);
//! - `filter.prefix`: the object's name must start with it;
//! - `filter.afterStart`: the change must not be older than the source's start. A change's
//!   time is, for ADD, `creationTimestamp`; for UPDATE, the latest `time` of a
//!   `managedFields` entry with operation `Update` when later than `creationTimestamp`
//!   (server-side `Apply` entries do not count), else `creationTimestamp`; for DELETE,
//!   `deletionTimestamp`, or now when the object has none. Timestamps have whole seconds, so
//!   an object created in the same second the source started counts as older;
//! - `filter.createdBy`: objects created after that time are dropped;
//! - `filter.fields`: each `key` is a gjson path over the object's JSON and must exist; its
//!   value — a JSON string's text, the empty string for any other JSON value (gjson's `Str`)
//!   — is matched against `value`, an unanchored Go regex. Operation `=` or `==` needs a
//!   match, `!=` needs none; any other operation, the empty one included, and an invalid
//!   regex drop every object (upstream logs them per event; here they are also warned about
//!   once, when the source starts).
//!
//! The data is `{"type", "body", "oldBody", "group", "version", "resource", "metadata"}` in
//! that order: `type` `ADD`/`UPDATE`/`DELETE`, `body` the object (for DELETE its last state),
//! `oldBody` the previous state for UPDATE and `null` otherwise, the source's group, version
//! and resource as written, `metadata` left out when empty.

use std::collections::BTreeMap;

use argo_events_api::{ResourceEventSource, ResourceFilter};
use argo_events_engine::datafilter::compile_go_regex;
use argo_events_engine::jsonpath::{self, Kind};
use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::Value;

use super::gojson;
use super::informer::Change;

/// The kind of a change, as `eventTypes` and the event's `type` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeType {
    Add,
    Update,
    Delete,
}

impl ChangeType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ChangeType::Add => "ADD",
            ChangeType::Update => "UPDATE",
            ChangeType::Delete => "DELETE",
        }
    }

    fn parse(s: &str) -> Option<ChangeType> {
        match s {
            "ADD" => Some(ChangeType::Add),
            "UPDATE" => Some(ChangeType::Update),
            "DELETE" => Some(ChangeType::Delete),
            _ => None,
        }
    }
}

/// Why a change produces no event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Its type is not in `eventTypes`.
    NotWatched,
    /// An UPDATE that kept the resourceVersion.
    Unchanged(String),
    /// A filter dropped it; the text says which and why.
    Filtered(String),
}

/// One `filter.fields` entry, compiled.
struct FieldRule {
    key: String,
    operation: String,
    pattern: Result<Regex, String>,
}

/// The checked rules of one resource event.
pub(crate) struct Rules {
    types: Vec<ChangeType>,
    prefix: String,
    after_start: bool,
    created_by: Option<DateTime<Utc>>,
    fields: Vec<FieldRule>,
    group: String,
    version: String,
    resource: String,
    metadata: BTreeMap<String, String>,
}

impl Rules {
    /// Checks `eventTypes` and compiles the filter. The warnings are `filter.fields` entries
    /// that will drop every object (upstream accepts them too).
    pub(crate) fn new(spec: &ResourceEventSource) -> Result<(Rules, Vec<String>), String> {
        if spec.event_types.is_empty() {
            return Err("event types must be specified".into());
        }
        let mut types = Vec::new();
        for t in &spec.event_types {
            match ChangeType::parse(t) {
                Some(t) => types.push(t),
                None => {
                    return Err(format!(
                        "unknown event type: {t} (eventTypes takes ADD, UPDATE and DELETE)"
                    ));
                }
            }
        }
        let filter = spec.filter.clone().unwrap_or_default();
        let mut warnings = Vec::new();
        let fields = filter
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let pattern = compile_go_regex(&f.value);
                if let Err(e) = &pattern {
                    warnings.push(format!(
                        "filter.fields[{i}] (key {}): value {:?} is not a valid regex, so every \
                         object is dropped: {e}",
                        f.key, f.value
                    ));
                }
                if !matches!(f.operation.as_str(), "=" | "==" | "!=") {
                    warnings.push(format!(
                        "filter.fields[{i}] (key {}): operation {:?} is not one of =, ==, != \
                         (upstream does not default it), so every object is dropped",
                        f.key, f.operation
                    ));
                }
                FieldRule {
                    key: f.key.clone(),
                    operation: f.operation.clone(),
                    pattern,
                }
            })
            .collect();
        Ok((
            Rules {
                types,
                prefix: filter.prefix.clone(),
                after_start: filter.after_start,
                created_by: created_by(&filter),
                fields,
                group: spec.group.clone(),
                version: spec.version.clone(),
                resource: spec.resource.clone(),
                metadata: spec.metadata.clone(),
            },
            warnings,
        ))
    }

    /// The event data of `change`, or why there is none. `start` is when the source started,
    /// `now` the current time (the event time of a DELETE without `deletionTimestamp`).
    pub(crate) fn event_data(
        &self,
        change: &Change,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, Skip> {
        let (change_type, object, old) = match change {
            Change::Add(o) => (ChangeType::Add, o, None),
            Change::Update { old, new } => (ChangeType::Update, new, Some(old)),
            Change::Delete(o) => (ChangeType::Delete, o, None),
        };
        if !self.types.contains(&change_type) {
            return Err(Skip::NotWatched);
        }
        if let Some(old) = old {
            let rv = |o: &Value| o["metadata"]["resourceVersion"].as_str().map(str::to_owned);
            if rv(object) == rv(old) {
                return Err(Skip::Unchanged(format!(
                    "update with an identical resourceVersion {}",
                    rv(object).unwrap_or_default()
                )));
            }
        }
        let body = gojson::encode(object);
        self.check_filter(change_type, object, &body, start, now)
            .map_err(Skip::Filtered)?;
        let old_body = old.map(|o| gojson::encode(o));
        Ok(self.payload(change_type, &body, old_body.as_deref()))
    }

    fn check_filter(
        &self,
        change_type: ChangeType,
        object: &Value,
        body: &str,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let meta = &object["metadata"];
        let name = meta["name"].as_str().unwrap_or_default();
        if !name.starts_with(&self.prefix) {
            return Err(format!(
                "name {name:?} does not start with prefix {:?}",
                self.prefix
            ));
        }
        if self.after_start {
            let at = event_time(object, change_type, now);
            if at < start {
                return Err(format!(
                    "the change ({} at {}) happened before the source started ({})",
                    change_type.as_str(),
                    at.to_rfc3339(),
                    start.to_rfc3339()
                ));
            }
        }
        if let Some(limit) = self.created_by {
            let created = go_time(&meta["creationTimestamp"]);
            if created > limit {
                return Err(format!(
                    "created at {}, after createdBy {}",
                    created.to_rfc3339(),
                    limit.to_rfc3339()
                ));
            }
        }
        for field in &self.fields {
            field.check(body)?;
        }
        Ok(())
    }

    fn payload(&self, change_type: ChangeType, body: &str, old_body: Option<&str>) -> Vec<u8> {
        let mut out = String::with_capacity(body.len() + old_body.map_or(4, str::len) + 128);
        out.push_str("{\"type\":");
        out.push_str(&gojson::encode_str(change_type.as_str()));
        out.push_str(",\"body\":");
        out.push_str(body);
        out.push_str(",\"oldBody\":");
        out.push_str(old_body.unwrap_or("null"));
        for (key, value) in [
            ("group", &self.group),
            ("version", &self.version),
            ("resource", &self.resource),
        ] {
            out.push_str(&format!(",\"{key}\":"));
            out.push_str(&gojson::encode_str(value));
        }
        if !self.metadata.is_empty() {
            out.push_str(",\"metadata\":{");
            for (i, (key, value)) in self.metadata.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&gojson::encode_str(key));
                out.push(':');
                out.push_str(&gojson::encode_str(value));
            }
            out.push('}');
        }
        out.push('}');
        out.into_bytes()
    }
}

impl FieldRule {
    fn check(&self, body: &str) -> Result<(), String> {
        let Some(found) = jsonpath::get(body, &self.key) else {
            return Err(format!("field {} does not exist", self.key));
        };
        let pattern = self
            .pattern
            .as_ref()
            .map_err(|e| format!("field {}: invalid regex: {e}", self.key))?;
        let text = match found.kind() {
            Kind::String => found.go_string(),
            _ => String::new(),
        };
        let matched = pattern.is_match(&text);
        match self.operation.as_str() {
            "=" | "==" if !matched => Err(format!(
                "field {} = {text:?} does not match {:?}",
                self.key,
                pattern.as_str()
            )),
            "!=" if matched => Err(format!(
                "field {} = {text:?} matches {:?}",
                self.key,
                pattern.as_str()
            )),
            "=" | "==" | "!=" => Ok(()),
            other => Err(format!(
                "field {}: operation {other:?} is not one of =, ==, !=",
                self.key
            )),
        }
    }
}

/// `filter.createdBy`, unless absent or Go's zero time.
fn created_by(filter: &ResourceFilter) -> Option<DateTime<Utc>> {
    let t = filter.created_by.as_ref()?;
    let at = DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)?;
    (at != go_zero()).then_some(at)
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z), what a missing timestamp decodes to.
fn go_zero() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A `metav1.Time` field: RFC 3339, Go's zero time when absent, null or unreadable.
fn go_time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map_or_else(go_zero, |t| t.with_timezone(&Utc))
}

/// When a change happened, as upstream's `getEventTime` decides.
fn event_time(object: &Value, change_type: ChangeType, now: DateTime<Utc>) -> DateTime<Utc> {
    let meta = &object["metadata"];
    let created = go_time(&meta["creationTimestamp"]);
    match change_type {
        ChangeType::Add => created,
        ChangeType::Delete => match go_time(&meta["deletionTimestamp"]) {
            t if t == go_zero() => now,
            t => t,
        },
        ChangeType::Update => meta["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["operation"] == "Update" && f["time"].is_string())
            .map(|f| go_time(&f["time"]))
            .fold(created, DateTime::max),
    }
}

#[cfg(test)]
mod tests;
