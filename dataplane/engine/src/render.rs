//! Trigger rendering: what a trigger would do with the events of one firing, computed without
//! performing it. The order is upstream's: template parameters, then the action's source, then
//! the action's own parameters and payload.

use std::collections::BTreeMap;

use argo_events_api::gocompat;
use argo_events_api::{ArtifactLocation, HTTPTrigger, Trigger, TriggerParameter, TriggerTemplate};
use serde_json::{Map, Value, json};

use crate::params;
use argo_events_api::cloudevent::Event;

/// Fetches a trigger's source when it is not inline (file, URL, git, S3, ConfigMap). The
/// runtime fetches for real; offline tools read local files or refuse.
pub trait SourceLoader {
    /// The source decoded as a Kubernetes object.
    fn load(&self, location: &ArtifactLocation) -> Result<Value, String>;
}

/// A loader for offline use: only inline and embedded sources work.
pub struct InlineOnly;

impl SourceLoader for InlineOnly {
    fn load(&self, location: &ArtifactLocation) -> Result<Value, String> {
        Err(format!(
            "the {} source cannot be read here; only `inline` and `resource` sources are",
            source_kind(location)
        ))
    }
}

/// The name of the kind of source a location points at.
pub fn source_kind(location: &ArtifactLocation) -> &'static str {
    if location.s3.is_some() {
        "s3"
    } else if location.inline.is_some() {
        "inline"
    } else if location.file.is_some() {
        "file"
    } else if location.url.is_some() {
        "url"
    } else if location.configmap.is_some() {
        "configmap"
    } else if location.git.is_some() {
        "git"
    } else if location.resource.is_some() {
        "resource"
    } else {
        "empty"
    }
}

/// A rendered trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The action kind (`k8s`, `argoWorkflow`, `http`, `log`, …).
    pub kind: &'static str,
    /// The trigger template after template-level parameters.
    pub template: TriggerTemplate,
    /// What the action acts on: the resource (k8s, argoWorkflow), `{url, method, headers,
    /// payload}` (http), the message (log), or the resolved action spec (others).
    pub output: Value,
}

/// Renders a trigger for the events of one firing (dependency name → event).
pub fn render(
    trigger: &Trigger,
    events: &BTreeMap<String, Event>,
    loader: &dyn SourceLoader,
) -> Result<Rendered, String> {
    let template = trigger
        .template
        .as_ref()
        .ok_or("the trigger has no template")?;
    let template = apply_template_parameters(template, &trigger.parameters, events)?;
    let kind = template
        .kind()
        .ok_or("the trigger template names no action (k8s, argoWorkflow, http, log, …)")?;
    let output = match kind {
        "k8s" => {
            let k8s = template.k8s.as_ref().ok_or("invariant: k8s set")?;
            resource(k8s.source.as_ref(), &k8s.parameters, events, loader)?
        }
        "argoWorkflow" => {
            let wf = template
                .argo_workflow
                .as_ref()
                .ok_or("invariant: argoWorkflow set")?;
            resource(wf.source.as_ref(), &wf.parameters, events, loader)?
        }
        "http" => http(template.http.as_ref().ok_or("invariant: http set")?, events)?,
        "log" => log_message(events),
        other => generic(&template, other, events)?,
    };
    Ok(Rendered {
        kind,
        template,
        output,
    })
}

fn apply_template_parameters(
    template: &TriggerTemplate,
    parameters: &[TriggerParameter],
    events: &BTreeMap<String, Event>,
) -> Result<TriggerTemplate, String> {
    if parameters.is_empty() {
        return Ok(template.clone());
    }
    let mut doc = serde_json::to_value(template).map_err(|e| e.to_string())?;
    params::apply(&mut doc, parameters, events).map_err(|e| format!("template {e}"))?;
    gocompat::from_value::<TriggerTemplate>(&doc)
        .map(|d| d.value)
        .map_err(|e| format!("template parameters produced an invalid template: {e}"))
}

fn resource(
    source: Option<&ArtifactLocation>,
    parameters: &[TriggerParameter],
    events: &BTreeMap<String, Event>,
    loader: &dyn SourceLoader,
) -> Result<Value, String> {
    let source = source.ok_or("the trigger has no source")?;
    let mut object = if let Some(resource) = &source.resource {
        resource.clone()
    } else if let Some(inline) = &source.inline {
        argo_events_api::manifest::parse_yaml(inline)
            .map_err(|e| format!("inline source is not YAML or JSON: {e}"))?
    } else {
        loader.load(source)?
    };
    if !object.is_object() {
        return Err("the trigger source is not an object".into());
    }
    params::apply(&mut object, parameters, events).map_err(|e| format!("resource {e}"))?;
    Ok(object)
}

fn http(spec: &HTTPTrigger, events: &BTreeMap<String, Event>) -> Result<Value, String> {
    let spec = apply_spec_parameters(spec, &spec.parameters, events)?;
    let payload = params::construct_payload(&spec.payload, events)?;
    let mut headers = Map::new();
    for (k, v) in &spec.headers {
        headers.insert(k.clone(), json!(v));
    }
    for secure in &spec.secure_headers {
        let from = secure.value_from.as_ref();
        let shown = match (
            from.and_then(|f| f.secret_key_ref.as_ref()),
            from.and_then(|f| f.config_map_key_ref.as_ref()),
        ) {
            (Some(s), _) => format!("<secret {}/{}>", s.name, s.key),
            (None, Some(c)) => format!("<configmap {}/{}>", c.name, c.key),
            (None, None) => "<unset>".to_owned(),
        };
        headers.insert(secure.name.clone(), json!(shown));
    }
    for (i, dynamic) in spec.dynamic_headers.iter().enumerate() {
        let Some(src) = dynamic.src.as_ref() else {
            return Err(format!("dynamic header {i}: src is missing"));
        };
        if let Some(v) =
            params::resolve(src, events).map_err(|e| format!("dynamic header {i}: {e}"))?
        {
            headers.insert(dynamic.dest.clone(), json!(v.value));
        }
    }
    Ok(json!({
        "url": spec.url,
        "method": spec.effective_method(),
        "headers": headers,
        "payload": body_value(&payload),
    }))
}

/// Applies an action's own `parameters` to its spec and decodes the result again.
fn apply_spec_parameters<T>(
    spec: &T,
    parameters: &[TriggerParameter],
    events: &BTreeMap<String, Event>,
) -> Result<T, String>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Clone,
{
    if parameters.is_empty() {
        return Ok(spec.clone());
    }
    let mut doc = serde_json::to_value(spec).map_err(|e| e.to_string())?;
    params::apply(&mut doc, parameters, events).map_err(|e| format!("trigger {e}"))?;
    gocompat::from_value::<T>(&doc)
        .map(|d| d.value)
        .map_err(|e| format!("trigger parameters produced an invalid spec: {e}"))
}

/// A body for display: JSON when it parses, else text.
fn body_value(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body).unwrap_or_else(|_| json!(String::from_utf8_lossy(body)))
}

/// The log trigger's message: each event's dependency, source/subject and data.
fn log_message(events: &BTreeMap<String, Event>) -> Value {
    let lines: Vec<String> = events
        .iter()
        .map(|(dep, e)| format!("{dep} ({}/{}): {}", e.source, e.subject, e.data_text()))
        .collect();
    json!(lines.join("\n"))
}

/// Any other action: its spec after its own `parameters`, with a `payload` parameter list
/// replaced by the body it builds.
fn generic(
    template: &TriggerTemplate,
    kind: &str,
    events: &BTreeMap<String, Event>,
) -> Result<Value, String> {
    let doc = serde_json::to_value(template).map_err(|e| e.to_string())?;
    let mut spec = doc.get(kind).cloned().unwrap_or(Value::Null);
    let own: Vec<TriggerParameter> = decode_params(spec.get("parameters"))?;
    if !own.is_empty() {
        params::apply(&mut spec, &own, events).map_err(|e| format!("trigger {e}"))?;
    }
    if let Some(payload) = spec.get("payload").filter(|p| p.is_array()) {
        let payload: Vec<TriggerParameter> = decode_params(Some(payload))?;
        let body = params::construct_payload(&payload, events)?;
        if let Some(obj) = spec.as_object_mut() {
            obj.insert("payload".into(), body_value(&body));
        }
    }
    if let Some(obj) = spec.as_object_mut() {
        obj.remove("parameters");
    }
    Ok(spec)
}

fn decode_params(value: Option<&Value>) -> Result<Vec<TriggerParameter>, String> {
    match value {
        None => Ok(Vec::new()),
        Some(v) => gocompat::from_value::<Vec<TriggerParameter>>(v)
            .map(|d| d.value)
            .map_err(|e| e.to_string()),
    }
}
