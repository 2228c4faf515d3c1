//! EventBus rules (upstream `pkg/reconciler/eventbus/validate.go`). Upstream does not insist on
//! *exactly one* transport, only on at least one, and neither does this.

use argo_events_api::EventBus;

use super::Errors;

pub(super) fn validate(bus: &EventBus, errors: &mut Errors) {
    let spec = &bus.spec;
    if spec.nats.is_none()
        && spec.jetstream.is_none()
        && spec.kafka.is_none()
        && spec.jetstream_exotic.is_none()
    {
        errors.push(
            "spec",
            r#"invalid spec: either "nats", "jetstream", "jetstreamExotic", or "kafka" needs to be specified"#,
        );
    }
    if let Some(nats) = &spec.nats {
        match (&nats.native, &nats.exotic) {
            (Some(_), Some(_)) => errors.push(
                "spec.nats",
                r#""spec.nats.native" and "spec.nats.exotic" can not be defined together"#,
            ),
            (None, None) => errors.push(
                "spec.nats",
                r#"either "native" or "exotic" must be defined"#,
            ),
            _ => {}
        }
        if let Some(exotic) = &nats.exotic {
            if exotic.cluster_id.is_none() {
                errors.push(
                    "spec.nats.exotic.clusterID",
                    r#""spec.nats.exotic.clusterID" is missing"#,
                );
            }
            if exotic.url.is_empty() {
                errors.push(
                    "spec.nats.exotic.url",
                    r#""spec.nats.exotic.url" is missing"#,
                );
            }
        }
    }
    if let Some(js) = &spec.jetstream {
        if js.version.is_empty() {
            errors.push(
                "spec.jetstream.version",
                "invalid spec: a version for jetstream needs to be specified",
            );
        }
        if let Some(replicas) = js.replicas
            && (replicas == 2 || replicas <= 0)
        {
            errors.push(
                "spec.jetstream.replicas",
                "invalid spec: a jetstream eventbus requires 1 replica or >= 3 replicas",
            );
        }
    }
    if let Some(kafka) = &spec.kafka
        && kafka.url.is_empty()
    {
        errors.push("spec.kafka.url", r#""spec.kafka.url" is missing"#);
    }
    if let Some(exotic) = &spec.jetstream_exotic
        && exotic.url.is_empty()
    {
        errors.push(
            "spec.jetstreamExotic.url",
            r#""spec.jetstreamExotic.url" is missing"#,
        );
    }
}
