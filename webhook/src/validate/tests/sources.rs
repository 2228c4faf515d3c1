//! EventSource rules: per kind, a valid event `ev` and the cases that break (or keep) it.

use serde_json::{Value, json};

use super::{Case, check, fails, passes, secret};
use crate::validate::{FieldError, validate_event_source};

fn validate_spec(spec: &Value) -> Vec<FieldError> {
    let es = serde_json::from_value(json!({"metadata": {"name": "es"}, "spec": spec}))
        .expect("an EventSource");
    validate_event_source(&es)
}

/// Checks the cases of one kind; patches are relative to the event, paths are absolute.
pub(super) fn kind(key: &str, event: Value, cases: Vec<Case>) {
    let base = json!({ key: {"ev": event} });
    let prefix = format!("/{key}/ev");
    let cases: Vec<Case> = cases
        .into_iter()
        .map(|c| Case {
            patches: c
                .patches
                .into_iter()
                .map(|(p, v)| (&*format!("{prefix}{p}").leak(), v))
                .collect(),
            expect: c.expect,
        })
        .collect();
    check(key, &base, &cases, validate_spec);
}

fn webhook_ctx() -> Value {
    json!({"endpoint": "/hook", "port": "12000", "method": "POST"})
}

#[test]
fn webhook() {
    kind(
        "webhook",
        webhook_ctx(),
        vec![
            fails(
                vec![("/endpoint", json!(""))],
                &[("spec.webhook.ev.endpoint", "endpoint can't be empty")],
            ),
            fails(
                vec![("/port", json!(""))],
                &[("spec.webhook.ev.port", "port can't be empty")],
            ),
            fails(
                vec![("/port", json!("http"))],
                &[(
                    "spec.webhook.ev.port",
                    r#"failed to parse server port http. err: strconv.Atoi: parsing "http": invalid syntax"#,
                )],
            ),
            fails(
                vec![("/port", json!("99999999999999999999"))],
                &[("spec.webhook.ev.port", "failed to parse server port")],
            ),
            // The method is not checked upstream.
            passes(vec![("/method", json!(""))]),
        ],
    );
}

#[test]
fn github() {
    let base = json!({
        "repositories": [{"owner": "o", "names": ["r"]}],
        "webhook": webhook_ctx(),
        "apiToken": secret(),
        "events": ["push"],
    });
    kind(
        "github",
        base,
        vec![
            fails(
                vec![("/repositories", Value::Null)],
                &[(
                    "spec.github.ev.repositories",
                    "either repositories or organizations is required",
                )],
            ),
            passes(vec![
                ("/repositories", Value::Null),
                ("/owner", json!("o")),
                ("/repository", json!("r")),
            ]),
            passes(vec![
                ("/repositories", Value::Null),
                ("/organizations", json!(["org"])),
            ]),
            fails(
                vec![("/organizations", json!(["org"]))],
                &[(
                    "spec.github.ev.organizations",
                    "only one of repositories and organizations is allowed",
                )],
            ),
            // Events are only needed when hooks are created: credentials and a webhook URL.
            passes(vec![("/events", Value::Null)]),
            fails(
                vec![
                    ("/events", Value::Null),
                    ("/webhook/url", json!("https://x")),
                ],
                &[(
                    "spec.github.ev.events",
                    "events must be defined to create a github webhook",
                )],
            ),
            fails(
                vec![("/contentType", json!("xml"))],
                &[(
                    "spec.github.ev.contentType",
                    r#"content type must be "json" or "form""#,
                )],
            ),
            passes(vec![("/contentType", json!("form"))]),
            fails(
                vec![("/githubBaseURL", json!("https://ghe/api/v3"))],
                &[(
                    "spec.github.ev.githubUploadURL",
                    "githubUploadURL is required when githubBaseURL is set",
                )],
            ),
            fails(
                vec![("/githubUploadURL", json!("https://ghe/api/uploads"))],
                &[(
                    "spec.github.ev.githubBaseURL",
                    "githubBaseURL is required when githubUploadURL is set",
                )],
            ),
            fails(
                vec![("/webhook", Value::Null)],
                &[("spec.github.ev.webhook", "webhook can't be empty")],
            ),
            fails(
                vec![("/webhook/port", json!("x"))],
                &[(
                    "spec.github.ev.webhook.port",
                    "failed to parse server port x",
                )],
            ),
        ],
    );
}

#[test]
fn gitlab_bitbucket_gerrit() {
    let gitlab = json!({
        "webhook": webhook_ctx(), "events": ["PushEvents"], "gitlabBaseURL": "https://gitlab.com",
        "accessToken": secret(), "projects": ["1"],
    });
    kind(
        "gitlab",
        gitlab,
        vec![
            fails(
                vec![("/events", Value::Null)],
                &[("spec.gitlab.ev.events", "events can't be empty")],
            ),
            fails(
                vec![("/gitlabBaseURL", json!(""))],
                &[(
                    "spec.gitlab.ev.gitlabBaseURL",
                    "gitlab base url can't be empty",
                )],
            ),
            fails(
                vec![("/accessToken", Value::Null)],
                &[("spec.gitlab.ev.accessToken", "access token can't be nil")],
            ),
        ],
    );
    let bitbucket = json!({
        "webhook": webhook_ctx(), "auth": {"basic": {"username": secret(), "password": secret()}},
        "events": ["repo:push"], "repositories": [{"owner": "o", "repositorySlug": "r"}],
    });
    kind(
        "bitbucket",
        bitbucket,
        vec![
            fails(
                vec![("/repositories", Value::Null)],
                &[(
                    "spec.bitbucket.ev.repositories",
                    "at least one repository is required",
                )],
            ),
            passes(vec![
                ("/repositories", Value::Null),
                ("/owner", json!("o")),
                ("/repositorySlug", json!("r")),
            ]),
            fails(
                vec![("/auth", Value::Null)],
                &[("spec.bitbucket.ev.auth", "auth must be specified")],
            ),
            passes(vec![("/events", Value::Null)]),
            fails(
                vec![
                    ("/events", Value::Null),
                    ("/webhook/url", json!("https://x")),
                ],
                &[(
                    "spec.bitbucket.ev.events",
                    "events must be defined to create a bitbucket webhooks",
                )],
            ),
        ],
    );
    let server = json!({
        "webhook": webhook_ctx(), "repositories": [{"projectKey": "P", "repositorySlug": "r"}],
        "bitbucketserverBaseURL": "https://bb/rest", "accessToken": secret(),
        "events": ["repo:refs_changed"],
    });
    kind(
        "bitbucketserver",
        server,
        vec![
            fails(
                vec![("/repositories", Value::Null)],
                &[(
                    "spec.bitbucketserver.ev.repositories",
                    "at least one project or repository configuration is required",
                )],
            ),
            passes(vec![
                ("/repositories", Value::Null),
                ("/projects", json!(["P"])),
            ]),
            fails(
                vec![
                    ("/events", Value::Null),
                    ("/webhook/url", json!("https://x")),
                ],
                &[(
                    "spec.bitbucketserver.ev.events",
                    "events must be defined to create a bitbucket server webhook",
                )],
            ),
            fails(
                vec![("/bitbucketserverBaseURL", json!(""))],
                &[(
                    "spec.bitbucketserver.ev.bitbucketserverBaseURL",
                    "bitbucket server base url can't be empty",
                )],
            ),
            fails(
                vec![("/checkInterval", json!("1x"))],
                &[(
                    "spec.bitbucketserver.ev.checkInterval",
                    r#"failed to parse webhook check interval duration: time: invalid duration "1x""#,
                )],
            ),
            passes(vec![("/checkInterval", json!("-1m30s"))]),
        ],
    );
    let gerrit = json!({
        "webhook": webhook_ctx(), "events": ["patchset-created"], "gerritBaseURL": "https://g",
        "auth": {"username": secret(), "password": secret()}, "projects": ["p"],
    });
    kind(
        "gerrit",
        gerrit,
        vec![
            fails(
                vec![("/projects", Value::Null)],
                &[("spec.gerrit.ev.projects", "projects cannot be empty")],
            ),
            fails(
                vec![("/events", Value::Null)],
                &[("spec.gerrit.ev.events", "events can't be empty")],
            ),
            fails(
                vec![("/gerritBaseURL", json!(""))],
                &[(
                    "spec.gerrit.ev.gerritBaseURL",
                    "gerrit base url can't be empty",
                )],
            ),
            fails(
                vec![("/auth", Value::Null)],
                &[(
                    "spec.gerrit.ev.auth",
                    "username and password can't be empty",
                )],
            ),
        ],
    );
}

#[test]
fn other_webhook_kinds() {
    kind(
        "slack",
        json!({"token": secret(), "signingSecret": secret(), "webhook": webhook_ctx()}),
        vec![
            fails(
                vec![("/token", Value::Null)],
                &[("spec.slack.ev.token", "token not provided")],
            ),
            fails(
                vec![("/signingSecret", Value::Null)],
                &[("spec.slack.ev.signingSecret", "signingSecret not provided")],
            ),
        ],
    );
    kind(
        "stripe",
        json!({"webhook": webhook_ctx()}),
        vec![
            fails(
                vec![("/createWebhook", json!(true))],
                &[(
                    "spec.stripe.ev.apiKey",
                    "api key K8s secret selector not provided",
                )],
            ),
            passes(vec![("/createWebhook", json!(true)), ("/apiKey", secret())]),
        ],
    );
    kind(
        "sns",
        json!({"webhook": webhook_ctx(), "topicArn": "arn:aws:sns:x", "region": "us-east-1"}),
        vec![
            fails(
                vec![("/topicArn", json!(""))],
                &[("spec.sns.ev.topicArn", "must specify topic arn")],
            ),
            fails(
                vec![("/region", json!(""))],
                &[("spec.sns.ev.region", "must specify region")],
            ),
        ],
    );
    kind(
        "storageGrid",
        json!({
            "webhook": webhook_ctx(), "events": ["ObjectCreated:*"], "topicArn": "urn:x",
            "bucket": "b", "authToken": secret(), "apiURL": "https://sg/api",
        }),
        vec![
            fails(
                vec![("/topicArn", json!(""))],
                &[("spec.storageGrid.ev.topicArn", "topic arn must be provided")],
            ),
            fails(
                vec![("/apiURL", json!(""))],
                &[("spec.storageGrid.ev.apiURL", "api url must be provided")],
            ),
            fails(
                vec![("/authToken", Value::Null)],
                &[(
                    "spec.storageGrid.ev.authToken",
                    "api auth token must be provided",
                )],
            ),
            fails(
                vec![("/bucket", json!(""))],
                &[("spec.storageGrid.ev.bucket", "bucket name must be provided")],
            ),
            fails(
                vec![("/events", Value::Null)],
                &[("spec.storageGrid.ev.events", "event types must be provided")],
            ),
        ],
    );
}

#[test]
fn watchers() {
    kind(
        "calendar",
        json!({"interval": "10s"}),
        vec![
            fails(
                vec![("/interval", json!(""))],
                &[(
                    "spec.calendar.ev.schedule",
                    "must have either schedule or interval",
                )],
            ),
            fails(
                vec![("/interval", json!("ten"))],
                &[(
                    "spec.calendar.ev.interval",
                    r#"failed to parse interval ten from calendar event. Cause: time: invalid duration "ten""#,
                )],
            ),
            passes(vec![("/schedule", json!("30 9 * * MON-FRI"))]),
            // The schedule wins over the interval, which is then not read.
            passes(vec![
                ("/schedule", json!("*/5 * * * *")),
                ("/interval", json!("x")),
            ]),
            fails(
                vec![("/schedule", json!("* * *"))],
                &[(
                    "spec.calendar.ev.schedule",
                    "failed to parse schedule * * * from calendar event. Cause: expected exactly 5 fields, found 3: [* * *]",
                )],
            ),
            fails(
                vec![("/schedule", json!("0 0 * * * *"))],
                &[("spec.calendar.ev.schedule", "failed to parse schedule")],
            ),
        ],
    );
    kind(
        "resource",
        json!({
            "version": "v1", "resource": "pods", "eventTypes": ["ADD"],
            "filter": {"labels": [{"key": "app"}], "fields": [{"key": "metadata.name", "operation": "~", "value": "x"}]},
        }),
        vec![
            fails(
                vec![("/version", json!(""))],
                &[("spec.resource.ev.version", "version must be specified")],
            ),
            fails(
                vec![("/resource", json!(""))],
                &[("spec.resource.ev.resource", "resource must be specified")],
            ),
            fails(
                vec![("/eventTypes", Value::Null)],
                &[(
                    "spec.resource.ev.eventTypes",
                    "event types must be specified",
                )],
            ),
            fails(
                vec![("/filter/labels/0/key", json!(""))],
                &[(
                    "spec.resource.ev.filter.labels[0].key",
                    "key can't be empty for selector",
                )],
            ),
            fails(
                vec![("/filter/fields/0/key", json!(""))],
                &[(
                    "spec.resource.ev.filter.fields[0].key",
                    "key can't be empty for selector",
                )],
            ),
        ],
    );
    let watch = [
        (
            vec![("/watchPathConfig/directory", json!(""))],
            Some(("directory", "directory is required")),
        ),
        (
            vec![("/watchPathConfig/directory", json!("relative/"))],
            Some(("directory", "directory must be an absolute file path")),
        ),
        (
            vec![("/watchPathConfig/path", Value::Null)],
            Some(("path", "either path or pathRegexp must be specified")),
        ),
        (
            vec![("/watchPathConfig/pathRegexp", json!(".*"))],
            Some((
                "pathRegexp",
                "path and pathRegexp cannot be specified together",
            )),
        ),
        (
            vec![("/watchPathConfig/path", json!("/etc/passwd"))],
            Some(("path", "path must be a relative file path")),
        ),
        (
            vec![
                ("/watchPathConfig/path", Value::Null),
                ("/watchPathConfig/pathRegexp", json!("(unclosed")),
            ],
            Some(("pathRegexp", "error parsing regexp: ")),
        ),
        (
            vec![
                ("/watchPathConfig/path", Value::Null),
                ("/watchPathConfig/pathRegexp", json!(r"^.*\.txt$")),
            ],
            None,
        ),
    ];
    for key in ["file", "sftp"] {
        let mut cases = vec![fails(
            vec![("/eventType", json!(""))],
            &[(
                if key == "file" {
                    "spec.file.ev.eventType"
                } else {
                    "spec.sftp.ev.eventType"
                },
                "type must be specified",
            )],
        )];
        for (patches, expect) in watch.clone() {
            cases.push(match expect {
                None => passes(patches),
                Some((field, msg)) => {
                    let path = format!("spec.{key}.ev.watchPathConfig.{field}").leak();
                    fails(patches, &[(&*path, msg)])
                }
            });
        }
        kind(
            key,
            json!({"eventType": "CREATE", "watchPathConfig": {"directory": "/bin/", "path": "x"}}),
            cases,
        );
    }
}

#[test]
fn hdfs() {
    kind(
        "hdfs",
        json!({"type": "CREATE", "directory": "/d/", "path": "f", "addresses": ["nn:8020"], "hdfsUser": "u"}),
        vec![
            fails(
                vec![("/type", json!(""))],
                &[("spec.hdfs.ev.type", "type is required")],
            ),
            fails(
                vec![("/type", json!("MODIFY"))],
                &[("spec.hdfs.ev.type", "type is invalid")],
            ),
            passes(vec![("/type", json!("WRITE|CHMOD"))]),
            fails(
                vec![("/checkInterval", json!("often"))],
                &[("spec.hdfs.ev.checkInterval", "failed to parse interval")],
            ),
            fails(
                vec![("/directory", json!(""))],
                &[("spec.hdfs.ev.directory", "directory is required")],
            ),
            fails(
                vec![("/addresses", Value::Null)],
                &[("spec.hdfs.ev.addresses", "addresses is required")],
            ),
            fails(
                vec![("/hdfsUser", json!(""))],
                &[(
                    "spec.hdfs.ev.hdfsUser",
                    "either hdfsUser, krbCCacheSecret or krbKeytabSecret is required",
                )],
            ),
            fails(
                vec![("/krbKeytabSecret", secret())],
                &[(
                    "spec.hdfs.ev.krbKeytabSecret",
                    "krbServicePrincipalName, krbConfigConfigMap, krbUsername and krbRealm are required with krbKeytabSecret",
                )],
            ),
            fails(
                vec![("/krbCCacheSecret", secret())],
                &[(
                    "spec.hdfs.ev.krbCCacheSecret",
                    "krbServicePrincipalName and krbConfigConfigMap are required with krbCCacheSecret",
                )],
            ),
            passes(vec![
                ("/krbCCacheSecret", secret()),
                ("/krbServicePrincipalName", json!("hdfs/nn")),
                (
                    "/krbConfigConfigMap",
                    json!({"name": "krb5", "key": "krb5.conf"}),
                ),
            ]),
        ],
    );
}
