//! The admission decision over an `admission.k8s.io/v1` AdmissionReview, as a pure function:
//! the HTTP server only parses the body and writes back what [`review`] returns.
//!
//! Validation runs the same decisions as `lint` (decoding, upstream's validation, naming,
//! references, EventBus presence, RBAC, pitfalls) with the incoming object placed into the
//! snapshot of cluster facts; errors deny, warnings become `response.warnings`. As upstream:
//! DELETE and CONNECT are always allowed (a delete or a finalizer removal is never blocked), an
//! UPDATE that leaves `metadata.generation` unchanged is allowed as is, and an EventBus UPDATE
//! may not change the implementation, switch NATS native and exotic, change `auth` or change
//! `spec.jetstream.streamConfig`.
//!
//! The policy bundle ([`crate::policy`]) is evaluated on the incoming object too
//! ([`try_review_with_policies`]).
//!
//! Mutation (`mutate: true`) writes upstream's defaults ([`argo_events_api::defaults`]) and
//! answers the difference as a JSON patch.

use argo_events_api::gocompat::Decoded;
use argo_events_api::manifest::{self, DocKind, Object};
use argo_events_api::{EventBus, defaults};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::lint::Severity;
use crate::policy::{self, Policy};
use crate::rules;
use crate::snapshot::{DEFAULT_NAMESPACE, Entry, Snapshot};
use crate::validate::{self, FieldError};

/// `apiVersion` of the AdmissionReview this answers.
pub const ADMISSION_API_VERSION: &str = "admission.k8s.io/v1";

/// Document index given to the incoming object in the snapshot, so its findings can be told
/// from those of the objects already there.
const INCOMING: usize = usize::MAX;

/// Why an AdmissionReview could not be answered at all: it has no readable `request.uid`, so
/// there is nothing to address a response to (the HTTP layer answers 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedReview {
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for MalformedReview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed AdmissionReview: {}", self.message)
    }
}

impl std::error::Error for MalformedReview {}

/// The answer to an AdmissionReview request, before it is wrapped into one.
#[derive(Debug, Clone, PartialEq, Default)]
struct Decision {
    allowed: bool,
    /// Denial message (only when not allowed).
    message: Option<String>,
    warnings: Vec<String>,
    /// JSON patch (mutation only).
    patch: Option<Value>,
}

impl Decision {
    fn allow() -> Self {
        Decision {
            allowed: true,
            ..Decision::default()
        }
    }

    fn deny(message: String) -> Self {
        Decision {
            allowed: false,
            message: Some(message),
            ..Decision::default()
        }
    }
}

/// Answers an AdmissionReview (v1 JSON) with an AdmissionReview response. A review without a
/// readable `request.uid` is answered with an empty uid and `allowed: false`; a server should
/// call [`try_review`] and answer 400 instead.
pub fn review(request: &Value, snapshot: &Snapshot, mutate: bool) -> Value {
    try_review(request, snapshot, mutate).unwrap_or_else(|e| {
        wrap(
            "",
            &Decision::deny(format!("malformed AdmissionReview: {}", e.message)),
        )
    })
}

/// Answers an AdmissionReview, or says why there is no uid to answer to.
pub fn try_review(
    review: &Value,
    snapshot: &Snapshot,
    mutate: bool,
) -> Result<Value, MalformedReview> {
    try_review_with_policies(review, snapshot, mutate, &[])
}

/// [`try_review`], with the policy bundle evaluated on the incoming object when validating:
/// violations of `deny` policies deny, those of `warn` policies become warnings, written as
/// `<path>: <message> [policy:<name>]`.
pub fn try_review_with_policies(
    review: &Value,
    snapshot: &Snapshot,
    mutate: bool,
    policies: &[Policy],
) -> Result<Value, MalformedReview> {
    let malformed = |message: &str| MalformedReview {
        message: message.to_owned(),
    };
    if !review.is_object() {
        return Err(malformed("the body is not a JSON object"));
    }
    let request = review
        .get("request")
        .filter(|r| r.is_object())
        .ok_or_else(|| malformed("no request object"))?;
    let uid = request
        .get("uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| malformed("request.uid is missing or not a string"))?;
    Ok(wrap(uid, &decide(request, snapshot, mutate, policies)))
}

fn wrap(uid: &str, d: &Decision) -> Value {
    let mut response = json!({"uid": uid, "allowed": d.allowed});
    if let Some(message) = &d.message {
        response["status"] = json!({
            "metadata": {},
            "status": "Failure",
            "code": 400,
            "reason": "BadRequest",
            "message": message,
        });
    }
    if !d.warnings.is_empty() {
        response["warnings"] = json!(d.warnings);
    }
    if let Some(patch) = &d.patch {
        let bytes = serde_json::to_vec(patch)
            .unwrap_or_else(|e| unreachable!("invariant: JSON values always encode: {e}"));
        response["patchType"] = json!("JSONPatch");
        response["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    json!({
        "apiVersion": ADMISSION_API_VERSION,
        "kind": "AdmissionReview",
        "response": response,
    })
}

/// The decision for the `request` of a review that has a uid.
fn decide(request: &Value, snapshot: &Snapshot, mutate: bool, policies: &[Policy]) -> Decision {
    let operation = request
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or("");
    match operation {
        "CREATE" | "UPDATE" => {}
        // DELETE, CONNECT: never blocked (deletes and finalizer removal must go through).
        "DELETE" | "CONNECT" => return Decision::allow(),
        other => return Decision::deny(format!("unsupported operation {other:?}")),
    }
    let Some(object) = request.get("object").filter(|o| o.is_object()) else {
        return Decision::deny(format!("{operation} request without an object"));
    };
    let old = request.get("oldObject").filter(|o| o.is_object());
    if operation == "UPDATE"
        && let Some(old) = old
        && generation(old) == generation(object)
    {
        // Upstream: a change that does not bump the generation (metadata, status) is allowed.
        return Decision::allow();
    }
    let kind = match manifest::classify(object) {
        DocKind::Ours(kind) => kind,
        // Not one of ours (a misconfigured rule): not ours to judge.
        _ => return Decision::allow(),
    };
    let decoded = match manifest::decode_object(object) {
        Some(Ok(decoded)) => decoded,
        Some(Err(e)) => {
            if mutate {
                // Nothing to default; the validating webhook denies it.
                return Decision::allow();
            }
            return Decision::deny(format!("invalid {kind}: {}: {}", e.path, e.message));
        }
        None => return Decision::allow(),
    };
    if mutate {
        return Decision {
            patch: defaults_patch(&decoded.value),
            ..Decision::allow()
        };
    }
    let namespace = request
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .or_else(|| {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
        })
        .unwrap_or(DEFAULT_NAMESPACE)
        .to_owned();
    let (mut errors, mut warnings) = findings(&decoded, old, operation, &namespace, snapshot);
    for v in policy::evaluate(policies, object, &namespace) {
        let line = format!("{}: {} [{}]", v.path, v.message, v.rule);
        match v.severity {
            Severity::Error => errors.push(line),
            Severity::Warning => warnings.push(line),
        }
    }
    if errors.is_empty() {
        Decision {
            warnings,
            ..Decision::allow()
        }
    } else {
        Decision {
            warnings,
            ..Decision::deny(format!("invalid {kind}: {}", errors.join("; ")))
        }
    }
}

fn generation(object: &Value) -> Option<&Value> {
    object.pointer("/metadata/generation")
}

/// Errors and warnings (`<path>: <message>`) of a decoded incoming object.
fn findings(
    decoded: &Decoded<Object>,
    old: Option<&Value>,
    operation: &str,
    namespace: &str,
    snapshot: &Snapshot,
) -> (Vec<String>, Vec<String>) {
    let line = |path: &str, message: &str| format!("{path}: {message}");
    let mut errors = Vec::new();
    let mut warnings: Vec<String> = decoded
        .unknown_fields
        .iter()
        .map(|path| {
            line(
                path,
                &format!("unknown field {path:?}: upstream ignores it, so it has no effect"),
            )
        })
        .collect();
    let mut snap = snapshot.clone();
    let upstream = match &decoded.value {
        Object::EventBus(bus) => {
            let mut errs = validate::validate_event_bus(bus);
            if operation == "UPDATE"
                && let Some(Ok(Decoded {
                    value: Object::EventBus(old_bus),
                    ..
                })) = old.and_then(manifest::decode_object)
            {
                errs.extend(event_bus_update_errors(&old_bus, bus));
            }
            place(&mut snap.event_buses, namespace, bus.as_ref().clone());
            errs
        }
        Object::EventSource(es) => {
            place(&mut snap.event_sources, namespace, es.as_ref().clone());
            validate::validate_event_source(es)
        }
        Object::Sensor(sensor) => {
            let bus_name = sensor.spec.effective_event_bus_name();
            let bus = snapshot
                .event_buses
                .iter()
                .find(|b| b.namespace == namespace && b.name == bus_name)
                .map(|b| &b.value);
            let errs = validate::validate_sensor(sensor, bus);
            place(&mut snap.sensors, namespace, sensor.as_ref().clone());
            errs
        }
    };
    errors.extend(
        upstream
            .into_iter()
            .map(|FieldError { path, message }| line(&path, &message)),
    );
    for issue in rules::check(&snap) {
        if issue.doc != INCOMING {
            continue;
        }
        match issue.severity {
            Severity::Error => errors.push(line(&issue.path, &issue.message)),
            Severity::Warning => warnings.push(line(&issue.path, &issue.message)),
        }
    }
    (errors, warnings)
}

/// Puts the incoming object into `entries`, replacing one of the same namespace and name.
fn place<T>(entries: &mut Vec<std::sync::Arc<Entry<T>>>, namespace: &str, value: T)
where
    T: HasName,
{
    let name = value.name().to_owned();
    entries.retain(|e| !(e.namespace == namespace && e.name == name));
    entries.push(std::sync::Arc::new(Entry {
        doc: INCOMING,
        namespace: namespace.to_owned(),
        name,
        value,
    }));
}

/// `metadata.name` of the three kinds.
trait HasName {
    fn name(&self) -> &str;
}

macro_rules! has_name {
    ($($t:ty),*) => {$(
        impl HasName for $t {
            fn name(&self) -> &str {
                self.metadata.name.as_deref().unwrap_or_default()
            }
        }
    )*};
}
has_name!(
    argo_events_api::EventBus,
    argo_events_api::EventSource,
    argo_events_api::Sensor
);

/// The implementation an EventBus spec selects, for the "cannot change" rule.
fn implementation(bus: &EventBus) -> Option<&'static str> {
    let spec = &bus.spec;
    if spec.nats.is_some() {
        Some("nats")
    } else if spec.jetstream.is_some() {
        Some("jetstream")
    } else if spec.kafka.is_some() {
        Some("kafka")
    } else if spec.jetstream_exotic.is_some() {
        Some("jetstreamExotic")
    } else {
        None
    }
}

/// Upstream's extra rules for an EventBus UPDATE (its `ValidateUpdate`), with upstream's
/// messages and what changed appended. One difference: upstream lets an EventBus become a
/// Kafka one (its switch has no Kafka case); here any change of implementation is refused, as
/// nothing migrates the events of the old bus.
pub fn event_bus_update_errors(old: &EventBus, new: &EventBus) -> Vec<FieldError> {
    let mut out = Vec::new();
    let mut push = |path: &str, message: String| {
        out.push(FieldError {
            path: path.to_owned(),
            message,
        })
    };
    let (old_impl, new_impl) = (implementation(old), implementation(new));
    if old_impl != new_impl {
        push(
            "spec",
            format!(
                "Can not change event bus implementation (from {} to {})",
                old_impl.unwrap_or("none"),
                new_impl.unwrap_or("none")
            ),
        );
        return out;
    }
    // nil auth ≡ "none".
    let auth = |a: &Option<String>| a.clone().unwrap_or_else(|| "none".into());
    if let (Some(o), Some(n)) = (&old.spec.nats, &new.spec.nats) {
        match (&o.native, &o.exotic, &n.native, &n.exotic) {
            (Some(_), _, None, Some(_)) => push(
                "spec.nats",
                "Can not change NATS event bus implementation from native to exotic".into(),
            ),
            (None, Some(_), Some(_), _) => push(
                "spec.nats",
                "Can not change NATS event bus implementation from exotic to native".into(),
            ),
            (Some(on), _, Some(nn), _) if auth(&on.auth) != auth(&nn.auth) => push(
                "spec.nats.native.auth",
                format!(
                    "\"spec.nats.native.auth\" is immutable, can not be updated (from {:?} to {:?})",
                    auth(&on.auth),
                    auth(&nn.auth)
                ),
            ),
            (_, Some(oe), _, Some(ne)) if auth(&oe.auth) != auth(&ne.auth) => push(
                "spec.nats.exotic.auth",
                format!(
                    "\"spec.nats.exotic.auth\" is immutable, can not be updated (from {:?} to {:?})",
                    auth(&oe.auth),
                    auth(&ne.auth)
                ),
            ),
            _ => {}
        }
    }
    if let (Some(o), Some(n)) = (&old.spec.jetstream, &new.spec.jetstream)
        && o.stream_config != n.stream_config
    {
        let show = |s: &Option<String>| {
            s.as_deref()
                .map_or("<none>".to_owned(), |s| format!("'{s}'"))
        };
        push(
            "spec.jetstream.streamConfig",
            format!(
                "\"spec.jetstream.streamConfig\" is immutable, can not be updated, old value={}, new value={}",
                show(&o.stream_config),
                show(&n.stream_config)
            ),
        );
    }
    out
}

/// The JSON patch from the object to it with upstream's defaults written in; `None` when the
/// defaults change nothing. Both sides are encoded the same way, so only defaults differ.
pub fn defaults_patch(object: &Object) -> Option<Value> {
    let before = object.to_json();
    let defaulted = match object.clone() {
        Object::EventBus(mut b) => {
            defaults::apply_event_bus(&mut b);
            Object::EventBus(b)
        }
        Object::EventSource(mut es) => {
            defaults::apply_event_source(&mut es);
            Object::EventSource(es)
        }
        Object::Sensor(mut s) => {
            defaults::apply_sensor(&mut s);
            Object::Sensor(s)
        }
    };
    let patch = json_patch::diff(&before, &defaulted.to_json());
    if patch.0.is_empty() {
        return None;
    }
    Some(
        serde_json::to_value(&patch)
            .unwrap_or_else(|e| unreachable!("invariant: a JSON patch always encodes: {e}")),
    )
}

#[cfg(test)]
mod tests;
