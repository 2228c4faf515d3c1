//! GitHub webhooks (`spec.github.<name>`): deliveries GitHub POSTs to the `webhook` endpoint.
//!
//! As upstream: the body is JSON (`Content-Type: application/json`) or a form whose `payload`
//! field holds the JSON (`application/x-www-form-urlencoded`); with a `webhookSecret` the
//! `X-Hub-Signature-256` (HMAC-SHA256, preferred) or `X-Hub-Signature` (HMAC-SHA1) signature
//! over the raw body must match, otherwise 400 and nothing is published; an empty secret means
//! no check. The body must be a JSON object; it is published with `X-GitHub-Event` and
//! `X-GitHub-Delivery` keys added, as `{"headers", "body", "metadata"}`. `webhook.method` is
//! not checked (as upstream).
//!
//! Beyond upstream, which publishes every delivery: when `events` is set and does not contain
//! `*`, a delivery whose `X-GitHub-Event` is not listed is answered 200 and not published.
//!
//! Hooks are not registered with the GitHub API: the hook must exist already. When
//! credentials and `webhook.url` are set (upstream would register it) a warning says so.

use std::collections::BTreeMap;

use argo_events_api::GithubEventSource;
use hmac::{Hmac, KeyInit, Mac};
use http::StatusCode;

use crate::webhook::server::{Accepted, HttpRoute, Incoming, Rejection, RouteBase, RouteHandler};
use crate::webhook::{
    form_values, header, media_type, payload, read_secret, refuse_filter, require_context,
};
use crate::{SecretReader, SourceError};

/// The CloudEvent `type` (and spec key) of GitHub events.
pub const EVENT_TYPE: &str = "github";

/// Header naming the GitHub event type, also added to the body.
pub const EVENT_HEADER: &str = "X-GitHub-Event";
/// Header with the delivery id, also added to the body.
pub const DELIVERY_HEADER: &str = "X-GitHub-Delivery";

/// What a GitHub route needs besides the common part.
pub(crate) struct GithubRoute {
    secret: String,
    /// `None`: every event type is published.
    events: Option<Vec<String>>,
    metadata: BTreeMap<String, String>,
}

/// Checks one GitHub event and reads its webhook secret.
pub(crate) fn prepare(
    event_source: &str,
    event_name: &str,
    spec: &GithubEventSource,
    secrets: &dyn SecretReader,
) -> Result<HttpRoute, SourceError> {
    refuse_filter(event_source, EVENT_TYPE, event_name, spec.filter.as_ref())?;
    let context = require_context(event_source, EVENT_TYPE, event_name, spec.webhook.as_ref())?;
    let base = RouteBase::from_context(event_source, EVENT_TYPE, event_name, context, secrets)?;
    if !matches!(spec.content_type.as_str(), "" | "json" | "form") {
        return Err(SourceError::Invalid {
            event_source: event_source.to_owned(),
            kind: EVENT_TYPE,
            event: event_name.to_owned(),
            reason: format!(
                "contentType must be \"json\" or \"form\", got {:?}",
                spec.content_type
            ),
        });
    }
    let secret = match &spec.webhook_secret {
        Some(selector) => read_secret(
            secrets,
            event_source,
            EVENT_TYPE,
            event_name,
            "webhookSecret",
            selector,
        )?,
        None => String::new(),
    };
    if secret.is_empty() {
        tracing::warn!(
            event_source,
            event = event_name,
            "no webhookSecret: GitHub deliveries are not authenticated"
        );
    }
    let has_credentials = spec.api_token.is_some() || spec.github_app.is_some();
    if has_credentials && !context.url.is_empty() {
        tracing::warn!(
            event_source,
            event = event_name,
            url = %format!("{}{}", context.url.trim_end_matches('/'), context.endpoint),
            "GitHub hook registration is not implemented: the hook must already exist \
             (deleteHookOnFinish has no effect either)"
        );
    }
    let events = if spec.events.is_empty() || spec.events.iter().any(|e| e == "*") {
        None
    } else {
        Some(spec.events.clone())
    };
    Ok(HttpRoute {
        base,
        handler: RouteHandler::Github(GithubRoute {
            secret,
            events,
            metadata: spec.metadata.clone(),
        }),
    })
}

/// Turns a delivery into the GitHub payload.
pub(crate) async fn handle(
    route: &GithubRoute,
    incoming: &mut Incoming,
) -> Result<Accepted, Rejection> {
    let raw = incoming.body().await?;
    let json = match media_type(header(incoming, "content-type")).as_str() {
        "application/json" => raw.to_vec(),
        "application/x-www-form-urlencoded" => {
            let (form, problem) = form_values(&raw);
            if let Some(problem) = problem {
                return Err(Rejection::bad_request(format!(
                    "failed to parse form body: {problem}"
                )));
            }
            form.get("payload")
                .and_then(|v| v.first())
                .cloned()
                .unwrap_or_default()
                .into_bytes()
        }
        other => {
            return Err(Rejection::bad_request(format!(
                "webhook request has unsupported Content-Type {other:?}"
            )));
        }
    };
    if !route.secret.is_empty() {
        let mut signature = header(incoming, "x-hub-signature-256");
        if signature.is_empty() {
            signature = header(incoming, "x-hub-signature");
        }
        verify_signature(signature, &raw, route.secret.as_bytes())
            .map_err(Rejection::bad_request)?;
    }
    let mut body: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&json)
        .map_err(|e| Rejection::bad_request(format!("request body is not a JSON object: {e}")))?;
    let event_type = header(incoming, EVENT_HEADER).to_owned();
    if let Some(events) = &route.events
        && !events.contains(&event_type)
    {
        return Ok(Accepted::Ignore(format!(
            "{EVENT_HEADER} {event_type:?} is not one of the configured events {events:?}"
        )));
    }
    let delivery = header(incoming, DELIVERY_HEADER).to_owned();
    body.insert(EVENT_HEADER.to_owned(), event_type.into());
    body.insert(DELIVERY_HEADER.to_owned(), delivery.into());
    let body = serde_json::to_vec(&body).map_err(|e| Rejection {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("failed to encode body: {e}"),
    })?;
    Ok(Accepted::Publish(payload(
        "headers",
        &incoming.go_headers,
        &body,
        &route.metadata,
    )))
}

/// GitHub's signature check as go-github's `ValidateSignature` does it: `<algo>=<hex>` with
/// `sha1`, `sha256` or `sha512`, compared in constant time.
pub(crate) fn verify_signature(signature: &str, body: &[u8], secret: &[u8]) -> Result<(), String> {
    if signature.is_empty() {
        return Err("missing signature".to_owned());
    }
    let (algorithm, hex) = signature
        .split_once('=')
        .ok_or_else(|| format!("error parsing signature {signature:?}"))?;
    let expected =
        decode_hex(hex).ok_or_else(|| format!("error decoding signature {signature:?}"))?;
    let matches = match algorithm {
        "sha1" => mac_matches::<Hmac<sha1::Sha1>>(secret, body, &expected),
        "sha256" => mac_matches::<Hmac<sha2::Sha256>>(secret, body, &expected),
        "sha512" => mac_matches::<Hmac<sha2::Sha512>>(secret, body, &expected),
        other => return Err(format!("unknown hash type prefix: {other:?}")),
    };
    if matches {
        Ok(())
    } else {
        Err("payload signature check failed".to_owned())
    }
}

fn mac_matches<M: Mac + KeyInit>(secret: &[u8], body: &[u8], expected: &[u8]) -> bool {
    let mut mac =
        <M as KeyInit>::new_from_slice(secret).expect("invariant: HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(expected).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The `X-Hub-Signature-256` value GitHub sends for a body (for tests and tools).
pub fn sign_sha256(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret)
        .expect("invariant: HMAC accepts keys of any length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let secret = b"It's a Secret to Everybody";
        let body = b"Hello, World!";
        // GitHub's documented example.
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign_sha256(secret, body), good);
        let sha1 = {
            let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret).unwrap();
            mac.update(body);
            let hex: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("sha1={hex}")
        };
        let cases: Vec<(&str, Result<(), &str>)> = vec![
            (good, Ok(())),
            (&sha1, Ok(())),
            ("", Err("missing signature")),
            ("sha256", Err("error parsing signature \"sha256\"")),
            ("sha256=zz", Err("error decoding signature \"sha256=zz\"")),
            ("md5=00", Err("unknown hash type prefix: \"md5\"")),
            (
                "sha256=0000000000000000000000000000000000000000000000000000000000000000",
                Err("payload signature check failed"),
            ),
        ];
        for (signature, want) in cases {
            assert_eq!(
                verify_signature(signature, body, secret),
                want.map_err(str::to_owned),
                "{signature}"
            );
        }
    }
}
