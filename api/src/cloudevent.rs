//! The event envelope: a CloudEvents context plus the payload bytes, as EventSources
//! publish it and Sensors receive it.
//!
//! On the bus an event is the CloudEvent in JSON structured mode; [`Event::from_cloudevent`]
//! reads that form (with `data` as JSON, or `data_base64` for exact bytes) and
//! [`Event::to_cloudevent`] writes it back. The bus reader, the Sensor runtime and the
//! plugin's `simulate`/`test` all read events here, so they accept the same versions.
//!
//! Like upstream's SDK, both CloudEvents 1.0 and 0.3 are read. They differ only where bytes
//! travel: 1.0 carries exact bytes as `data_base64`, 0.3 as a base64 string in `data` with
//! `datacontentencoding: base64` (its only allowed value). Each version's schema attribute
//! (1.0 `dataschema`, 0.3 `schemaurl`) must be a string when present but is not kept: upstream's
//! Sensor hands filters and parameters the same seven context fields for both versions
//! ([`Event::context_json`]), with `specversion` as written. The other version's attribute
//! names are extensions there and are ignored here.
//!
//! One extension is kept: the CloudEvents distributed-tracing extension (`traceparent`, and
//! `tracestate` with it), the same attribute names in both versions ([`TraceContext`]). The
//! EventSource writes the W3C trace context of the span that received the event there, and
//! the Sensor continues that trace. Like every extension it stays out of [`Event::context_json`]
//! (upstream's Sensor hands filters the seven fields only).

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// JSON media type: data is JSON.
pub const MEDIA_TYPE_JSON: &str = "application/json";
/// YAML media type: data is YAML (parameters convert it to JSON).
pub const MEDIA_TYPE_YAML: &str = "application/yaml";
/// CloudEvents 1.0, what this project writes and what an event without `specversion` is read as.
pub const SPEC_VERSION_1_0: &str = "1.0";
/// CloudEvents 0.3, read (and written back) as upstream's SDK does.
pub const SPEC_VERSION_0_3: &str = "0.3";

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique id (JetStream deduplicates on it).
    pub id: String,
    /// The EventSource object name.
    pub source: String,
    /// CloudEvents version, `1.0` or `0.3`.
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
    /// The distributed-tracing extension attributes, when the event carries them.
    pub trace: TraceContext,
}

/// The CloudEvents distributed-tracing extension: a W3C trace context as two string
/// attributes. Written as they were read; [`Event::from_cloudevent`] only checks they are
/// strings (a malformed `traceparent` starts a new trace where it is read, it does not lose the
/// event).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    /// `traceparent`: `00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`.
    pub traceparent: Option<String>,
    /// `tracestate`: vendor-specific trace state, only meaningful with a `traceparent`.
    pub tracestate: Option<String>,
}

/// The extension attribute carrying the W3C `traceparent`.
pub const TRACEPARENT: &str = "traceparent";
/// The extension attribute carrying the W3C `tracestate`.
pub const TRACESTATE: &str = "tracestate";

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
        let specversion = match text("specversion")? {
            v if v.is_empty() => SPEC_VERSION_1_0.to_owned(),
            v if v == SPEC_VERSION_1_0 || v == SPEC_VERSION_0_3 => v,
            v => {
                return Err(EventError(format!(
                    "specversion {v:?} is not supported (only {SPEC_VERSION_1_0} and {SPEC_VERSION_0_3})"
                )));
            }
        };
        let v03 = specversion == SPEC_VERSION_0_3;
        text(if v03 { "schemaurl" } else { "dataschema" })?;
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
        let data = if v03 {
            read_data_v03(obj, &datacontenttype)?
        } else {
            read_data_v1(obj, &datacontenttype)?
        };
        let optional = |key: &str| -> Result<Option<String>, EventError> {
            Ok(Some(text(key)?).filter(|s| !s.is_empty()))
        };
        // A tracestate means nothing without a traceparent; it is dropped then.
        let traceparent = optional(TRACEPARENT)?;
        let tracestate = optional(TRACESTATE)?.filter(|_| traceparent.is_some());
        let trace = TraceContext {
            traceparent,
            tracestate,
        };
        Ok(Event {
            id: text("id")?,
            source: text("source")?,
            specversion,
            type_: text("type")?,
            datacontenttype,
            subject: text("subject")?,
            time,
            data,
            trace,
        })
    }

    /// The CloudEvent in JSON structured mode: JSON data inline, anything else as base64
    /// (`data_base64` in 1.0; `data` with `datacontentencoding: base64` in 0.3).
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
        if let Some(tp) = &self.trace.traceparent {
            obj.insert(TRACEPARENT.into(), json!(tp));
            if let Some(ts) = &self.trace.tracestate {
                obj.insert(TRACESTATE.into(), json!(ts));
            }
        }
        match self.data_json() {
            Some(v) => {
                obj.insert("data".into(), v);
            }
            None if self.data.is_empty() => {}
            None => {
                let encoded = json!(base64::engine::general_purpose::STANDARD.encode(&self.data));
                if self.specversion == SPEC_VERSION_0_3 {
                    obj.insert("datacontentencoding".into(), json!(BASE64_ENCODING));
                    obj.insert("data".into(), encoded);
                } else {
                    obj.insert("data_base64".into(), encoded);
                }
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

/// The one `datacontentencoding` CloudEvents 0.3 allows.
const BASE64_ENCODING: &str = "base64";

fn decode_base64(key: &str, encoded: &str) -> Result<Vec<u8>, EventError> {
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| EventError(format!("{key}: {e}")))
}

/// Inline `data` that is not base64: a string is the bytes themselves unless the media type
/// says JSON; anything else is JSON.
fn inline_data(value: &Value, datacontenttype: &str) -> Result<Vec<u8>, EventError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if !is_json_type(datacontenttype) => Ok(s.as_bytes().to_vec()),
        v => serde_json::to_vec(v).map_err(|e| EventError(e.to_string())),
    }
}

/// 1.0: `data` inline or `data_base64`, not both.
fn read_data_v1(obj: &Map<String, Value>, datacontenttype: &str) -> Result<Vec<u8>, EventError> {
    match (obj.get("data"), obj.get("data_base64")) {
        (Some(_), Some(_)) => Err(EventError(
            "data and data_base64 are mutually exclusive".into(),
        )),
        (None, None) => Ok(Vec::new()),
        (None, Some(Value::String(b64))) => decode_base64("data_base64", b64),
        (None, Some(_)) => Err(EventError("data_base64 must be a string".into())),
        (Some(v), None) => inline_data(v, datacontenttype),
    }
}

/// 0.3: `data`, a base64 string when `datacontentencoding` is `base64`.
fn read_data_v03(obj: &Map<String, Value>, datacontenttype: &str) -> Result<Vec<u8>, EventError> {
    let base64 = match obj.get("datacontentencoding") {
        None | Some(Value::Null) => false,
        Some(Value::String(e)) if e == BASE64_ENCODING => true,
        Some(other) => {
            return Err(EventError(format!(
                "datacontentencoding {other} is not supported (only {BASE64_ENCODING:?})"
            )));
        }
    };
    match obj.get("data") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(b64)) if base64 => decode_base64("data", b64),
        Some(_) if base64 => Err(EventError(
            "data must be a base64 string when datacontentencoding is base64".into(),
        )),
        Some(v) => inline_data(v, datacontenttype),
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
            json!({"specversion": "0.2"}),
            json!({"time": "yesterday"}),
            json!({"data": 1, "data_base64": "AA=="}),
            json!({"id": 5}),
        ] {
            assert!(Event::from_cloudevent(&bad).is_err(), "{bad}");
        }
    }

    /// One event in a version's attribute names, with extra attributes merged in.
    fn versioned(specversion: &str, extra: Value) -> Value {
        let mut v = json!({
            "specversion": specversion, "id": "1", "source": "es", "type": "webhook",
            "subject": "push", "time": "2026-01-02T03:04:05Z",
        });
        let (Value::Object(obj), Value::Object(extra)) = (&mut v, extra) else {
            panic!("objects");
        };
        obj.extend(extra);
        v
    }

    #[test]
    fn reads_both_versions_into_the_same_event() {
        // (case, CloudEvent, datacontenttype, data bytes)
        let cases: Vec<(&str, Value, &str, &[u8])> = vec![
            (
                "1.0 JSON data",
                versioned("1.0", json!({"data": {"a": 1}})),
                MEDIA_TYPE_JSON,
                br#"{"a":1}"#,
            ),
            (
                "0.3 JSON data",
                versioned("0.3", json!({"data": {"a": 1}})),
                MEDIA_TYPE_JSON,
                br#"{"a":1}"#,
            ),
            (
                "1.0 text data",
                versioned(
                    "1.0",
                    json!({"datacontenttype": "text/plain", "data": "hi"}),
                ),
                "text/plain",
                b"hi",
            ),
            (
                "0.3 text data",
                versioned(
                    "0.3",
                    json!({"datacontenttype": "text/plain", "data": "hi"}),
                ),
                "text/plain",
                b"hi",
            ),
            (
                "1.0 data_base64",
                versioned(
                    "1.0",
                    json!({"datacontenttype": "application/octet-stream", "data_base64": "AAEC/w=="}),
                ),
                "application/octet-stream",
                &[0, 1, 2, 255],
            ),
            (
                "0.3 datacontentencoding base64",
                versioned(
                    "0.3",
                    json!({"datacontenttype": "application/octet-stream",
                           "datacontentencoding": "base64", "data": "AAEC/w=="}),
                ),
                "application/octet-stream",
                &[0, 1, 2, 255],
            ),
            (
                "0.3 base64 JSON data is the decoded JSON",
                versioned(
                    "0.3",
                    json!({"datacontentencoding": "base64", "data": "eyJhIjoxfQ=="}),
                ),
                MEDIA_TYPE_JSON,
                br#"{"a":1}"#,
            ),
            (
                "1.0 dataschema is read but not kept",
                versioned(
                    "1.0",
                    json!({"dataschema": "https://example.com/s.json", "data": {"a": 1}}),
                ),
                MEDIA_TYPE_JSON,
                br#"{"a":1}"#,
            ),
            (
                "0.3 schemaurl is read but not kept",
                versioned(
                    "0.3",
                    json!({"schemaurl": "https://example.com/s.json", "data": {"a": 1}}),
                ),
                MEDIA_TYPE_JSON,
                br#"{"a":1}"#,
            ),
            (
                "1.0: datacontentencoding is only an extension",
                versioned(
                    "1.0",
                    json!({"datacontentencoding": "base64", "data": "AAEC"}),
                ),
                MEDIA_TYPE_JSON,
                br#""AAEC""#,
            ),
            (
                "0.3: data_base64 is only an extension",
                versioned("0.3", json!({"data_base64": "AAEC", "data": {"a": 1}})),
                MEDIA_TYPE_JSON,
                br#"{"a":1}"#,
            ),
            (
                "0.3 without data",
                versioned("0.3", json!({"datacontentencoding": "base64"})),
                MEDIA_TYPE_JSON,
                b"",
            ),
        ];
        for (case, ce, datacontenttype, data) in cases {
            let e = Event::from_cloudevent(&ce).unwrap_or_else(|err| panic!("{case}: {err}"));
            let want_version = ce["specversion"].as_str().expect("specversion");
            assert_eq!(e.specversion, want_version, "{case}");
            assert_eq!(e.datacontenttype, datacontenttype, "{case}");
            assert_eq!(e.data, data, "{case}");
            assert_eq!(
                (
                    e.id.as_str(),
                    e.source.as_str(),
                    e.type_.as_str(),
                    e.subject.as_str()
                ),
                ("1", "es", "webhook", "push"),
                "{case}"
            );
            let back = Event::from_cloudevent(&e.to_cloudevent())
                .unwrap_or_else(|err| panic!("{case}: written back: {err}"));
            assert_eq!(back, e, "{case}: round trip");
        }
    }

    #[test]
    fn context_is_the_same_seven_fields_for_both_versions() {
        for (version, schema_key) in [("1.0", "dataschema"), ("0.3", "schemaurl")] {
            let e = Event::from_cloudevent(&versioned(
                version,
                json!({schema_key: "https://example.com/s.json"}),
            ))
            .unwrap();
            assert_eq!(
                e.context_json(),
                json!({
                    "id": "1", "source": "es", "specversion": version, "type": "webhook",
                    "datacontenttype": "application/json", "subject": "push",
                    "time": "2026-01-02T03:04:05Z",
                }),
                "{version}"
            );
        }
    }

    #[test]
    fn writes_bytes_in_each_versions_form() {
        let bytes = |specversion: &str| Event {
            id: "1".into(),
            source: "es".into(),
            specversion: specversion.into(),
            type_: "webhook".into(),
            datacontenttype: "application/octet-stream".into(),
            subject: "push".into(),
            time: None,
            data: vec![0, 1, 2, 255],
            trace: TraceContext::default(),
        };
        let v1 = bytes("1.0").to_cloudevent();
        assert_eq!(v1["data_base64"], "AAEC/w==");
        assert!(v1.get("data").is_none() && v1.get("datacontentencoding").is_none());
        let v03 = bytes("0.3").to_cloudevent();
        assert_eq!(v03["specversion"], "0.3");
        assert_eq!(v03["datacontentencoding"], "base64");
        assert_eq!(v03["data"], "AAEC/w==");
        assert!(v03.get("data_base64").is_none());
        // JSON data stays inline in 0.3 too, without an encoding.
        let json_03 = Event::from_cloudevent(&versioned("0.3", json!({"data": {"a": 1}})))
            .unwrap()
            .to_cloudevent();
        assert_eq!(json_03["data"], json!({"a": 1}));
        assert!(json_03.get("datacontentencoding").is_none());
    }

    #[test]
    fn refuses_what_neither_version_allows() {
        // (CloudEvent, the error it gets)
        let cases = [
            (
                json!({"specversion": "0.2"}),
                r#"invalid CloudEvent: specversion "0.2" is not supported (only 1.0 and 0.3)"#,
            ),
            (
                json!({"specversion": "1"}),
                r#"invalid CloudEvent: specversion "1" is not supported (only 1.0 and 0.3)"#,
            ),
            (
                json!({"specversion": 0.3}),
                "invalid CloudEvent: specversion must be a string, got 0.3",
            ),
            (
                versioned("0.3", json!({"datacontentencoding": "gzip", "data": "x"})),
                r#"invalid CloudEvent: datacontentencoding "gzip" is not supported (only "base64")"#,
            ),
            (
                versioned(
                    "0.3",
                    json!({"datacontentencoding": "base64", "data": {"a": 1}}),
                ),
                "invalid CloudEvent: data must be a base64 string when datacontentencoding is base64",
            ),
            (
                versioned(
                    "0.3",
                    json!({"datacontentencoding": "base64", "data": "!!"}),
                ),
                "invalid CloudEvent: data: Invalid symbol 33, offset 0.",
            ),
            (
                versioned("0.3", json!({"schemaurl": 5})),
                "invalid CloudEvent: schemaurl must be a string, got 5",
            ),
            (
                versioned("1.0", json!({"dataschema": 5})),
                "invalid CloudEvent: dataschema must be a string, got 5",
            ),
            (
                versioned("1.0", json!({"data": 1, "data_base64": "AA=="})),
                "invalid CloudEvent: data and data_base64 are mutually exclusive",
            ),
            (
                versioned("0.3", json!({"time": "yesterday"})),
                "invalid CloudEvent: time \"yesterday\" is not RFC 3339: premature end of input",
            ),
        ];
        for (ce, want) in cases {
            let err = Event::from_cloudevent(&ce).expect_err(&ce.to_string());
            assert_eq!(err.to_string(), want, "{ce}");
        }
    }

    #[test]
    fn trace_context_round_trips_in_both_versions() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        for version in ["1.0", "0.3"] {
            let ce = versioned(
                version,
                json!({"traceparent": tp, "tracestate": "congo=t61rcWkgMzE", "data": {"a": 1}}),
            );
            let e = Event::from_cloudevent(&ce).unwrap();
            assert_eq!(
                e.trace,
                TraceContext {
                    traceparent: Some(tp.into()),
                    tracestate: Some("congo=t61rcWkgMzE".into()),
                },
                "{version}"
            );
            let written = e.to_cloudevent();
            assert_eq!(written["traceparent"], tp, "{version}");
            assert_eq!(written["tracestate"], "congo=t61rcWkgMzE", "{version}");
            assert_eq!(Event::from_cloudevent(&written).unwrap(), e, "{version}");
            // Through serde as the bus carries it.
            let back: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
            assert_eq!(back, e, "{version}");
            // Extensions are not part of the context filters see.
            assert!(e.context_json().get("traceparent").is_none(), "{version}");
        }
    }

    #[test]
    fn trace_context_absent_or_partial() {
        let plain = Event::from_cloudevent(&push()).unwrap();
        assert_eq!(plain.trace, TraceContext::default());
        let written = plain.to_cloudevent();
        assert!(written.get("traceparent").is_none() && written.get("tracestate").is_none());
        // An empty traceparent is none; a tracestate without a traceparent is not written.
        let e = Event::from_cloudevent(&versioned(
            "1.0",
            json!({"traceparent": "", "tracestate": "a=b"}),
        ))
        .unwrap();
        assert_eq!(e.trace, TraceContext::default());
        assert!(e.to_cloudevent().get("tracestate").is_none());
        let err = Event::from_cloudevent(&versioned("1.0", json!({"traceparent": 5})))
            .expect_err("a number");
        assert_eq!(
            err.to_string(),
            "invalid CloudEvent: traceparent must be a string, got 5"
        );
    }
}
