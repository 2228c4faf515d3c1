//! The policy bundle: declarative checks an organisation adds on top of upstream's rules, one
//! YAML file per policy (`kind: Policy`, `apiVersion: argo-events-rs.io/v1alpha1`; the format
//! is documented in `policies/README.md` at the repository root).
//!
//! A policy selects objects by kind, namespace and labels and checks them either with a JSON
//! Schema (draft 2020-12, over the whole object as written) or with one of the built-in rules
//! ([`BUILTIN_RULES`]). Its findings are errors (`action: deny`) or warnings (`action: warn`);
//! `lint` reports them with the rule `policy:<name>`.
//!
//! Parsing is pure ([`parse_bundle`] over file texts); [`load_bundle`] only reads a directory.
//! The default bundle (`policies/default/`) is compiled in ([`default_bundle`]).

mod builtin;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use argo_events_api::manifest;
use jsonschema::paths::LocationSegment;
use serde::Deserialize;
use serde_json::Value;

use crate::lint::Severity;
use crate::rules::{is_dns1123_label, key_path};

pub use builtin::BUILTIN_RULES;

/// `apiVersion` of a policy document.
pub const POLICY_API_VERSION: &str = "argo-events-rs.io/v1alpha1";
/// `kind` of a policy document.
pub const POLICY_KIND: &str = "Policy";
/// Prefix of the rule identifier of policy findings: `policy:<name>`.
pub const RULE_PREFIX: &str = "policy:";

/// The kinds a policy can select.
const KINDS: [&str; 3] = ["EventBus", "EventSource", "Sensor"];

/// The default bundle's files, compiled in: `(file name, text)`. A test checks this list
/// against `policies/default/`.
const DEFAULT_BUNDLE: &[(&str, &str)] = &[
    (
        "default/http-trigger-no-plain-authorization/policy.yaml",
        include_str!("../../policies/default/http-trigger-no-plain-authorization/policy.yaml"),
    ),
    (
        "default/k8s-trigger-resource-typed/policy.yaml",
        include_str!("../../policies/default/k8s-trigger-resource-typed/policy.yaml"),
    ),
    (
        "default/sensor-unique-dependency-names/policy.yaml",
        include_str!("../../policies/default/sensor-unique-dependency-names/policy.yaml"),
    ),
];

/// Why a policy bundle could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A bundle directory or policy file could not be read.
    #[error("reading policy bundle {}: {source}", path.display())]
    Read {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A policy file is not a valid policy.
    #[error("policy file {file}: {message}")]
    Invalid {
        /// The file (as given to [`parse_bundle`]).
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// Two policy files use the same `metadata.name`.
    #[error("policy {name:?} is defined twice: in {first} and in {second}")]
    Duplicate {
        /// The name.
        name: String,
        /// The first file defining it.
        first: String,
        /// The second.
        second: String,
    },
    /// A bundle directory holds no policy file.
    #[error(
        "policy bundle {} holds no policy (expected <name>/policy.yaml or *.yaml files)",
        dir.display()
    )]
    Empty {
        /// The directory.
        dir: PathBuf,
    },
}

/// What a policy's findings are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Errors: admission denies, `lint` exits 1.
    Deny,
    /// Warnings: admission warns, `lint --strict` exits 1.
    Warn,
}

impl Action {
    /// The severity of the findings.
    pub fn severity(self) -> Severity {
        match self {
            Action::Deny => Severity::Error,
            Action::Warn => Severity::Warning,
        }
    }
}

/// Which objects a policy applies to; an empty list or map matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Match {
    /// Kinds (`EventBus`, `EventSource`, `Sensor`).
    pub kinds: Vec<String>,
    /// Namespaces (of the object, else the one assumed for it).
    pub namespaces: Vec<String>,
    /// Labels the object must carry with these values.
    pub labels: BTreeMap<String, String>,
}

impl Match {
    /// Whether an object of `kind` in `namespace` with `labels` is selected.
    pub fn selects(
        &self,
        kind: &str,
        namespace: &str,
        labels: &serde_json::Map<String, Value>,
    ) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind))
            && (self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace))
            && self
                .labels
                .iter()
                .all(|(k, v)| labels.get(k).and_then(Value::as_str) == Some(v.as_str()))
    }
}

/// How a policy checks an object.
#[derive(Clone)]
pub enum Check {
    /// A compiled JSON Schema (draft 2020-12) the whole object must satisfy.
    Schema(Arc<jsonschema::Validator>),
    /// A built-in rule with its parameters.
    Rule(builtin::Rule),
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Schema(_) => f.write_str("Schema(..)"),
            Check::Rule(rule) => f.debug_tuple("Rule").field(rule).finish(),
        }
    }
}

/// One parsed policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `metadata.name`; findings carry the rule `policy:<name>`.
    pub name: String,
    /// `spec.description`, prefixed to every message.
    pub description: String,
    /// The file it was read from.
    pub file: String,
    /// Which objects it applies to.
    pub selector: Match,
    /// Deny or warn.
    pub action: Action,
    /// The check.
    pub check: Check,
}

/// One policy finding about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `policy:<name>`.
    pub rule: String,
    /// Error for `deny`, warning for `warn`.
    pub severity: Severity,
    /// Field path inside the object (`spec.triggers[0].template.http.url`); empty for the
    /// whole object.
    pub path: String,
    /// The policy's description and what is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyDoc {
    api_version: String,
    kind: String,
    metadata: MetadataDoc,
    spec: SpecDoc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetadataDoc {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(dead_code)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecDoc {
    description: String,
    #[serde(default, rename = "match")]
    selector: Match,
    action: Action,
    schema: Option<Value>,
    rule: Option<RuleDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    name: String,
    #[serde(default)]
    params: Value,
}

/// Parses one policy file.
pub fn parse_policy(file: &str, text: &str) -> Result<Policy, PolicyError> {
    let invalid = |message: String| PolicyError::Invalid {
        file: file.to_owned(),
        message,
    };
    let value = manifest::parse_yaml(text).map_err(invalid)?;
    let doc: PolicyDoc = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
    if doc.api_version != POLICY_API_VERSION || doc.kind != POLICY_KIND {
        return Err(invalid(format!(
            "expected apiVersion {POLICY_API_VERSION} and kind {POLICY_KIND}, got {} {}",
            doc.api_version, doc.kind
        )));
    }
    let name = doc.metadata.name;
    if !is_dns1123_label(&name) {
        return Err(invalid(format!(
            "metadata.name {name:?} is not a DNS-1123 label"
        )));
    }
    if let Some(kind) = doc
        .spec
        .selector
        .kinds
        .iter()
        .find(|k| !KINDS.contains(&k.as_str()))
    {
        return Err(invalid(format!(
            "spec.match.kinds: {kind:?} is not one of {}",
            KINDS.join(", ")
        )));
    }
    let check = match (doc.spec.schema, doc.spec.rule) {
        (Some(schema), None) => {
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&schema)
                .map_err(|e| invalid(format!("spec.schema is not a valid JSON Schema: {e}")))?;
            Check::Schema(Arc::new(validator))
        }
        (None, Some(rule)) => Check::Rule(
            builtin::Rule::parse(&rule.name, rule.params)
                .map_err(|e| invalid(format!("spec.rule: {e}")))?,
        ),
        _ => {
            return Err(invalid(
                "spec must have exactly one of schema and rule".into(),
            ));
        }
    };
    Ok(Policy {
        name,
        description: doc.spec.description,
        file: file.to_owned(),
        selector: doc.spec.selector,
        action: doc.spec.action,
        check,
    })
}

/// Parses a bundle from `(file, text)` pairs; policy names must be unique.
pub fn parse_bundle(files: &[(String, String)]) -> Result<Vec<Policy>, PolicyError> {
    let mut out: Vec<Policy> = Vec::new();
    for (file, text) in files {
        let policy = parse_policy(file, text)?;
        if let Some(first) = out.iter().find(|p| p.name == policy.name) {
            return Err(PolicyError::Duplicate {
                name: policy.name,
                first: first.file.clone(),
                second: file.clone(),
            });
        }
        out.push(policy);
    }
    Ok(out)
}

/// The compiled-in default bundle (`policies/default/`).
pub fn default_bundle() -> Result<Vec<Policy>, PolicyError> {
    let files: Vec<(String, String)> = DEFAULT_BUNDLE
        .iter()
        .map(|(f, t)| ((*f).to_owned(), (*t).to_owned()))
        .collect();
    parse_bundle(&files)
}

/// The policy files of a bundle directory, sorted: `<dir>/<name>/policy.yaml` (the layout of
/// `policies/`) and `<dir>/*.yaml`, `*.yml` (the layout of a mounted ConfigMap). Entries whose
/// name starts with `.` (a ConfigMap mount's `..data`) are skipped.
pub fn bundle_files(dir: &Path) -> Result<Vec<PathBuf>, PolicyError> {
    let read_err = |path: &Path| {
        let path = path.to_owned();
        move |source| PolicyError::Read { path, source }
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err(dir))? {
        let path = entry.map_err(read_err(dir))?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            let policy = path.join("policy.yaml");
            if policy.is_file() {
                files.push(policy);
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(PolicyError::Empty {
            dir: dir.to_owned(),
        });
    }
    Ok(files)
}

/// Reads and parses the bundle in `dir` (see [`bundle_files`]).
pub fn load_bundle(dir: &Path) -> Result<Vec<Policy>, PolicyError> {
    let mut texts = Vec::new();
    for path in bundle_files(dir)? {
        let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Read {
            path: path.clone(),
            source,
        })?;
        texts.push((path.display().to_string(), text));
    }
    parse_bundle(&texts)
}

/// Every violation of `policies` by `object` (an EventBus, EventSource or Sensor as JSON),
/// which lives in `namespace` (its own, else the one assumed for it). Policies that do not
/// select it are skipped.
pub fn evaluate(policies: &[Policy], object: &Value, namespace: &str) -> Vec<Violation> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let empty = serde_json::Map::new();
    let labels = object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = Vec::new();
    for policy in policies {
        if !policy.selector.selects(kind, namespace, labels) {
            continue;
        }
        let violation = |path: String, problem: String| Violation {
            rule: format!("{RULE_PREFIX}{}", policy.name),
            severity: policy.action.severity(),
            path,
            message: format!("{}: {problem}", policy.description),
        };
        match &policy.check {
            // Valid objects (the common case) skip building the error iterator.
            Check::Schema(validator) if validator.is_valid(object) => {}
            Check::Schema(validator) => out.extend(
                validator
                    .iter_errors(object)
                    .map(|e| violation(instance_path(e.instance_path()), e.to_string())),
            ),
            Check::Rule(rule) => out.extend(
                rule.check(object)
                    .into_iter()
                    .map(|(path, problem)| violation(path, problem)),
            ),
        }
    }
    out
}

/// A JSON Schema instance location (`/spec/triggers/0`) as a lint path (`spec.triggers[0]`).
fn instance_path(location: &jsonschema::paths::Location) -> String {
    let mut out = String::new();
    for segment in location.iter() {
        match segment {
            LocationSegment::Index(i) => out.push_str(&format!("[{i}]")),
            LocationSegment::Property(p) if out.is_empty() => out.push_str(&p),
            LocationSegment::Property(p) => out = key_path(&out, &p),
        }
    }
    out
}

#[cfg(test)]
mod tests;
