use super::*;
use crate::desired::fixtures::jetstream_bus;
use crate::render::placeholder_global_config;
use argo_events_api::condition_status::TRUE;
use k8s_openapi::jiff::Timestamp;

fn t(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).unwrap())
}

fn cfg() -> ControllerConfig {
    ControllerConfig::new("quay.io/argoproj/argo-events:test")
}

fn sensor(spec: Value) -> Watched<Sensor> {
    Watched::from_json(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
        "metadata": {"name": "s", "namespace": "argo-events", "uid": "uid-s", "generation": 1},
        "spec": spec,
    }))
    .unwrap()
}

fn valid_spec() -> Value {
    json!({
        "dependencies": [{"name": "d", "eventSourceName": "es", "eventName": "e"}],
        "triggers": [{"template": {"name": "t", "log": {}}}],
    })
}

fn ready_bus() -> Watched<EventBus> {
    let mut bus = jetstream_bus();
    bus.metadata.uid = Some("uid-bus".into());
    bus.spec.jetstream = Some(argo_events_api::JetStreamBus {
        version: "latest".into(),
        ..Default::default()
    });
    bus.status.conditions = compute(
        &[],
        condition::EVENT_BUS,
        &[
            (condition::CONFIGURED, Check::ok()),
            (condition::DEPLOYED, Check::ok()),
        ],
        &t(0),
    );
    Watched::new(bus)
}

fn facts<'a>(
    bus: Option<&'a Watched<EventBus>>,
    deployments: &'a [ExistingChild],
    services: &'a [ExistingChild],
    cfg: &'a ControllerConfig,
    now: &'a Time,
) -> PodFacts<'a> {
    PodFacts {
        bus,
        deployments,
        services,
        cfg,
        now,
    }
}

fn cond<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap()
}

/// Applies a plan's status to the watched object, as the API server would.
fn with_status<T: argo_events_api::watched::ArgoKind + serde::Serialize>(
    w: &Watched<T>,
    status: &Value,
) -> Watched<T> {
    let mut v = serde_json::to_value(w.object.as_ref().unwrap()).unwrap();
    v["status"] = status.clone();
    Watched::from_json(v).unwrap()
}

#[test]
fn sensor_first_create_then_noop_then_update() {
    let (cfg, now, bus) = (cfg(), t(10), ready_bus());
    let s = sensor(valid_spec());
    let plan = plan_sensor(&s, &facts(Some(&bus), &[], &[], &cfg, &now));
    assert_eq!(plan.writes.len(), 1);
    let Write::Create { kind, body } = &plan.writes[0] else {
        panic!("{:?}", plan.writes)
    };
    assert_eq!(*kind, ChildKind::Deployment);
    assert_eq!(body["kind"], "Deployment");
    assert_eq!(body["metadata"]["generateName"], "s-sensor-");
    assert_eq!(body["metadata"]["labels"]["sensor-name"], "s");
    assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "uid-s");
    let hash = body["metadata"]["annotations"][ANNOTATION_RESOURCE_SPEC_HASH]
        .as_str()
        .unwrap()
        .to_owned();
    let status = plan.status.clone().unwrap();
    for c in ["DependenciesProvided", "TriggersProvided", "Deployed"] {
        assert_eq!(cond(&status, c)["status"], TRUE, "{c}");
    }
    assert_eq!(plan.finalizers, None, "no finalizer on Sensors");
    assert_eq!(plan.requeue, None);

    // Same spec, the Deployment exists with the same hash, status as written: nothing.
    let s2 = with_status(&s, &status);
    let existing = [ExistingChild {
        kind: ChildKind::Deployment,
        name: "s-sensor-abcde".into(),
        spec_hash: Some(hash.clone()),
        controller_uid: Some("uid-s".into()),
        ..Default::default()
    }];
    let plan = plan_sensor(&s2, &facts(Some(&bus), &existing, &[], &cfg, &t(20)));
    assert_eq!(plan, Plan::default());

    // Spec change: apply onto the existing name with the new hash; status unchanged.
    let mut spec = valid_spec();
    spec["replicas"] = json!(2);
    let mut s3 = with_status(&sensor(spec), &status);
    s3.metadata.generation = Some(2);
    let plan = plan_sensor(&s3, &facts(Some(&bus), &existing, &[], &cfg, &t(30)));
    let [Write::Apply { kind, name, body }] = plan.writes.as_slice() else {
        panic!("{:?}", plan.writes)
    };
    assert_eq!(
        (*kind, name.as_str()),
        (ChildKind::Deployment, "s-sensor-abcde")
    );
    assert_eq!(body["metadata"]["name"], "s-sensor-abcde");
    assert!(body["metadata"].get("generateName").is_none());
    assert_ne!(
        body["metadata"]["annotations"][ANNOTATION_RESOURCE_SPEC_HASH],
        json!(hash)
    );
    assert_eq!(body["spec"]["replicas"], 2);
    assert_eq!(plan.status, None);
}

#[test]
fn sensor_invalid_specs_touch_no_children() {
    let (cfg, now, bus) = (cfg(), t(1), ready_bus());
    let cases: &[(Value, &str, &str, &str)] = &[
        (
            json!({"dependencies": [{"name": "d", "eventSourceName": "es", "eventName": "e"}]}),
            "TriggersProvided",
            "InvalidTriggers",
            "spec.triggers: no triggers found",
        ),
        (
            json!({"triggers": [{"template": {"name": "t", "log": {}}}]}),
            "DependenciesProvided",
            "InvalidDependencies",
            "no event dependencies found",
        ),
        (
            json!({"dependencies": "not a list"}),
            "DependenciesProvided",
            "InvalidDependencies",
            "spec.dependencies",
        ),
    ];
    for (spec, type_, why, message) in cases {
        let plan = plan_sensor(
            &sensor(spec.clone()),
            &facts(Some(&bus), &[], &[], &cfg, &now),
        );
        assert!(plan.writes.is_empty(), "{spec}");
        let status = plan.status.unwrap();
        let c = cond(&status, type_);
        assert_eq!(c["status"], "False", "{spec}");
        assert_eq!(c["reason"], *why, "{spec}");
        assert!(
            c["message"].as_str().unwrap().contains(message),
            "{spec}: {}",
            c["message"]
        );
        assert_eq!(cond(&status, "Deployed")["status"], "Unknown");
    }
}

#[test]
fn sensor_waits_for_its_event_bus() {
    let (cfg, now) = (cfg(), t(1));
    let mut not_ready = ready_bus();
    if let Ok(b) = &mut not_ready.object {
        b.status.conditions[1].status = "False".into();
    }
    for (bus, why, message) in [
        (None, "EventBusNotFound", "EventBus not found."),
        (Some(&not_ready), "EventBusNotReady", "EventBus not ready."),
    ] {
        let plan = plan_sensor(&sensor(valid_spec()), &facts(bus, &[], &[], &cfg, &now));
        assert!(plan.writes.is_empty());
        assert_eq!(plan.requeue, Some(REQUEUE_WAITING));
        let status = plan.status.unwrap();
        let c = cond(&status, "Deployed");
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some("False"), Some(why))
        );
        assert_eq!(c["message"], message);
    }
}

/// As upstream, a Sensor's bus is looked up before validation: without it only `Deployed`
/// changes (to upstream's reason and message), the other conditions stay as they were.
#[test]
fn sensor_without_bus_changes_only_deployed() {
    let (cfg, now) = (cfg(), t(1));
    // Invalid (no triggers), but not validated without its bus: TriggersProvided stays Unknown.
    let invalid =
        sensor(json!({"dependencies": [{"name": "d", "eventSourceName": "es", "eventName": "e"}]}));
    let plan = plan_sensor(&invalid, &facts(None, &[], &[], &cfg, &now));
    let status = plan.status.unwrap();
    assert_eq!(cond(&status, "TriggersProvided")["status"], "Unknown");
    assert_eq!(cond(&status, "DependenciesProvided")["status"], "Unknown");
    let c = cond(&status, "Deployed");
    assert_eq!(
        (
            c["status"].as_str(),
            c["reason"].as_str(),
            c["message"].as_str()
        ),
        (
            Some("False"),
            Some("EventBusNotFound"),
            Some("EventBus not found.")
        )
    );
    assert_eq!(plan.requeue, Some(REQUEUE_WAITING));
    // A settled Sensor whose bus went away keeps its True conditions.
    let bus = ready_bus();
    let ok = plan_sensor(
        &sensor(valid_spec()),
        &facts(Some(&bus), &[], &[], &cfg, &now),
    );
    let mut settled = sensor(valid_spec());
    if let Ok(o) = &mut settled.object {
        o.status.conditions =
            serde_json::from_value(ok.status.unwrap()["conditions"].clone()).unwrap();
    }
    let plan = plan_sensor(&settled, &facts(None, &[], &[], &cfg, &t(2)));
    let status = plan.status.unwrap();
    assert_eq!(cond(&status, "TriggersProvided")["status"], TRUE);
    assert_eq!(cond(&status, "DependenciesProvided")["status"], TRUE);
    assert_eq!(cond(&status, "Deployed")["reason"], "EventBusNotFound");
}

/// Duplicate controlled Deployments (from an earlier race): the first by name is kept (and
/// updated when stale), the others are deleted.
#[test]
fn duplicate_deployments_keep_the_first_by_name() {
    let (cfg, now, bus) = (cfg(), t(1), ready_bus());
    let plan = plan_sensor(
        &sensor(valid_spec()),
        &facts(Some(&bus), &[], &[], &cfg, &now),
    );
    let Write::Create { body, .. } = &plan.writes[0] else {
        panic!("{plan:?}")
    };
    let hash = body["metadata"]["annotations"][ANNOTATION_RESOURCE_SPEC_HASH]
        .as_str()
        .unwrap()
        .to_owned();
    let child = |name: &str, hash: &str| ExistingChild {
        kind: ChildKind::Deployment,
        name: name.into(),
        spec_hash: Some(hash.into()),
        controller_uid: Some("uid-s".into()),
        auth_strategy: None,
    };
    let names = |plan: &Plan| -> Vec<String> {
        plan.writes
            .iter()
            .map(|w| match w {
                Write::Apply { name, .. } => format!("apply {name}"),
                Write::Delete { name, .. } => format!("delete {name}"),
                other => format!("{other:?}"),
            })
            .collect()
    };
    // Current hash, in any order: the extras go, the kept one is not touched.
    for existing in [
        vec![
            child("s-sensor-bbbbb", &hash),
            child("s-sensor-aaaaa", &hash),
        ],
        vec![
            child("s-sensor-aaaaa", &hash),
            child("s-sensor-bbbbb", "old"),
        ],
    ] {
        let plan = plan_sensor(
            &sensor(valid_spec()),
            &facts(Some(&bus), &existing, &[], &cfg, &now),
        );
        assert_eq!(names(&plan), ["delete s-sensor-bbbbb"], "{existing:?}");
    }
    // Stale kept one: deleted extras, then applied.
    let existing = [
        child("s-sensor-ccccc", "old"),
        child("s-sensor-aaaaa", "old"),
        child("s-sensor-bbbbb", "old"),
    ];
    let plan = plan_sensor(
        &sensor(valid_spec()),
        &facts(Some(&bus), &existing, &[], &cfg, &now),
    );
    assert_eq!(
        names(&plan),
        [
            "delete s-sensor-bbbbb",
            "delete s-sensor-ccccc",
            "apply s-sensor-aaaaa"
        ]
    );
}

#[test]
fn deletion_of_sensors_and_event_sources_is_never_blocked() {
    let (cfg, now, bus) = (cfg(), t(1), ready_bus());
    let mut s = sensor(valid_spec());
    s.metadata.deletion_timestamp = Some(t(5));
    assert_eq!(
        plan_sensor(&s, &facts(Some(&bus), &[], &[], &cfg, &now)),
        Plan::default()
    );
    s.metadata.finalizers = Some(vec!["sensor-controller".into(), "other".into()]);
    let plan = plan_sensor(&s, &facts(Some(&bus), &[], &[], &cfg, &now));
    assert_eq!(plan.finalizers, Some(vec!["other".to_owned()]));
    assert!(plan.writes.is_empty() && plan.status.is_none());
}

fn event_source(spec: Value) -> Watched<EventSource> {
    Watched::from_json(json!({
        "metadata": {"name": "es", "namespace": "argo-events", "uid": "uid-es"},
        "spec": spec,
    }))
    .unwrap()
}

#[test]
fn event_source_service_lifecycle() {
    let (cfg, now, bus) = (cfg(), t(1), ready_bus());
    let with_svc = json!({
        "service": {"ports": [{"port": 12000, "targetPort": 12000}]},
        "webhook": {"push": {"port": "12000", "endpoint": "/push", "method": "POST"}},
    });
    let es = event_source(with_svc.clone());
    let plan = plan_event_source(&es, &facts(Some(&bus), &[], &[], &cfg, &now));
    let kinds: Vec<_> = plan
        .writes
        .iter()
        .map(|w| match w {
            Write::Apply { kind, name, .. } => format!("apply {kind:?} {name}"),
            Write::Create { kind, body } => {
                format!("create {kind:?} {}", body["metadata"]["generateName"])
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "apply Service es-eventsource-svc",
            "create Deployment \"es-eventsource-\""
        ]
    );
    let svc_hash = match &plan.writes[0] {
        Write::Apply { body, .. } => body["metadata"]["annotations"][ANNOTATION_RESOURCE_SPEC_HASH]
            .as_str()
            .unwrap()
            .to_owned(),
        _ => unreachable!(),
    };
    let svc = |hash: &str| ExistingChild {
        kind: ChildKind::Service,
        name: "es-eventsource-svc".into(),
        spec_hash: Some(hash.into()),
        controller_uid: Some("uid-es".into()),
        ..Default::default()
    };
    let dep = [ExistingChild {
        kind: ChildKind::Deployment,
        name: "es-eventsource-x".into(),
        spec_hash: Some("stale".into()),
        controller_uid: Some("uid-es".into()),
        ..Default::default()
    }];
    // Service unchanged: only the Deployment is applied.
    let same = [svc(&svc_hash)];
    let plan = plan_event_source(&es, &facts(Some(&bus), &dep, &same, &cfg, &now));
    assert!(matches!(
        plan.writes.as_slice(),
        [Write::Apply {
            kind: ChildKind::Deployment,
            ..
        }]
    ));
    // Service changed: deleted and re-created.
    let old = [svc("old")];
    let plan = plan_event_source(&es, &facts(Some(&bus), &dep, &old, &cfg, &now));
    assert!(matches!(
        plan.writes.as_slice(),
        [
            Write::Delete {
                kind: ChildKind::Service,
                ..
            },
            Write::Apply {
                kind: ChildKind::Service,
                ..
            },
            Write::Apply {
                kind: ChildKind::Deployment,
                ..
            }
        ]
    ));
    // No ports any more: the Service is deleted.
    let mut no_svc = with_svc;
    no_svc.as_object_mut().unwrap().remove("service");
    let plan = plan_event_source(
        &event_source(no_svc),
        &facts(Some(&bus), &dep, &same, &cfg, &now),
    );
    assert_eq!(
        plan.writes[0],
        Write::Delete {
            kind: ChildKind::Service,
            name: "es-eventsource-svc".into()
        }
    );
}

#[test]
fn event_source_invalid_keeps_webhook_messages() {
    let (cfg, now, bus) = (cfg(), t(1), ready_bus());
    for (spec, message) in [
        (
            json!({"webhook": {"push": {"port": 12000}}}),
            "spec.webhook.push.port: expected a string, got 12000",
        ),
        (
            json!({"webhook": {"push": {"port": "12000"}}}),
            "spec.webhook.push.endpoint: endpoint can't be empty",
        ),
    ] {
        let plan = plan_event_source(
            &event_source(spec),
            &facts(Some(&bus), &[], &[], &cfg, &now),
        );
        assert!(plan.writes.is_empty());
        let status = plan.status.unwrap();
        let c = cond(&status, "SourcesProvided");
        assert_eq!(c["reason"], "InvalidEventSource");
        assert!(c["message"].as_str().unwrap().contains(message), "{c}");
    }
}

fn bus(spec: Value) -> Watched<EventBus> {
    Watched::from_json(json!({
        "metadata": {"name": "default", "namespace": "argo-events", "uid": "uid-bus",
                     "finalizers": ["eventbus-controller"]},
        "spec": spec,
    }))
    .unwrap()
}

fn no_creds(_: &EventBus) -> Result<JetStreamCredentials, BuildError> {
    panic!("credentials generated although both Secrets exist")
}

fn fixed_creds(_: &EventBus) -> Result<JetStreamCredentials, BuildError> {
    Ok(JetStreamCredentials {
        js_user: "user".into(),
        js_password: "pass".into(),
        ..Default::default()
    })
}

fn no_token() -> String {
    panic!("token generated although the Secrets are current")
}

fn fixed_token() -> String {
    "t0k3n".into()
}

fn stan_global() -> StanGlobalConfig {
    StanGlobalConfig {
        versions: vec![crate::desired::eventbus::StanVersion {
            version: stan::DEFAULT_STAN_VERSION.into(),
            nats_streaming_image: "nats-streaming:0.22.1".into(),
            metrics_exporter_image: "natsio/prometheus-nats-exporter:0.8.0".into(),
        }],
    }
}

#[test]
fn jetstream_bus_children_once_and_status() {
    let global = placeholder_global_config();
    let stan = stan_global();
    let now = t(1);
    let mut b = bus(json!({"jetstream": {"version": "latest"}}));
    b.metadata.finalizers = None;
    let facts = BusFacts {
        children: &[],
        event_sources: 0,
        sensors: 0,
        global: &global,
        stan: &stan,
        token: &no_token,
        credentials: &fixed_creds,
        now: &now,
    };
    let plan = plan_event_bus(&b, &facts);
    assert_eq!(
        plan.finalizers,
        Some(vec!["eventbus-controller".to_owned()])
    );
    let applied: Vec<String> = plan
        .writes
        .iter()
        .map(|w| match w {
            Write::Apply { kind, name, .. } => format!("{kind:?} {name}"),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        applied,
        [
            "Secret eventbus-default-js-server",
            "Secret eventbus-default-js-client-auth",
            "ConfigMap eventbus-default-js-config",
            "Service eventbus-default-js-svc",
            "StatefulSet eventbus-default-js",
            "PodDisruptionBudget eventbus-default-js",
        ]
    );
    let status = plan.status.clone().unwrap();
    assert_eq!(cond(&status, "Deployed")["reason"], "Succeeded");
    assert_eq!(cond(&status, "Configured")["status"], TRUE);
    assert_eq!(
        status["config"]["jetstream"]["url"],
        "nats://eventbus-default-js-svc.argo-events.svc:4222"
    );
    assert_eq!(status["config"]["kafka"], Value::Null);

    // Everything exists with the same hashes, status written: nothing, and no credentials.
    let children: Vec<ExistingChild> = plan
        .writes
        .iter()
        .map(|w| match w {
            Write::Apply { kind, name, body } => ExistingChild {
                kind: *kind,
                name: name.clone(),
                spec_hash: body["metadata"]["annotations"][ANNOTATION_RESOURCE_SPEC_HASH]
                    .as_str()
                    .map(str::to_owned),
                controller_uid: Some("uid-bus".into()),
                ..Default::default()
            },
            _ => unreachable!(),
        })
        .collect();
    let mut b2 = with_status(&b, &status);
    b2.metadata.finalizers = Some(vec!["eventbus-controller".into()]);
    let again = BusFacts {
        children: &children,
        credentials: &no_creds,
        now: &t(2),
        ..facts
    };
    assert_eq!(plan_event_bus(&b2, &again), Plan::default());

    // A Secret owned by someone else is never taken over.
    let mut foreign = children.clone();
    foreign[0].controller_uid = Some("someone".into());
    let plan = plan_event_bus(
        &b2,
        &BusFacts {
            children: &foreign,
            ..again
        },
    );
    assert!(plan.writes.is_empty());
    let c = cond(plan.status.as_ref().unwrap(), "Deployed").clone();
    assert_eq!(c["reason"], "JetStreamAuthSecretsFailed");
}

#[test]
fn other_transports_and_invalid_buses() {
    let global = placeholder_global_config();
    let stan = stan_global();
    let now = t(1);
    let facts = BusFacts {
        children: &[],
        event_sources: 0,
        sensors: 0,
        global: &global,
        stan: &stan,
        token: &no_token,
        credentials: &no_creds,
        now: &now,
    };
    let cases: &[(Value, &str, &str, &str, &str)] = &[
        (
            json!({"jetstreamExotic": {"url": "nats://x:4222"}}),
            "Deployed",
            "True",
            "Skipped",
            "Skip deployment because of using exotic config.",
        ),
        (
            json!({"kafka": {"url": "kafka:9092"}}),
            "Deployed",
            "True",
            "Skipped",
            "Skip deployment",
        ),
        (
            json!({"nats": {"exotic": {"url": "nats://x:4222", "clusterID": "c"}}}),
            "Deployed",
            "True",
            "Skipped",
            "NATS Streaming is deprecated",
        ),
        (
            json!({}),
            "Configured",
            "False",
            "InvalidSpec",
            "invalid spec: either \"nats\", \"jetstream\", \"jetstreamExotic\", or \"kafka\" needs to be specified",
        ),
        (
            json!({"jetstream": {"version": "latest", "replicas": 2}}),
            "Configured",
            "False",
            "InvalidSpec",
            "a jetstream eventbus requires 1 replica or >= 3 replicas",
        ),
        (
            json!({"jetstream": {"version": 5}}),
            "Configured",
            "False",
            "InvalidSpec",
            "spec.jetstream.version",
        ),
    ];
    for (spec, type_, st, why, message) in cases {
        let plan = plan_event_bus(&bus(spec.clone()), &facts);
        assert!(plan.writes.is_empty(), "{spec}");
        let status = plan.status.unwrap();
        let c = cond(&status, type_);
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some(*st), Some(*why)),
            "{spec}"
        );
        assert!(
            c["message"].as_str().unwrap().contains(message),
            "{spec}: {c}"
        );
    }
    // Kafka: the topic is defaulted in status.config.
    let plan = plan_event_bus(&bus(json!({"kafka": {"url": "kafka:9092"}})), &facts);
    assert_eq!(
        plan.status.unwrap()["config"]["kafka"]["topic"],
        "argo-events-default"
    );
}

#[test]
fn bus_deletion_held_while_used_then_volumes_and_finalizer_go() {
    let global = placeholder_global_config();
    let stan = stan_global();
    let now = t(1);
    let mut b = bus(json!({"jetstream": {"version": "latest"}}));
    b.metadata.deletion_timestamp = Some(t(1));
    let base = BusFacts {
        children: &[],
        event_sources: 0,
        sensors: 0,
        global: &global,
        stan: &stan,
        token: &no_token,
        credentials: &no_creds,
        now: &now,
    };
    for (es, sensors, message) in [
        (
            2,
            1,
            "can not delete an EventBus with 2 EventSources connected",
        ),
        (0, 1, "can not delete an EventBus with 1 Sensors connected"),
    ] {
        let plan = plan_event_bus(
            &b,
            &BusFacts {
                event_sources: es,
                sensors,
                ..base
            },
        );
        assert!(plan.writes.is_empty());
        assert_eq!(plan.finalizers, None);
        assert_eq!(plan.requeue, Some(REQUEUE_WAITING));
        let status = plan.status.unwrap();
        assert_eq!(cond(&status, "Deployed")["message"], message);
        assert!(plan.notes[0].contains(message));
    }
    let plan = plan_event_bus(&b, &base);
    assert_eq!(
        plan.writes,
        [Write::DeleteCollection {
            kind: ChildKind::PersistentVolumeClaim,
            label_selector:
                "controller=eventbus-controller,eventbus-name=default,owner-name=default".into()
        }]
    );
    assert_eq!(plan.finalizers, Some(vec![]));
    // Without our finalizer there is nothing to do.
    b.metadata.finalizers = None;
    assert_eq!(plan_event_bus(&b, &base), Plan::default());
}

#[test]
fn helpers() {
    for (used, bus, want) in [("", "default", true), ("a", "a", true), ("", "a", false)] {
        assert_eq!(uses_bus(used, bus), want, "{used:?} {bus:?}");
    }
    for (n, secs) in [(0, 1), (1, 2), (5, 32), (9, 300), (100, 300)] {
        assert_eq!(backoff_delay(n), Duration::from_secs(secs), "{n}");
    }
}

#[test]
fn nats_streaming_bus_children_and_secrets_once() {
    let global = placeholder_global_config();
    let stan = stan_global();
    let now = t(1);
    let b = bus(json!({"nats": {"native": {"auth": "token"}}}));
    let facts = BusFacts {
        children: &[],
        event_sources: 0,
        sensors: 0,
        global: &global,
        stan: &stan,
        token: &fixed_token,
        credentials: &no_creds,
        now: &now,
    };
    let plan = plan_event_bus(&b, &facts);
    let applied: Vec<String> = plan
        .writes
        .iter()
        .map(|w| match w {
            Write::Apply { kind, name, .. } => format!("{kind:?} {name}"),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        applied,
        [
            "Service eventbus-default-stan-svc",
            "ConfigMap eventbus-default-stan-configmap",
            "Secret eventbus-default-server",
            "Secret eventbus-default-client",
            "StatefulSet eventbus-default-stan",
        ]
    );
    let status = plan.status.clone().unwrap();
    let c = cond(&status, "Deployed");
    assert_eq!(c["reason"], "Succeeded");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .starts_with("NATS is deployed.")
    );
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains(NATS_STREAMING_DEPRECATED)
    );
    assert_eq!(status["config"]["nats"]["auth"], "token");
    assert_eq!(
        status["config"]["nats"]["accessSecret"]["name"],
        "eventbus-default-client"
    );

    // Everything in place (Secrets with the `strategy: token` annotation): nothing to do, and
    // no new token.
    let children: Vec<ExistingChild> = plan
        .writes
        .iter()
        .map(|w| match w {
            Write::Apply { kind, name, body } => ExistingChild {
                kind: *kind,
                name: name.clone(),
                spec_hash: body["metadata"]["annotations"][ANNOTATION_RESOURCE_SPEC_HASH]
                    .as_str()
                    .map(str::to_owned),
                controller_uid: Some("uid-bus".into()),
                auth_strategy: body["metadata"]["annotations"]["strategy"]
                    .as_str()
                    .map(str::to_owned),
            },
            _ => unreachable!(),
        })
        .collect();
    let b2 = with_status(&b, &status);
    let again = BusFacts {
        children: &children,
        token: &no_token,
        now: &t(2),
        ..facts
    };
    assert_eq!(plan_event_bus(&b2, &again), Plan::default());

    // Unsupported auth strategy: upstream's reason, nothing written.
    let plan = plan_event_bus(&bus(json!({"nats": {"native": {"auth": "basic"}}})), &facts);
    assert!(plan.writes.is_empty());
    let c = cond(plan.status.as_ref().unwrap(), "Deployed").clone();
    assert_eq!(c["reason"], "UnsupportedAuthStrategy");
    assert!(c["message"].as_str().unwrap().contains("basic"));
}

#[test]
fn failed_writes_become_deployed_false() {
    let d = |kind, name: &str| Write::Apply {
        kind,
        name: name.into(),
        body: Value::Null,
    };
    let del = |kind, name: &str| Write::Delete {
        kind,
        name: name.into(),
    };
    let create = Write::Create {
        kind: ChildKind::Deployment,
        body: Value::Null,
    };
    let pvcs = Write::DeleteCollection {
        kind: ChildKind::PersistentVolumeClaim,
        label_selector: "x=y".into(),
    };
    let one = |w: &Write| vec![w.clone()];
    let recreate = vec![
        del(ChildKind::Service, "es-eventsource-svc"),
        d(ChildKind::Service, "es-eventsource-svc"),
    ];
    let cases: Vec<(&str, Vec<Write>, usize, &str)> = vec![
        ("Sensor", one(&create), 0, "CreateDeploymentFailed"),
        (
            "Sensor",
            one(&d(ChildKind::Deployment, "x")),
            0,
            "UpdateDeploymentFailed",
        ),
        (
            "Sensor",
            one(&del(ChildKind::Deployment, "x")),
            0,
            "DeleteDeploymentFailed",
        ),
        (
            "EventSource",
            one(&d(ChildKind::Service, "x")),
            0,
            "CreateServiceFailed",
        ),
        (
            "EventSource",
            one(&del(ChildKind::Service, "x")),
            0,
            "DeleteServiceFailed",
        ),
        // A delete + apply of the same Service is upstream's re-create, either half failing.
        ("EventSource", recreate.clone(), 0, "RecreateServiceFailed"),
        ("EventSource", recreate, 1, "RecreateServiceFailed"),
        (
            "EventSource",
            vec![del(ChildKind::Service, "old"), d(ChildKind::Service, "new")],
            0,
            "DeleteServiceFailed",
        ),
        (
            "EventBus",
            one(&d(ChildKind::Secret, "eventbus-default-js-server")),
            0,
            "JetStreamAuthSecretsFailed",
        ),
        (
            "EventBus",
            one(&d(ChildKind::ConfigMap, "eventbus-default-js-config")),
            0,
            "JetStreamConfigMapFailed",
        ),
        (
            "EventBus",
            one(&d(ChildKind::Service, "eventbus-default-js-svc")),
            0,
            "JetStreamServiceFailed",
        ),
        (
            "EventBus",
            one(&d(ChildKind::StatefulSet, "eventbus-default-js")),
            0,
            "JetStreamStatefulSetFailed",
        ),
        (
            "EventBus",
            one(&d(ChildKind::PodDisruptionBudget, "eventbus-default-js")),
            0,
            "JetStreamStatefulSetFailed",
        ),
        // NATS Streaming children: upstream's installer reasons.
        (
            "EventBus",
            one(&d(ChildKind::Service, "eventbus-default-stan-svc")),
            0,
            "UpdateServiceFailed",
        ),
        (
            "EventBus",
            one(&d(ChildKind::ConfigMap, "eventbus-default-stan-configmap")),
            0,
            "UpdateConfigMapFailed",
        ),
        (
            "EventBus",
            one(&d(ChildKind::Secret, "eventbus-default-server")),
            0,
            "UpdateServerAuthSecretFailed",
        ),
        (
            "EventBus",
            one(&d(ChildKind::Secret, "eventbus-default-client")),
            0,
            "UpdateClientAuthSecretFailed",
        ),
        (
            "EventBus",
            one(&del(ChildKind::Secret, "eventbus-default-server")),
            0,
            "DeleteServerAuthSecretFailed",
        ),
        (
            "EventBus",
            one(&del(ChildKind::Secret, "eventbus-default-client")),
            0,
            "DeleteClientAuthSecretFailed",
        ),
        (
            "EventBus",
            one(&d(ChildKind::StatefulSet, "eventbus-default-stan")),
            0,
            "UpdateStatefulSetFailed",
        ),
        (
            "EventBus",
            one(&pvcs),
            0,
            "DeletePersistentVolumeClaimsFailed",
        ),
    ];
    for (owner, writes, i, want) in cases {
        assert_eq!(
            write_failure_reason(owner, &writes, i),
            want,
            "{owner} {writes:?} {i}"
        );
    }
    // From the planned status: Deployed turns False, the rest as planned.
    let (cfg, now, bus) = (cfg(), t(10), ready_bus());
    let plan = plan_sensor(
        &sensor(valid_spec()),
        &facts(Some(&bus), &[], &[], &cfg, &now),
    );
    let status = failed_write_status(
        "Sensor",
        &[],
        plan.status.as_ref(),
        std::slice::from_ref(&create),
        0,
        "quota exceeded",
        &now,
    )
    .unwrap();
    let c = cond(&status, "Deployed");
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("False"), Some("CreateDeploymentFailed"))
    );
    assert_eq!(c["message"], "quota exceeded");
    assert_eq!(cond(&status, "TriggersProvided")["status"], TRUE);
    // From the previous status when the plan left it alone; unchanged → nothing to write.
    let previous: Vec<Condition> = serde_json::from_value(status["conditions"].clone()).unwrap();
    assert_eq!(
        failed_write_status(
            "Sensor",
            &previous,
            None,
            std::slice::from_ref(&create),
            0,
            "quota exceeded",
            &t(20)
        ),
        None
    );
    let again = failed_write_status(
        "Sensor",
        &previous,
        None,
        std::slice::from_ref(&create),
        0,
        "other",
        &t(20),
    )
    .unwrap();
    assert_eq!(cond(&again, "Deployed")["message"], "other");
}
