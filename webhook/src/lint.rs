//! Findings over manifest documents: the stable format `lint` prints and the admission server
//! turns into denials and warnings.

use argo_events_api::gocompat::{DecodeError, Decoded};
use argo_events_api::manifest::{self, DocKind, Document, ManifestError, Object};
use argo_events_api::{EventBus, Sensor};
use serde::Serialize;

use crate::policy::{self, Policy};
use crate::rules;
use crate::snapshot::Snapshot;
use crate::validate::{self, FieldError};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Accepted, but probably not what the author meant.
    Warning,
    /// Upstream would refuse or fail on this.
    Error,
}

/// Rule identifiers. They appear in `-o json` output; keep them stable. Findings of the policy
/// bundle use `policy:<name>` ([`crate::policy::RULE_PREFIX`]).
pub mod rule {
    /// The file or document is not valid YAML or JSON.
    pub const PARSE: &str = "parse";
    /// The document lacks a string `apiVersion` or `kind`.
    pub const TYPE_META: &str = "type-meta";
    /// An `argoproj.io` kind or version this API does not define.
    pub const API_VERSION: &str = "api-version";
    /// The object does not decode as upstream decodes it (e.g. a number where a string goes).
    pub const DECODE: &str = "decode";
    /// A field that matches nothing in the API; upstream ignores it silently.
    pub const UNKNOWN_FIELD: &str = "unknown-field";
    /// The object decodes but breaks one of upstream's validation rules, so upstream's
    /// controller (and admission webhook) would refuse it.
    pub const UPSTREAM: &str = "upstream";
    /// An EventBus, EventSource or Sensor name that is not a DNS-1123 label, or a dependency
    /// or event name that cannot be a bus subject token or be used in conditions.
    pub const NAMING: &str = "naming";
    /// A Sensor dependency names an EventSource or event the given EventSources of its
    /// namespace do not have.
    pub const REFERENCE: &str = "reference";
    /// A Sensor names an EventBus the given EventBuses of its namespace do not include.
    pub const EVENT_BUS: &str = "event-bus";
    /// A trigger's ServiceAccount may not do what the trigger does, by the given RBAC.
    pub const RBAC: &str = "rbac";
    /// Accepted, but a known way to get something other than what was meant.
    pub const PITFALL: &str = "pitfall";
}

/// One finding, in the format `lint -o json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// File the document came from (`-` for standard input).
    pub file: String,
    /// 0-based index of the document in its file.
    pub document: usize,
    /// `kind` of the object, when known.
    pub kind: Option<String>,
    /// `metadata.namespace` of the object, else the namespace lint was given.
    pub namespace: Option<String>,
    /// `metadata.name` of the object, when known.
    pub name: Option<String>,
    /// Error or warning.
    pub severity: Severity,
    /// Which rule produced it (see [`rule`]).
    pub rule: String,
    /// Field path inside the object, e.g. `spec.webhook.push.port`; empty for the whole object.
    pub path: String,
    /// What is wrong, for people.
    pub message: String,
}

impl Finding {
    fn for_doc(
        doc: &Document,
        default_namespace: Option<&str>,
        severity: Severity,
        rule: &str,
    ) -> Self {
        Finding {
            file: doc.file.clone(),
            document: doc.index,
            kind: doc.kind().map(str::to_owned),
            namespace: doc.namespace().or(default_namespace).map(str::to_owned),
            name: doc.name().map(str::to_owned),
            severity,
            rule: rule.to_owned(),
            path: String::new(),
            message: String::new(),
        }
    }
}

/// Options of a lint run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Namespace assumed for objects that name none.
    pub namespace: Option<String>,
    /// The policy bundle evaluated on each EventBus, EventSource and Sensor that decodes
    /// (rule `policy:<name>`); empty for none.
    pub policies: Vec<Policy>,
}

/// Lints parsed documents and the parse errors met while reading them. Documents of other kinds
/// (Roles, Workflows, …) produce no findings of their own.
///
/// Every object that decodes is also validated with upstream's rules ([`validate`]); a Sensor
/// is validated against the EventBus among `docs` that it names (`eventBusName`, `default` when
/// empty) in its namespace, or without one when there is none.
///
/// Then the [`rules`] run over a [`Snapshot`] of all `docs` (naming, references, EventBus,
/// RBAC, pitfalls); their findings follow those of upstream's rules. Last come the findings of
/// the policies of `opts` ([`policy::evaluate`]) on each object that decodes, in document order.
pub fn lint(docs: &[Document], parse_errors: &[ManifestError], opts: &Options) -> Vec<Finding> {
    let ns = opts.namespace.as_deref();
    let mut findings: Vec<Finding> = parse_errors.iter().map(parse_finding).collect();
    // Each document of our kinds, decoded once.
    let decoded: Vec<Option<Result<Decoded<Object>, DecodeError>>> = docs
        .iter()
        .map(|doc| match manifest::classify(&doc.value) {
            DocKind::Ours(_) => manifest::decode_object(&doc.value),
            _ => None,
        })
        .collect();
    let buses: Vec<(Option<&str>, &EventBus)> = docs
        .iter()
        .zip(&decoded)
        .filter_map(|(doc, object)| match object {
            Some(Ok(Decoded {
                value: Object::EventBus(bus),
                ..
            })) => Some((doc.namespace().or(ns), bus.as_ref())),
            _ => None,
        })
        .collect();
    for (doc, object) in docs.iter().zip(&decoded) {
        match manifest::classify(&doc.value) {
            DocKind::Foreign => {}
            DocKind::Untyped => findings.push(Finding {
                message: "document has no apiVersion and kind; it is not a Kubernetes object"
                    .into(),
                ..Finding::for_doc(doc, ns, Severity::Error, rule::TYPE_META)
            }),
            DocKind::UnsupportedArgo => findings.push(Finding {
                path: "apiVersion".into(),
                message: format!(
                    "{} {} is not served; the only version is {}",
                    doc.api_version().unwrap_or_default(),
                    doc.kind().unwrap_or_default(),
                    argo_events_api::API_VERSION
                ),
                ..Finding::for_doc(doc, ns, Severity::Error, rule::API_VERSION)
            }),
            DocKind::Ours(_) => {
                let Some(result) = object else { continue };
                findings.extend(findings_of_decoding(doc, ns, result));
                if let Ok(decoded) = result {
                    let bus = |sensor: &Sensor| sensor_bus(sensor, doc.namespace().or(ns), &buses);
                    findings.extend(validation_findings(doc, &decoded.value, ns, bus));
                }
            }
        }
    }
    // The decoded objects move into the snapshot (one copy in memory, not two).
    let decoded_ok: Vec<bool> = decoded.iter().map(|o| matches!(o, Some(Ok(_)))).collect();
    drop(buses);
    let objects = decoded
        .into_iter()
        .map(|o| o.and_then(Result::ok).map(|d| d.value))
        .collect();
    let snapshot = Snapshot::from_decoded(docs, objects, ns);
    findings.extend(rules::check(&snapshot).into_iter().map(|issue| {
        let doc = &docs[issue.doc];
        Finding {
            path: issue.path,
            message: issue.message,
            ..Finding::for_doc(doc, ns, issue.severity, issue.rule)
        }
    }));
    if !opts.policies.is_empty() {
        for (doc, ok) in docs.iter().zip(&decoded_ok) {
            if !ok {
                continue;
            }
            let namespace = doc
                .namespace()
                .or(ns)
                .unwrap_or(crate::snapshot::DEFAULT_NAMESPACE);
            findings.extend(
                policy::evaluate(&opts.policies, &doc.value, namespace)
                    .into_iter()
                    .map(|v| Finding {
                        path: v.path,
                        message: v.message,
                        ..Finding::for_doc(doc, ns, v.severity, &v.rule)
                    }),
            );
        }
    }
    findings
}

/// The EventBus a Sensor in `namespace` uses, among the given ones.
fn sensor_bus<'a>(
    sensor: &Sensor,
    namespace: Option<&str>,
    buses: &[(Option<&str>, &'a EventBus)],
) -> Option<&'a EventBus> {
    let name = sensor.spec.effective_event_bus_name();
    buses
        .iter()
        .find(|(bus_ns, bus)| *bus_ns == namespace && bus.metadata.name.as_deref() == Some(name))
        .map(|(_, bus)| *bus)
}

/// The findings of upstream's validation rules for one decoded object; `bus` finds a Sensor's
/// EventBus (`None` when unknown, which skips the rules that need it).
pub fn validation_findings<'a>(
    doc: &Document,
    object: &Object,
    namespace: Option<&str>,
    bus: impl FnOnce(&Sensor) -> Option<&'a EventBus>,
) -> Vec<Finding> {
    let errors = match object {
        Object::EventBus(b) => validate::validate_event_bus(b),
        Object::EventSource(es) => validate::validate_event_source(es),
        Object::Sensor(s) => validate::validate_sensor(s, bus(s)),
    };
    errors
        .into_iter()
        .map(|FieldError { path, message }| Finding {
            path,
            message,
            ..Finding::for_doc(doc, namespace, Severity::Error, rule::UPSTREAM)
        })
        .collect()
}

/// The decode and unknown-field findings for one of the three kinds.
pub fn decode_findings(doc: &Document, namespace: Option<&str>) -> Vec<Finding> {
    match manifest::decode_object(&doc.value) {
        None => Vec::new(),
        Some(result) => findings_of_decoding(doc, namespace, &result),
    }
}

fn findings_of_decoding(
    doc: &Document,
    namespace: Option<&str>,
    result: &Result<Decoded<Object>, DecodeError>,
) -> Vec<Finding> {
    match result {
        Err(DecodeError { path, message }) => vec![Finding {
            path: path.clone(),
            message: message.clone(),
            ..Finding::for_doc(doc, namespace, Severity::Error, rule::DECODE)
        }],
        Ok(decoded) => decoded
            .unknown_fields
            .iter()
            .cloned()
            .map(|path| Finding {
                message: format!(
                    "unknown field {path:?}: upstream ignores it, so it has no effect"
                ),
                path,
                ..Finding::for_doc(doc, namespace, Severity::Warning, rule::UNKNOWN_FIELD)
            })
            .collect(),
    }
}

fn parse_finding(err: &ManifestError) -> Finding {
    let (file, document, message) = match err {
        ManifestError::Parse {
            file,
            index,
            message,
        } => (file.clone(), *index, message.clone()),
        ManifestError::Read { path, source } => (path.clone(), 0, source.to_string()),
    };
    Finding {
        file,
        document,
        kind: None,
        namespace: None,
        name: None,
        severity: Severity::Error,
        rule: rule::PARSE.into(),
        path: String::new(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(value: serde_json::Value) -> Document {
        Document {
            file: "f.yaml".into(),
            index: 3,
            value,
        }
    }

    fn lint_one(value: serde_json::Value) -> Vec<Finding> {
        lint(&[doc(value)], &[], &Options::default())
    }

    #[test]
    fn a_numeric_webhook_port_is_an_error_at_its_path() {
        let findings = lint_one(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": {"name": "webhook", "namespace": "argo-events"},
            "spec": {"webhook": {"push": {"port": 12000, "endpoint": "/push", "method": "POST"}}},
        }));
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = &findings[0];
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.rule, rule::DECODE);
        assert_eq!(f.path, "spec.webhook.push.port");
        assert_eq!(f.message, "expected a string, got 12000");
        assert_eq!(f.kind.as_deref(), Some("EventSource"));
        assert_eq!(f.namespace.as_deref(), Some("argo-events"));
        assert_eq!(f.name.as_deref(), Some("webhook"));
        assert_eq!((f.file.as_str(), f.document), ("f.yaml", 3));
    }

    #[test]
    fn objects_that_decode_are_validated_with_upstreams_rules() {
        let findings = lint_one(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": {"name": "webhook", "namespace": "argo-events"},
            "spec": {"webhook": {"push": {"port": "12000", "method": "POST"}}},
        }));
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = &findings[0];
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.rule, rule::UPSTREAM);
        assert_eq!(f.path, "spec.webhook.push.endpoint");
        assert_eq!(f.message, "endpoint can't be empty");
        assert_eq!(f.name.as_deref(), Some("webhook"));

        // An object that does not decode is not validated: the decode error says it all.
        let findings = lint_one(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": {"name": "webhook"},
            "spec": {"webhook": {"push": {"port": 12000}}},
        }));
        let rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, [rule::DECODE]);

        let findings = lint_one(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus",
            "metadata": {"name": "default"}, "spec": {"jetstream": {"replicas": 2, "version": "latest"}},
        }));
        assert_eq!(findings[0].path, "spec.jetstream.replicas");
        assert_eq!(findings[0].rule, rule::UPSTREAM);
    }

    fn stan_bus(namespace: &str) -> serde_json::Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus",
            "metadata": {"name": "default", "namespace": namespace},
            "spec": {"nats": {"native": {}}},
        })
    }

    /// A Sensor whose two dependencies read the same event: wrong only on NATS Streaming.
    fn sensor(namespace: Option<&str>, bus_name: &str) -> serde_json::Value {
        let mut s = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
            "metadata": {"name": "s"},
            "spec": {
                "eventBusName": bus_name,
                "dependencies": [
                    {"name": "a", "eventSourceName": "es", "eventName": "ev"},
                    {"name": "b", "eventSourceName": "es", "eventName": "ev"},
                ],
                "triggers": [{"template": {"name": "t", "log": {}}}],
            },
        });
        if let Some(ns) = namespace {
            s["metadata"]["namespace"] = json!(ns);
        }
        s
    }

    fn lint_all(values: Vec<serde_json::Value>, namespace: Option<&str>) -> Vec<Finding> {
        let docs: Vec<Document> = values.into_iter().map(doc).collect();
        let opts = Options {
            namespace: namespace.map(str::to_owned),
            ..Options::default()
        };
        lint(&docs, &[], &opts)
    }

    #[test]
    fn a_sensor_is_validated_against_the_event_bus_it_names_in_its_namespace() {
        let stan_rule = |findings: &[Finding]| {
            findings
                .iter()
                .filter(|f| f.path == "spec.dependencies[1]" && f.rule == rule::UPSTREAM)
                .count()
        };
        // The new rules (pitfall on the STAN bus, event-bus presence) are tested elsewhere.
        fn upstream(findings: &[Finding]) -> Vec<&Finding> {
            findings
                .iter()
                .filter(|f| f.rule == rule::UPSTREAM)
                .collect()
        }
        // The bus `default` (eventBusName empty) in the Sensor's namespace, before or after it.
        let f = lint_all(vec![stan_bus("team-a"), sensor(Some("team-a"), "")], None);
        assert_eq!(stan_rule(&f), 1, "{f:?}");
        let f = lint_all(
            vec![sensor(Some("team-a"), "default"), stan_bus("team-a")],
            None,
        );
        assert_eq!(stan_rule(&f), 1, "{f:?}");
        // The namespace option stands in for a missing one.
        let f = lint_all(vec![stan_bus("team-a"), sensor(None, "")], Some("team-a"));
        assert_eq!(stan_rule(&f), 1, "{f:?}");
        // Another namespace, another bus name, or no bus at all: the bus is unknown.
        let f = lint_all(vec![stan_bus("team-b"), sensor(Some("team-a"), "")], None);
        assert_eq!(upstream(&f), Vec::<&Finding>::new());
        let f = lint_all(
            vec![stan_bus("team-a"), sensor(Some("team-a"), "other")],
            None,
        );
        assert_eq!(upstream(&f), Vec::<&Finding>::new());
        let f = lint_all(vec![sensor(Some("team-a"), "")], None);
        assert_eq!(upstream(&f), Vec::<&Finding>::new());
    }

    #[test]
    fn the_admission_rules_report_against_the_document_they_are_about() {
        let source = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": {"name": "github-eventsource"},
            "spec": {"webhook": {"push": {"port": "12000", "endpoint": "/push", "method": "POST"}}},
        });
        let sensor = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
            "metadata": {"name": "build"},
            "spec": {
                "dependencies": [{"name": "push", "eventSourceName": "github-eventsource-typo", "eventName": "push"}],
                "triggers": [{"template": {"name": "t", "log": {}}}],
            },
        });
        let docs = vec![
            Document {
                file: "es.yaml".into(),
                index: 0,
                value: source,
            },
            Document {
                file: "s.yaml".into(),
                index: 1,
                value: sensor,
            },
        ];
        let opts = Options {
            namespace: Some("argo-events".into()),
            ..Options::default()
        };
        let findings = lint(&docs, &[], &opts);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = &findings[0];
        assert_eq!((f.file.as_str(), f.document), ("s.yaml", 1));
        assert_eq!(f.kind.as_deref(), Some("Sensor"));
        assert_eq!(f.namespace.as_deref(), Some("argo-events"));
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.rule, rule::REFERENCE);
        assert_eq!(f.path, "spec.dependencies[0].eventSourceName");
        assert_eq!(
            f.message,
            "no EventSource \"github-eventsource-typo\"; EventSources in argo-events: github-eventsource"
        );
    }

    #[test]
    fn unknown_fields_are_warnings() {
        let findings = lint_one(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
            "metadata": {"name": "minio"},
            "spec": {"type": "minio", "minio": {}},
        }));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert_eq!(findings[0].rule, rule::UNKNOWN_FIELD);
        assert_eq!(findings[0].path, "spec.type");
    }

    #[test]
    fn other_kinds_are_left_alone_and_untyped_documents_are_errors() {
        assert!(lint_one(json!({"apiVersion": "v1", "kind": "ServiceAccount"})).is_empty());
        let f = lint_one(json!({"foo": 1}));
        assert_eq!(f[0].rule, rule::TYPE_META);
        let f = lint_one(json!({"apiVersion": "argoproj.io/v1", "kind": "Sensor"}));
        assert_eq!(f[0].rule, rule::API_VERSION);
    }

    #[test]
    fn the_namespace_option_fills_in_for_objects_without_one() {
        let findings = lint(
            &[doc(
                json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor", "metadata": {"name": "s"}, "spec": {"x": 1}}),
            )],
            &[],
            &Options {
                namespace: Some("team-a".into()),
                ..Options::default()
            },
        );
        assert_eq!(findings[0].namespace.as_deref(), Some("team-a"));
    }

    #[test]
    fn findings_serialize_in_the_documented_shape() {
        let findings = lint_one(
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor", "metadata": {"name": "s"}, "spec": {"x": 1}}),
        );
        let v = serde_json::to_value(&findings[0]).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "file",
                "document",
                "kind",
                "namespace",
                "name",
                "severity",
                "rule",
                "path",
                "message"
            ]
        );
        assert_eq!(v["severity"], "warning");
    }
}
