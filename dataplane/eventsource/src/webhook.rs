//! The plain webhook source (`spec.webhook.<name>`) and the HTTP listeners every HTTP source
//! shares ([`server`]).
//!
//! A request becomes the payload `{"header": {name: [values]}, "body": <json>, "metadata": {…}}`
//! exactly as upstream builds it (reference §6.1): the method must equal the configured one
//! (400 `http method does not match`); GET publishes the query parameters as
//! `{"k": ["v"]}`; POST with `Content-Type: application/x-www-form-urlencoded` publishes the form
//! values the same way; any other POST body must be JSON and is embedded as written. The answer
//! is `200 success` only after the bus stored the event, `503` with `Retry-After: 1` when it
//! did not within the context's publish timeout. Two deliberate differences from upstream: a
//! body over `maxPayloadSize` is answered 413 (upstream: 400), and a bus failure 503 (upstream:
//! 500), so callers know to retry.

mod request;
pub(crate) mod server;

use std::collections::BTreeMap;

use argo_events_api::WebhookEventSource;
use http::Method;

use crate::{SecretReader, SourceError};
pub(crate) use request::{GoHeader, json_object, media_type, to_json};
use request::{compact_json, header_text, parse_urlencoded};
use server::{Accepted, HttpRoute, Incoming, Rejection, RouteBase, RouteHandler};

/// The CloudEvent `type` (and spec key) of webhook events.
pub const EVENT_TYPE: &str = "webhook";

/// What a plain webhook route needs besides the common part.
pub(crate) struct WebhookRoute {
    method: Method,
    metadata: BTreeMap<String, String>,
}

/// Refuses an EventSource-level filter, which is not implemented yet.
pub(crate) fn refuse_filter(
    event_source: &str,
    kind: &'static str,
    event_name: &str,
    filter: Option<&argo_events_api::EventSourceFilter>,
) -> Result<(), SourceError> {
    match filter {
        Some(f) if !f.expression.is_empty() => Err(SourceError::Invalid {
            event_source: event_source.to_owned(),
            kind,
            event: event_name.to_owned(),
            reason: format!(
                "filter.expression {:?}: EventSource filter expressions are not supported yet",
                f.expression
            ),
        }),
        _ => Ok(()),
    }
}

/// Checks one webhook event and reads its secrets.
pub(crate) fn prepare(
    event_source: &str,
    event_name: &str,
    spec: &WebhookEventSource,
    secrets: &dyn SecretReader,
) -> Result<HttpRoute, SourceError> {
    refuse_filter(event_source, EVENT_TYPE, event_name, spec.filter.as_ref())?;
    let base = RouteBase::from_context(
        event_source,
        EVENT_TYPE,
        event_name,
        &spec.context(),
        secrets,
    )?;
    let method = match spec.method.as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        other => {
            return Err(SourceError::Invalid {
                event_source: event_source.to_owned(),
                kind: EVENT_TYPE,
                event: event_name.to_owned(),
                reason: if other.is_empty() {
                    "method is required (GET or POST)".to_owned()
                } else {
                    format!(
                        "method {other:?} can never produce an event: only GET and POST \
                         (upper case, as upstream compares them) are accepted"
                    )
                },
            });
        }
    };
    Ok(HttpRoute {
        base,
        handler: RouteHandler::Webhook(WebhookRoute {
            method,
            metadata: spec.metadata.clone(),
        }),
    })
}

/// Upstream's form check: the first `Content-Type` value, compared exactly.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Turns a request into the webhook payload.
pub(crate) async fn handle(
    route: &WebhookRoute,
    incoming: &mut Incoming,
) -> Result<Accepted, Rejection> {
    if incoming.method != route.method {
        return Err(Rejection::bad_request("http method does not match"));
    }
    let body = if incoming.method == Method::GET {
        let (values, _) = parse_urlencoded(incoming.query.as_deref().unwrap_or_default());
        to_json(&values)
    } else if header_text(&incoming.headers, "content-type") == FORM_CONTENT_TYPE {
        let raw = incoming.body().await?;
        let (values, problem) = parse_urlencoded(&String::from_utf8_lossy(&raw));
        if let Some(problem) = problem {
            return Err(Rejection::bad_request(format!(
                "failed to parse form body: {problem}"
            )));
        }
        to_json(&values)
    } else {
        let raw = incoming.body().await?;
        compact_json(&raw)
            .map_err(|e| Rejection::bad_request(format!("request body is not valid JSON: {e}")))?
    };
    Ok(Accepted::Publish(payload(
        "header",
        &incoming.go_headers,
        &body,
        &route.metadata,
    )))
}

/// `{<header_key>: headers, "body": body, "metadata": metadata}`, metadata left out when empty
/// (Go's `omitempty`).
pub(crate) fn payload(
    header_key: &str,
    headers: &GoHeader,
    body: &[u8],
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    let headers = to_json(headers);
    let metadata_json = to_json(metadata);
    let mut members: Vec<(&str, &[u8])> = vec![(header_key, &headers), ("body", body)];
    if !metadata.is_empty() {
        members.push(("metadata", &metadata_json));
    }
    json_object(&members)
}

/// Upstream's check for `webhook` contexts nested in other sources: required.
pub(crate) fn require_context<'a>(
    event_source: &str,
    kind: &'static str,
    event_name: &str,
    context: Option<&'a argo_events_api::WebhookContext>,
) -> Result<&'a argo_events_api::WebhookContext, SourceError> {
    context.ok_or_else(|| SourceError::Invalid {
        event_source: event_source.to_owned(),
        kind,
        event: event_name.to_owned(),
        reason: "webhook (endpoint, port, method) is required".to_owned(),
    })
}

/// Reads a secret for an event, naming the field when it fails.
pub(crate) fn read_secret(
    secrets: &dyn SecretReader,
    event_source: &str,
    kind: &'static str,
    event_name: &str,
    field: &str,
    selector: &argo_events_api::SecretKeySelector,
) -> Result<String, SourceError> {
    secrets.read(selector).map_err(|e| SourceError::Invalid {
        event_source: event_source.to_owned(),
        kind,
        event: event_name.to_owned(),
        reason: format!("{field}: {e}"),
    })
}

/// The header text of a request, for the GitHub and GitLab handlers.
pub(crate) fn header<'a>(incoming: &'a Incoming, name: &str) -> &'a str {
    header_text(&incoming.headers, name)
}

/// Parses `application/x-www-form-urlencoded` text, for the GitHub handler.
pub(crate) fn form_values(raw: &[u8]) -> (BTreeMap<String, Vec<String>>, Option<String>) {
    parse_urlencoded(&String::from_utf8_lossy(raw))
}

/// Checks and compacts a JSON body, for the GitLab handler.
pub(crate) fn compact(raw: &[u8]) -> Result<Vec<u8>, String> {
    compact_json(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_shape() {
        let mut headers = GoHeader::new();
        headers.insert("Content-Type".into(), vec!["application/json".into()]);
        let bare = payload("header", &headers, br#"{"a":1}"#, &BTreeMap::new());
        assert_eq!(
            String::from_utf8(bare).unwrap(),
            r#"{"header":{"Content-Type":["application/json"]},"body":{"a":1}}"#
        );
        let meta = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
        let with = payload("headers", &headers, b"[]", &meta);
        let v: serde_json::Value = serde_json::from_slice(&with).unwrap();
        assert_eq!(
            v,
            json!({"headers": {"Content-Type": ["application/json"]}, "body": [], "metadata": {"k": "v"}})
        );
    }
}
