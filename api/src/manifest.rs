//! Reading manifests from files: multi-document YAML or JSON, converted to JSON the way
//! `kubectl` converts YAML before it reaches the API server, then decoded into the three kinds.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::gocompat::{self, DecodeError, Decoded};

pub mod guard;
use crate::{API_VERSION, EventBus, EventSource, GROUP, Sensor};

/// One document of a manifest file.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file it came from (`-` for standard input).
    pub file: String,
    /// Its 0-based position among the file's `---`-separated documents (empty ones count).
    pub index: usize,
    /// The document as JSON.
    pub value: Value,
}

impl Document {
    /// `apiVersion` of the document, if it has a string one.
    pub fn api_version(&self) -> Option<&str> {
        self.value.get("apiVersion").and_then(Value::as_str)
    }

    /// `kind` of the document, if it has a string one.
    pub fn kind(&self) -> Option<&str> {
        self.value.get("kind").and_then(Value::as_str)
    }

    /// `metadata.name`, if present.
    pub fn name(&self) -> Option<&str> {
        self.value.pointer("/metadata/name").and_then(Value::as_str)
    }

    /// `metadata.namespace`, if present.
    pub fn namespace(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
    }
}

/// A file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The path could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A document is not valid YAML or JSON.
    #[error("{file}: document {index}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The document's 0-based index.
        index: usize,
        /// What the parser said.
        message: String,
    },
}

/// Whether a path names a manifest file by its extension.
pub fn is_manifest_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Expands files and directories (recursively, in name order) into the manifest files to read.
/// A file named explicitly is read whatever its extension.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ManifestError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| ManifestError::Read {
            path: path.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let read_err = |source| ManifestError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_manifest_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Splits a file's text into documents. JSON is read as JSON; anything else as multi-document
/// YAML. A `kind: List` document is expanded into its `items`, as kubectl does. On a parse
/// error the documents before it are returned along with the error.
pub fn parse_documents(file: &str, text: &str) -> (Vec<Document>, Option<ManifestError>) {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => (
                items
                    .into_iter()
                    .enumerate()
                    .map(|(index, value)| Document {
                        file: file.to_owned(),
                        index,
                        value,
                    })
                    .collect(),
                None,
            ),
            Ok(value) => (expand_list(file, 0, value), None),
            Err(e) => (
                Vec::new(),
                Some(ManifestError::Parse {
                    file: file.to_owned(),
                    index: 0,
                    message: e.to_string(),
                }),
            ),
        };
    }
    if let Err((index, refusal)) = guard::check(text) {
        return (
            Vec::new(),
            Some(ManifestError::Parse {
                file: file.to_owned(),
                index,
                message: refusal.to_string(),
            }),
        );
    }
    let mut docs = Vec::new();
    for (index, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let parsed = <serde_yaml_ng::Value as serde::Deserialize>::deserialize(de)
            .map_err(|e| e.to_string())
            .and_then(|mut v| {
                v.apply_merge().map_err(|e| e.to_string())?;
                yaml_to_json(v)
            });
        match parsed {
            Ok(Value::Null) => {}
            Ok(value) => docs.extend(expand_list(file, index, value)),
            Err(message) => {
                let err = ManifestError::Parse {
                    file: file.to_owned(),
                    index,
                    message,
                };
                return (docs, Some(err));
            }
        }
    }
    (docs, None)
}

fn expand_list(file: &str, index: usize, value: Value) -> Vec<Document> {
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"));
    match value.get("items") {
        Some(Value::Array(items)) if is_list => items
            .iter()
            .map(|item| Document {
                file: file.to_owned(),
                index,
                value: item.clone(),
            })
            .collect(),
        _ => vec![Document {
            file: file.to_owned(),
            index,
            value,
        }],
    }
}

/// Parses one YAML (or JSON) text into JSON, as kubectl converts it.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    guard::check(text).map_err(|(_, refusal)| refusal.to_string())?;
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    yaml_to_json(yaml)
}

/// Reads the one object of `kind` (one of the three) from a manifest file and decodes it with
/// upstream's rules. The error names the file, the document and the field path.
pub fn read_one<T: serde::de::DeserializeOwned>(
    path: &Path,
    kind: &'static str,
) -> Result<Decoded<T>, String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {file}: {e}"))?;
    let (docs, err) = parse_documents(&file, &text);
    if let Some(err) = err {
        return Err(err.to_string());
    }
    let found: Vec<&Document> = docs
        .iter()
        .filter(|d| classify(&d.value) == DocKind::Ours(kind))
        .collect();
    let doc = match found.as_slice() {
        [one] => *one,
        [] => return Err(format!("{file}: no {API_VERSION} {kind} found")),
        _ => {
            return Err(format!(
                "{file}: {} {kind}s found; put the one to use in a file of its own",
                found.len()
            ));
        }
    };
    gocompat::from_value::<T>(&doc.value).map_err(|e| {
        format!(
            "{file}#{}: {kind} {}: {e}",
            doc.index,
            doc.name().unwrap_or("?")
        )
    })
}

/// Converts YAML to JSON as kubectl does: non-string keys become strings, tags are dropped.
pub fn yaml_to_json(value: serde_yaml_ng::Value) -> Result<Value, String> {
    use serde_yaml_ng::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("{f} cannot be represented in JSON"))?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    Y::Null => "null".to_owned(),
                    other => return Err(format!("unsupported mapping key {other:?}")),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

/// Reads and parses every manifest under `paths` (`-` reads standard input).
pub fn load(paths: &[PathBuf]) -> Result<(Vec<Document>, Vec<ManifestError>), ManifestError> {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    let mut push = |file: &str, text: Result<String, std::io::Error>| match text {
        Ok(text) => {
            let (d, e) = parse_documents(file, &text);
            docs.extend(d);
            errors.extend(e);
        }
        Err(source) => errors.push(ManifestError::Read {
            path: file.to_owned(),
            source,
        }),
    };
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|source| {
                ManifestError::Read {
                    path: "-".into(),
                    source,
                }
            })?;
            push("-", Ok(text));
            continue;
        }
        for file in expand_paths(std::slice::from_ref(path))? {
            // An unreadable file (not UTF-8, no permission) is a finding for that file; the
            // others are still read.
            push(&file.display().to_string(), std::fs::read_to_string(&file));
        }
    }
    Ok((docs, errors))
}

/// A document decoded by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// An `argoproj.io/v1alpha1` EventBus.
    EventBus(Box<EventBus>),
    /// An `argoproj.io/v1alpha1` EventSource.
    EventSource(Box<EventSource>),
    /// An `argoproj.io/v1alpha1` Sensor.
    Sensor(Box<Sensor>),
}

/// What a document is, before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// One of the three kinds of this API.
    Ours(&'static str),
    /// `argoproj.io` but a kind or version this API does not define.
    UnsupportedArgo,
    /// Anything else (Roles, ServiceAccounts, Workflows…).
    Foreign,
    /// No string `apiVersion` or `kind`.
    Untyped,
}

/// Classifies a document by its `apiVersion` and `kind` (compared exactly, as the API server does).
pub fn classify(doc: &Value) -> DocKind {
    let api_version = doc.get("apiVersion").and_then(Value::as_str);
    let kind = doc.get("kind").and_then(Value::as_str);
    match (api_version, kind) {
        (Some(API_VERSION), Some(k @ ("EventBus" | "EventSource" | "Sensor"))) => {
            DocKind::Ours(match k {
                "EventBus" => EventBus::KIND,
                "EventSource" => EventSource::KIND,
                _ => Sensor::KIND,
            })
        }
        (Some(av), Some(k)) if av.split('/').next() == Some(GROUP) => {
            // Workflows and other argoproj.io kinds are someone else's; only ours are checked.
            if matches!(k, "EventBus" | "EventSource" | "Sensor") {
                DocKind::UnsupportedArgo
            } else {
                DocKind::Foreign
            }
        }
        (Some(_), Some(_)) => DocKind::Foreign,
        _ => DocKind::Untyped,
    }
}

/// Decodes a document of one of the three kinds. `None` when it is not one of them.
pub fn decode_object(doc: &Value) -> Option<Result<Decoded<Object>, DecodeError>> {
    let DocKind::Ours(kind) = classify(doc) else {
        return None;
    };
    Some(match kind {
        "EventBus" => gocompat::from_value::<EventBus>(doc).map(|d| Decoded {
            value: Object::EventBus(Box::new(d.value)),
            unknown_fields: d.unknown_fields,
        }),
        "EventSource" => gocompat::from_value::<EventSource>(doc).map(|d| Decoded {
            value: Object::EventSource(Box::new(d.value)),
            unknown_fields: d.unknown_fields,
        }),
        _ => gocompat::from_value::<Sensor>(doc).map(|d| Decoded {
            value: Object::Sensor(Box::new(d.value)),
            unknown_fields: d.unknown_fields,
        }),
    })
}

impl Object {
    /// The object encoded back to JSON.
    pub fn to_json(&self) -> Value {
        let encoded = match self {
            Object::EventBus(o) => serde_json::to_value(o),
            Object::EventSource(o) => serde_json::to_value(o),
            Object::Sensor(o) => serde_json::to_value(o),
        };
        encoded.unwrap_or_else(|e| unreachable!("invariant: API types always encode: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_yaml_documents_counting_empty_ones() {
        let text = "a: 1\n---\n# only a comment\n---\nb: [x, 2]\n";
        let (docs, err) = parse_documents("f.yaml", text);
        assert!(err.is_none());
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].index, 0);
        assert_eq!(docs[1].index, 2);
        assert_eq!(docs[1].value, serde_json::json!({"b": ["x", 2]}));
    }

    #[test]
    fn yaml_keys_become_strings_and_merges_apply() {
        let text = "base: &b {x: 1}\nm:\n  <<: *b\n  1: one\n  true: yes\n";
        let (docs, err) = parse_documents("f.yaml", text);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(
            docs[0].value["m"],
            serde_json::json!({"x": 1, "1": "one", "true": "yes"})
        );
    }

    #[test]
    fn reports_the_document_that_does_not_parse() {
        let text = "a: 1\n---\nb: [unclosed\n";
        let (docs, err) = parse_documents("f.yaml", text);
        assert_eq!(docs.len(), 1);
        match err {
            Some(ManifestError::Parse { index, .. }) => assert_eq!(index, 1),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn json_files_and_lists_expand() {
        let text = r#"{"kind":"List","apiVersion":"v1","items":[{"kind":"A"},{"kind":"B"}]}"#;
        let (docs, err) = parse_documents("f.json", text);
        assert!(err.is_none());
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].kind(), Some("B"));
    }

    #[test]
    fn classifies_by_api_version_and_kind() {
        use serde_json::json;
        let ours = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor"});
        assert_eq!(classify(&ours), DocKind::Ours("Sensor"));
        let wrong = json!({"apiVersion": "argoproj.io/v1beta1", "kind": "Sensor"});
        assert_eq!(classify(&wrong), DocKind::UnsupportedArgo);
        let wf = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow"});
        assert_eq!(classify(&wf), DocKind::Foreign);
        assert_eq!(classify(&json!({"kind": "Role"})), DocKind::Untyped);
    }
}
