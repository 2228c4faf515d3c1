//! The `nats` trigger: publishes the rendered payload on the rendered subject.
//!
//! The payload is the JSON the `payload` parameters build (its JSON text; a payload parameter
//! with an empty `dest` that yields a string is sent as that string). Connections are kept per
//! server URL and credentials. Authentication by token or user/password works; `nkey`,
//! `credential` and `tls` are refused with a clear error. Unlike upstream (which publishes on the
//! template's subject and connects to the template's URL), `nats.parameters` may change both.

use std::time::Duration;

use argo_events_api::{NATSAuth, NATSTrigger};
use argo_events_engine::render::Rendered;
use serde_json::Value;

use super::{ActionResult, Executor, TriggerError, invalid};

/// How long connecting and flushing may take.
const NATS_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn execute(
    exec: &Executor,
    trigger: &str,
    rendered: &Rendered,
) -> Result<ActionResult, TriggerError> {
    let spec = rendered
        .template
        .nats
        .as_ref()
        .ok_or_else(|| invalid(trigger, "the template has no nats action"))?;
    let out = &rendered.output;
    let field = |name: &str, fallback: &'_ str| -> String {
        out.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(fallback)
            .to_owned()
    };
    let url = field("url", &spec.url);
    let subject = field("subject", &spec.subject);
    if url.is_empty() {
        return Err(invalid(trigger, "nats.url is empty"));
    }
    if subject.is_empty() {
        return Err(invalid(trigger, "nats.subject is empty"));
    }
    let payload = match out.get("payload") {
        None => return Err(invalid(trigger, "payload parameters are not specified")),
        Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(json) => json.to_string().into_bytes(),
    };

    let client = exec.nats_client(trigger, spec, &url).await?;
    let failed = |message: String| TriggerError::NatsPublish {
        trigger: trigger.to_owned(),
        url: url.clone(),
        subject: subject.clone(),
        message,
    };
    let size = payload.len();
    client
        .publish(subject.clone(), payload.into())
        .await
        .map_err(|e| failed(e.to_string()))?;
    match tokio::time::timeout(NATS_TIMEOUT, client.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(failed(format!("flush: {e}"))),
        Err(_) => {
            return Err(failed(format!(
                "the server did not confirm within {NATS_TIMEOUT:?}"
            )));
        }
    }
    Ok(ActionResult::new(format!(
        "published {size} bytes on {subject} at {url}"
    )))
}

impl Executor {
    /// A connection to `url` with the trigger's credentials, reused across firings.
    async fn nats_client(
        &self,
        trigger: &str,
        spec: &NATSTrigger,
        url: &str,
    ) -> Result<async_nats::Client, TriggerError> {
        if spec.tls.is_some() {
            return Err(invalid(
                trigger,
                "nats.tls is not supported yet (only plain connections with token or basic auth)",
            ));
        }
        let (key, options) = self.nats_options(trigger, spec.auth.as_ref(), url)?;
        let mut cache = self.nats.lock().await;
        if let Some(client) = cache.get(&key) {
            return Ok(client.clone());
        }
        let connect = options
            .name(format!("argo-events-sensor/{}", self.ctx.sensor))
            .connection_timeout(NATS_TIMEOUT)
            .connect(url);
        let client = match tokio::time::timeout(NATS_TIMEOUT, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(connect_failed(trigger, url, e.to_string())),
            Err(_) => {
                return Err(connect_failed(
                    trigger,
                    url,
                    format!("no connection within {NATS_TIMEOUT:?}"),
                ));
            }
        };
        cache.insert(key, client.clone());
        Ok(client)
    }

    /// Connect options and the cache key (URL plus which secrets authenticate).
    fn nats_options(
        &self,
        trigger: &str,
        auth: Option<&NATSAuth>,
        url: &str,
    ) -> Result<(String, async_nats::ConnectOptions), TriggerError> {
        let Some(auth) = auth else {
            return Ok((url.to_owned(), async_nats::ConnectOptions::new()));
        };
        if let Some(basic) = &auth.basic {
            let (Some(user), Some(pass)) = (&basic.username, &basic.password) else {
                return Err(invalid(
                    trigger,
                    "nats.auth.basic needs both username and password",
                ));
            };
            let user_value = self.secret(trigger, "nats.auth.basic.username", user)?;
            let pass_value = self.secret(trigger, "nats.auth.basic.password", pass)?;
            let key = format!(
                "{url}|basic:{}/{}:{}/{}",
                user.name, user.key, pass.name, pass.key
            );
            return Ok((
                key,
                async_nats::ConnectOptions::with_user_and_password(user_value, pass_value),
            ));
        }
        if let Some(token) = &auth.token {
            let value = self.secret(trigger, "nats.auth.token", token)?;
            let key = format!("{url}|token:{}/{}", token.name, token.key);
            return Ok((key, async_nats::ConnectOptions::with_token(value)));
        }
        if auth.nkey.is_some() {
            return Err(invalid(
                trigger,
                "nats.auth.nkey is not supported yet (use token or basic auth)",
            ));
        }
        if auth.credential.is_some() {
            return Err(invalid(
                trigger,
                "nats.auth.credential is not supported yet (use token or basic auth)",
            ));
        }
        Ok((url.to_owned(), async_nats::ConnectOptions::new()))
    }
}

fn connect_failed(trigger: &str, url: &str, message: String) -> TriggerError {
    TriggerError::NatsConnect {
        trigger: trigger.to_owned(),
        url: url.to_owned(),
        message,
    }
}
