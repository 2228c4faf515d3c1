use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::render::InlineOnly;

fn sensor(yaml: &str) -> Sensor {
    let (docs, err) = argo_events_api::manifest::parse_documents("t.yaml", yaml);
    assert!(err.is_none(), "{err:?}");
    argo_events_api::gocompat::from_value::<Sensor>(&docs[0].value)
        .expect("sensor decodes")
        .value
}

fn event(source: &str, subject: &str, data: serde_json::Value) -> Event {
    Event::from_cloudevent(&json!({
        "specversion": "1.0", "id": format!("{source}-{subject}"), "source": source, "type": "webhook",
        "subject": subject, "datacontenttype": "application/json", "time": "2026-01-02T10:00:00Z",
        "data": data,
    }))
    .expect("event")
}

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, h, m, 0)
        .single()
        .expect("valid time")
}

const TWO_DEPS: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata: {name: s}
spec:
  dependencies:
    - {name: dep-a, eventSourceName: src, eventName: a}
    - {name: dep_b, eventSourceName: src, eventName: b}
  triggers:
    - template:
        name: both
        conditions: "dep-a && dep_b"
        log: {}
    - template:
        name: either
        conditions: "dep-a || dep_b"
        log: {}
"#;

fn fired(outcome: &Outcome) -> Vec<&str> {
    outcome
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Fire { trigger, .. } => Some(trigger.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn and_conditions_wait_and_or_conditions_fire_at_once() {
    let m = SensorMachine::new(&sensor(TWO_DEPS));
    assert!(m.problems().is_empty(), "{:?}", m.problems());
    let mut state = State::default();
    let a = event("src", "a", json!({"x": 1}));
    let out = m
        .on_event(&mut state, &a, None, at(10, 0), &InlineOnly)
        .unwrap();
    assert_eq!(fired(&out), ["either"]);
    let both = out.triggers.iter().find(|t| t.name == "both").unwrap();
    assert!(!both.fired);
    assert_eq!(
        both.reason,
        "conditions \"dep-a && dep_b\": waiting for dep_b"
    );
    assert!(out.commands.contains(&Command::Persist {
        trigger: "both".into()
    }));
    assert_eq!(out.commands.last(), Some(&Command::Ack));

    // The partial state survives serialization, as the runtime persists it.
    let saved = serde_json::to_string(&state).unwrap();
    let mut state: State = serde_json::from_str(&saved).unwrap();

    let b = event("src", "b", json!({"y": 2}));
    let out = m
        .on_event(&mut state, &b, None, at(10, 1), &InlineOnly)
        .unwrap();
    assert_eq!(fired(&out), ["both", "either"]);
    let Some(Command::Fire { events, .. }) = out
        .commands
        .iter()
        .find(|c| matches!(c, Command::Fire { trigger, .. } if trigger == "both"))
    else {
        panic!("both fires");
    };
    assert_eq!(events.keys().collect::<Vec<_>>(), ["dep-a", "dep_b"]);
    assert!(state.triggers.is_empty(), "state is cleared after firing");
}

#[test]
fn a_newer_event_replaces_the_stored_one() {
    let m = SensorMachine::new(&sensor(TWO_DEPS));
    let mut state = State::default();
    m.on_event(
        &mut state,
        &event("src", "a", json!({"n": 1})),
        None,
        at(10, 0),
        &InlineOnly,
    )
    .unwrap();
    m.on_event(
        &mut state,
        &event("src", "a", json!({"n": 2})),
        None,
        at(10, 1),
        &InlineOnly,
    )
    .unwrap();
    let out = m
        .on_event(
            &mut state,
            &event("src", "b", json!({})),
            None,
            at(10, 2),
            &InlineOnly,
        )
        .unwrap();
    let Some(Command::Fire { events, .. }) = out
        .commands
        .iter()
        .find(|c| matches!(c, Command::Fire { .. }))
    else {
        panic!("fires: {:?}", out.commands)
    };
    assert_eq!(events["dep-a"].data_json(), Some(json!({"n": 2})));
}

#[test]
fn routing_by_source_and_subject_or_by_name() {
    let m = SensorMachine::new(&sensor(TWO_DEPS));
    let mut state = State::default();
    let stray = event("other", "a", json!({}));
    let out = m
        .on_event(&mut state, &stray, None, at(10, 0), &InlineOnly)
        .unwrap();
    assert!(out.dependencies.is_empty());
    let out = m
        .on_event(&mut state, &stray, Some("dep_b"), at(10, 0), &InlineOnly)
        .unwrap();
    assert_eq!(out.dependencies[0].name, "dep_b");
    let err = m
        .on_event(&mut state, &stray, Some("nope"), at(10, 0), &InlineOnly)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no dependency named \"nope\"; the Sensor's dependencies are: dep-a, dep_b"
    );
}

#[test]
fn conditions_reset_drops_stored_state_on_schedule() {
    let m = SensorMachine::new(&sensor(&TWO_DEPS.replace(
        "        conditions: \"dep-a && dep_b\"\n",
        "        conditions: \"dep-a && dep_b\"\n        conditionsReset:\n          - byTime: {cron: \"0 12 * * *\", timezone: Europe/Paris}\n",
    )));
    assert!(m.problems().is_empty(), "{:?}", m.problems());
    let mut state = State::default();
    m.on_event(
        &mut state,
        &event("src", "a", json!({})),
        None,
        at(10, 0),
        &InlineOnly,
    )
    .unwrap();
    // 12:00 in Paris is 11:00 UTC in January: nothing reset at 10:30 UTC, reset by 11:00 UTC.
    assert!(m.on_tick(&mut state, at(10, 30)).is_empty());
    let cmds = m.on_tick(&mut state, at(11, 0));
    assert!(
        matches!(&cmds[..], [Command::Reset { trigger, .. }] if trigger == "both"),
        "{cmds:?}"
    );
    assert!(state.triggers.is_empty());
    let out = m
        .on_event(
            &mut state,
            &event("src", "b", json!({})),
            None,
            at(11, 5),
            &InlineOnly,
        )
        .unwrap();
    assert_eq!(fired(&out), ["either"]);
}

#[test]
fn conditions_reset_reads_cron_as_robfig_does() {
    // `5/15` is robfig's `5-59/15` (croner rejects it); `@daily` and weekday `7` are not robfig.
    let with = |cron: &str| {
        SensorMachine::new(&sensor(&TWO_DEPS.replace(
            "        conditions: \"dep-a && dep_b\"\n",
            &format!(
                "        conditions: \"dep-a && dep_b\"\n        conditionsReset:\n          - byTime: {{cron: \"{cron}\"}}\n"
            ),
        )))
    };
    let m = with("5/15 10 * * *");
    assert!(m.problems().is_empty(), "{:?}", m.problems());
    let mut state = State::default();
    m.on_event(
        &mut state,
        &event("src", "a", json!({})),
        None,
        at(10, 0),
        &InlineOnly,
    )
    .unwrap();
    assert!(m.on_tick(&mut state, at(10, 4)).is_empty());
    assert_eq!(m.on_tick(&mut state, at(10, 5)).len(), 1);
    for bad in ["@daily", "0 0 * * 7"] {
        let problems = with(bad).problems();
        assert!(
            problems.iter().any(|p| p.contains(bad)),
            "{bad}: {problems:?}"
        );
    }
}

#[test]
fn conditions_read_dash_and_underscore_as_the_same() {
    // Upstream rewrites '-' to '_' in the conditions and in the dependency names.
    let m = SensorMachine::new(&sensor(
        &TWO_DEPS
            .replace("dep-a && dep_b", "dep_a && dep-b")
            .replace("dep-a || dep_b", "dep_a || dep-b"),
    ));
    assert!(m.problems().is_empty(), "{:?}", m.problems());
    let mut state = State::default();
    let out = m
        .on_event(
            &mut state,
            &event("src", "a", json!({})),
            None,
            at(10, 0),
            &InlineOnly,
        )
        .unwrap();
    assert_eq!(fired(&out), ["either"]);
    let both = out.triggers.iter().find(|t| t.name == "both").unwrap();
    assert_eq!(
        both.reason,
        "conditions \"dep_a && dep-b\": waiting for dep_b"
    );
    let out = m
        .on_event(
            &mut state,
            &event("src", "b", json!({})),
            None,
            at(10, 1),
            &InlineOnly,
        )
        .unwrap();
    assert_eq!(fired(&out), ["both", "either"]);
    let Some(Command::Fire { events, .. }) = out
        .commands
        .iter()
        .find(|c| matches!(c, Command::Fire { trigger, .. } if trigger == "both"))
    else {
        panic!("both fires");
    };
    // Events are keyed by the dependencies' own names, as templates and parameters use them.
    assert_eq!(events.keys().collect::<Vec<_>>(), ["dep-a", "dep_b"]);
}

#[test]
fn bad_conditions_and_unknown_names_are_reported() {
    let m = SensorMachine::new(&sensor(
        &TWO_DEPS.replace("dep-a || dep_b", "dep-a || dep-c"),
    ));
    let problems = m.problems();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].contains("\"dep-c\", which is not a dependency of this Sensor"),
        "{problems:?}"
    );
    let mut state = State::default();
    let out = m
        .on_event(
            &mut state,
            &event("src", "a", json!({})),
            None,
            at(10, 0),
            &InlineOnly,
        )
        .unwrap();
    let either = out.triggers.iter().find(|t| t.name == "either").unwrap();
    assert!(!either.fired);
    assert!(
        either.reason.starts_with("never fires:"),
        "{}",
        either.reason
    );
}

const FILTERED: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata: {name: s}
spec:
  dependencies:
    - name: push
      eventSourceName: webhook
      eventName: push
      filters:
        data:
          - {path: body.ref, type: string, value: ["refs/heads/main"]}
  triggers:
    - template:
        name: call
        http:
          url: http://example.invalid/hook
          headers: {X-Static: "1"}
          secureHeaders:
            - name: Authorization
              valueFrom: {secretKeyRef: {name: tokens, key: hook}}
          payload:
            - src: {dependencyName: push, dataKey: body.after}
              dest: commit
            - src: {dependencyName: push, dataKey: body.size, }
              dest: size
            - src: {dependencyName: push, dataKey: body.size, useRawData: true}
              dest: rawSize
            - src: {dependencyName: push, dataTemplate: "{{ .Input.body.ref | upper }}"}
              dest: nested.ref
"#;

#[test]
fn filters_say_why_and_http_triggers_render_their_request() {
    let m = SensorMachine::new(&sensor(FILTERED));
    assert!(m.problems().is_empty(), "{:?}", m.problems());
    let mut state = State::default();
    let feature = event(
        "webhook",
        "push",
        json!({"body": {"ref": "refs/heads/feature/x"}}),
    );
    let out = m
        .on_event(&mut state, &feature, None, at(10, 0), &InlineOnly)
        .unwrap();
    assert!(!out.dependencies[0].matched);
    assert!(
        out.dependencies[0].reason.contains("refs/heads/feature/x"),
        "{}",
        out.dependencies[0].reason
    );
    assert!(out.triggers.is_empty());

    let main = event(
        "webhook",
        "push",
        json!({"body": {"ref": "refs/heads/main", "after": "abc", "size": 3}}),
    );
    let out = m
        .on_event(&mut state, &main, None, at(10, 0), &InlineOnly)
        .unwrap();
    assert!(out.dependencies[0].matched);
    let t = &out.triggers[0];
    assert!(t.fired, "{}", t.reason);
    assert_eq!(
        t.rendered,
        Some(json!({
            "url": "http://example.invalid/hook",
            "method": "POST",
            "headers": {"X-Static": "1", "Authorization": "<secret tokens/hook>"},
            "payload": {"commit": "abc", "size": "3", "rawSize": 3, "nested": {"ref": "REFS/HEADS/MAIN"}},
        }))
    );
}

#[test]
fn rendering_failures_are_reported_as_failed_runs() {
    let yaml = FILTERED.replace("dataKey: body.after", "dataKey: body.missing");
    let m = SensorMachine::new(&sensor(&yaml));
    let mut state = State::default();
    let main = event(
        "webhook",
        "push",
        json!({"body": {"ref": "refs/heads/main", "size": 1}}),
    );
    let out = m
        .on_event(&mut state, &main, None, at(10, 0), &InlineOnly)
        .unwrap();
    assert!(!out.triggers[0].fired);
    assert!(
        out.triggers[0]
            .reason
            .contains("unable to resolve 'push' parameter value"),
        "{}",
        out.triggers[0].reason
    );
    assert!(matches!(&out.commands[0], Command::Fail { trigger, .. } if trigger == "call"));
}

const K8S: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata: {name: s}
spec:
  dependencies:
    - {name: d, eventSourceName: es, eventName: e}
  triggers:
    - template:
        name: pod
        k8s:
          operation: create
          source:
            inline: |
              apiVersion: v1
              kind: Pod
              metadata: {generateName: hello-}
              spec:
                containers: [{name: c, image: alpine, args: [placeholder]}]
          parameters:
            - src: {dependencyName: d, dataKey: msg}
              dest: spec.containers.0.args.0
            - src: {dependencyName: d, dataKey: msg}
              dest: metadata.generateName
              operation: append
            - src: {dependencyName: d, dataKey: labels, useRawData: true}
              dest: metadata.labels
      parameters:
        - src: {dependencyName: d, dataKey: name}
          dest: k8s.source.inline
          operation: prepend
"#;

#[test]
fn k8s_triggers_render_the_resource_after_both_parameter_levels() {
    // The template-level parameter prepends to the inline source text: a YAML comment here.
    let m = SensorMachine::new(&sensor(K8S));
    let mut state = State::default();
    let e = event(
        "es",
        "e",
        json!({"msg": "hi", "name": "# from the event\n", "labels": {"a": "b"}}),
    );
    let out = m
        .on_event(&mut state, &e, None, at(10, 0), &InlineOnly)
        .unwrap();
    let t = &out.triggers[0];
    assert!(t.fired, "{}", t.reason);
    let r = t.rendered.as_ref().unwrap();
    assert_eq!(r["kind"], "Pod");
    assert_eq!(r["spec"]["containers"][0]["args"][0], "hi");
    assert_eq!(r["metadata"]["generateName"], "hello-hi");
    assert_eq!(r["metadata"]["labels"], json!({"a": "b"}));
}

#[test]
fn whole_event_and_defaults_for_absent_dependencies() {
    let yaml = r#"
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata: {name: s}
spec:
  dependencies:
    - {name: a, eventSourceName: es, eventName: a}
    - {name: b, eventSourceName: es, eventName: b}
  triggers:
    - template:
        name: t
        conditions: "a || b"
        http:
          url: http://x
          payload:
            - src: {dependencyName: a}
              dest: whole
            - src: {dependencyName: b, value: "no b"}
              dest: fromB
            - src: {dependencyName: b, dataKey: x}
              dest: skipped
            - src: {dependencyName: a, contextKey: subject}
              dest: subject
"#;
    let m = SensorMachine::new(&sensor(yaml));
    let mut state = State::default();
    let out = m
        .on_event(
            &mut state,
            &event("es", "a", json!({"k": 1})),
            None,
            at(10, 0),
            &InlineOnly,
        )
        .unwrap();
    let payload = &out.triggers[0].rendered.as_ref().unwrap()["payload"];
    assert_eq!(payload["fromB"], "no b");
    assert_eq!(payload["subject"], "a");
    assert!(payload.get("skipped").is_none());
    let whole: serde_json::Value =
        serde_json::from_str(payload["whole"].as_str().unwrap()).unwrap();
    assert_eq!(whole["context"]["source"], "es");
    assert_eq!(
        whole["data"], "eyJrIjoxfQ==",
        "data is base64 of the payload bytes"
    );
}

#[test]
fn log_triggers_render_a_message() {
    let yaml = r#"
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata: {name: s}
spec:
  dependencies: [{name: d, eventSourceName: es, eventName: e}]
  triggers: [{template: {name: log, log: {intervalSeconds: 5}}}]
"#;
    let m = SensorMachine::new(&sensor(yaml));
    let mut state = State::default();
    let out = m
        .on_event(
            &mut state,
            &event("es", "e", json!({"a": 1})),
            None,
            at(10, 0),
            &InlineOnly,
        )
        .unwrap();
    assert_eq!(out.triggers[0].rendered, Some(json!("d (es/e): {\"a\":1}")));
}
