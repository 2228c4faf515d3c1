//! Findings over manifest documents: the stable format `lint` prints and the admission server
//! turns into denials and warnings.

use argo_events_api::gocompat::DecodeError;
use argo_events_api::manifest::{self, DocKind, Document, ManifestError};
use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Accepted, but probably not what the author meant.
    Warning,
    /// Upstream would refuse or fail on this.
    Error,
}

/// Rule identifiers. They appear in `-o json` output; keep them stable.
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
}

/// Lints parsed documents and the parse errors met while reading them. Documents of other kinds
/// (Roles, Workflows, …) produce no findings of their own.
pub fn lint(docs: &[Document], parse_errors: &[ManifestError], opts: &Options) -> Vec<Finding> {
    let ns = opts.namespace.as_deref();
    let mut findings: Vec<Finding> = parse_errors.iter().map(parse_finding).collect();
    for doc in docs {
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
            DocKind::Ours(_) => findings.extend(decode_findings(doc, ns)),
        }
    }
    findings
}

/// The decode and unknown-field findings for one of the three kinds.
pub fn decode_findings(doc: &Document, namespace: Option<&str>) -> Vec<Finding> {
    match manifest::decode_object(&doc.value) {
        None => Vec::new(),
        Some(Err(DecodeError { path, message })) => vec![Finding {
            path,
            message,
            ..Finding::for_doc(doc, namespace, Severity::Error, rule::DECODE)
        }],
        Some(Ok(decoded)) => decoded
            .unknown_fields
            .into_iter()
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
