//! The HTTP listeners shared by the webhook, GitHub and GitLab sources: one server per distinct
//! port, routing by exact path, `/health` on every port, the `authSecret` check, the body limit,
//! and publish-then-answer.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use argo_events_api::WebhookContext;
use argo_events_api::cloudevent::TraceContext;
use argo_events_bus::tracecontext;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use http::{HeaderMap, Method, StatusCode};
use subtle::ConstantTimeEq as _;
use tracing::Instrument as _;

use super::request::{GoHeader, go_header, header_text};
use crate::publish::{new_event, publish_once};
use crate::{SecretReader, SourceContext, SourceError};

/// How long a client should wait before retrying when the bus did not take its event.
const RETRY_AFTER_SECONDS: &str = "1";

/// The path answered with `200 OK` on every port.
const HEALTH_PATH: &str = "/health";

/// Credentials a route requires in the `Authorization` header.
#[derive(Clone)]
pub(crate) enum Auth {
    /// Anyone may call.
    None,
    /// `Authorization: Bearer <token>` (upstream's `authSecret`).
    Bearer(String),
    /// HTTP basic authentication (`basicAuth`).
    Basic {
        /// Expected user name.
        username: String,
        /// Expected password.
        password: String,
    },
}

/// What every HTTP route has, whichever source kind it belongs to.
pub(crate) struct RouteBase {
    /// EventSource name.
    pub(crate) event_source: String,
    /// Source kind: `webhook`, `github` or `gitlab` (also the CloudEvent `type`).
    pub(crate) kind: &'static str,
    /// Event name.
    pub(crate) event_name: String,
    /// Listening port.
    pub(crate) port: u16,
    /// Exact request path.
    pub(crate) endpoint: String,
    /// Largest body read, in bytes.
    pub(crate) max_payload: u64,
    /// Required credentials.
    pub(crate) auth: Auth,
}

impl RouteBase {
    /// Checks a webhook context and reads its secrets: the port must be an integer, the
    /// endpoint a path, TLS is refused (not implemented yet), `authSecret` and `basicAuth` are
    /// read now so a missing secret fails the start rather than every request.
    pub(crate) fn from_context(
        event_source: &str,
        kind: &'static str,
        event_name: &str,
        context: &WebhookContext,
        secrets: &dyn SecretReader,
    ) -> Result<RouteBase, SourceError> {
        let invalid = |reason: String| SourceError::Invalid {
            event_source: event_source.to_owned(),
            kind,
            event: event_name.to_owned(),
            reason,
        };
        if context.port.is_empty() {
            return Err(invalid("port is required".into()));
        }
        let port: u16 = context.port.parse().map_err(|e| {
            invalid(format!(
                "port {:?} is not a TCP port number (1-65535): {e}",
                context.port
            ))
        })?;
        if port == 0 {
            return Err(invalid("port 0 is not a usable TCP port".into()));
        }
        if context.endpoint.is_empty() {
            return Err(invalid("endpoint is required".into()));
        }
        if !context.endpoint.starts_with('/') {
            return Err(invalid(format!(
                "endpoint {:?} must be a path starting with /",
                context.endpoint
            )));
        }
        if context.server_cert_secret.is_some() || context.server_key_secret.is_some() {
            return Err(invalid(
                "serverCertSecret/serverKeySecret: TLS listeners are not supported yet; \
                 terminate TLS in front of the EventSource (Ingress or Service mesh)"
                    .into(),
            ));
        }
        let max_payload = context.max_payload_size.unwrap_or(1_048_576);
        if max_payload <= 0 {
            return Err(invalid(format!(
                "maxPayloadSize must be a positive number of bytes, got {max_payload}"
            )));
        }
        let read = |what: &str, selector: &argo_events_api::SecretKeySelector| {
            secrets
                .read(selector)
                .map_err(|e| invalid(format!("{what}: {e}")))
        };
        let auth = match (&context.auth_secret, &context.basic_auth) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "authSecret and basicAuth both need the Authorization header; set only one"
                        .into(),
                ));
            }
            (Some(selector), None) => {
                let token = read("authSecret", selector)?;
                if token.is_empty() {
                    return Err(invalid("authSecret holds an empty token".into()));
                }
                Auth::Bearer(token)
            }
            (None, Some(basic)) => {
                let (Some(user), Some(pass)) = (&basic.username, &basic.password) else {
                    return Err(invalid("basicAuth needs both username and password".into()));
                };
                Auth::Basic {
                    username: read("basicAuth.username", user)?,
                    password: read("basicAuth.password", pass)?,
                }
            }
            (None, None) => Auth::None,
        };
        Ok(RouteBase {
            event_source: event_source.to_owned(),
            kind,
            event_name: event_name.to_owned(),
            port,
            endpoint: context.endpoint.clone(),
            max_payload: max_payload as u64,
            auth,
        })
    }
}

/// A route: the common part and what its source kind does with a request.
pub(crate) struct HttpRoute {
    /// Port, path, auth, limits.
    pub(crate) base: RouteBase,
    /// The source-specific handling.
    pub(crate) handler: RouteHandler,
}

/// The source-specific part of a route.
pub(crate) enum RouteHandler {
    /// A plain webhook.
    Webhook(super::WebhookRoute),
    /// A GitHub webhook.
    Github(crate::github::GithubRoute),
    /// A GitLab webhook.
    Gitlab(crate::gitlab::GitlabRoute),
}

/// A request that passed routing and authentication.
pub(crate) struct Incoming {
    /// Request method.
    pub(crate) method: Method,
    /// Raw query string.
    pub(crate) query: Option<String>,
    /// Raw headers.
    pub(crate) headers: HeaderMap,
    /// Headers as upstream publishes them (canonical names, `Authorization` masked).
    pub(crate) go_headers: GoHeader,
    body: Option<Body>,
    max_payload: u64,
}

impl Incoming {
    /// Reads the body, refusing more than `maxPayloadSize` bytes with 413.
    pub(crate) async fn body(&mut self) -> Result<Bytes, Rejection> {
        let too_large = |limit: u64| Rejection {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("request body exceeds maxPayloadSize of {limit} bytes"),
        };
        let declared = header_text(&self.headers, "content-length")
            .parse::<u64>()
            .ok();
        if declared.is_some_and(|n| n > self.max_payload) {
            return Err(too_large(self.max_payload));
        }
        let Some(body) = self.body.take() else {
            return Ok(Bytes::new());
        };
        let mut stream = body.into_data_stream();
        let mut buf = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                if argo_events_httpserve::is_body_timeout(&e) {
                    Rejection {
                        status: StatusCode::REQUEST_TIMEOUT,
                        message: format!("failed to read request body: {e}"),
                    }
                } else {
                    Rejection::bad_request(format!("failed to read request body: {e}"))
                }
            })?;
            if (buf.len() + chunk.len()) as u64 > self.max_payload {
                return Err(too_large(self.max_payload));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

/// A request refused before publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    /// Response status.
    pub(crate) status: StatusCode,
    /// Response body and the reason reported to the observer.
    pub(crate) message: String,
}

impl Rejection {
    /// A 400 answer, upstream's `SendErrorResponse`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Rejection {
        Rejection {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

/// What a route decided to do with a valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// Publish this payload, then answer.
    Publish(Vec<u8>),
    /// Answer 200 without publishing (the source's own event filter said no).
    Ignore(String),
}

/// Routes grouped by port, duplicates refused.
pub(crate) fn group_by_port(
    routes: Vec<HttpRoute>,
) -> Result<BTreeMap<u16, Vec<HttpRoute>>, SourceError> {
    let mut by_port: BTreeMap<u16, Vec<HttpRoute>> = BTreeMap::new();
    for route in routes {
        let same_port = by_port.entry(route.base.port).or_default();
        if let Some(other) = same_port
            .iter()
            .find(|r| r.base.endpoint == route.base.endpoint)
        {
            return Err(SourceError::Invalid {
                event_source: route.base.event_source.clone(),
                kind: route.base.kind,
                event: route.base.event_name.clone(),
                reason: format!(
                    "endpoint {} on port {} is already used by {} event {}",
                    route.base.endpoint, route.base.port, other.base.kind, other.base.event_name
                ),
            });
        }
        same_port.push(route);
    }
    Ok(by_port)
}

struct PortState {
    ctx: SourceContext,
    routes: HashMap<String, Arc<HttpRoute>>,
}

/// Serves the routes of one port on all interfaces until `ctx.shutdown` is cancelled, then
/// finishes the requests in flight.
pub(crate) async fn serve(
    event_source: String,
    port: u16,
    routes: Vec<HttpRoute>,
    ctx: SourceContext,
) -> Result<(), SourceError> {
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
        .await
        .map_err(|e| SourceError::Start {
            event_source: event_source.clone(),
            what: format!("HTTP listener on port {port}"),
            reason: e.to_string(),
        })?;
    let endpoints: Vec<String> = routes
        .iter()
        .map(|r| {
            format!(
                "{} → {} {}",
                r.base.endpoint, r.base.kind, r.base.event_name
            )
        })
        .collect();
    tracing::info!(event_source = %event_source, port, routes = ?endpoints, "HTTP listener started");
    let state = Arc::new(PortState {
        ctx: ctx.clone(),
        routes: routes
            .into_iter()
            .map(|r| (r.base.endpoint.clone(), Arc::new(r)))
            .collect(),
    });
    let app = axum::Router::new().fallback(dispatch).with_state(state);
    argo_events_httpserve::serve(
        "eventsource",
        listener,
        app,
        &argo_events_httpserve::Limits::from_env(),
        ctx.shutdown.clone().cancelled_owned(),
    )
    .await;
    tracing::info!(event_source = %event_source, port, "HTTP listener stopped");
    Ok(())
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, body.into()).into_response()
}

async fn dispatch(State(state): State<Arc<PortState>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let Some(route) = state.routes.get(&path).cloned() else {
        if path == HEALTH_PATH {
            return text(StatusCode::OK, "OK");
        }
        return text(StatusCode::NOT_FOUND, "404 page not found");
    };
    // One span per request, continuing the caller's trace when it sent a `traceparent`.
    let incoming = incoming_trace(request.headers());
    let span = tracing::info_span!(
        "receive",
        otel.name = %format_args!("{} {path}", request.method()),
        otel.kind = "server",
        http.request.method = %request.method(),
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        argo.event_source = %route.base.event_source,
        argo.event_name = %route.base.event_name,
        argo.event_type = route.base.kind,
    );
    tracecontext::continue_trace(&span, &incoming);
    let response = handle_request(&state, &route, request, incoming)
        .instrument(span.clone())
        .await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}

/// The W3C trace context of a request's `traceparent` and `tracestate` headers.
fn incoming_trace(headers: &HeaderMap) -> TraceContext {
    let header =
        |name: &str| Some(header_text(headers, name).trim().to_owned()).filter(|s| !s.is_empty());
    let traceparent = header(tracecontext::TRACEPARENT_HEADER);
    TraceContext {
        tracestate: header(tracecontext::TRACESTATE_HEADER).filter(|_| traceparent.is_some()),
        traceparent,
    }
}

async fn handle_request(
    state: &PortState,
    route: &HttpRoute,
    request: Request,
    incoming_trace: TraceContext,
) -> Response {
    let ctx = &state.ctx;
    let base = &route.base;
    let reject = |rejection: Rejection| {
        tracing::info!(
            event_source = %base.event_source,
            event = %base.event_name,
            status = rejection.status.as_u16(),
            reason = %rejection.message,
            "request rejected"
        );
        ctx.observer.rejected(&base.event_name, &rejection.message);
        text(rejection.status, rejection.message)
    };
    let (parts, body) = request.into_parts();
    if let Err(rejection) = check_auth(&base.auth, &parts.headers) {
        return reject(rejection);
    }
    let mut incoming = Incoming {
        method: parts.method,
        query: parts.uri.query().map(str::to_owned),
        go_headers: go_header(&parts.headers),
        headers: parts.headers,
        body: Some(body),
        max_payload: base.max_payload,
    };
    let decision = match &route.handler {
        RouteHandler::Webhook(r) => super::handle(r, &mut incoming).await,
        RouteHandler::Github(r) => crate::github::handle(r, &mut incoming).await,
        RouteHandler::Gitlab(r) => crate::gitlab::handle(r, &mut incoming).await,
    };
    let payload = match decision {
        Err(rejection) => return reject(rejection),
        Ok(Accepted::Ignore(reason)) => {
            tracing::info!(
                event_source = %base.event_source,
                event = %base.event_name,
                reason = %reason,
                "request ignored"
            );
            ctx.observer.rejected(&base.event_name, &reason);
            return text(StatusCode::OK, format!("ignored: {reason}"));
        }
        Ok(Accepted::Publish(payload)) => payload,
    };
    let mut event = new_event(
        ctx,
        &base.event_source,
        base.kind,
        &base.event_name,
        payload,
    );
    // Passed on as it came when this process does not trace; the bus's publish span writes
    // its own (a child of this request's span) when it does.
    event.trace = incoming_trace;
    match publish_once(ctx, &event).await {
        Ok(()) => {
            tracing::info!(
                event_source = %base.event_source,
                event = %base.event_name,
                id = %event.id,
                "event published"
            );
            ctx.observer.published(&event);
            text(StatusCode::OK, "success")
        }
        Err(reason) => {
            tracing::warn!(
                event_source = %base.event_source,
                event = %base.event_name,
                id = %event.id,
                error = %reason,
                "event not published; answering 503"
            );
            ctx.observer.publish_failed(&base.event_name, &reason);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(http::header::RETRY_AFTER, RETRY_AFTER_SECONDS)],
                format!("failed to record event: {reason}"),
            )
                .into_response()
        }
    }
}

fn unauthorized(message: &str) -> Rejection {
    Rejection {
        status: StatusCode::UNAUTHORIZED,
        message: message.to_owned(),
    }
}

fn equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Upstream's `authSecret` check (401 `Invalid Authorization Header` / `Invalid Auth token`),
/// and the same shape for basic authentication.
fn check_auth(auth: &Auth, headers: &HeaderMap) -> Result<(), Rejection> {
    let header = header_text(headers, "authorization");
    match auth {
        Auth::None => Ok(()),
        Auth::Bearer(token) => {
            let Some(given) = header.strip_prefix("Bearer ") else {
                return Err(unauthorized("Invalid Authorization Header"));
            };
            if equal(given.as_bytes(), token.as_bytes()) {
                Ok(())
            } else {
                Err(unauthorized("Invalid Auth token"))
            }
        }
        Auth::Basic { username, password } => {
            let Some(encoded) = header.strip_prefix("Basic ") else {
                return Err(unauthorized("Invalid Authorization Header"));
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .unwrap_or_default();
            let (user, pass) = match decoded.iter().position(|&b| b == b':') {
                Some(i) => (&decoded[..i], &decoded[i + 1..]),
                None => (&decoded[..], &b""[..]),
            };
            // Both comparisons always run, so timing does not tell which one failed.
            let user_ok = equal(user, username.as_bytes());
            let pass_ok = equal(pass, password.as_bytes());
            if user_ok & pass_ok {
                Ok(())
            } else {
                Err(unauthorized("Invalid basic auth credentials"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert("authorization", a.parse().unwrap());
        }
        h
    }

    #[test]
    fn auth_checks() {
        let bearer = Auth::Bearer("s3cret".into());
        let basic = Auth::Basic {
            username: "u".into(),
            password: "p:w".into(),
        };
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cases: Vec<(&Auth, Option<String>, Result<(), &str>)> = vec![
            (&Auth::None, None, Ok(())),
            (&bearer, None, Err("Invalid Authorization Header")),
            (
                &bearer,
                Some("Token s3cret".into()),
                Err("Invalid Authorization Header"),
            ),
            (
                &bearer,
                Some("Bearer nope".into()),
                Err("Invalid Auth token"),
            ),
            (&bearer, Some("Bearer s3cret".into()), Ok(())),
            (
                &basic,
                Some("Bearer x".into()),
                Err("Invalid Authorization Header"),
            ),
            (&basic, Some(format!("Basic {}", b64("u:p:w"))), Ok(())),
            (
                &basic,
                Some(format!("Basic {}", b64("u:p"))),
                Err("Invalid basic auth credentials"),
            ),
            (
                &basic,
                Some("Basic !!!".into()),
                Err("Invalid basic auth credentials"),
            ),
        ];
        for (auth, header, want) in cases {
            let got = check_auth(auth, &headers(header.as_deref()));
            match want {
                Ok(()) => assert_eq!(got, Ok(()), "{header:?}"),
                Err(msg) => {
                    let r = got.unwrap_err();
                    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
                    assert_eq!(r.message, msg, "{header:?}");
                }
            }
        }
    }
}
