//! Sensor trigger rules (upstream `pkg/reconciler/sensor/validate.go`, `validateTriggers` and
//! below): names, `conditionsReset`, each action kind's required fields, parameters, policies
//! and the dead-letter trigger. Kinds upstream does not check (`log`, `pulsar`,
//! `azureEventHubs`, `azureServiceBus`) are not checked here either.

use std::collections::BTreeSet;

use argo_events_api::{Trigger, TriggerParameter, TriggerTemplate};

use super::common::go_location;
use super::cron::parse_cron;
use super::{Errors, at, idx};

pub(super) fn validate_all(triggers: &[Trigger], errors: &mut Errors) {
    if triggers.is_empty() {
        errors.push("spec.triggers", "no triggers found");
    }
    let mut names = BTreeSet::new();
    for (i, t) in triggers.iter().enumerate() {
        let path = idx("spec.triggers", i);
        validate(t, &path, errors);
        if let Some(template) = &t.template
            && !names.insert(template.name.as_str())
        {
            errors.push(
                at(&path, "template.name"),
                format!("duplicate trigger name: {}", template.name),
            );
        }
    }
}

/// One trigger at `path` (a Sensor trigger, or a `dlqTrigger` inside one).
fn validate(t: &Trigger, path: &str, errors: &mut Errors) {
    let template_path = at(path, "template");
    match &t.template {
        None => errors.push(&template_path, "trigger template can't be nil"),
        Some(template) => {
            validate_template(template, &template_path, errors);
            policy(t, template, path, errors);
        }
    }
    parameters(
        &t.parameters,
        &at(path, "parameters"),
        "template parameter index",
        false,
        errors,
    );
    if let Some(dlq) = &t.dlq_trigger {
        let dlq_path = at(path, "dlqTrigger");
        if !t.at_least_once {
            errors.push(
                at(path, "atLeastOnce"),
                "to use dlqTrigger, trigger.atLeastOnce must be set to true",
            );
        }
        if !dlq.at_least_once {
            errors.push(
                at(&dlq_path, "atLeastOnce"),
                "atLeastOnce must be set to true within the dlqTrigger",
            );
        }
        validate(dlq, &dlq_path, errors);
    }
}

fn validate_template(template: &TriggerTemplate, path: &str, errors: &mut Errors) {
    if template.name.is_empty() {
        errors.push(at(path, "name"), "trigger must define a name");
    }
    for (i, reset) in template.conditions_reset.iter().enumerate() {
        let reset_path = idx(&at(path, "conditionsReset"), i);
        let Some(by_time) = &reset.by_time else {
            errors.push(reset_path, "invalid conditionsReset");
            continue;
        };
        if let Err(e) = parse_cron(&by_time.cron) {
            errors.push(
                at(&reset_path, "byTime.cron"),
                format!("invalid cron expression {:?}: {e}", by_time.cron),
            );
        }
        if go_location(&by_time.timezone).is_err() {
            errors.push(
                at(&reset_path, "byTime.timezone"),
                format!("invalid timezone {:?}", by_time.timezone),
            );
        }
    }
    if let Some(k8s) = &template.k8s {
        let mut kind = Kind {
            errors: &mut *errors,
            path,
            prefix: format!("trigger for template {} is invalid, ", template.name),
        };
        kind.need(
            k8s.source.is_none(),
            "k8s.source",
            "k8s trigger does not contain an absolute action",
        );
        if !matches!(
            k8s.operation.as_str(),
            "" | "create" | "update" | "patch" | "delete"
        ) {
            kind.push(
                "k8s.operation",
                format!("unknown operation type {}", k8s.operation),
            );
        }
        kind.params(
            &k8s.parameters,
            "k8s.parameters",
            "resource parameter index",
            false,
        );
    }
    let mut kind = Kind {
        errors,
        path,
        prefix: format!("template {} is invalid, ", template.name),
    };
    if let Some(wf) = &template.argo_workflow {
        kind.need(
            wf.source.is_none(),
            "argoWorkflow.source",
            "argoWorkflow trigger does not contain an absolute action",
        );
        if !matches!(
            wf.operation.as_str(),
            "submit"
                | "submit-from"
                | "suspend"
                | "retry"
                | "resume"
                | "resubmit"
                | "terminate"
                | "stop"
        ) {
            kind.push(
                "argoWorkflow.operation",
                format!(
                    "unknown operation type {}; valid operations: submit, submit-from, suspend, retry, resume, resubmit, terminate, stop; to create another kind of object use a k8s trigger with operation create",
                    wf.operation
                ),
            );
        }
        kind.params(
            &wf.parameters,
            "argoWorkflow.parameters",
            "resource parameter index",
            false,
        );
    }
    if let Some(http) = &template.http {
        kind.need(
            http.url.is_empty(),
            "http.url",
            "server URL is not specified",
        );
        kind.need(
            !matches!(
                http.method.as_str(),
                "" | "GET" | "DELETE" | "PATCH" | "POST" | "PUT"
            ),
            "http.method",
            "only GET, DELETE, PATCH, POST and PUT methods are supported",
        );
        kind.params(
            &http.parameters,
            "http.parameters",
            "resource parameter index",
            false,
        );
        // An HTTP payload entry may leave `dest` empty: it then supplies the whole body.
        kind.params(&http.payload, "http.payload", "payload index", true);
    }
    if let Some(lambda) = &template.aws_lambda {
        kind.need(
            lambda.function_name.is_empty(),
            "awsLambda.functionName",
            "function name is not specified",
        );
        kind.need(
            lambda.region.is_empty(),
            "awsLambda.region",
            "region in not specified",
        );
        kind.need(
            lambda.payload.is_empty(),
            "awsLambda.payload",
            "payload parameters are not specified",
        );
        kind.params(
            &lambda.parameters,
            "awsLambda.parameters",
            "resource parameter index",
            false,
        );
        kind.params(&lambda.payload, "awsLambda.payload", "payload index", false);
    }
    if let Some(kafka) = &template.kafka {
        kind.need(
            kafka.url.is_empty(),
            "kafka.url",
            "broker url must not be empty",
        );
        kind.need(
            kafka.payload.is_empty(),
            "kafka.payload",
            "payload must not be empty",
        );
        kind.need(
            kafka.topic.is_empty(),
            "kafka.topic",
            "topic must not be empty",
        );
        kind.params(&kafka.payload, "kafka.payload", "payload index", false);
    }
    if let Some(nats) = &template.nats {
        kind.need(
            nats.url.is_empty(),
            "nats.url",
            "nats server url can't be empty",
        );
        kind.need(
            nats.subject.is_empty(),
            "nats.subject",
            "nats subject can't be empty",
        );
        kind.need(
            nats.payload.is_empty(),
            "nats.payload",
            "payload can't be nil",
        );
        kind.params(&nats.payload, "nats.payload", "payload index", false);
    }
    if let Some(slack) = &template.slack {
        kind.need(
            slack.slack_token.is_none(),
            "slack.slackToken",
            "slack token can't be empty",
        );
        kind.params(
            &slack.parameters,
            "slack.parameters",
            "resource parameter index",
            false,
        );
    }
    if let Some(ow) = &template.open_whisk {
        kind.need(
            ow.action_name.is_empty(),
            "openWhisk.actionName",
            "action name is not specified",
        );
        kind.need(
            ow.host.is_empty(),
            "openWhisk.host",
            "host URL is not specified",
        );
        kind.need(
            ow.auth_token
                .as_ref()
                .is_some_and(|t| t.name.is_empty() || t.key.is_empty()),
            "openWhisk.authToken",
            "auth token key and name must be specified",
        );
        kind.params(
            &ow.parameters,
            "openWhisk.parameters",
            "resource parameter index",
            false,
        );
        kind.need(
            ow.payload.is_empty(),
            "openWhisk.payload",
            "payload parameters are not specified",
        );
        // Upstream words payload errors of this kind as resource parameter errors.
        kind.params(
            &ow.payload,
            "openWhisk.payload",
            "resource parameter index",
            false,
        );
    }
    if let Some(custom) = &template.custom {
        kind.need(
            custom.server_url.is_empty(),
            "custom.serverURL",
            "custom trigger gRPC server url is not defined",
        );
        kind.need(
            custom.spec.is_empty(),
            "custom.spec",
            "trigger body can't be empty",
        );
        kind.need(
            custom.secure && custom.cert_secret.is_none(),
            "custom.certSecret",
            "certSecret can't be nil when the trigger server connection is secure",
        );
        kind.params(
            &custom.parameters,
            "custom.parameters",
            "resource parameter index",
            false,
        );
    }
    if let Some(email) = &template.email {
        kind.need(email.host.is_empty(), "email.host", "host can't be empty");
        if !(0..=65535).contains(&email.port) {
            kind.push(
                "email.port",
                format!("port: {}, port should be between 0-65535", email.port),
            );
        }
        kind.params(
            &email.parameters,
            "email.parameters",
            "resource parameter index",
            false,
        );
    }
}

/// Errors of one action kind, worded `<prefix><message>` as upstream wraps them.
struct Kind<'a> {
    errors: &'a mut Errors,
    path: &'a str,
    prefix: String,
}

impl Kind<'_> {
    fn push(&mut self, field: &str, message: impl std::fmt::Display) {
        self.errors
            .push(at(self.path, field), format!("{}{message}", self.prefix));
    }

    fn need(&mut self, missing: bool, field: &str, message: &str) {
        if missing {
            self.push(field, message);
        }
    }

    fn params(&mut self, params: &[TriggerParameter], field: &str, label: &str, http: bool) {
        let mut found = Errors::default();
        parameters(params, &at(self.path, field), label, http, &mut found);
        for e in found.0 {
            self.errors
                .push(e.path, format!("{}{}", self.prefix, e.message));
        }
    }
}

/// Each parameter of a list at `path`, reported as `<label>: N. err: <problem>`.
fn parameters(
    params: &[TriggerParameter],
    path: &str,
    label: &str,
    http_payload: bool,
    errors: &mut Errors,
) {
    for (i, p) in params.iter().enumerate() {
        let param_path = idx(path, i);
        let mut report = |field: &str, problem: String| {
            errors.push(
                at(&param_path, field),
                format!("{label}: {i}. err: {problem}"),
            );
        };
        match &p.src {
            None => report("src", "parameter source can't be empty".into()),
            Some(src) if src.dependency_name.is_empty() => report(
                "src.dependencyName",
                "parameter dependency name can't be empty".into(),
            ),
            Some(_) => {}
        }
        if p.dest.is_empty() && !http_payload {
            report("dest", "parameter destination can't be empty".into());
        }
        if !matches!(
            p.operation.as_str(),
            "" | "overwrite" | "append" | "prepend"
        ) {
            report(
                "operation",
                format!("parameter operation {} is invalid", p.operation),
            );
        }
    }
}

/// Upstream checks the policy against the first of k8s, argoWorkflow, http and awsLambda that
/// the template sets, and only that one.
fn policy(t: &Trigger, template: &TriggerTemplate, path: &str, errors: &mut Errors) {
    let Some(policy) = &t.policy else {
        return;
    };
    if template.k8s.is_some() || template.argo_workflow.is_some() {
        if let Some(k8s) = &policy.k8s
            && k8s.labels.is_empty()
        {
            errors.push(
                at(path, "policy.k8s.labels"),
                "resource labels are not specified",
            );
        }
    } else if (template.http.is_some() || template.aws_lambda.is_some())
        && let Some(status) = &policy.status
        && status.allow.is_empty()
    {
        errors.push(
            at(path, "policy.status.allow"),
            "list of allowed response status is not specified",
        );
    }
}
