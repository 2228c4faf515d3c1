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
use crate::rules::{self, AccessCheck, AccessDecision, Incoming, Obj, RbacEvidence};
use crate::snapshot::{DEFAULT_NAMESPACE, Facts, Snapshot};
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
///
/// This indexes `snapshot` on every call; a server holds one [`Facts`] per change of the
/// cluster facts and calls [`Review::parse`] and [`Review::answer`] instead.
pub fn try_review_with_policies(
    review: &Value,
    snapshot: &Snapshot,
    mutate: bool,
    policies: &[Policy],
) -> Result<Value, MalformedReview> {
    let parsed = Review::parse(review.clone(), mutate)?;
    Ok(parsed.answer(&Facts::new(snapshot.clone()), policies, None))
}

/// An AdmissionReview read and decoded up to the point where cluster facts are needed: the
/// server asks [`Review::access_checks`] of an authorizer (SubjectAccessReviews) in between,
/// then [`Review::answer`]s.
#[derive(Debug)]
pub struct Review {
    uid: String,
    kind: String,
    operation: String,
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    /// Answered without cluster facts.
    Decided(Decision),
    /// Validation of a decoded object of ours.
    Validate(Box<Pending>),
}

#[derive(Debug)]
struct Pending {
    /// `EventBus`, `EventSource` or `Sensor`.
    kind: &'static str,
    object: Value,
    old: Option<Value>,
    decoded: Decoded<Object>,
    namespace: String,
    access_checks: Vec<AccessCheck>,
}

impl Review {
    /// Reads an AdmissionReview (v1 JSON, taken by value so the object is moved out rather than
    /// copied) and decides whatever needs no cluster facts: operations never blocked,
    /// unchanged generations, objects not ours, bodies that do not decode, and mutation.
    pub fn parse(mut review: Value, mutate: bool) -> Result<Review, MalformedReview> {
        let malformed = |message: &str| MalformedReview {
            message: message.to_owned(),
        };
        if !review.is_object() {
            return Err(malformed("the body is not a JSON object"));
        }
        match review.get("apiVersion").and_then(Value::as_str) {
            Some(ADMISSION_API_VERSION) => {}
            other => {
                return Err(MalformedReview {
                    message: format!(
                        "apiVersion must be {ADMISSION_API_VERSION}, got {}",
                        other.map_or("nothing".to_owned(), |v| format!("{v:?}"))
                    ),
                });
            }
        }
        match review.get("kind").and_then(Value::as_str) {
            Some("AdmissionReview") => {}
            other => {
                return Err(MalformedReview {
                    message: format!(
                        "kind must be AdmissionReview, got {}",
                        other.map_or("nothing".to_owned(), |v| format!("{v:?}"))
                    ),
                });
            }
        }
        let request = review
            .get_mut("request")
            .filter(|r| r.is_object())
            .ok_or_else(|| malformed("no request object"))?;
        let uid = request
            .get("uid")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| malformed("request.uid is missing or not a string"))?
            .to_owned();
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
        let kind = text(request.pointer("/kind/kind"));
        let operation = text(request.get("operation"));
        let stage = stage(request, &operation, mutate);
        Ok(Review {
            uid,
            kind,
            operation,
            stage,
        })
    }

    /// `request.uid`.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// `request.kind.kind` (empty when absent).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// `request.operation` (empty when absent).
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The accesses the incoming Sensor's triggers need ([`rules::sensor_access_checks`]); empty
    /// for anything else and when the answer is already known.
    pub fn access_checks(&self) -> &[AccessCheck] {
        match &self.stage {
            Stage::Validate(p) => &p.access_checks,
            Stage::Decided(_) => &[],
        }
    }

    /// The objects an incoming Sensor or EventSource refers to that `facts` lack and whose absence would be
    /// an error ([`rules::incoming_absences`]); a server confirms them with live reads and
    /// passes the answers to [`Review::answer_confirmed`].
    pub fn absences(&self, facts: &Facts) -> Vec<rules::Absent> {
        match &self.stage {
            Stage::Validate(p) => match &p.decoded.value {
                Object::Sensor(sensor) => {
                    rules::incoming_absences(facts, incoming(&p.namespace, sensor))
                }
                Object::EventSource(es) => {
                    rules::incoming_source_absences(facts, incoming(&p.namespace, es))
                }
                _ => Vec::new(),
            },
            Stage::Decided(_) => Vec::new(),
        }
    }

    /// The AdmissionReview response. `decisions` are an authorizer's answers to
    /// [`Review::access_checks`] (same order); `None` evaluates RBAC statically over `facts`.
    pub fn answer(
        self,
        facts: &Facts,
        policies: &[Policy],
        decisions: Option<&[AccessDecision]>,
    ) -> Value {
        self.answer_confirmed(facts, policies, decisions, &[])
    }

    /// [`Review::answer`], with live reads of [`Review::absences`]: an error about an object
    /// that exists after all is dropped, one whose read failed is a warning
    /// ([`rules::confirm_absences`]).
    pub fn answer_confirmed(
        self,
        facts: &Facts,
        policies: &[Policy],
        decisions: Option<&[AccessDecision]>,
        presence: &[(rules::Absent, rules::Presence)],
    ) -> Value {
        let decision = match self.stage {
            Stage::Decided(d) => d,
            Stage::Validate(p) => {
                validate(&p, &self.operation, facts, policies, decisions, presence)
            }
        };
        wrap(&self.uid, &decision)
    }
}

fn wrap(uid: &str, d: &Decision) -> Value {
    let mut response = serde_json::Map::with_capacity(5);
    response.insert("uid".into(), Value::String(uid.to_owned()));
    response.insert("allowed".into(), Value::Bool(d.allowed));
    if let Some(message) = &d.message {
        response.insert(
            "status".into(),
            json!({
                "metadata": {},
                "status": "Failure",
                "code": 400,
                "reason": "BadRequest",
                "message": message,
            }),
        );
    }
    if !d.warnings.is_empty() {
        response.insert("warnings".into(), json!(d.warnings));
    }
    if let Some(patch) = &d.patch {
        let bytes = serde_json::to_vec(patch)
            .unwrap_or_else(|e| unreachable!("invariant: JSON values always encode: {e}"));
        response.insert("patchType".into(), json!("JSONPatch"));
        response.insert(
            "patch".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
        );
    }
    json!({
        "apiVersion": ADMISSION_API_VERSION,
        "kind": "AdmissionReview",
        "response": response,
    })
}

/// What is known about a `request` before cluster facts: a decision, or what to validate.
fn stage(request: &mut Value, operation: &str, mutate: bool) -> Stage {
    match operation {
        "CREATE" | "UPDATE" => {}
        // DELETE, CONNECT: never blocked (deletes and finalizer removal must go through).
        "DELETE" | "CONNECT" => return Stage::Decided(Decision::allow()),
        other => {
            return Stage::Decided(Decision::deny(format!("unsupported operation {other:?}")));
        }
    }
    let request_namespace = request
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let Some(object) = request
        .get_mut("object")
        .filter(|o| o.is_object())
        .map(Value::take)
    else {
        return Stage::Decided(Decision::deny(format!(
            "{operation} request without an object"
        )));
    };
    let old = request
        .get_mut("oldObject")
        .filter(|o| o.is_object())
        .map(Value::take);
    if let Some(mismatch) = kind_mismatch(request, &object) {
        return Stage::Decided(Decision::deny(mismatch));
    }
    if !mutate
        && operation == "UPDATE"
        && let Some(old) = &old
        && generation(old) == generation(&object)
    {
        // Upstream: a change that does not bump the generation (metadata, status) is allowed.
        // Validation only: mutating admission runs before the API server bumps the
        // generation, so every UPDATE looks unchanged there and must still be defaulted.
        return Stage::Decided(Decision::allow());
    }
    let kind = match manifest::classify(&object) {
        DocKind::Ours(kind) => kind,
        // Not one of ours (a misconfigured rule): not ours to judge.
        _ => return Stage::Decided(Decision::allow()),
    };
    let decoded = match manifest::decode_object(&object) {
        Some(Ok(decoded)) => decoded,
        Some(Err(e)) => {
            if mutate {
                // Nothing to default; the validating webhook denies it.
                return Stage::Decided(Decision::allow());
            }
            return Stage::Decided(Decision::deny(format!(
                "invalid {kind}: {}: {}",
                e.path, e.message
            )));
        }
        None => return Stage::Decided(Decision::allow()),
    };
    if mutate {
        return Stage::Decided(Decision {
            patch: defaults_patch(&decoded.value),
            ..Decision::allow()
        });
    }
    let namespace = request_namespace
        .or_else(|| {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    let access_checks = match &decoded.value {
        Object::Sensor(sensor) => rules::sensor_access_checks(&namespace, sensor),
        _ => Vec::new(),
    };
    Stage::Validate(Box::new(Pending {
        kind,
        object,
        old,
        decoded,
        namespace,
        access_checks,
    }))
}

/// The validation decision for a decoded object.
fn validate(
    p: &Pending,
    operation: &str,
    facts: &Facts,
    policies: &[Policy],
    decisions: Option<&[AccessDecision]>,
    presence: &[(rules::Absent, rules::Presence)],
) -> Decision {
    let (mut errors, mut warnings) = findings(p, operation, facts, decisions, presence);
    for v in policy::evaluate(policies, &p.object, &p.namespace) {
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
            ..Decision::deny(format!("invalid {}: {}", p.kind, errors.join("; ")))
        }
    }
}

/// Why `request.kind` (group, version, kind) does not name the object's own `apiVersion` and
/// `kind`, if it does not: a review must not judge one kind while the API server stores another.
fn kind_mismatch(request: &Value, object: &Value) -> Option<String> {
    fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
        v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
    }
    let (group, version, kind) = (
        text(request, "/kind/group"),
        text(request, "/kind/version"),
        text(request, "/kind/kind"),
    );
    let requested = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    let (api_version, object_kind) = (text(object, "/apiVersion"), text(object, "/kind"));
    if requested == api_version && kind == object_kind {
        return None;
    }
    Some(format!(
        "request.kind {requested:?} {kind:?} does not match the object's apiVersion \
         {api_version:?} and kind {object_kind:?}"
    ))
}

fn generation(object: &Value) -> Option<&Value> {
    object.pointer("/metadata/generation")
}

/// Errors and warnings (`<path>: <message>`) of a decoded incoming object.
fn findings(
    p: &Pending,
    operation: &str,
    facts: &Facts,
    decisions: Option<&[AccessDecision]>,
    presence: &[(rules::Absent, rules::Presence)],
) -> (Vec<String>, Vec<String>) {
    let line = |path: &str, message: &str| format!("{path}: {message}");
    let namespace = p.namespace.as_str();
    let mut errors = Vec::new();
    let mut warnings: Vec<String> = p
        .decoded
        .unknown_fields
        .iter()
        .map(|path| {
            line(
                path,
                &format!("unknown field {path:?}: upstream ignores it, so it has no effect"),
            )
        })
        .collect();
    let rbac = match decisions {
        Some(d) => RbacEvidence::Decided(&p.access_checks, d),
        None => RbacEvidence::Static,
    };
    let (upstream, issues) = match &p.decoded.value {
        Object::EventBus(bus) => {
            let mut errs = validate::validate_event_bus(bus);
            if operation == "UPDATE"
                && let Some(Ok(Decoded {
                    value: Object::EventBus(old_bus),
                    ..
                })) = p.old.as_ref().and_then(manifest::decode_object)
            {
                errs.extend(event_bus_update_errors(&old_bus, bus));
            }
            (
                errs,
                rules::check_incoming(facts, Incoming::EventBus(incoming(namespace, bus)), rbac),
            )
        }
        Object::EventSource(es) => (
            validate::validate_event_source(es),
            rules::check_incoming(facts, Incoming::EventSource(incoming(namespace, es)), rbac),
        ),
        Object::Sensor(sensor) => {
            let bus = facts.event_bus(namespace, sensor.spec.effective_event_bus_name());
            let errs = validate::validate_sensor(sensor, bus);
            (
                errs,
                rules::check_incoming(facts, Incoming::Sensor(incoming(namespace, sensor)), rbac),
            )
        }
    };
    errors.extend(
        upstream
            .into_iter()
            .map(|FieldError { path, message }| line(&path, &message)),
    );
    for issue in rules::confirm_absences(issues, presence) {
        match issue.severity {
            Severity::Error => errors.push(line(&issue.path, &issue.message)),
            Severity::Warning => warnings.push(line(&issue.path, &issue.message)),
        }
    }
    (errors, warnings)
}

/// The incoming object as the rules see it, in `namespace`.
fn incoming<'a, T: HasName>(namespace: &'a str, value: &'a T) -> Obj<'a, T> {
    Obj {
        doc: INCOMING,
        namespace,
        name: value.name(),
        value,
    }
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
