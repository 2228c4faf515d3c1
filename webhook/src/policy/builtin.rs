//! The built-in policy rules: checks a JSON Schema cannot express, written in Rust and
//! configured by `spec.rule.params`. Each reads the object as written (JSON) and returns
//! `(path, problem)` pairs.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::rules::key_path;

/// The names of the built-in rules.
pub const BUILTIN_RULES: [&str; 3] = ["http-url-allow-list", "required-labels", "unique-field"];

/// A built-in rule with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `http-url-allow-list`: every HTTP trigger URL (dead-letter triggers included) starts
    /// with one of `prefixes`, and no trigger parameter rewrites the URL from event data.
    HttpUrlAllowList {
        /// Allowed URL prefixes.
        prefixes: Vec<String>,
    },
    /// `required-labels`: `metadata.labels` has each of `labels` with a non-empty value.
    RequiredLabels {
        /// Label keys.
        labels: Vec<String>,
    },
    /// `unique-field`: the objects of the list at `items` (a JSON pointer) have distinct values
    /// of `field`.
    UniqueField {
        /// JSON pointer to the list, e.g. `/spec/dependencies`.
        items: String,
        /// The field of each item, e.g. `name`.
        field: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Prefixes {
    prefixes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Labels {
    labels: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Unique {
    items: String,
    field: String,
}

impl Rule {
    /// The rule `name` with `params`; the error says what is wrong with either.
    pub fn parse(name: &str, params: Value) -> Result<Rule, String> {
        let bad = |e: serde_json::Error| format!("params of {name}: {e}");
        let rule = match name {
            "http-url-allow-list" => {
                let p: Prefixes = serde_json::from_value(params).map_err(bad)?;
                if p.prefixes.is_empty() || p.prefixes.iter().any(String::is_empty) {
                    return Err(format!(
                        "params of {name}: prefixes must be a non-empty list of non-empty strings"
                    ));
                }
                Rule::HttpUrlAllowList {
                    prefixes: p.prefixes,
                }
            }
            "required-labels" => {
                let p: Labels = serde_json::from_value(params).map_err(bad)?;
                if p.labels.is_empty() || p.labels.iter().any(String::is_empty) {
                    return Err(format!(
                        "params of {name}: labels must be a non-empty list of label keys"
                    ));
                }
                Rule::RequiredLabels { labels: p.labels }
            }
            "unique-field" => {
                let p: Unique = serde_json::from_value(params).map_err(bad)?;
                if !p.items.starts_with('/') || p.field.is_empty() {
                    return Err(format!(
                        "params of {name}: items must be a JSON pointer (\"/spec/dependencies\") and field non-empty"
                    ));
                }
                Rule::UniqueField {
                    items: p.items,
                    field: p.field,
                }
            }
            other => {
                return Err(format!(
                    "unknown built-in rule {other:?}; the built-in rules: {}",
                    BUILTIN_RULES.join(", ")
                ));
            }
        };
        Ok(rule)
    }

    /// The `(path, problem)` pairs of `object`.
    pub fn check(&self, object: &Value) -> Vec<(String, String)> {
        match self {
            Rule::HttpUrlAllowList { prefixes } => {
                let mut out = Vec::new();
                let triggers = object.pointer("/spec/triggers").and_then(Value::as_array);
                for (i, trigger) in triggers.into_iter().flatten().enumerate() {
                    http_trigger(trigger, &format!("spec.triggers[{i}]"), prefixes, &mut out);
                }
                out
            }
            Rule::RequiredLabels { labels } => {
                let present = object.pointer("/metadata/labels");
                labels
                    .iter()
                    .filter(|key| {
                        present
                            .and_then(|l| l.get(key.as_str()))
                            .and_then(Value::as_str)
                            .is_none_or(str::is_empty)
                    })
                    .map(|key| {
                        (
                            key_path("metadata.labels", key),
                            format!("label {key:?} is missing or empty"),
                        )
                    })
                    .collect()
            }
            Rule::UniqueField { items, field } => {
                let list_path =
                    items
                        .trim_start_matches('/')
                        .split('/')
                        .fold(String::new(), |acc, seg| {
                            if acc.is_empty() {
                                seg.to_owned()
                            } else {
                                key_path(&acc, seg)
                            }
                        });
                let mut seen: BTreeMap<String, usize> = BTreeMap::new();
                let mut out = Vec::new();
                let list = object.pointer(items).and_then(Value::as_array);
                for (i, item) in list.into_iter().flatten().enumerate() {
                    let Some(value) = item.get(field) else {
                        continue;
                    };
                    let key = value.to_string();
                    if let Some(first) = seen.get(&key) {
                        out.push((
                            key_path(&format!("{list_path}[{i}]"), field),
                            format!("{field} {key} is already used by item {first}"),
                        ));
                    } else {
                        seen.insert(key, i);
                    }
                }
                out
            }
        }
    }
}

/// The URL of the HTTP trigger at `path` (and of its dead-letter trigger), and parameters that
/// would rewrite it.
fn http_trigger(trigger: &Value, path: &str, prefixes: &[String], out: &mut Vec<(String, String)>) {
    let dest_is = |p: &Value, dests: &[&str]| {
        p.get("dest")
            .and_then(Value::as_str)
            .is_some_and(|d| dests.contains(&d))
    };
    let http = trigger.pointer("/template/http");
    if let Some(http) = http {
        let url = http.get("url").and_then(Value::as_str).unwrap_or("");
        if !prefixes.iter().any(|p| url.starts_with(p.as_str())) {
            out.push((
                format!("{path}.template.http.url"),
                format!(
                    "URL {url:?} does not start with an allowed prefix ({})",
                    prefixes.join(", ")
                ),
            ));
        }
        let params = http.get("parameters").and_then(Value::as_array);
        for (j, _) in params
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, p)| dest_is(p, &["url"]))
        {
            out.push((
                format!("{path}.template.http.parameters[{j}].dest"),
                "the URL is set from event data, so it cannot be checked against the allow list"
                    .into(),
            ));
        }
        let params = trigger.get("parameters").and_then(Value::as_array);
        for (j, _) in params
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, p)| dest_is(p, &["http.url"]))
        {
            out.push((
                format!("{path}.parameters[{j}].dest"),
                "the URL is set from event data, so it cannot be checked against the allow list"
                    .into(),
            ));
        }
    }
    if let Some(dlq) = trigger.get("dlqTrigger") {
        http_trigger(dlq, &format!("{path}.dlqTrigger"), prefixes, out);
    }
}
