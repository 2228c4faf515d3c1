//! The event envelope: a CloudEvents 1.0 context plus the payload bytes, as EventSources
//! publish it and Sensors receive it.
//!
//! On the bus an event is the CloudEvent in JSON structured mode; [`Event::from_cloudevent`]
//! reads that form (with `data` as JSON, or `data_base64` for exact bytes) and
//! [`Event::to_cloudevent`] writes it back.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// JSON media type: data is JSON.
pub const MEDIA_TYPE_JSON: &str = "application/json";
/// YAML media type: data is YAML (parameters convert it to JSON).
pub const MEDIA_TYPE_YAML: &str = "application/yaml";

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique id (JetStream deduplicates on it).
    pub id: String,
    /// The EventSource object name.
    pub source: String,
    /// CloudEvents version, `1.0`.
    pub specversion: String,
    /// The source kind, e.g. `webhook`.
    pub type_: String,
    /// Media type of `data`.
    pub datacontenttype: String,
    /// The event name inside the EventSource.
    pub subject: String,
    /// When the EventSource emitted it.
    pub time: Option<DateTime<Utc>>,
    /// The payload bytes.
    pub data: Vec<u8>,
}

/// A CloudEvent that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CloudEvent: {0}")]
pub struct EventError(pub String);

impl Event {
    /// Reads a CloudEvent in JSON structured mode.
    pub fn from_cloudevent(value: &Value) -> Result<Event, EventError> {
        let obj = value
            .as_object()
            .ok_or_else(|| EventError("expected a JSON object".into()))?;
        let text = |key: &str| -> Result<String, EventError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(EventError(format!("{key} must be a string, got {other}"))),
            }
        };
        let specversion = text("specversion")?;
        if !specversion.is_empty() && specversion != "1.0" {
            return Err(EventError(format!(
                "specversion {specversion:?} is not supported (only 1.0)"
            )));
        }
        let time = match text("time")? {
            t if t.is_empty() => None,
            t => Some(
                DateTime::parse_from_rfc3339(&t)
                    .map_err(|e| EventError(format!("time {t:?} is not RFC 3339: {e}")))?
                    .with_timezone(&Utc),
            ),
        };
        let datacontenttype = match text("datacontenttype")? {
            t if t.is_empty() => MEDIA_TYPE_JSON.to_owned(),
            t => t,
        };
        let data = match (obj.get("data"), obj.get("data_base64")) {
            (Some(_), Some(_)) => {
                return Err(EventError(
                    "data and data_base64 are mutually exclusive".into(),
                ));
            }
            (None | Some(Value::Null), None) => Vec::new(),
            (None, Some(Value::String(b64))) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| EventError(format!("data_base64: {e}")))?,
            (None, Some(_)) => return Err(EventError("data_base64 must be a string".into())),
            (Some(Value::String(s)), None) if !is_json_type(&datacontenttype) => {
                s.as_bytes().to_vec()
            }
            (Some(v), None) => serde_json::to_vec(v).map_err(|e| EventError(e.to_string()))?,
        };
        Ok(Event {
            id: text("id")?,
            source: text("source")?,
            specversion: if specversion.is_empty() {
                "1.0".into()
            } else {
                specversion
            },
            type_: text("type")?,
            datacontenttype,
            subject: text("subject")?,
            time,
            data,
        })
    }

    /// The CloudEvent in JSON structured mode: JSON data inline, anything else as
    /// `data_base64`.
    pub fn to_cloudevent(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("specversion".into(), json!(self.specversion));
        obj.insert("id".into(), json!(self.id));
        obj.insert("source".into(), json!(self.source));
        obj.insert("type".into(), json!(self.type_));
        obj.insert("subject".into(), json!(self.subject));
        obj.insert("datacontenttype".into(), json!(self.datacontenttype));
        if let Some(t) = self.time {
            obj.insert(
                "time".into(),
                json!(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            );
        }
        match self.data_json() {
            Some(v) => {
                obj.insert("data".into(), v);
            }
            None if self.data.is_empty() => {}
            None => {
                obj.insert(
                    "data_base64".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(&self.data)),
                );
            }
        }
        Value::Object(obj)
    }

    /// The data parsed as JSON, when the media type says JSON and it parses.
    pub fn data_json(&self) -> Option<Value> {
        if !is_json_type(&self.datacontenttype) || self.data.is_empty() {
            return None;
        }
        serde_json::from_slice(&self.data).ok()
    }

    /// The context as upstream serializes it for `contextKey`/`contextTemplate` and the
    /// whole-event parameter: fixed key order, empty strings kept, `time` in RFC 3339 seconds
    /// (UTC) or `null`.
    pub fn context_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("id".into(), json!(self.id));
        obj.insert("source".into(), json!(self.source));
        obj.insert("specversion".into(), json!(self.specversion));
        obj.insert("type".into(), json!(self.type_));
        obj.insert("datacontenttype".into(), json!(self.datacontenttype));
        obj.insert("subject".into(), json!(self.subject));
        obj.insert(
            "time".into(),
            match self.time {
                Some(t) => json!(t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                None => Value::Null,
            },
        );
        Value::Object(obj)
    }

    /// The whole event as upstream marshals it for a parameter with no key: the context and the
    /// data as base64 (Go serializes bytes that way).
    pub fn whole_event_json(&self) -> String {
        let value = json!({
            "context": self.context_json(),
            "data": base64::engine::general_purpose::STANDARD.encode(&self.data),
        });
        value.to_string()
    }

    /// The data as text for people: UTF-8 if it is, else base64.
    pub fn data_text(&self) -> String {
        match std::str::from_utf8(&self.data) {
            Ok(s) => s.to_owned(),
            Err(_) => base64::engine::general_purpose::STANDARD.encode(&self.data),
        }
    }
}

/// Whether a media type carries JSON (`application/json`, `text/json`, `…+json`).
pub fn is_json_type(media_type: &str) -> bool {
    let base = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    base == "application/json" || base == "text/json" || base.ends_with("+json")
}

impl serde::Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_cloudevent().serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Event::from_cloudevent(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push() -> Value {
        json!({
            "specversion": "1.0", "id": "abc", "source": "webhook", "type": "webhook",
            "subject": "push", "time": "2026-01-02T03:04:05.123Z",
            "datacontenttype": "application/json",
            "data": {"body": {"ref": "refs/heads/main"}},
        })
    }

    #[test]
    fn reads_structured_json() {
        let e = Event::from_cloudevent(&push()).unwrap();
        assert_eq!(e.source, "webhook");
        assert_eq!(e.subject, "push");
        assert_eq!(
            e.data_json(),
            Some(json!({"body": {"ref": "refs/heads/main"}}))
        );
        assert_eq!(
            e.context_json()["time"],
            json!("2026-01-02T03:04:05Z"),
            "context time is RFC 3339 seconds"
        );
    }

    #[test]
    fn data_base64_keeps_exact_bytes() {
        let e = Event::from_cloudevent(&json!({
            "specversion": "1.0", "id": "1", "source": "s", "type": "t", "subject": "e",
            "datacontenttype": "application/octet-stream", "data_base64": "AAEC/w==",
        }))
        .unwrap();
        assert_eq!(e.data, vec![0, 1, 2, 255]);
        assert_eq!(e.to_cloudevent()["data_base64"], "AAEC/w==");
        let again = Event::from_cloudevent(&e.to_cloudevent()).unwrap();
        assert_eq!(again, e);
    }

    #[test]
    fn round_trips_through_serde() {
        let e = Event::from_cloudevent(&push()).unwrap();
        let text = serde_json::to_string(&e).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn whole_event_is_context_plus_base64_data() {
        let e = Event::from_cloudevent(&push()).unwrap();
        let v: Value = serde_json::from_str(&e.whole_event_json()).unwrap();
        let keys: Vec<&String> = v["context"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "id",
                "source",
                "specversion",
                "type",
                "datacontenttype",
                "subject",
                "time"
            ]
        );
        let data = base64::engine::general_purpose::STANDARD
            .decode(v["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(data, br#"{"body":{"ref":"refs/heads/main"}}"#);
    }

    #[test]
    fn rejects_bad_envelopes() {
        for bad in [
            json!([1]),
            json!({"specversion": "0.3"}),
            json!({"time": "yesterday"}),
            json!({"data": 1, "data_base64": "AA=="}),
            json!({"id": 5}),
        ] {
            assert!(Event::from_cloudevent(&bad).is_err(), "{bad}");
        }
    }
}
