//! Sources that receive HTTP requests: the plain webhook, and the services that call one
//! (GitHub, GitLab, Bitbucket Cloud and Server, Gerrit, Slack, Stripe, SNS, StorageGRID).

use argo_events_api::*;

use super::need;
use crate::validate::common::{go_duration, webhook_context, webhook_fields};
use crate::validate::{Errors, at};

pub(in crate::validate) fn webhook(s: &WebhookEventSource, path: &str, errors: &mut Errors) {
    webhook_fields(&s.endpoint, &s.port, path, errors);
}

pub(in crate::validate) fn github(s: &GithubEventSource, path: &str, errors: &mut Errors) {
    let has_repos = !s.repositories.is_empty() || (!s.owner.is_empty() && !s.repository.is_empty());
    let has_orgs = !s.organizations.is_empty();
    match (has_repos, has_orgs) {
        (false, false) => errors.push(
            at(path, "repositories"),
            "either repositories or organizations is required",
        ),
        (true, true) => errors.push(
            at(path, "organizations"),
            "only one of repositories and organizations is allowed",
        ),
        _ => {}
    }
    let has_creds = s.api_token.is_some()
        || s.github_app
            .as_ref()
            .is_some_and(|app| app.private_key.is_some());
    let creates_hooks = has_creds && s.webhook.as_ref().is_some_and(|w| !w.url.is_empty());
    need(
        errors,
        creates_hooks && s.events.is_empty(),
        path,
        "events",
        "events must be defined to create a github webhook",
    );
    need(
        errors,
        !matches!(s.content_type.as_str(), "" | "json" | "form"),
        path,
        "contentType",
        r#"content type must be "json" or "form""#,
    );
    if !s.github_base_url.is_empty() || !s.github_upload_url.is_empty() {
        need(
            errors,
            s.github_base_url.is_empty(),
            path,
            "githubBaseURL",
            "githubBaseURL is required when githubUploadURL is set",
        );
        need(
            errors,
            s.github_upload_url.is_empty(),
            path,
            "githubUploadURL",
            "githubUploadURL is required when githubBaseURL is set",
        );
    }
    webhook_context(s.webhook.as_ref(), &at(path, "webhook"), errors);
}

pub(in crate::validate) fn gitlab(s: &GitlabEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.events.is_empty(),
        path,
        "events",
        "events can't be empty",
    );
    need(
        errors,
        s.gitlab_base_url.is_empty(),
        path,
        "gitlabBaseURL",
        "gitlab base url can't be empty",
    );
    need(
        errors,
        s.access_token.is_none(),
        path,
        "accessToken",
        "access token can't be nil",
    );
    webhook_context(s.webhook.as_ref(), &at(path, "webhook"), errors);
}

pub(in crate::validate) fn bitbucket(s: &BitbucketEventSource, path: &str, errors: &mut Errors) {
    let has_repos =
        !s.repositories.is_empty() || (!s.owner.is_empty() && !s.repository_slug.is_empty());
    need(
        errors,
        !has_repos,
        path,
        "repositories",
        "at least one repository is required",
    );
    match &s.auth {
        // Upstream's validation dereferences `auth` unconditionally and crashes without it.
        None => errors.push(at(path, "auth"), "auth must be specified"),
        Some(auth) => {
            let basic = auth
                .basic
                .as_ref()
                .is_some_and(|b| b.username.is_some() && b.password.is_some());
            let creates_hooks = (basic || auth.oauth_token.is_some())
                && s.webhook.as_ref().is_some_and(|w| !w.url.is_empty());
            need(
                errors,
                creates_hooks && s.events.is_empty(),
                path,
                "events",
                "events must be defined to create a bitbucket webhooks",
            );
        }
    }
    webhook_context(s.webhook.as_ref(), &at(path, "webhook"), errors);
}

pub(in crate::validate) fn bitbucket_server(
    s: &BitbucketServerEventSource,
    path: &str,
    errors: &mut Errors,
) {
    let has_repos =
        !s.repositories.is_empty() || (!s.project_key.is_empty() && !s.repository_slug.is_empty());
    need(
        errors,
        !has_repos && s.projects.is_empty(),
        path,
        "repositories",
        "at least one project or repository configuration is required",
    );
    let creates_hooks =
        s.access_token.is_some() && s.webhook.as_ref().is_some_and(|w| !w.url.is_empty());
    need(
        errors,
        creates_hooks && s.events.is_empty(),
        path,
        "events",
        "events must be defined to create a bitbucket server webhook",
    );
    need(
        errors,
        s.bitbucketserver_base_url.is_empty(),
        path,
        "bitbucketserverBaseURL",
        "bitbucket server base url can't be empty",
    );
    if !s.check_interval.is_empty()
        && let Err(e) = go_duration(&s.check_interval)
    {
        errors.push(
            at(path, "checkInterval"),
            format!("failed to parse webhook check interval duration: {e}"),
        );
    }
    webhook_context(s.webhook.as_ref(), &at(path, "webhook"), errors);
}

pub(in crate::validate) fn gerrit(s: &GerritEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.projects.is_empty(),
        path,
        "projects",
        "projects cannot be empty",
    );
    need(
        errors,
        s.events.is_empty(),
        path,
        "events",
        "events can't be empty",
    );
    need(
        errors,
        s.gerrit_base_url.is_empty(),
        path,
        "gerritBaseURL",
        "gerrit base url can't be empty",
    );
    need(
        errors,
        s.auth.is_none(),
        path,
        "auth",
        "username and password can't be empty",
    );
    webhook_context(s.webhook.as_ref(), &at(path, "webhook"), errors);
}

pub(in crate::validate) fn slack(s: &SlackEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.token.is_none(),
        path,
        "token",
        "token not provided",
    );
    need(
        errors,
        s.signing_secret.is_none(),
        path,
        "signingSecret",
        "signingSecret not provided",
    );
    webhook_context(s.webhook.as_ref(), &at(path, "webhook"), errors);
}

pub(in crate::validate) fn stripe(s: &StripeEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.create_webhook && s.api_key.is_none(),
        path,
        "apiKey",
        "api key K8s secret selector not provided",
    );
    webhook_context(s.webhook.as_ref(), &at(path, "webhook"), errors);
}

pub(in crate::validate) fn sns(s: &SNSEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.topic_arn.is_empty(),
        path,
        "topicArn",
        "must specify topic arn",
    );
    need(
        errors,
        s.region.is_empty(),
        path,
        "region",
        "must specify region",
    );
    webhook_context(s.webhook.as_ref(), &at(path, "webhook"), errors);
}

pub(in crate::validate) fn storage_grid(
    s: &StorageGridEventSource,
    path: &str,
    errors: &mut Errors,
) {
    need(
        errors,
        s.topic_arn.is_empty(),
        path,
        "topicArn",
        "topic arn must be provided",
    );
    need(
        errors,
        s.api_url.is_empty(),
        path,
        "apiURL",
        "api url must be provided",
    );
    need(
        errors,
        s.auth_token.is_none(),
        path,
        "authToken",
        "api auth token must be provided",
    );
    need(
        errors,
        s.bucket.is_empty(),
        path,
        "bucket",
        "bucket name must be provided",
    );
    need(
        errors,
        s.events.is_empty(),
        path,
        "events",
        "event types must be provided",
    );
    webhook_context(s.webhook.as_ref(), &at(path, "webhook"), errors);
}
