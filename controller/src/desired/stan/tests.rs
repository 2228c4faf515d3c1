//! Tests of the native NATS Streaming EventBus builders, on upstream's `eventbus/native.yaml`.

use super::*;
use crate::constants::ANNOTATION_RESOURCE_SPEC_HASH;
use crate::desired::eventbus::{StanVersion, bus_config};
use crate::desired::fixtures::corpus;

/// Upstream's example (`replicas: 3`, `auth: token`), applied in `argo-events` with a uid and a
/// label of its own.
fn example() -> EventBus {
    let mut bus: EventBus = corpus("eventbus/native.yaml");
    bus.metadata.namespace = Some("argo-events".into());
    bus.metadata.uid = Some("uid-1".into());
    bus.metadata.labels = Some(BTreeMap::from([("team".into(), "a".into())]));
    bus
}

fn with_native(edit: impl FnOnce(&mut NativeStrategy)) -> EventBus {
    let mut bus = example();
    edit(
        bus.spec
            .nats
            .as_mut()
            .and_then(|n| n.native.as_mut())
            .unwrap(),
    );
    bus
}

fn global() -> StanGlobalConfig {
    StanGlobalConfig::upstream_defaults()
}

fn hash_of(meta: &ObjectMeta) -> &str {
    &meta.annotations.as_ref().unwrap()[ANNOTATION_RESOURCE_SPEC_HASH]
}

#[test]
fn example_decodes_as_native_token_bus() {
    let bus = example();
    assert_eq!(native(&bus).unwrap().replicas, 3);
    assert_eq!(auth_strategy(&bus).unwrap(), AuthStrategy::Token);
}

#[test]
fn names() {
    let bus = example();
    assert_eq!(
        [
            service_name(&bus),
            config_map_name(&bus),
            server_secret_name(&bus),
            client_secret_name(&bus),
            stateful_set_name(&bus),
            cluster_id(&bus),
            pvc_name(&bus),
        ],
        [
            "eventbus-default-stan-svc",
            "eventbus-default-stan-configmap",
            "eventbus-default-server",
            "eventbus-default-client",
            "eventbus-default-stan",
            "eventbus-default",
            "stan-default-vol",
        ]
    );
}

#[test]
fn service_golden() {
    let svc = stan_service(&example()).unwrap();
    let mut v = serde_json::to_value(&svc).unwrap();
    let hash = v["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove(ANNOTATION_RESOURCE_SPEC_HASH)
        .unwrap();
    assert!(hash.as_str().unwrap().parse::<u32>().is_ok(), "{hash}");
    assert_eq!(
        v,
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "eventbus-default-stan-svc",
                "namespace": "argo-events",
                "annotations": {},
                "labels": {
                    "controller": "eventbus-controller",
                    "eventbus-name": "default",
                    "owner-name": "default",
                    "stan": "yes",
                    "team": "a",
                },
                "ownerReferences": [{
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "EventBus",
                    "name": "default",
                    "uid": "uid-1",
                    "controller": true,
                    "blockOwnerDeletion": true,
                }],
            },
            "spec": {
                "clusterIP": "None",
                "ports": [
                    {"name": "tcp-client", "port": 4222},
                    {"name": "cluster", "port": 6222},
                    {"name": "monitor", "port": 8222},
                ],
                "type": "ClusterIP",
                "selector": {
                    "controller": "eventbus-controller",
                    "eventbus-name": "default",
                    "owner-name": "default",
                },
            },
        })
    );
}

#[test]
fn config_golden_with_defaults() {
    // Upstream's template, line by line (its tabs included).
    let want = [
        "http: 8222",
        "include ./auth.conf",
        "cluster {",
        "  port: 6222",
        "  routes: [nats://eventbus-default-stan-0.eventbus-default-stan-svc.argo-events.svc:6222,nats://eventbus-default-stan-1.eventbus-default-stan-svc.argo-events.svc:6222,nats://eventbus-default-stan-2.eventbus-default-stan-svc.argo-events.svc:6222]",
        "  cluster_advertise: $CLUSTER_ADVERTISE",
        "  connect_retries: 10",
        "}",
        "max_payload: 1MB",
        "streaming {",
        "  id: eventbus-default",
        "  store: file",
        "  dir: /data/stan/store",
        "  cluster {",
        "\tnode_id: $POD_NAME",
        "\tpeers: [\"eventbus-default-stan-0\",\"eventbus-default-stan-1\",\"eventbus-default-stan-2\"]",
        "\tlog_path: /data/stan/logs",
        "\traft_heartbeat_timeout: \"2s\"",
        "\traft_election_timeout: \"2s\"",
        "\traft_lease_timeout: \"1s\"",
        "\traft_commit_timeout: \"100ms\"",
        "  }",
        "  store_limits {",
        "    max_age: 72h",
        "\tmax_msgs: 1000000",
        "\tmax_bytes: 1GB",
        "\tmax_subs: 1000",
        "  }",
        "}",
    ]
    .join("\n");
    assert_eq!(stan_config(&example()).unwrap(), want);

    let cm = stan_config_map(&example()).unwrap();
    assert_eq!(
        cm.metadata.name.as_deref(),
        Some("eventbus-default-stan-configmap")
    );
    assert_eq!(cm.data.as_ref().unwrap()[STAN_CONFIG_MAP_KEY], want);
    let labels = cm.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["team"], "a");
    assert!(!labels.contains_key("stan"));
    assert!(hash_of(&cm.metadata).parse::<u32>().is_ok());
}

#[test]
fn config_overrides_and_replica_floor() {
    let bus = with_native(|n| {
        n.replicas = 5;
        n.max_age = Some("1h30m".into());
        n.max_msgs = Some(0);
        n.max_bytes = Some("2GB".into());
        n.max_subs = Some(7);
        n.max_payload = Some("4MB".into());
        n.raft_heartbeat_timeout = Some("3s".into());
        n.raft_election_timeout = Some("4s".into());
        n.raft_lease_timeout = Some("500ms".into());
        n.raft_commit_timeout = Some("50ms".into());
    });
    let text = stan_config(&bus).unwrap();
    for part in [
        "\"eventbus-default-stan-4\"]",
        "max_payload: 4MB\n",
        "raft_heartbeat_timeout: \"3s\"",
        "raft_election_timeout: \"4s\"",
        "raft_lease_timeout: \"500ms\"",
        "raft_commit_timeout: \"50ms\"",
        "max_age: 1h30m\n",
        "\tmax_msgs: 0\n",
        "\tmax_bytes: 2GB\n",
        "\tmax_subs: 7\n",
    ] {
        assert!(text.contains(part), "{part:?} not in\n{text}");
    }
    // Fewer than 3 replicas are raised to 3, in the config and the StatefulSet.
    let one = with_native(|n| n.replicas = 1);
    assert_eq!(stan_config(&one).unwrap().matches("nats://").count(), 3);
    let sts = stan_stateful_set(&one, &global()).unwrap();
    assert_eq!(sts.spec.unwrap().replicas, Some(3));
}

#[test]
fn config_rejects_bad_durations() {
    for (edit, field) in [
        (
            (|n: &mut NativeStrategy| n.max_age = Some("3days".into())) as fn(&mut NativeStrategy),
            "spec.nats.native.maxAge",
        ),
        (
            |n| n.raft_heartbeat_timeout = Some("x".into()),
            "spec.nats.native.raftHeartbeatTimeout",
        ),
        (
            |n| n.raft_election_timeout = Some("1".into()),
            "spec.nats.native.raftElectionTimeout",
        ),
        (
            |n| n.raft_lease_timeout = Some("".into()),
            "spec.nats.native.raftLeaseTimeout",
        ),
        (
            |n| n.raft_commit_timeout = Some("1y".into()),
            "spec.nats.native.raftCommitTimeout",
        ),
    ] {
        let err = stan_config(&with_native(edit)).unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
        assert!(stan_config_map(&with_native(edit)).is_err());
    }
}

#[test]
fn token_secrets() {
    let token = "t".repeat(TOKEN_LENGTH);
    let StanSecrets { server, client } = stan_secrets(&example(), &token).unwrap();
    assert_eq!(
        server.metadata.name.as_deref(),
        Some("eventbus-default-server")
    );
    assert_eq!(server.type_.as_deref(), Some("Opaque"));
    assert_eq!(
        server.metadata.labels.as_ref().unwrap()["server-auth-secret"],
        "yes"
    );
    assert_eq!(
        server.metadata.annotations.as_ref().unwrap()[AUTH_STRATEGY_ANNOTATION],
        "token"
    );
    assert!(hash_of(&server.metadata).parse::<u32>().is_ok());
    assert_eq!(
        String::from_utf8(server.data.as_ref().unwrap()["auth"].0.clone()).unwrap(),
        format!("authorization {{\n  token: \"{token}\"\n}}")
    );
    let client = client.unwrap();
    assert_eq!(
        client.metadata.name.as_deref(),
        Some("eventbus-default-client")
    );
    let labels = client.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["client-auth-secret"], "yes");
    assert_eq!(labels["eventbus-name"], "default");
    assert!(!labels.contains_key("team"));
    assert_eq!(
        client.data.as_ref().unwrap()["client-auth"].0,
        format!("token: \"{token}\"").into_bytes()
    );
    // The token is part of the hash: a new token means new Secrets.
    let other = stan_secrets(&example(), &"u".repeat(TOKEN_LENGTH)).unwrap();
    assert_ne!(hash_of(&other.server.metadata), hash_of(&server.metadata));

    let (a, b) = (generate_token(), generate_token());
    assert_eq!(a.len(), TOKEN_LENGTH);
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_ne!(a, b);
}

#[test]
fn none_and_unsupported_strategies() {
    let none = with_native(|n| n.auth = None);
    assert_eq!(auth_strategy(&none).unwrap(), AuthStrategy::None);
    let StanSecrets { server, client } = stan_secrets(&none, "ignored").unwrap();
    assert!(client.is_none());
    assert!(server.data.as_ref().unwrap()["auth"].0.is_empty());
    assert_eq!(
        server.metadata.annotations.as_ref().unwrap()[AUTH_STRATEGY_ANNOTATION],
        "none"
    );
    let explicit = with_native(|n| n.auth = Some("none".into()));
    assert_eq!(stan_secrets(&explicit, "x").unwrap().server, server);

    let basic = with_native(|n| n.auth = Some("basic".into()));
    let err = stan_secrets(&basic, "x").unwrap_err().to_string();
    assert!(err.contains("spec.nats.native.auth"), "{err}");
    assert!(err.contains("\"basic\""), "{err}");
    assert!(stan_status_config(&basic).is_err());
    assert!(bus_config(&basic, &crate::render::placeholder_global_config()).is_err());
}

#[test]
fn secret_reuse_rule() {
    let token = stan_secrets(&example(), "tok").unwrap();
    let none = stan_secrets(&with_native(|n| n.auth = None), "").unwrap();
    let client = token.client.as_ref();
    use AuthStrategy::{None as NoAuth, Token};
    for (strategy, server, client, want) in [
        (Token, Some(&token.server), client, true),
        (Token, Some(&token.server), Option::None, false),
        (Token, Option::None, client, false),
        (Token, Some(&none.server), client, false),
        (NoAuth, Some(&none.server), Option::None, true),
        (NoAuth, Some(&none.server), client, true),
        (NoAuth, Some(&token.server), Option::None, false),
        (NoAuth, Option::None, Option::None, false),
    ] {
        assert_eq!(
            existing_secrets_current(strategy, server, client),
            want,
            "{strategy:?} server={} client={}",
            server.is_some(),
            client.is_some()
        );
    }
    // A `none` server Secret that somehow holds auth text is rewritten.
    let mut stale = none.server.clone();
    stale
        .data
        .as_mut()
        .unwrap()
        .insert("auth".into(), ByteString(b"authorization {}".to_vec()));
    assert!(!existing_secrets_current(
        NoAuth,
        Some(&stale),
        Option::None
    ));
}

#[test]
fn stateful_set_golden() {
    let sts = stan_stateful_set(&example(), &global()).unwrap();
    assert_eq!(sts.metadata.name.as_deref(), Some("eventbus-default-stan"));
    assert_eq!(sts.metadata.labels.as_ref().unwrap()["team"], "a");
    assert!(hash_of(&sts.metadata).parse::<u32>().is_ok());
    let mut spec = serde_json::to_value(sts.spec.as_ref().unwrap()).unwrap();
    let volumes = spec["template"]["spec"]["volumes"].take();
    let containers = spec["template"]["spec"]["containers"].take();
    assert_eq!(
        spec,
        serde_json::json!({
            "replicas": 3,
            "serviceName": "eventbus-default-stan-svc",
            "selector": {"matchLabels": {
                "controller": "eventbus-controller",
                "eventbus-name": "default",
                "owner-name": "default",
            }},
            "template": {
                "metadata": {"labels": {
                    "controller": "eventbus-controller",
                    "eventbus-name": "default",
                    "owner-name": "default",
                }},
                "spec": {"volumes": null, "containers": null},
            },
        })
    );
    assert_eq!(
        volumes,
        serde_json::json!([
            {"name": "config-volume", "projected": {"sources": [
                {"configMap": {"name": "eventbus-default-stan-configmap",
                               "items": [{"key": "stan-config", "path": "stan.conf"}]}},
                {"secret": {"name": "eventbus-default-server",
                            "items": [{"key": "auth", "path": "auth.conf"}]}},
            ]}},
            {"name": "stan-data", "emptyDir": {}},
        ])
    );
    assert_eq!(
        containers,
        serde_json::json!([
            {
                "name": "stan",
                "image": "nats-streaming:0.22.1",
                "ports": [
                    {"name": "client", "containerPort": 4222},
                    {"name": "cluster", "containerPort": 6222},
                    {"name": "monitor", "containerPort": 8222},
                ],
                "command": ["/nats-streaming-server", "-sc", "/etc/stan-config/stan.conf"],
                "env": [
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "CLUSTER_ADVERTISE", "value": "$(POD_NAME).eventbus-default-stan-svc.$(POD_NAMESPACE).svc"},
                ],
                "volumeMounts": [
                    {"name": "config-volume", "mountPath": "/etc/stan-config"},
                    {"name": "stan-data", "mountPath": "/data/stan"},
                ],
                "resources": {"requests": {"cpu": "0"}},
                "livenessProbe": {
                    "httpGet": {"path": "/", "port": 8222},
                    "initialDelaySeconds": 10,
                    "timeoutSeconds": 5,
                },
            },
            {
                "name": "metrics",
                "image": "natsio/prometheus-nats-exporter:0.8.0",
                "ports": [{"name": "metrics", "containerPort": 7777}],
                "args": ["-connz", "-routez", "-subz", "-varz", "-channelz", "-serverz",
                         "http://localhost:8222"],
            },
        ])
    );
}

#[test]
fn stateful_set_templates_and_persistence() {
    let bus = with_native(|n| {
        n.persistence = Some(argo_events_api::PersistenceStrategy {
            storage_class_name: Some("standard".into()),
            ..Default::default()
        });
        n.container_template = Some(argo_events_api::ContainerTemplate {
            image_pull_policy: "IfNotPresent".into(),
            ..Default::default()
        });
        n.metrics_container_template = Some(argo_events_api::ContainerTemplate {
            resources: ResourceRequirements {
                requests: Some(BTreeMap::from([("cpu".into(), Quantity("10m".into()))])),
                ..Default::default()
            },
            ..Default::default()
        });
        n.metadata = Some(argo_events_api::Metadata {
            labels: BTreeMap::from([("pod".into(), "x".into())]),
            annotations: BTreeMap::from([("a".into(), "b".into())]),
        });
        n.service_account_name = "stan-sa".into();
    });
    let spec = stan_stateful_set(&bus, &global()).unwrap().spec.unwrap();
    let claim = &spec.volume_claim_templates.as_ref().unwrap()[0];
    assert_eq!(claim.metadata.name.as_deref(), Some("stan-default-vol"));
    let claim_spec = claim.spec.as_ref().unwrap();
    assert_eq!(
        claim_spec.access_modes.as_deref(),
        Some(&["ReadWriteOnce".to_string()][..])
    );
    assert_eq!(claim_spec.storage_class_name.as_deref(), Some("standard"));
    assert_eq!(
        claim_spec
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()["storage"],
        Quantity("10Gi".into())
    );
    let template = &spec.template;
    let meta = template.metadata.as_ref().unwrap();
    assert_eq!(meta.labels.as_ref().unwrap()["pod"], "x");
    assert_eq!(meta.annotations.as_ref().unwrap()["a"], "b");
    let pod = template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("stan-sa"));
    let vols: Vec<_> = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(vols, ["config-volume"]);
    let stan = &pod.containers[0];
    assert_eq!(stan.image_pull_policy.as_deref(), Some("IfNotPresent"));
    // A container template replaces the default CPU request (with nothing, here).
    assert_eq!(stan.resources, None);
    let mounts: Vec<_> = stan
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    assert_eq!(
        mounts,
        [
            ("config-volume", "/etc/stan-config"),
            ("stan-default-vol", "/data/stan")
        ]
    );
    assert_eq!(
        pod.containers[1]
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()["cpu"],
        Quantity("10m".into())
    );
}

#[test]
fn stateful_set_needs_the_configured_version() {
    let only_latest = StanGlobalConfig {
        versions: vec![StanVersion {
            version: "latest".into(),
            nats_streaming_image: "nats-streaming:latest".into(),
            metrics_exporter_image: "e".into(),
        }],
    };
    let err = stan_stateful_set(&example(), &only_latest)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"0.22.1\""), "{err}");
    assert!(err.contains("eventBus.nats.versions"), "{err}");
    assert!(stan_stateful_set(&example(), &StanGlobalConfig::default()).is_err());
}

#[test]
fn controller_config_nats_versions() {
    let text = "eventBus:\n  nats:\n    versions:\n    - version: 0.22.1\n      \
                natsStreamingImage: nats-streaming:0.22.1\n      \
                metricsExporterImage: natsio/prometheus-nats-exporter:0.8.0\n  \
                jetstream:\n    versions: []\n";
    let cfg = StanGlobalConfig::from_controller_config(text).unwrap();
    assert_eq!(
        cfg.version("b", DEFAULT_STAN_VERSION)
            .unwrap()
            .nats_streaming_image,
        "nats-streaming:0.22.1"
    );
    assert_eq!(
        StanGlobalConfig::from_controller_config("eventBus: {}").unwrap(),
        StanGlobalConfig::default()
    );
    assert!(StanGlobalConfig::from_controller_config("eventBus: [").is_err());
}

#[test]
fn status_config_per_strategy() {
    let token = stan_status_config(&example()).unwrap();
    assert_eq!(
        serde_json::to_value(&token).unwrap(),
        serde_json::json!({
            "url": "nats://eventbus-default-stan-svc:4222",
            "clusterID": "eventbus-default",
            "auth": "token",
            "accessSecret": {"name": "eventbus-default-client", "key": "client-auth"},
        })
    );
    let none = stan_status_config(&with_native(|n| n.auth = None)).unwrap();
    assert_eq!(none.auth.as_deref(), Some("none"));
    assert!(none.access_secret.is_none());
    let via_bus_config =
        bus_config(&example(), &crate::render::placeholder_global_config()).unwrap();
    assert_eq!(via_bus_config.nats, Some(token));
}

#[test]
fn builders_refuse_other_buses() {
    let mut js = example();
    js.spec.nats = None;
    js.spec.jetstream = Some(Default::default());
    assert!(stan_service(&js).is_err());
    assert!(stan_config_map(&js).is_err());
    assert!(stan_secrets(&js, "t").is_err());
    assert!(stan_stateful_set(&js, &global()).is_err());
    let err = stan_status_config(&js).unwrap_err().to_string();
    assert!(err.contains("argo-events/default"), "{err}");
}

#[test]
fn hashes_are_stable_and_follow_the_spec() {
    let a = stan_stateful_set(&example(), &global()).unwrap();
    let b = stan_stateful_set(&example(), &global()).unwrap();
    assert_eq!(a, b);
    let c = stan_stateful_set(&with_native(|n| n.replicas = 4), &global()).unwrap();
    assert_ne!(hash_of(&a.metadata), hash_of(&c.metadata));
}
