//! Trigger parameters: resolve a value from the events (`src`) and write it at `dest`, exactly
//! as upstream does (template, then key, then `value`; `useRawData`; append/prepend).

use std::collections::BTreeMap;

use argo_events_api::{TriggerParameter, TriggerParameterSource};
use serde_json::Value;

use crate::gotemplate::Template;
use crate::{jsonpath, sjson};
use argo_events_api::cloudevent::{Event, MEDIA_TYPE_JSON, MEDIA_TYPE_YAML};

/// The JSON type name gjson gives a result; only `String` is written as a string when
/// `useRawData` is set, every other type is inserted as raw JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A plain string (templates, defaults, whole events, JSON strings).
    String,
    /// Anything else: number, bool, null, object or array.
    Raw,
}

/// A resolved parameter value.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The value as text (raw JSON text for objects and arrays).
    pub value: String,
    /// How it is written with `useRawData`.
    pub kind: ValueType,
}

impl Resolved {
    fn string(value: String) -> Self {
        Resolved {
            value,
            kind: ValueType::String,
        }
    }
}

/// Resolves a parameter source against the events of a firing (dependency name → event).
/// `Ok(None)` means the dependency has no event here and no default: the parameter is
/// skipped, as upstream does for `||` conditions.
pub fn resolve(
    src: &TriggerParameterSource,
    events: &BTreeMap<String, Event>,
) -> Result<Option<Resolved>, String> {
    let Some(event) = events.get(&src.dependency_name) else {
        return Ok(src.value.clone().map(Resolved::string));
    };
    let selects_data = !src.data_key.is_empty() || !src.data_template.is_empty();
    let selects_context = !src.context_key.is_empty() || !src.context_template.is_empty();
    if !selects_data && !selects_context {
        return Ok(Some(Resolved::string(
            src.value
                .clone()
                .unwrap_or_else(|| event.whole_event_json()),
        )));
    }
    let (payload, key, template) = if selects_data {
        (data_as_json(event), &src.data_key, &src.data_template)
    } else {
        (
            Ok(event.context_json().to_string()),
            &src.context_key,
            &src.context_template,
        )
    };
    let payload = match payload {
        Ok(p) => p,
        Err(e) => {
            return match &src.value {
                Some(v) => Ok(Some(Resolved::string(v.clone()))),
                None => Err(unresolved(src, &e)),
            };
        }
    };
    let mut last_error = String::new();
    if !template.is_empty() {
        match render_template(template, &payload) {
            Ok(out) => return Ok(Some(Resolved::string(out))),
            Err(e) => last_error = e,
        }
    }
    if !key.is_empty() {
        match jsonpath::get(&payload, key) {
            Some(found) => {
                let (value, kind) = match found.kind() {
                    jsonpath::Kind::String => (found.go_string(), ValueType::String),
                    jsonpath::Kind::Json | jsonpath::Kind::Null => {
                        (found.raw().to_owned(), ValueType::Raw)
                    }
                    _ => (found.go_string(), ValueType::Raw),
                };
                return Ok(Some(Resolved { value, kind }));
            }
            None => last_error = format!("key {key} does not exist in the event payload"),
        }
    }
    match &src.value {
        Some(v) => Ok(Some(Resolved::string(v.clone()))),
        None => Err(unresolved(src, &last_error)),
    }
}

fn unresolved(src: &TriggerParameterSource, why: &str) -> String {
    format!(
        "unable to resolve '{}' parameter value: {why}",
        src.dependency_name
    )
}

/// The event data as JSON text, for `dataKey`/`dataTemplate`: JSON as is, YAML converted;
/// other media types are refused, as upstream refuses them.
fn data_as_json(event: &Event) -> Result<String, String> {
    match event.datacontenttype.as_str() {
        MEDIA_TYPE_JSON => {
            let text = std::str::from_utf8(&event.data)
                .map_err(|_| "event data is not valid JSON".to_owned())?;
            serde_json::from_str::<serde::de::IgnoredAny>(text)
                .map_err(|_| "event data is not valid JSON".to_owned())?;
            Ok(text.to_owned())
        }
        MEDIA_TYPE_YAML => {
            let text = std::str::from_utf8(&event.data)
                .map_err(|_| "event data is not valid YAML".to_owned())?;
            let json = argo_events_api::manifest::parse_yaml(text)
                .map_err(|e| format!("failed converting YAML event data to JSON: {e}"))?;
            Ok(json.to_string())
        }
        other => Err(format!("unsupported event content type: {other}")),
    }
}

/// Renders a parameter template with `.Input` = the payload; "" and `<no value>` are failures.
fn render_template(src: &str, payload_json: &str) -> Result<String, String> {
    let input: Value =
        serde_json::from_str(payload_json).map_err(|e| format!("payload is not JSON: {e}"))?;
    let out = Template::parse(src)?.render(&input)?;
    if out.is_empty() || out == "<no value>" {
        return Err(format!(
            "template evaluated to empty string or no value: {src}"
        ));
    }
    Ok(out)
}

/// Applies parameters to a JSON document (a trigger template, a resource or a trigger spec).
pub fn apply(
    doc: &mut Value,
    params: &[TriggerParameter],
    events: &BTreeMap<String, Event>,
) -> Result<(), String> {
    for (i, param) in params.iter().enumerate() {
        let src = param
            .src
            .as_ref()
            .ok_or_else(|| format!("parameter {i}: src is missing"))?;
        let Some(mut resolved) = resolve(src, events).map_err(|e| format!("parameter {i}: {e}"))?
        else {
            continue;
        };
        match param.operation.as_str() {
            "append" | "prepend" => {
                if let Some(current) = sjson::get_str(doc, &param.dest) {
                    let current = jsonpath::go_string_of(current);
                    resolved.value = if param.operation == "append" {
                        current + &resolved.value
                    } else {
                        resolved.value + &current
                    };
                    resolved.kind = ValueType::String;
                }
            }
            "" | "overwrite" => {}
            other => return Err(format!("parameter {i}: unsupported operation {other:?}")),
        }
        let value =
            to_json(&resolved, src.use_raw_data).map_err(|e| format!("parameter {i}: {e}"))?;
        sjson::set(doc, &param.dest, value)
            .map_err(|e| format!("parameter {i}: dest {:?}: {e}", param.dest))?;
    }
    Ok(())
}

/// The value to write: raw JSON when `useRawData` and the value is not a string.
fn to_json(resolved: &Resolved, use_raw_data: bool) -> Result<Value, String> {
    if use_raw_data && resolved.kind == ValueType::Raw {
        serde_json::from_str(&resolved.value)
            .map_err(|e| format!("useRawData: {:?} is not JSON: {e}", resolved.value))
    } else {
        Ok(Value::String(resolved.value.clone()))
    }
}

/// Builds a request body from `payload` parameters: a fresh JSON object, or, for an entry with
/// an empty `dest`, that entry's value as the whole body.
pub fn construct_payload(
    params: &[TriggerParameter],
    events: &BTreeMap<String, Event>,
) -> Result<Vec<u8>, String> {
    let mut body = Value::Null;
    for (i, param) in params.iter().enumerate() {
        let src = param
            .src
            .as_ref()
            .ok_or_else(|| format!("payload {i}: src is missing"))?;
        let resolved = resolve(src, events).map_err(|e| format!("payload {i}: {e}"))?;
        if param.dest.is_empty() {
            match resolved {
                Some(r) => return Ok(r.value.into_bytes()),
                None => continue,
            }
        }
        let Some(resolved) = resolved else {
            continue;
        };
        let value =
            to_json(&resolved, src.use_raw_data).map_err(|e| format!("payload {i}: {e}"))?;
        sjson::set(&mut body, &param.dest, value)
            .map_err(|e| format!("payload {i}: dest {:?}: {e}", param.dest))?;
    }
    if body.is_null() {
        return Ok(Vec::new());
    }
    serde_json::to_vec(&body).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn context_parameters_read_both_cloudevents_versions_alike() {
        let events = |specversion: &str, schema_key: &str| {
            let event = Event::from_cloudevent(&json!({
                "specversion": specversion, "id": "1", "source": "es", "type": "webhook",
                "subject": "push", schema_key: "https://example.com/s.json",
                "data": {"a": 1},
            }))
            .expect("event");
            BTreeMap::from([("d".to_owned(), event)])
        };
        let context = |key: &str, template: &str, value: Option<&str>| TriggerParameterSource {
            dependency_name: "d".into(),
            context_key: key.into(),
            context_template: template.into(),
            value: value.map(str::to_owned),
            ..TriggerParameterSource::default()
        };
        for (version, schema_key) in [("1.0", "dataschema"), ("0.3", "schemaurl")] {
            let events = events(version, schema_key);
            // (parameter source, resolved value or the error's start)
            let cases = [
                (context("specversion", "", None), Ok(version.to_owned())),
                (
                    context("", "{{ .Input.specversion }}/{{ .Input.subject }}", None),
                    Ok(format!("{version}/push")),
                ),
                // Upstream's event context has no schema attribute in either version.
                (
                    context("dataschema", "", Some("none")),
                    Ok("none".to_owned()),
                ),
                (
                    context("schemaurl", "", Some("none")),
                    Ok("none".to_owned()),
                ),
                (
                    context(schema_key, "", None),
                    Err(format!("key {schema_key} does not exist")),
                ),
            ];
            for (src, want) in cases {
                let got = resolve(&src, &events).map(|r| r.expect("resolved").value);
                match (&got, &want) {
                    (Ok(got), Ok(want)) => assert_eq!(got, want, "{version} {src:?}"),
                    (Err(got), Err(want)) => {
                        assert!(got.contains(want.as_str()), "{version}: {got}")
                    }
                    _ => panic!("{version} {src:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }
}
