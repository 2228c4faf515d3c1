//! Sensor trigger actions, parameters, policies and the DLQ trigger.

use serde_json::{Value, json};

use super::sensor::{base, param, validate};
use super::{Case, check, fails, passes, patched, secret};

#[test]
fn parameter_rules() {
    let k8s = json!({"source": {"resource": {"kind": "Pod"}}, "parameters": [param()]});
    let base = patched(&base(), &[("/spec/triggers/0/template/k8s", k8s)]);
    let at = |field: &str, value: Value| {
        let mut p = param();
        p[field] = value;
        ("/spec/triggers/0/template/k8s/parameters/0", p)
    };
    let prefix = "trigger for template t is invalid, resource parameter index: 0. err: ";
    let msg = |m: &str| -> &'static str { format!("{prefix}{m}").leak() };
    let cases = vec![
        passes(vec![at("operation", json!("append"))]),
        passes(vec![at("operation", json!("prepend"))]),
        passes(vec![at("operation", json!("overwrite"))]),
        // The dependency a parameter names is not checked against the dependencies.
        passes(vec![at(
            "src",
            json!({"dependencyName": "no-such-dependency"}),
        )]),
        fails(
            vec![at("src", Value::Null)],
            &[(
                "spec.triggers[0].template.k8s.parameters[0].src",
                msg("parameter source can't be empty"),
            )],
        ),
        fails(
            vec![at("src", json!({"dataKey": "body"}))],
            &[(
                "spec.triggers[0].template.k8s.parameters[0].src.dependencyName",
                msg("parameter dependency name can't be empty"),
            )],
        ),
        fails(
            vec![at("dest", json!(""))],
            &[(
                "spec.triggers[0].template.k8s.parameters[0].dest",
                msg("parameter destination can't be empty"),
            )],
        ),
        fails(
            vec![at("operation", json!("merge"))],
            &[(
                "spec.triggers[0].template.k8s.parameters[0].operation",
                msg("parameter operation merge is invalid"),
            )],
        ),
        fails(
            vec![(
                "/spec/triggers/0/template/k8s/parameters/0",
                json!({"operation": "x"}),
            )],
            &[
                (
                    "spec.triggers[0].template.k8s.parameters[0].src",
                    msg("parameter source can't be empty"),
                ),
                (
                    "spec.triggers[0].template.k8s.parameters[0].dest",
                    msg("parameter destination can't be empty"),
                ),
                (
                    "spec.triggers[0].template.k8s.parameters[0].operation",
                    msg("parameter operation x is invalid"),
                ),
            ],
        ),
    ];
    check("parameters", &base, &cases, validate);
}

/// Checks the cases of one action kind, `valid` being a valid action of that kind.
fn action(key: &'static str, valid: Value, cases: Vec<Case>) {
    let base = patched(
        &base(),
        &[(format!("/spec/triggers/0/template/{key}").leak(), valid)],
    );
    let cases: Vec<Case> = cases
        .into_iter()
        .map(|c| Case {
            patches: c
                .patches
                .into_iter()
                .map(|(p, v)| (&*format!("/spec/triggers/0/template/{key}{p}").leak(), v))
                .collect(),
            expect: c.expect,
        })
        .collect();
    check(key, &base, &cases, validate);
}

#[test]
fn kubernetes_actions() {
    action(
        "k8s",
        json!({"source": {"resource": {"kind": "Pod"}}}),
        vec![
            passes(vec![("/operation", json!("patch"))]),
            fails(
                vec![("/source", Value::Null)],
                &[(
                    "spec.triggers[0].template.k8s.source",
                    "trigger for template t is invalid, k8s trigger does not contain an absolute action",
                )],
            ),
            fails(
                vec![("/operation", json!("replace"))],
                &[(
                    "spec.triggers[0].template.k8s.operation",
                    "trigger for template t is invalid, unknown operation type replace",
                )],
            ),
        ],
    );
    action(
        "argoWorkflow",
        json!({"source": {"resource": {"kind": "Workflow"}}, "operation": "submit"}),
        vec![
            passes(vec![("/operation", json!("resubmit"))]),
            fails(
                vec![("/operation", json!(""))],
                &[(
                    "spec.triggers[0].template.argoWorkflow.operation",
                    "template t is invalid, unknown operation type ; valid operations: submit, submit-from, suspend, retry, resume, resubmit, terminate, stop; to create another kind of object use a k8s trigger with operation create",
                )],
            ),
            fails(
                vec![("/source", Value::Null)],
                &[(
                    "spec.triggers[0].template.argoWorkflow.source",
                    "template t is invalid, argoWorkflow trigger does not contain an absolute action",
                )],
            ),
            fails(
                vec![("/parameters", json!([{"src": {"dependencyName": "d"}}]))],
                &[(
                    "spec.triggers[0].template.argoWorkflow.parameters[0].dest",
                    "template t is invalid, resource parameter index: 0. err: parameter destination",
                )],
            ),
        ],
    );
}

#[test]
fn request_actions() {
    action(
        "http",
        json!({"url": "http://x", "payload": [param()]}),
        vec![
            passes(vec![("/method", json!("PUT"))]),
            // A payload entry without dest supplies the whole body.
            passes(vec![(
                "/payload",
                json!([{"src": {"dependencyName": "d"}}]),
            )]),
            fails(
                vec![("/url", json!(""))],
                &[(
                    "spec.triggers[0].template.http.url",
                    "template t is invalid, server URL is not specified",
                )],
            ),
            fails(
                vec![("/method", json!("get"))],
                &[(
                    "spec.triggers[0].template.http.method",
                    "template t is invalid, only GET, DELETE, PATCH, POST and PUT methods are supported",
                )],
            ),
            fails(
                vec![("/payload", json!([{"dest": "a"}]))],
                &[(
                    "spec.triggers[0].template.http.payload[0].src",
                    "template t is invalid, payload index: 0. err: parameter source can't be empty",
                )],
            ),
            fails(
                vec![("/parameters", json!([{"src": {"dependencyName": "d"}}]))],
                &[(
                    "spec.triggers[0].template.http.parameters[0].dest",
                    "template t is invalid, resource parameter index: 0. err: parameter destination can't be empty",
                )],
            ),
        ],
    );
    action(
        "awsLambda",
        json!({"functionName": "f", "region": "us-east-1", "payload": [param()]}),
        vec![
            fails(
                vec![("/functionName", json!(""))],
                &[(
                    "spec.triggers[0].template.awsLambda.functionName",
                    "template t is invalid, function name is not specified",
                )],
            ),
            fails(
                vec![("/region", json!(""))],
                &[(
                    "spec.triggers[0].template.awsLambda.region",
                    "template t is invalid, region in not specified",
                )],
            ),
            fails(
                vec![("/payload", json!([]))],
                &[(
                    "spec.triggers[0].template.awsLambda.payload",
                    "template t is invalid, payload parameters are not specified",
                )],
            ),
            fails(
                vec![("/payload", json!([{"src": {"dependencyName": "d"}}]))],
                &[(
                    "spec.triggers[0].template.awsLambda.payload[0].dest",
                    "template t is invalid, payload index: 0. err: parameter destination can't be empty",
                )],
            ),
        ],
    );
    action(
        "custom",
        json!({"serverURL": "custom:9000", "spec": {"a": "b"}}),
        vec![
            fails(
                vec![("/serverURL", json!(""))],
                &[(
                    "spec.triggers[0].template.custom.serverURL",
                    "template t is invalid, custom trigger gRPC server url is not defined",
                )],
            ),
            fails(
                vec![("/spec", Value::Null)],
                &[(
                    "spec.triggers[0].template.custom.spec",
                    "template t is invalid, trigger body can't be empty",
                )],
            ),
            fails(
                vec![("/secure", json!(true))],
                &[(
                    "spec.triggers[0].template.custom.certSecret",
                    "template t is invalid, certSecret can't be nil when the trigger server connection is secure",
                )],
            ),
            passes(vec![("/secure", json!(true)), ("/certSecret", secret())]),
        ],
    );
}

#[test]
fn messaging_actions() {
    action(
        "kafka",
        json!({"url": "kafka:9092", "topic": "t", "payload": [param()]}),
        vec![
            fails(
                vec![("/url", json!(""))],
                &[(
                    "spec.triggers[0].template.kafka.url",
                    "template t is invalid, broker url must not be empty",
                )],
            ),
            fails(
                vec![("/topic", json!(""))],
                &[(
                    "spec.triggers[0].template.kafka.topic",
                    "template t is invalid, topic must not be empty",
                )],
            ),
            fails(
                vec![("/payload", Value::Null)],
                &[(
                    "spec.triggers[0].template.kafka.payload",
                    "template t is invalid, payload must not be empty",
                )],
            ),
            // Upstream checks a Kafka trigger's payload, not its parameters.
            passes(vec![("/parameters", json!([{}]))]),
        ],
    );
    action(
        "nats",
        json!({"url": "nats://n", "subject": "s", "payload": [param()]}),
        vec![
            fails(
                vec![("/url", json!(""))],
                &[(
                    "spec.triggers[0].template.nats.url",
                    "template t is invalid, nats server url can't be empty",
                )],
            ),
            fails(
                vec![("/subject", json!(""))],
                &[(
                    "spec.triggers[0].template.nats.subject",
                    "template t is invalid, nats subject can't be empty",
                )],
            ),
            fails(
                vec![("/payload", Value::Null)],
                &[(
                    "spec.triggers[0].template.nats.payload",
                    "template t is invalid, payload can't be nil",
                )],
            ),
            fails(
                vec![("/payload", json!([{"src": {}, "dest": "a"}]))],
                &[(
                    "spec.triggers[0].template.nats.payload[0].src.dependencyName",
                    "template t is invalid, payload index: 0. err: parameter dependency name can't be empty",
                )],
            ),
        ],
    );
    action(
        "slack",
        json!({"slackToken": secret()}),
        vec![fails(
            vec![("/slackToken", Value::Null)],
            &[(
                "spec.triggers[0].template.slack.slackToken",
                "template t is invalid, slack token can't be empty",
            )],
        )],
    );
    action(
        "openWhisk",
        json!({"host": "https://ow", "actionName": "a", "payload": [param()], "authToken": secret()}),
        vec![
            fails(
                vec![("/actionName", json!(""))],
                &[(
                    "spec.triggers[0].template.openWhisk.actionName",
                    "template t is invalid, action name is not specified",
                )],
            ),
            fails(
                vec![("/host", json!(""))],
                &[(
                    "spec.triggers[0].template.openWhisk.host",
                    "template t is invalid, host URL is not specified",
                )],
            ),
            fails(
                vec![("/authToken", json!({"name": "s", "key": ""}))],
                &[(
                    "spec.triggers[0].template.openWhisk.authToken",
                    "template t is invalid, auth token key and name must be specified",
                )],
            ),
            fails(
                vec![("/payload", json!([]))],
                &[(
                    "spec.triggers[0].template.openWhisk.payload",
                    "template t is invalid, payload parameters are not specified",
                )],
            ),
            fails(
                vec![("/payload", json!([{"src": {"dependencyName": "d"}}]))],
                &[(
                    "spec.triggers[0].template.openWhisk.payload[0].dest",
                    "template t is invalid, resource parameter index: 0. err: parameter destination",
                )],
            ),
        ],
    );
    action(
        "email",
        json!({"host": "smtp.example.com", "port": 587}),
        vec![
            fails(
                vec![("/host", json!(""))],
                &[(
                    "spec.triggers[0].template.email.host",
                    "template t is invalid, host can't be empty",
                )],
            ),
            fails(
                vec![("/port", json!(65536))],
                &[(
                    "spec.triggers[0].template.email.port",
                    "template t is invalid, port: 65536, port should be between 0-65535",
                )],
            ),
            fails(
                vec![("/port", json!(-1))],
                &[(
                    "spec.triggers[0].template.email.port",
                    "template t is invalid, port: -1, port should be between 0-65535",
                )],
            ),
        ],
    );
}

#[test]
fn policy_rules() {
    let k8s = patched(
        &base(),
        &[(
            "/spec/triggers/0/template/k8s",
            json!({"source": {"resource": {"kind": "Pod"}}}),
        )],
    );
    let cases = vec![
        passes(vec![(
            "/spec/triggers/0/policy",
            json!({"k8s": {"labels": {"done": "true"}}}),
        )]),
        fails(
            vec![("/spec/triggers/0/policy", json!({"k8s": {}}))],
            &[(
                "spec.triggers[0].policy.k8s.labels",
                "resource labels are not specified",
            )],
        ),
        // Only the policy of the action's own family is checked.
        passes(vec![("/spec/triggers/0/policy", json!({"status": {}}))]),
    ];
    check("k8s policy", &k8s, &cases, validate);
    let http = patched(
        &base(),
        &[("/spec/triggers/0/template/http", json!({"url": "http://x"}))],
    );
    let cases = vec![
        passes(vec![(
            "/spec/triggers/0/policy",
            json!({"status": {"allow": [200, 201]}}),
        )]),
        fails(
            vec![("/spec/triggers/0/policy", json!({"status": {}}))],
            &[(
                "spec.triggers[0].policy.status.allow",
                "list of allowed response status is not specified",
            )],
        ),
        passes(vec![("/spec/triggers/0/policy", json!({"k8s": {}}))]),
    ];
    check("http policy", &http, &cases, validate);
    // A log trigger's policy is not checked at all.
    let log = patched(
        &base(),
        &[("/spec/triggers/0/policy", json!({"status": {}}))],
    );
    assert_eq!(validate(&log), vec![]);
}

#[test]
fn dlq_trigger_rules() {
    let dlq = json!({"template": {"name": "dlq", "log": {}}, "atLeastOnce": true});
    let base = patched(
        &base(),
        &[
            ("/spec/triggers/0/atLeastOnce", json!(true)),
            ("/spec/triggers/0/dlqTrigger", dlq),
        ],
    );
    let cases = vec![
        fails(
            vec![("/spec/triggers/0/atLeastOnce", json!(false))],
            &[(
                "spec.triggers[0].atLeastOnce",
                "to use dlqTrigger, trigger.atLeastOnce must be set to true",
            )],
        ),
        fails(
            vec![("/spec/triggers/0/dlqTrigger/atLeastOnce", Value::Null)],
            &[(
                "spec.triggers[0].dlqTrigger.atLeastOnce",
                "atLeastOnce must be set to true within the dlqTrigger",
            )],
        ),
        // The DLQ trigger is validated like any trigger.
        fails(
            vec![(
                "/spec/triggers/0/dlqTrigger/template/http",
                json!({"url": ""}),
            )],
            &[(
                "spec.triggers[0].dlqTrigger.template.http.url",
                "template dlq is invalid, server URL is not specified",
            )],
        ),
        // Its name may repeat a trigger's: only the Sensor's own triggers must be unique.
        passes(vec![(
            "/spec/triggers/0/dlqTrigger/template/name",
            json!("t"),
        )]),
    ];
    check("dlqTrigger", &base, &cases, validate);
}
