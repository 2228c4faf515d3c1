//! Desired Deployment and Service of an EventSource (upstream
//! `pkg/reconciler/eventsource/resource.go`).

use std::collections::BTreeMap;

use argo_events_api::{EventBus, EventSource};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    BuildError, ControllerConfig, PodOwner, add_hash, object_payload, owner_reference, spec_hash,
};
use crate::constants::*;

/// The three labels selecting an EventSource's pods: `controller`, `eventsource-name`,
/// `owner-name`.
pub fn event_source_labels(es: &EventSource) -> BTreeMap<String, String> {
    let name = es.metadata.name.clone().unwrap_or_default();
    BTreeMap::from([
        (
            LABEL_CONTROLLER.to_owned(),
            CONTROLLER_EVENT_SOURCE.to_owned(),
        ),
        (LABEL_EVENT_SOURCE_NAME.to_owned(), name.clone()),
        (LABEL_OWNER_NAME.to_owned(), name),
    ])
}

/// The Deployment running `es`, publishing to `bus` (which must have a `status.config`).
///
/// `generateName: <es>-eventsource-`; container `main` runs `argo-events eventsource run`.
pub fn event_source_deployment(
    es: &EventSource,
    bus: &EventBus,
    cfg: &ControllerConfig,
) -> Result<Deployment, BuildError> {
    let name = es.metadata.name.clone().unwrap_or_default();
    let who = format!(
        "EventSource {}/{name}",
        es.metadata.namespace.as_deref().unwrap_or_default()
    );
    let owner = PodOwner {
        kind: EventSource::KIND,
        meta: &es.metadata,
        object: object_payload(&es.metadata, &es.spec, &who)?,
        object_env: ENV_EVENT_SOURCE_OBJECT,
        args: vec!["eventsource".to_owned(), "run".to_owned()],
        labels: event_source_labels(es),
        template: es.spec.template.as_ref(),
        replicas: es.spec.effective_replicas(),
        generate_name: format!("{name}-eventsource-"),
        revision_history_limit: None,
    };
    super::pod_deployment(&owner, bus, cfg)
}

/// The ClusterIP Service `<es>-eventsource-svc`, or `None` when `spec.service.ports` is empty.
pub fn event_source_service(es: &EventSource) -> Result<Option<Service>, BuildError> {
    let Some(svc) = es.spec.service.as_ref().filter(|s| !s.ports.is_empty()) else {
        return Ok(None);
    };
    let name = es.metadata.name.clone().unwrap_or_default();
    let selector = event_source_labels(es);
    let mut labels = svc
        .metadata
        .as_ref()
        .map(|m| m.labels.clone())
        .unwrap_or_default();
    labels.extend(es.metadata.labels.clone().unwrap_or_default());
    labels.extend(selector.clone());
    let annotations = svc
        .metadata
        .as_ref()
        .map(|m| m.annotations.clone())
        .unwrap_or_default();
    let mut service = Service {
        metadata: ObjectMeta {
            name: Some(format!("{name}-eventsource-svc")),
            namespace: es.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner_reference(EventSource::KIND, &es.metadata)]),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(svc.ports.clone()),
            type_: Some("ClusterIP".to_owned()),
            cluster_ip: (!svc.cluster_ip.is_empty()).then(|| svc.cluster_ip.clone()),
            selector: Some(selector),
            ..Default::default()
        }),
        status: None,
    };
    let who = format!(
        "EventSource {}/{name}",
        es.metadata.namespace.as_deref().unwrap_or_default()
    );
    let hash = spec_hash(&service, &who)?;
    add_hash(&mut service.metadata, hash);
    Ok(Some(service))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::fixtures::{corpus, jetstream_bus};
    use base64::Engine as _;

    fn webhook() -> EventSource {
        let mut es: EventSource = corpus("event-sources/webhook.yaml");
        es.metadata.namespace = Some("argo-events".into());
        es.metadata.uid = Some("uid-1".into());
        es
    }

    fn cfg() -> ControllerConfig {
        ControllerConfig::new("quay.io/argoproj/argo-events:test")
    }

    #[test]
    fn webhook_deployment_matches_upstream_shape() {
        let d = event_source_deployment(&webhook(), &jetstream_bus(), &cfg()).unwrap();
        assert_eq!(
            d.metadata.generate_name.as_deref(),
            Some("webhook-eventsource-")
        );
        assert_eq!(d.metadata.namespace.as_deref(), Some("argo-events"));
        let want_labels = BTreeMap::from([
            (
                "controller".to_string(),
                "eventsource-controller".to_string(),
            ),
            ("eventsource-name".to_string(), "webhook".to_string()),
            ("owner-name".to_string(), "webhook".to_string()),
        ]);
        assert_eq!(d.metadata.labels.as_ref(), Some(&want_labels));
        let owner = &d.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                owner.api_version.as_str(),
                owner.kind.as_str(),
                owner.name.as_str()
            ),
            ("argoproj.io/v1alpha1", "EventSource", "webhook")
        );
        assert_eq!(
            (owner.controller, owner.block_owner_deletion),
            (Some(true), Some(true))
        );
        assert!(
            d.metadata.annotations.as_ref().unwrap()[ANNOTATION_RESOURCE_SPEC_HASH]
                .parse::<u32>()
                .is_ok()
        );

        let spec = d.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(spec.selector.match_labels.as_ref(), Some(&want_labels));
        let pod = spec.template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        assert_eq!(c.name, "main");
        assert_eq!(
            c.args.as_deref(),
            Some(&["eventsource".to_string(), "run".to_string()][..])
        );
        assert_eq!(
            c.image.as_deref(),
            Some("quay.io/argoproj/argo-events:test")
        );
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
        let port = &c.ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.name.as_deref(), port.container_port),
            (Some("metrics"), 7777)
        );

        let env = c.env.as_ref().unwrap();
        let names: Vec<_> = env.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "EVENTSOURCE_OBJECT",
                "EVENTBUS_SUBJECT",
                "POD_NAME",
                "LEADER_ELECTION",
                "EVENTBUS_CONFIG"
            ]
        );
        let b64 = base64::engine::general_purpose::STANDARD;
        let obj: serde_json::Value =
            serde_json::from_slice(&b64.decode(env[0].value.as_ref().unwrap()).unwrap()).unwrap();
        assert_eq!(
            obj["metadata"],
            serde_json::json!({"name": "webhook", "namespace": "argo-events"})
        );
        assert_eq!(obj["spec"]["webhook"]["example"]["port"], "12000");
        assert_eq!(env[1].value.as_deref(), Some("eventbus-argo-events"));
        assert_eq!(
            env[2]
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "metadata.name"
        );
        assert_eq!(env[3].value.as_deref(), Some(""));
        let bus: serde_json::Value =
            serde_json::from_slice(&b64.decode(env[4].value.as_ref().unwrap()).unwrap()).unwrap();
        assert_eq!(
            bus["jetstream"]["url"],
            "nats://eventbus-default-js-svc.argo-events.svc:4222"
        );

        let vols: Vec<_> = pod
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(vols, ["auth-volume", "tmp"]);
        let auth = pod.volumes.as_ref().unwrap()[0].secret.as_ref().unwrap();
        assert_eq!(
            auth.secret_name.as_deref(),
            Some("eventbus-default-js-client-auth")
        );
        assert_eq!(auth.items.as_ref().unwrap()[0].path, "auth.yaml");
        let mounts: Vec<_> = c
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| (m.name.as_str(), m.mount_path.as_str()))
            .collect();
        assert_eq!(
            mounts,
            [("auth-volume", "/etc/eventbus/auth"), ("tmp", "/tmp")]
        );
    }

    #[test]
    fn template_env_first_and_secret_and_config_map_volumes() {
        let mut es = webhook();
        let v: serde_json::Value = serde_json::json!({
            "webhook": {"example": {"port": "12000", "endpoint": "/x", "method": "POST",
                "authSecret": {"name": "my_token", "key": "t"}}},
            "template": {"container": {"env": [{"name": "DEBUG_LOG", "value": "true"}]},
                         "serviceAccountName": "sa", "priority": 5},
        });
        es.spec = serde_json::from_value(v).unwrap();
        es.metadata.annotations = Some(BTreeMap::from([(
            ANNOTATION_LEADER_ELECTION.to_string(),
            "disabled".to_string(),
        )]));
        let d = event_source_deployment(&es, &jetstream_bus(), &cfg()).unwrap();
        let pod = d.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.service_account_name.as_deref(), Some("sa"));
        assert_eq!(pod.priority, Some(5));
        let env = pod.containers[0].env.clone().unwrap();
        assert_eq!(env[0].name, "DEBUG_LOG");
        assert_eq!(env[1].name, "EVENTSOURCE_OBJECT");
        assert_eq!(env[4].value.as_deref(), Some("disabled"));
        let vols: Vec<_> = pod.volumes.unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(vols, ["auth-volume", "secret-my-token", "tmp"]);
        let mount = pod.containers[0]
            .volume_mounts
            .clone()
            .unwrap()
            .into_iter()
            .find(|m| m.name == "secret-my-token")
            .unwrap();
        assert_eq!(mount.mount_path, "/argo-events/secrets/my_token");
        assert_eq!(mount.read_only, Some(true));
    }

    #[test]
    fn hash_is_stable_and_follows_the_spec() {
        let es = webhook();
        let hash = |es: &EventSource| {
            event_source_deployment(es, &jetstream_bus(), &cfg())
                .unwrap()
                .metadata
                .annotations
                .unwrap()[ANNOTATION_RESOURCE_SPEC_HASH]
                .clone()
        };
        assert_eq!(hash(&es), hash(&es));
        let mut changed = es.clone();
        changed.spec.replicas = Some(2);
        assert_ne!(hash(&es), hash(&changed));
    }

    #[test]
    fn bus_without_config_is_an_error() {
        let mut bus = jetstream_bus();
        bus.status.config = Default::default();
        let err = event_source_deployment(&webhook(), &bus, &cfg()).unwrap_err();
        assert!(err.to_string().contains("argo-events/default"), "{err}");
    }

    #[test]
    fn webhook_service() {
        let svc = event_source_service(&webhook()).unwrap().unwrap();
        assert_eq!(
            svc.metadata.name.as_deref(),
            Some("webhook-eventsource-svc")
        );
        let labels = svc.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["foo"], "bar");
        assert_eq!(labels["controller"], "eventsource-controller");
        let ann = svc.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann["foo"], "bar");
        assert!(ann.contains_key(ANNOTATION_RESOURCE_SPEC_HASH));
        let spec = svc.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(spec.ports.unwrap()[0].port, 12000);
        assert_eq!(spec.selector.unwrap().len(), 3);

        let mut no_ports = webhook();
        no_ports.spec.service = None;
        assert!(event_source_service(&no_ports).unwrap().is_none());
    }
}
