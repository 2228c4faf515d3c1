//! Tests of the JetStream EventBus builders.

use super::*;

fn global() -> JetStreamGlobalConfig {
    JetStreamGlobalConfig {
        settings: "max_memory_store: -1\nmax_file_store: 1TB".into(),
        stream_config: "maxMsgs: 50000\nmaxAge: 168h\nmaxBytes: -1\nreplicas: 3\nduplicates: 300s\nretention: 0\ndiscard: 0\n".into(),
        versions: vec![JetStreamVersion {
            version: "latest".into(),
            nats_image: "nats:2.10".into(),
            config_reloader_image: "natsio/nats-server-config-reloader:0.14".into(),
            metrics_exporter_image: "natsio/prometheus-nats-exporter:0.14".into(),
            start_command: "/nats-server".into(),
        }],
    }
}

fn bus(replicas: Option<i32>) -> EventBus {
    let mut b = EventBus::default();
    b.metadata.name = Some("default".into());
    b.metadata.namespace = Some("argo-events".into());
    b.metadata.labels = Some(BTreeMap::from([("team".into(), "a".into())]));
    b.spec.jetstream = Some(JetStreamBus {
        version: "latest".into(),
        replicas,
        stream_config: Some("maxAge: 24h\n".into()),
        ..Default::default()
    });
    b
}

#[test]
fn config_map_single_and_cluster() {
    let single = nats_config(&bus(Some(1)), &global()).unwrap();
    assert!(single.starts_with("max_payload: 1MB\nport: 4222\n"));
    assert!(single.contains("jetstream {\n  key: \"$JS_KEY\"\n  store_dir: \"/data/jetstream/store\"\n  max_memory_store: -1"));
    assert!(single.contains("lame_duck_duration: 30s"));
    assert!(!single.contains("cluster {"));
    assert!(single.ends_with("include ./auth.conf"));

    let cm = jetstream_config_map(&bus(None), &global()).unwrap();
    assert_eq!(
        cm.metadata.name.as_deref(),
        Some("eventbus-default-js-config")
    );
    let text = &cm.data.as_ref().unwrap()["nats-js"];
    assert!(text.contains("routes: [nats://eventbus-default-js-0.eventbus-default-js-svc.argo-events.svc:6222,nats://eventbus-default-js-1.eventbus-default-js-svc.argo-events.svc:6222,nats://eventbus-default-js-2.eventbus-default-js-svc.argo-events.svc:6222]"));
    assert!(text.contains("name: default"));
    let hash = &cm.metadata.annotations.as_ref().unwrap()[ANNOTATION_RESOURCE_SPEC_HASH];
    assert_eq!(hash.len(), 64);
}

#[test]
fn pdb_only_for_three_or_more() {
    assert!(
        jetstream_pod_disruption_budget(&bus(Some(1)))
            .unwrap()
            .is_none()
    );
    let pdb = jetstream_pod_disruption_budget(&bus(None))
        .unwrap()
        .unwrap();
    assert_eq!(pdb.metadata.name.as_deref(), Some("eventbus-default-js"));
    let spec = pdb.spec.unwrap();
    assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
    assert_eq!(spec.selector.unwrap().match_labels.unwrap().len(), 3);
}

#[test]
fn service_ports() {
    let svc = jetstream_service(&bus(None)).unwrap();
    assert_eq!(
        svc.metadata.name.as_deref(),
        Some("eventbus-default-js-svc")
    );
    let spec = svc.spec.unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
    assert_eq!(spec.publish_not_ready_addresses, Some(true));
    let ports: Vec<_> = spec
        .ports
        .unwrap()
        .into_iter()
        .map(|p| (p.name.unwrap(), p.port))
        .collect();
    assert_eq!(
        ports,
        [
            ("tcp-client".to_string(), 4222),
            ("cluster".to_string(), 6222),
            ("metrics".to_string(), 7777),
            ("monitor".to_string(), 8222)
        ]
    );
}

#[test]
fn stateful_set_shape() {
    let sts = jetstream_stateful_set(&bus(None), &global()).unwrap();
    assert_eq!(sts.metadata.name.as_deref(), Some("eventbus-default-js"));
    let labels = sts.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["team"], "a");
    assert_eq!(labels["controller"], "eventbus-controller");
    assert_eq!(labels["eventbus-name"], "default");
    let spec = sts.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(
        spec.service_name.as_deref(),
        Some("eventbus-default-js-svc")
    );
    assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
    let pod = spec.template.spec.as_ref().unwrap();
    let names: Vec<_> = pod.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["main", "reloader", "metrics"]);
    let env: Vec<_> = pod.containers[0]
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        env,
        [
            "POD_NAME",
            "SERVER_NAME",
            "POD_NAMESPACE",
            "CLUSTER_ADVERTISE",
            "JS_KEY"
        ]
    );
    let vols: Vec<_> = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(vols, ["pid", "config-volume", "js-data"]);
    assert!(spec.volume_claim_templates.is_none());

    let mut persistent = bus(Some(1));
    persistent.spec.jetstream.as_mut().unwrap().persistence = Some(Default::default());
    let sts = jetstream_stateful_set(&persistent, &global()).unwrap();
    let spec = sts.spec.unwrap();
    let claim = &spec.volume_claim_templates.unwrap()[0];
    assert_eq!(
        claim.metadata.name.as_deref(),
        Some("eventbus-default-js-vol")
    );

    let mut unknown = bus(None);
    unknown.spec.jetstream.as_mut().unwrap().version = "0.0.1".into();
    assert!(jetstream_stateful_set(&unknown, &global()).is_err());
}

#[test]
fn secrets_and_status_config() {
    let creds = JetStreamCredentials {
        js_user: "user1234".into(),
        js_password: "p".repeat(16),
        ..generate_passwords()
    };
    let [server, client] = jetstream_secrets(&bus(None), &creds);
    assert_eq!(
        server.metadata.name.as_deref(),
        Some("eventbus-default-js-server")
    );
    let data = server.data.unwrap();
    assert_eq!(data["encryption"].0.len(), 32);
    assert!(
        String::from_utf8_lossy(&data["auth"].0)
            .contains("{user: user1234, password: pppppppppppppppp}")
    );
    assert_eq!(
        client.metadata.name.as_deref(),
        Some("eventbus-default-js-client-auth")
    );
    assert_eq!(
        client.data.unwrap()["client-auth"].0,
        b"username: user1234\npassword: pppppppppppppppp"
    );

    let g = generate_passwords();
    assert_eq!(
        (g.js_user.len(), g.js_password.len(), g.sys_password.len()),
        (8, 16, 24)
    );

    let cfg = jetstream_status_config(&bus(None), &global()).unwrap();
    assert_eq!(
        cfg.url,
        "nats://eventbus-default-js-svc.argo-events.svc:4222"
    );
    assert_eq!(cfg.access_secret.unwrap().key, "client-auth");
    let merged: BTreeMap<String, serde_yaml_ng::Value> =
        serde_yaml_ng::from_str(&cfg.stream_config).unwrap();
    assert_eq!(merged["maxage"], serde_yaml_ng::Value::from("24h"));
    assert_eq!(merged["maxmsgs"], serde_yaml_ng::Value::from(50000));
    assert!(!merged.contains_key("maxAge"));
}

#[test]
fn bus_config_per_kind() {
    let js = bus_config(&bus(None), &global()).unwrap();
    assert!(js.jetstream.is_some());
    let mut kafka = EventBus::default();
    kafka.metadata.name = Some("k".into());
    kafka.metadata.namespace = Some("ns".into());
    kafka.spec.kafka = Some(argo_events_api::KafkaBus {
        url: "kafka:9092".into(),
        ..Default::default()
    });
    assert_eq!(
        bus_config(&kafka, &global()).unwrap().kafka.unwrap().topic,
        "ns-k"
    );
    let mut stan = kafka.clone();
    stan.spec.kafka = None;
    stan.spec.nats = Some(argo_events_api::NATSBus {
        native: Some(argo_events_api::NativeStrategy {
            auth: Some("token".into()),
            ..Default::default()
        }),
        exotic: None,
    });
    let nats = bus_config(&stan, &global()).unwrap().nats.unwrap();
    assert_eq!(nats.url, "nats://eventbus-k-stan-svc:4222");
    assert_eq!(nats.access_secret.unwrap().name, "eventbus-k-client");
    let mut empty = kafka;
    empty.spec = Default::default();
    assert!(bus_config(&empty, &global()).is_err());
}
