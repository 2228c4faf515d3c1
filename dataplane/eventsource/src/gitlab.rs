//! GitLab webhooks (`spec.gitlab.<name>`): deliveries GitLab POSTs to the `webhook` endpoint.
//!
//! As upstream: with a `secretToken` the `X-Gitlab-Token` header must equal it (compared in
//! constant time here), otherwise 400 `token mismatch`; the body must be JSON and is published
//! as written in `{"headers", "body", "metadata"}`. `webhook.method` is not checked (as
//! upstream).
//!
//! `events` holds GitLab hook option names (`PushEvents`, `MergeRequestsEvents`, …). Upstream
//! only uses them when registering the hook; here they also filter deliveries: a delivery whose
//! `X-Gitlab-Event` (`Push Hook`, `Merge Request Hook`, …) matches none of them is answered 200
//! and not published. An unknown option name is refused at start, as upstream refuses it.
//!
//! Hooks are not registered with the GitLab API: the hook must exist already. When an
//! `accessToken` and `webhook.url` are set (upstream would register it) a warning says so.

use std::collections::BTreeMap;

use argo_events_api::GitlabEventSource;
use subtle::ConstantTimeEq as _;

use crate::webhook::server::{Accepted, HttpRoute, Incoming, Rejection, RouteBase, RouteHandler};
use crate::webhook::{compact, header, payload, read_secret, refuse_filter, require_context};
use crate::{SecretReader, SourceError};

/// The CloudEvent `type` (and spec key) of GitLab events.
pub const EVENT_TYPE: &str = "gitlab";

/// GitLab hook option names (as the GitLab API client names them) and the `X-Gitlab-Event`
/// header value of the deliveries each one enables.
pub const HOOK_EVENTS: &[(&str, &str)] = &[
    ("PushEvents", "Push Hook"),
    ("TagPushEvents", "Tag Push Hook"),
    ("IssuesEvents", "Issue Hook"),
    ("ConfidentialIssuesEvents", "Confidential Issue Hook"),
    ("NoteEvents", "Note Hook"),
    ("ConfidentialNoteEvents", "Confidential Note Hook"),
    ("MergeRequestsEvents", "Merge Request Hook"),
    ("JobEvents", "Job Hook"),
    ("PipelineEvents", "Pipeline Hook"),
    ("WikiPageEvents", "Wiki Page Hook"),
    ("DeploymentEvents", "Deployment Hook"),
    ("FeatureFlagEvents", "Feature Flag Hook"),
    ("ReleasesEvents", "Release Hook"),
    ("EmojiEvents", "Emoji Hook"),
    ("ResourceAccessTokenEvents", "Resource Access Token Hook"),
    ("MemberEvents", "Member Hook"),
    ("SubGroupEvents", "Subgroup Hook"),
    ("ProjectEvents", "Project Hook"),
    ("MilestoneEvents", "Milestone Hook"),
    ("VulnerabilityEvents", "Vulnerability Hook"),
];

/// The `X-Gitlab-Event` value a hook option enables, if the option is known.
pub fn header_for_option(option: &str) -> Option<&'static str> {
    HOOK_EVENTS
        .iter()
        .find(|(name, _)| *name == option)
        .map(|(_, header)| *header)
}

/// What a GitLab route needs besides the common part.
pub(crate) struct GitlabRoute {
    token: String,
    /// `X-Gitlab-Event` values published; `None`: all.
    accepted: Option<Vec<&'static str>>,
    metadata: BTreeMap<String, String>,
}

/// Checks one GitLab event and reads its secret token.
pub(crate) fn prepare(
    event_source: &str,
    event_name: &str,
    spec: &GitlabEventSource,
    secrets: &dyn SecretReader,
) -> Result<HttpRoute, SourceError> {
    let invalid = |reason: String| SourceError::Invalid {
        event_source: event_source.to_owned(),
        kind: EVENT_TYPE,
        event: event_name.to_owned(),
        reason,
    };
    refuse_filter(event_source, EVENT_TYPE, event_name, spec.filter.as_ref())?;
    let context = require_context(event_source, EVENT_TYPE, event_name, spec.webhook.as_ref())?;
    let base = RouteBase::from_context(event_source, EVENT_TYPE, event_name, context, secrets)?;
    let accepted = if spec.events.is_empty() {
        None
    } else {
        let headers = spec
            .events
            .iter()
            .map(|option| {
                header_for_option(option).ok_or_else(|| {
                    let known: Vec<&str> = HOOK_EVENTS.iter().map(|(n, _)| *n).collect();
                    invalid(format!(
                        "unknown GitLab hook event {option:?}; known: {}",
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Some(headers)
    };
    let token = match &spec.secret_token {
        Some(selector) => read_secret(
            secrets,
            event_source,
            EVENT_TYPE,
            event_name,
            "secretToken",
            selector,
        )?,
        None => String::new(),
    };
    if token.is_empty() {
        tracing::warn!(
            event_source,
            event = event_name,
            "no secretToken: GitLab deliveries are not authenticated"
        );
    }
    if spec.access_token.is_some() && !context.url.is_empty() {
        tracing::warn!(
            event_source,
            event = event_name,
            url = %format!("{}{}", context.url.trim_end_matches('/'), context.endpoint),
            "GitLab hook registration is not implemented: the hook must already exist \
             (deleteHookOnFinish has no effect either)"
        );
    }
    Ok(HttpRoute {
        base,
        handler: RouteHandler::Gitlab(GitlabRoute {
            token,
            accepted,
            metadata: spec.metadata.clone(),
        }),
    })
}

/// Turns a delivery into the GitLab payload.
pub(crate) async fn handle(
    route: &GitlabRoute,
    incoming: &mut Incoming,
) -> Result<Accepted, Rejection> {
    if !route.token.is_empty() {
        let given = header(incoming, "x-gitlab-token");
        if !bool::from(given.as_bytes().ct_eq(route.token.as_bytes())) {
            return Err(Rejection::bad_request("token mismatch"));
        }
    }
    if let Some(accepted) = &route.accepted {
        let event = header(incoming, "x-gitlab-event");
        if !accepted.contains(&event) {
            return Ok(Accepted::Ignore(format!(
                "X-Gitlab-Event {event:?} is not enabled by the configured events {accepted:?}"
            )));
        }
    }
    let raw = incoming.body().await?;
    let body = compact(&raw)
        .map_err(|e| Rejection::bad_request(format!("invalid event: body is not JSON: {e}")))?;
    Ok(Accepted::Publish(payload(
        "headers",
        &incoming.go_headers,
        &body,
        &route.metadata,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_map_to_headers() {
        for (option, header) in [
            ("PushEvents", Some("Push Hook")),
            ("MergeRequestsEvents", Some("Merge Request Hook")),
            ("TagPushEvents", Some("Tag Push Hook")),
            ("IssuesEvents", Some("Issue Hook")),
            ("NoteEvents", Some("Note Hook")),
            ("PipelineEvents", Some("Pipeline Hook")),
            ("JobEvents", Some("Job Hook")),
            ("WikiPageEvents", Some("Wiki Page Hook")),
            ("DeploymentEvents", Some("Deployment Hook")),
            ("ReleasesEvents", Some("Release Hook")),
            ("pushEvents", None),
            ("Push Hook", None),
        ] {
            assert_eq!(header_for_option(option), header, "{option}");
        }
    }
}
