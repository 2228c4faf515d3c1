//! Desired Deployment of a Sensor (upstream `pkg/reconciler/sensor/resource.go`); Sensors get
//! no Service.

use std::collections::BTreeMap;

use argo_events_api::{EventBus, Sensor};
use k8s_openapi::api::apps::v1::Deployment;

use super::{BuildError, ControllerConfig, PodOwner, object_payload};
use crate::constants::*;

/// The three labels selecting a Sensor's pods: `controller`, `sensor-name`, `owner-name`.
pub fn sensor_labels(sensor: &Sensor) -> BTreeMap<String, String> {
    let name = sensor.metadata.name.clone().unwrap_or_default();
    BTreeMap::from([
        (LABEL_CONTROLLER.to_owned(), CONTROLLER_SENSOR.to_owned()),
        (LABEL_SENSOR_NAME.to_owned(), name.clone()),
        (LABEL_OWNER_NAME.to_owned(), name),
    ])
}

/// The Deployment running `sensor`, reading from `bus` (which must have a `status.config`).
///
/// `generateName: <sensor>-sensor-`; container `main` runs `argo-events sensor run`;
/// `revisionHistoryLimit` is passed through.
pub fn sensor_deployment(
    sensor: &Sensor,
    bus: &EventBus,
    cfg: &ControllerConfig,
) -> Result<Deployment, BuildError> {
    let name = sensor.metadata.name.clone().unwrap_or_default();
    let who = format!(
        "Sensor {}/{name}",
        sensor.metadata.namespace.as_deref().unwrap_or_default()
    );
    let mut object = object_payload(&sensor.metadata, &sensor.spec, &who)?;
    // With its uid: the pod's Kubernetes Events regard the Sensor by it (`kubectl describe`
    // selects them on it). Upstream passes name and namespace only.
    if let Some(uid) = &sensor.metadata.uid {
        object["metadata"]["uid"] = serde_json::Value::String(uid.clone());
    }
    let owner = PodOwner {
        kind: Sensor::KIND,
        meta: &sensor.metadata,
        object,
        object_env: ENV_SENSOR_OBJECT,
        args: vec!["sensor".to_owned(), "run".to_owned()],
        labels: sensor_labels(sensor),
        template: sensor.spec.template.as_ref(),
        replicas: sensor.spec.effective_replicas(),
        generate_name: format!("{name}-sensor-"),
        revision_history_limit: sensor.spec.revision_history_limit,
    };
    super::pod_deployment(&owner, bus, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::fixtures::{corpus, jetstream_bus};

    #[test]
    fn special_workflow_trigger_deployment() {
        let mut s: Sensor = corpus("sensors/special-workflow-trigger.yaml");
        s.metadata.namespace = Some("argo-events".into());
        s.spec.revision_history_limit = Some(3);
        let cfg = ControllerConfig::new("img");
        let d = sensor_deployment(&s, &jetstream_bus(), &cfg).unwrap();
        assert_eq!(
            d.metadata.generate_name.as_deref(),
            Some("special-workflow-trigger-sensor-")
        );
        let labels = d.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["controller"], "sensor-controller");
        assert_eq!(labels["sensor-name"], "special-workflow-trigger");
        assert_eq!(labels["owner-name"], "special-workflow-trigger");
        assert_eq!(
            d.metadata.owner_references.as_ref().unwrap()[0].kind,
            "Sensor"
        );
        let spec = d.spec.as_ref().unwrap();
        assert_eq!(spec.revision_history_limit, Some(3));
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(
            pod.service_account_name.as_deref(),
            Some("operate-workflow-sa")
        );
        let c = &pod.containers[0];
        assert_eq!(
            c.args.as_deref(),
            Some(&["sensor".to_string(), "run".to_string()][..])
        );
        let names: Vec<_> = c
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "SENSOR_OBJECT",
                "EVENTBUS_SUBJECT",
                "POD_NAME",
                "LEADER_ELECTION",
                "EVENTBUS_CONFIG"
            ]
        );

        let hash = |s: &Sensor| {
            sensor_deployment(s, &jetstream_bus(), &cfg)
                .unwrap()
                .metadata
                .annotations
                .unwrap()[ANNOTATION_RESOURCE_SPEC_HASH]
                .clone()
        };
        let mut other = s.clone();
        other.spec.revision_history_limit = Some(4);
        assert_eq!(hash(&s), hash(&s));
        assert_ne!(hash(&s), hash(&other));
    }

    #[test]
    fn the_sensor_object_carries_its_uid_when_it_has_one() {
        use base64::Engine as _;
        let payload = |s: &Sensor| -> serde_json::Value {
            let d = sensor_deployment(s, &jetstream_bus(), &ControllerConfig::new("img")).unwrap();
            let env = d.spec.unwrap().template.spec.unwrap().containers[0]
                .env
                .clone()
                .unwrap();
            let b64 = env
                .iter()
                .find(|e| e.name == "SENSOR_OBJECT")
                .and_then(|e| e.value.clone())
                .unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            serde_json::from_slice(&bytes).unwrap()
        };
        let mut s: Sensor = corpus("sensors/special-workflow-trigger.yaml");
        s.metadata.namespace = Some("argo-events".into());
        let without = payload(&s);
        assert!(without["metadata"].get("uid").is_none());
        s.metadata.uid = Some("uid-1".into());
        let with = payload(&s);
        assert_eq!(with["metadata"]["uid"], "uid-1");
        assert_eq!(with["metadata"]["namespace"], "argo-events");
        assert_eq!(with["spec"], without["spec"]);
    }
}
