//! The `http` trigger: one request built from the rendered `{url, method, headers, payload}`
//! and the template's `tls`, `basicAuth`, `secureHeaders`, `host` and `timeout`.
//!
//! As upstream: headers are set in the order fixed, dynamic, secure (a secure header wins);
//! no `Content-Type` is added unless a header sets one; without `policy.status.allow` every
//! response (5xx included) is a success. Beyond upstream, a request that gets no response
//! (connection refused, timeout) is a retryable error.

use argo_events_api::{HTTPTrigger, TLSConfig, TriggerPolicy};
use argo_events_bus::tracecontext::{self, TRACEPARENT_HEADER, TRACESTATE_HEADER};
use argo_events_engine::render::Rendered;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;

use super::{ActionResult, Executor, TriggerError, invalid};

pub(super) async fn execute(
    exec: &Executor,
    trigger: &str,
    rendered: &Rendered,
    policy: Option<&TriggerPolicy>,
) -> Result<ActionResult, TriggerError> {
    let spec = rendered
        .template
        .http
        .as_ref()
        .ok_or_else(|| invalid(trigger, "the template has no http action"))?;
    let out = &rendered.output;
    let url = out.get("url").and_then(Value::as_str).unwrap_or(&spec.url);
    if url.is_empty() {
        return Err(invalid(trigger, "http.url is empty"));
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| invalid(trigger, format!("http.url {url:?} is not a URL: {e}")))?;
    let method_name = out
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_else(|| spec.effective_method());
    let method = reqwest::Method::from_bytes(method_name.as_bytes())
        .map_err(|e| invalid(trigger, format!("http.method {method_name:?}: {e}")))?;

    let client = exec.http_client(trigger, spec)?;
    let mut request = client
        .request(method.clone(), parsed)
        .timeout(spec.effective_timeout());
    for (name, value) in headers(exec, trigger, spec, out)? {
        request = request.header(name, value);
    }
    // The trace goes on: the trigger span's W3C context, unless a header already sets one.
    let given = |name: &str| {
        spec.headers.contains_key(name)
            || out
                .get("headers")
                .and_then(Value::as_object)
                .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case(name)))
    };
    if !given(TRACEPARENT_HEADER)
        && let Some(context) = tracecontext::span_context(&tracing::Span::current())
    {
        let trace = tracecontext::format(&context);
        if let Some(tp) = trace.traceparent {
            request = request.header(
                TRACEPARENT_HEADER,
                header_value(trigger, TRACEPARENT_HEADER, &tp)?,
            );
        }
        if let Some(ts) = trace.tracestate {
            request = request.header(
                TRACESTATE_HEADER,
                header_value(trigger, TRACESTATE_HEADER, &ts)?,
            );
        }
    }
    if !spec.host.is_empty() {
        request = request.header(
            reqwest::header::HOST,
            header_value(trigger, "host", &spec.host)?,
        );
    }
    if let Some(auth) = &spec.basic_auth {
        let username = match &auth.username {
            Some(s) => exec.secret(trigger, "basicAuth.username", s)?,
            None => String::new(),
        };
        let password = match &auth.password {
            Some(s) => exec.secret(trigger, "basicAuth.password", s)?,
            None => String::new(),
        };
        request = request.basic_auth(username, Some(password));
    }
    match out.get("payload") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => request = request.body(text.clone()),
        Some(json) => request = request.body(json.to_string()),
    }

    tracing::debug!(trigger, %method, url, "sending the http request");
    let response = request
        .send()
        .await
        .map_err(|source| TriggerError::HttpRequest {
            trigger: trigger.to_owned(),
            method: method.to_string(),
            url: url.to_owned(),
            source,
        })?;
    let status = response.status().as_u16();
    let allow = policy
        .and_then(|p| p.status.as_ref())
        .map(|s| s.allow.as_slice())
        .unwrap_or_default();
    if !allow.is_empty() && !allow.contains(&i32::from(status)) {
        return Err(TriggerError::HttpStatus {
            trigger: trigger.to_owned(),
            method: method.to_string(),
            url: url.to_owned(),
            status,
        });
    }
    Ok(ActionResult::new(format!("{method} {url} → {status}")))
}

/// The request headers: the rendered ones (fixed and dynamic), then the secure ones with
/// their real values in place of the rendered masks.
fn headers(
    exec: &Executor,
    trigger: &str,
    spec: &HTTPTrigger,
    out: &Value,
) -> Result<Vec<(HeaderName, HeaderValue)>, TriggerError> {
    let mut headers = Vec::new();
    let secure = |name: &str| spec.secure_headers.iter().any(|s| s.name == name);
    if let Some(Value::Object(rendered)) = out.get("headers") {
        for (name, value) in rendered {
            if secure(name) {
                continue;
            }
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            headers.push((
                header_name(trigger, name)?,
                header_value(trigger, name, &value)?,
            ));
        }
    }
    for header in &spec.secure_headers {
        let what = format!("secure header {}", header.name);
        let from = header.value_from.as_ref();
        let value = match (
            from.and_then(|f| f.secret_key_ref.as_ref()),
            from.and_then(|f| f.config_map_key_ref.as_ref()),
        ) {
            (Some(secret), _) => exec.secret(trigger, &what, secret)?,
            (None, Some(config)) => exec.config_value(trigger, &what, config)?,
            (None, None) => {
                return Err(invalid(
                    trigger,
                    format!("{what}: valueFrom names neither secretKeyRef nor configMapKeyRef"),
                ));
            }
        };
        let mut value = header_value(trigger, &header.name, &value)?;
        value.set_sensitive(true);
        headers.push((header_name(trigger, &header.name)?, value));
    }
    Ok(headers)
}

fn header_name(trigger: &str, name: &str) -> Result<HeaderName, TriggerError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| invalid(trigger, format!("header name {name:?}: {e}")))
}

fn header_value(trigger: &str, name: &str, value: &str) -> Result<HeaderValue, TriggerError> {
    HeaderValue::from_str(value)
        .map_err(|e| invalid(trigger, format!("value of header {name:?}: {e}")))
}

impl Executor {
    /// The client for a trigger: the shared one, or (with `tls` certificates or
    /// `insecureSkipVerify`) one built for the trigger and kept, as upstream keeps one per
    /// trigger.
    fn http_client(
        &self,
        trigger: &str,
        spec: &HTTPTrigger,
    ) -> Result<reqwest::Client, TriggerError> {
        let Some(tls) = spec.tls.as_ref().filter(|t| needs_own_client(t)) else {
            return Ok(self.ctx.http.clone());
        };
        let mut cache = self
            .tls_clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = cache.get(trigger) {
            return Ok(client.clone());
        }
        let client = self.tls_client(trigger, tls)?;
        cache.insert(trigger.to_owned(), client.clone());
        Ok(client)
    }

    fn tls_client(&self, trigger: &str, tls: &TLSConfig) -> Result<reqwest::Client, TriggerError> {
        // reqwest is built without a bundled crypto provider; the process default may already
        // be installed (then this is a no-op error).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder();
        if let Some(ca) = &tls.ca_cert_secret {
            let pem = self.secret(trigger, "tls.caCertSecret", ca)?;
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| invalid(trigger, format!("tls.caCertSecret is not PEM: {e}")))?;
            // As upstream: the given CA replaces the system roots.
            builder = builder.tls_certs_only(certs);
        }
        match (&tls.client_cert_secret, &tls.client_key_secret) {
            (Some(cert), Some(key)) => {
                let cert = self.secret(trigger, "tls.clientCertSecret", cert)?;
                let key = self.secret(trigger, "tls.clientKeySecret", key)?;
                let identity = reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes())
                    .map_err(|e| {
                        invalid(
                            trigger,
                            format!("tls.clientCertSecret/clientKeySecret are not a PEM pair: {e}"),
                        )
                    })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(invalid(
                    trigger,
                    "tls: clientCertSecret and clientKeySecret must be set together",
                ));
            }
        }
        if tls.insecure_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder
            .build()
            .map_err(|e| invalid(trigger, format!("tls: cannot build the HTTP client: {e}")))
    }
}

/// Whether TLS settings change the client (`enabled` alone means the system roots, which the
/// shared client already uses for `https` URLs).
fn needs_own_client(tls: &TLSConfig) -> bool {
    tls.ca_cert_secret.is_some()
        || tls.client_cert_secret.is_some()
        || tls.client_key_secret.is_some()
        || tls.insecure_skip_verify
}
