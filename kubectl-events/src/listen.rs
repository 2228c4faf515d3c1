//! Where an EventSource's event is reached: the HTTP listener of the webhook-family sources
//! (`webhook`, and the SaaS hooks that carry a `webhook` context), for `tree` and `send`.

use argo_events_api::EventSourceSpec;

/// An HTTP listener of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The source kind (`webhook`, `github`, …).
    pub kind: &'static str,
    /// The port, as written (a string upstream).
    pub port: String,
    /// The URL path.
    pub endpoint: String,
    /// The HTTP method it accepts (`POST` when unset, as upstream's server defaults it).
    pub method: String,
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} :{}{}", self.method, self.port, self.endpoint)
    }
}

fn listener(kind: &'static str, port: &str, endpoint: &str, method: &str) -> Listener {
    Listener {
        kind,
        port: port.to_string(),
        endpoint: if endpoint.starts_with('/') {
            endpoint.to_string()
        } else {
            format!("/{endpoint}")
        },
        method: if method.is_empty() {
            "POST".into()
        } else {
            method.to_ascii_uppercase()
        },
    }
}

/// The listener of event `name`, when its source is of the webhook family.
pub fn listener_of(spec: &EventSourceSpec, name: &str) -> Option<Listener> {
    if let Some(w) = spec.webhook.get(name) {
        return Some(listener("webhook", &w.port, &w.endpoint, &w.method));
    }
    macro_rules! context {
        ($($field:ident => $kind:literal),* $(,)?) => {
            $(if let Some(ctx) = spec.$field.get(name).and_then(|s| s.webhook.as_ref()) {
                return Some(listener($kind, &ctx.port, &ctx.endpoint, &ctx.method));
            })*
        };
    }
    context!(
        github => "github",
        gitlab => "gitlab",
        bitbucket => "bitbucket",
        bitbucketserver => "bitbucketserver",
        gerrit => "gerrit",
        slack => "slack",
        stripe => "stripe",
        sns => "sns",
        storage_grid => "storageGrid",
    );
    None
}

/// The source kind of event `name` (`calendar`, `webhook`, …).
pub fn kind_of(spec: &EventSourceSpec, name: &str) -> Option<&'static str> {
    spec.event_names()
        .into_iter()
        .find(|(_, n)| *n == name)
        .map(|(k, _)| k)
}
