//! NATS subscribers (`spec.nats.<name>`): every message on `subject` (in queue group `queue`
//! when set) becomes `{"subject", "body", "header"?, "metadata"?}`.
//!
//! `body` is the payload embedded as JSON when `jsonBody` is true and the payload is valid
//! JSON, otherwise the bytes as a base64 string (how Go marshals `[]byte`; upstream drops a
//! message whose payload is not JSON when `jsonBody` is set). `header` (name → values) is
//! present when the message has headers. Authentication with `auth.token` or `auth.basic`;
//! `auth.nkey`, `auth.credential` and `tls` are refused as not supported yet.
//!
//! Core NATS has no redelivery: a message is gone once delivered to this subscriber. Publishing
//! it to the bus is therefore retried with backoff; when that still fails, the message is lost,
//! which is logged and reported to the observer (`publish_failed`). Messages are handled one at
//! a time, in order; while the bus is down they queue in the client, and the server drops them
//! for a slow consumer once that buffer is full.

use std::collections::BTreeMap;
use std::time::Duration;

use argo_events_api::NATSEventsSource;
use argo_events_api::defaults::EffectiveBackoff;
use async_nats::{ConnectOptions, Subscriber};
use base64::Engine as _;
use futures::StreamExt as _;

use crate::publish::{Retry, new_event, publish_retrying};
use crate::webhook::{json_object, read_secret, refuse_filter, to_json};
use crate::{SecretReader, SourceContext, SourceError};

/// The CloudEvent `type` (and spec key) of NATS events.
pub const EVENT_TYPE: &str = "nats";

enum Auth {
    None,
    Token(String),
    User { username: String, password: String },
}

/// One NATS event, checked and ready to run.
pub(crate) struct NatsSource {
    event_source: String,
    event_name: String,
    servers: Vec<String>,
    subject: String,
    queue: Option<String>,
    json_body: bool,
    metadata: BTreeMap<String, String>,
    auth: Auth,
    connect_backoff: EffectiveBackoff,
}

/// Checks one NATS event and reads its credentials.
pub(crate) fn prepare(
    event_source: &str,
    event_name: &str,
    spec: &NATSEventsSource,
    secrets: &dyn SecretReader,
) -> Result<NatsSource, SourceError> {
    let invalid = |reason: String| SourceError::Invalid {
        event_source: event_source.to_owned(),
        kind: EVENT_TYPE,
        event: event_name.to_owned(),
        reason,
    };
    let secret = |field: &str, selector| {
        read_secret(
            secrets,
            event_source,
            EVENT_TYPE,
            event_name,
            field,
            selector,
        )
    };
    refuse_filter(event_source, EVENT_TYPE, event_name, spec.filter.as_ref())?;
    if spec.url.is_empty() {
        return Err(invalid("url must be specified".into()));
    }
    if spec.subject.is_empty() {
        return Err(invalid("subject must be specified".into()));
    }
    if spec.queue.as_deref() == Some("") {
        return Err(invalid("queue group cannot be empty if specified".into()));
    }
    if spec.tls.is_some() {
        return Err(invalid(
            "tls: TLS connections to NATS are not supported yet".into(),
        ));
    }
    let auth = match &spec.auth {
        None => Auth::None,
        Some(a) => {
            let set = [
                a.basic.is_some(),
                a.token.is_some(),
                a.nkey.is_some(),
                a.credential.is_some(),
            ];
            if set.iter().filter(|s| **s).count() > 1 {
                return Err(invalid(
                    "auth: set only one of basic, token, nkey, credential".into(),
                ));
            }
            if a.nkey.is_some() {
                return Err(invalid(
                    "auth.nkey: NKey authentication is not supported yet".into(),
                ));
            }
            if a.credential.is_some() {
                return Err(invalid(
                    "auth.credential: credentials-file authentication is not supported yet".into(),
                ));
            }
            match (&a.basic, &a.token) {
                (Some(basic), _) => {
                    let (Some(user), Some(pass)) = (&basic.username, &basic.password) else {
                        return Err(invalid(
                            "auth.basic needs both username and password".into(),
                        ));
                    };
                    Auth::User {
                        username: secret("auth.basic.username", user)?,
                        password: secret("auth.basic.password", pass)?,
                    }
                }
                (None, Some(token)) => Auth::Token(secret("auth.token", token)?),
                (None, None) => Auth::None,
            }
        }
    };
    let connect_backoff = spec
        .connection_backoff
        .clone()
        .unwrap_or_default()
        .effective()
        .map_err(|e| invalid(format!("connectionBackoff: {e}")))?;
    Ok(NatsSource {
        event_source: event_source.to_owned(),
        event_name: event_name.to_owned(),
        servers: spec
            .url
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        subject: spec.subject.clone(),
        queue: spec.queue.clone(),
        json_body: spec.json_body,
        metadata: spec.metadata.clone(),
        auth,
        connect_backoff,
    })
}

/// The event payload for a message.
pub(crate) fn payload(
    message: &async_nats::Message,
    json_body: bool,
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    let subject = to_json(&message.subject.as_str());
    let body = match json_body {
        true => crate::webhook::compact(&message.payload).ok(),
        false => None,
    }
    .unwrap_or_else(|| {
        to_json(&base64::engine::general_purpose::STANDARD.encode(&message.payload))
    });
    let headers: Option<BTreeMap<String, Vec<&str>>> = message
        .headers
        .as_ref()
        .map(|h| {
            h.iter()
                .map(|(name, values)| {
                    (
                        name.to_string(),
                        values.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|h| !h.is_empty());
    let headers = headers.map(|h| to_json(&h));
    let metadata_json = to_json(metadata);
    let mut members: Vec<(&str, &[u8])> = vec![("subject", &subject), ("body", &body)];
    if let Some(h) = &headers {
        members.push(("header", h));
    }
    if !metadata.is_empty() {
        members.push(("metadata", &metadata_json));
    }
    json_object(&members)
}

/// A random fraction in [0, 1) for backoff jitter.
fn random_fraction() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

impl NatsSource {
    fn start_error(&self, what: &str, reason: String) -> SourceError {
        SourceError::Start {
            event_source: self.event_source.clone(),
            what: format!(
                "nats event {}: {what} ({} subject {})",
                self.event_name,
                self.servers.join(","),
                self.subject
            ),
            reason,
        }
    }

    fn options(&self) -> ConnectOptions {
        let options = ConnectOptions::new()
            .name(format!(
                "argo-events {}/{}",
                self.event_source, self.event_name
            ))
            .connection_timeout(Duration::from_secs(5));
        match &self.auth {
            Auth::None => options,
            Auth::Token(token) => options.token(token.clone()),
            Auth::User { username, password } => {
                options.user_and_password(username.clone(), password.clone())
            }
        }
    }

    /// Connects and subscribes, retrying the connection as `connectionBackoff` says.
    async fn subscribe(&self) -> Result<Subscriber, SourceError> {
        let backoff = &self.connect_backoff;
        let mut wait = backoff.duration;
        let mut attempt = 1;
        let client = loop {
            match self.options().connect(self.servers.clone()).await {
                Ok(client) => break client,
                Err(e) if attempt < backoff.steps => {
                    let jittered = wait.mul_f64(1.0 + backoff.jitter * random_fraction());
                    tracing::warn!(
                        event_source = %self.event_source,
                        event = %self.event_name,
                        error = %e,
                        attempt,
                        retry_in = ?jittered,
                        "connecting to NATS failed"
                    );
                    tokio::time::sleep(jittered).await;
                    wait = wait.mul_f64(backoff.factor.max(1.0));
                    attempt += 1;
                }
                Err(e) => {
                    return Err(
                        self.start_error("connecting", format!("{e} (after {attempt} attempts)"))
                    );
                }
            }
        };
        let subscribed = match &self.queue {
            Some(queue) => {
                client
                    .queue_subscribe(self.subject.clone(), queue.clone())
                    .await
            }
            None => client.subscribe(self.subject.clone()).await,
        };
        let subscriber = subscribed.map_err(|e| self.start_error("subscribing", e.to_string()))?;
        client
            .flush()
            .await
            .map_err(|e| self.start_error("subscribing", e.to_string()))?;
        tracing::info!(
            event_source = %self.event_source,
            event = %self.event_name,
            subject = %self.subject,
            queue = ?self.queue,
            "subscribed to NATS"
        );
        Ok(subscriber)
    }

    /// Publishes every message until `ctx.shutdown` is cancelled.
    pub(crate) async fn run(self, ctx: SourceContext) -> Result<(), SourceError> {
        let mut subscriber = tokio::select! {
            s = self.subscribe() => s?,
            () = ctx.shutdown.cancelled() => return Ok(()),
        };
        loop {
            let message = tokio::select! {
                m = subscriber.next() => m,
                () = ctx.shutdown.cancelled() => {
                    if let Err(e) = subscriber.unsubscribe().await {
                        tracing::debug!(error = %e, "unsubscribing from NATS failed");
                    }
                    return Ok(());
                }
            };
            let Some(message) = message else {
                return Err(self.start_error(
                    "subscription",
                    "the subscription was closed by the client".into(),
                ));
            };
            let data = payload(&message, self.json_body, &self.metadata);
            let event = new_event(&ctx, &self.event_source, EVENT_TYPE, &self.event_name, data);
            let published = tokio::select! {
                r = publish_retrying(&ctx, &event, Retry::PUBLISH, tokio::time::sleep) => r,
                () = ctx.shutdown.cancelled() => {
                    let reason = "stopped while retrying; the NATS message is lost";
                    tracing::error!(
                        event_source = %self.event_source,
                        event = %self.event_name,
                        id = %event.id,
                        "{reason}"
                    );
                    ctx.observer.publish_failed(&self.event_name, reason);
                    return Ok(());
                }
            };
            if published.is_ok() {
                tracing::debug!(
                    event_source = %self.event_source,
                    event = %self.event_name,
                    id = %event.id,
                    "NATS message published"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn message(payload: &[u8], headers: &[(&str, &str)]) -> async_nats::Message {
        let mut map = async_nats::HeaderMap::new();
        for (k, v) in headers {
            map.append(*k, *v);
        }
        async_nats::Message {
            subject: "orders.new".into(),
            reply: None,
            payload: bytes::Bytes::copy_from_slice(payload),
            headers: if headers.is_empty() { None } else { Some(map) },
            status: None,
            description: None,
            length: payload.len(),
        }
    }

    #[test]
    fn payloads() {
        let meta = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
        let cases = [
            (
                message(br#"{"id": 1}"#, &[]),
                true,
                BTreeMap::new(),
                json!({"subject": "orders.new", "body": {"id": 1}}),
            ),
            (
                message(br#"{"id": 1}"#, &[]),
                false,
                BTreeMap::new(),
                json!({"subject": "orders.new", "body": "eyJpZCI6IDF9"}),
            ),
            (
                message(b"not json", &[]),
                true,
                BTreeMap::new(),
                json!({"subject": "orders.new", "body": "bm90IGpzb24="}),
            ),
            (
                message(b"1", &[("X-Trace", "t1"), ("X-Trace", "t2")]),
                true,
                meta.clone(),
                json!({"subject": "orders.new", "body": 1, "header": {"X-Trace": ["t1", "t2"]}, "metadata": {"team": "a"}}),
            ),
        ];
        for (msg, json_body, metadata, want) in cases {
            let got: Value = serde_json::from_slice(&payload(&msg, json_body, &metadata)).unwrap();
            assert_eq!(got, want);
        }
        // Key order as Go marshals the struct.
        let raw = payload(&message(b"2", &[("A", "1")]), true, &meta);
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            r#"{"subject":"orders.new","body":2,"header":{"A":["1"]},"metadata":{"team":"a"}}"#
        );
    }
}
