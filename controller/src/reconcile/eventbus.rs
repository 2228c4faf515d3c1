//! EventBus plans: finalizer, validation, the children of native JetStream and NATS Streaming
//! buses, `status.config`, and the deletion hold.

use super::*;

/// `k=v,…` of the bus labels, selecting its PVCs.
pub fn bus_label_selector(bus: &EventBus) -> String {
    event_bus_labels(bus)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The `status.config` as a merge-patch value: transports that are not set are `null` so a
/// switch of transport removes the old one.
fn config_patch(config: &BusConfig) -> Value {
    json!({
        "nats": config.nats.as_ref().map(to_json),
        "jetstream": config.jetstream.as_ref().map(to_json),
        "kafka": config.kafka.as_ref().map(to_json),
    })
}

/// Plan for an EventBus: finalizer, validation, children by transport, `status.config`, and the
/// conditions `Configured`, `Deployed`; on deletion, wait for users then delete the PVCs.
pub fn plan_event_bus(watched: &Watched<EventBus>, facts: &BusFacts<'_>) -> Plan {
    let mut plan = Plan::default();
    let meta = &watched.metadata;
    let (namespace, name) = ns_name(meta);
    let previous: &[Condition] = watched
        .object
        .as_ref()
        .map(|b| b.status.conditions.as_slice())
        .unwrap_or_default();

    if deleting(meta) {
        if !finalizers(meta).iter().any(|f| f == FINALIZER_EVENT_BUS) {
            return plan;
        }
        let held = if facts.event_sources > 0 {
            Some((facts.event_sources, "EventSources"))
        } else if facts.sensors > 0 {
            Some((facts.sensors, "Sensors"))
        } else {
            None
        };
        if let Some((n, what)) = held {
            let message = format!("can not delete an EventBus with {n} {what} connected");
            plan.notes.push(format!(
                "EventBus {namespace}/{name}: {message}; deletion waits"
            ));
            plan.requeue = Some(REQUEUE_WAITING);
            plan.status = conditions(
                previous,
                condition::EVENT_BUS,
                &[
                    (
                        condition::CONFIGURED,
                        previous_check(previous, condition::CONFIGURED),
                    ),
                    (
                        condition::DEPLOYED,
                        Check::ok_because(extra_reason::DELETION_BLOCKED, message),
                    ),
                ],
                facts.now,
            )
            .map(|c| json!({ "conditions": c }));
            return plan;
        }
        // Native buses (or one whose body does not decode) may have volumes to delete.
        let native = watched.object.as_ref().map_or(true, |b| {
            b.spec.jetstream.is_some() || b.spec.nats.as_ref().is_some_and(|n| n.native.is_some())
        });
        if native {
            let named = EventBus {
                metadata: meta.clone(),
                ..Default::default()
            };
            plan.writes.push(Write::DeleteCollection {
                kind: ChildKind::PersistentVolumeClaim,
                label_selector: bus_label_selector(&named),
            });
        }
        plan.finalizers = without_finalizer(meta, FINALIZER_EVENT_BUS);
        return plan;
    }

    plan.finalizers = with_finalizer(meta, FINALIZER_EVENT_BUS);
    let bus = match &watched.object {
        Err(e) => {
            plan.status = conditions(
                &[],
                condition::EVENT_BUS,
                &[(
                    condition::CONFIGURED,
                    Check::failed(reason::INVALID_SPEC, e.to_string()),
                )],
                facts.now,
            )
            .map(|c| json!({ "conditions": c }));
            return plan;
        }
        Ok(b) => b,
    };
    let errors = validate_event_bus(bus);
    if !errors.is_empty() {
        let refs: Vec<&FieldError> = errors.iter().collect();
        plan.status = conditions(
            previous,
            condition::EVENT_BUS,
            &[
                (
                    condition::CONFIGURED,
                    Check::failed(reason::INVALID_SPEC, join(&refs)),
                ),
                (
                    condition::DEPLOYED,
                    previous_check(previous, condition::DEPLOYED),
                ),
            ],
            facts.now,
        )
        .map(|c| json!({ "conditions": c }));
        return plan;
    }

    let (deployed, config) = if bus.spec.jetstream.is_some() {
        match jetstream_writes(bus, facts) {
            Ok(writes) => {
                plan.writes = writes;
                match bus_config(bus, facts.global) {
                    Ok(c) => (
                        Check::ok_because(reason::SUCCEEDED, "JetStream is deployed"),
                        Some(c),
                    ),
                    Err(e) => (
                        Check::failed(reason::JETSTREAM_CONFIG_MAP_FAILED, e.to_string()),
                        None,
                    ),
                }
            }
            Err(check) => (check, None),
        }
    } else if bus.spec.nats.as_ref().is_some_and(|n| n.native.is_some()) {
        match stan_writes(bus, facts) {
            Ok(writes) => {
                plan.writes = writes;
                match stan::stan_status_config(bus) {
                    Ok(nats) => (
                        Check::ok_because(
                            reason::SUCCEEDED,
                            format!("NATS is deployed. {NATS_STREAMING_DEPRECATED}"),
                        ),
                        Some(BusConfig {
                            nats: Some(nats),
                            ..Default::default()
                        }),
                    ),
                    Err(e) => (
                        Check::failed(
                            extra_reason::UNSUPPORTED_AUTH_STRATEGY,
                            format!("{e}. {NATS_STREAMING_DEPRECATED}"),
                        ),
                        None,
                    ),
                }
            }
            Err(check) => (check, None),
        }
    } else {
        let mut message = "Skip deployment because of using exotic config.".to_owned();
        if bus.spec.nats.is_some() {
            message.push(' ');
            message.push_str(NATS_STREAMING_DEPRECATED);
        }
        match bus_config(bus, facts.global) {
            Ok(c) => (Check::ok_because(reason::SKIPPED, message), Some(c)),
            Err(e) => (
                Check::failed(extra_reason::UNSUPPORTED_EVENT_BUS, e.to_string()),
                None,
            ),
        }
    };
    let conds = compute(
        previous,
        condition::EVENT_BUS,
        &[
            (condition::CONFIGURED, Check::ok()),
            (condition::DEPLOYED, deployed),
        ],
        facts.now,
    );
    let config_changed = config.as_ref().is_some_and(|c| *c != bus.status.config);
    if conds != previous || config_changed {
        let mut status = json!({ "conditions": conds });
        if let Some(c) = &config {
            status["config"] = config_patch(c);
        }
        plan.status = Some(status);
    }
    plan
}

/// Writes of a native JetStream bus, or the failed `Deployed` check.
fn jetstream_writes(bus: &EventBus, facts: &BusFacts<'_>) -> Result<Vec<Write>, Check> {
    let mut writes = Vec::new();
    let uid = bus.metadata.uid.clone().unwrap_or_default();
    let find = |kind: ChildKind, name: &str| {
        facts
            .children
            .iter()
            .find(|c| c.kind == kind && c.name == name)
    };
    // Secrets: generated only when one is missing (both, as upstream, so they agree); an
    // existing one owned by someone else is never taken over.
    let secret_names = [server_secret_name(bus), client_secret_name(bus)];
    let found: Vec<Option<&ExistingChild>> = secret_names
        .iter()
        .map(|n| find(ChildKind::Secret, n))
        .collect();
    for (n, f) in secret_names.iter().zip(&found) {
        if let Some(f) = f
            && f.controller_uid.as_deref() != Some(uid.as_str())
        {
            return Err(Check::failed(
                reason::JETSTREAM_AUTH_SECRETS_FAILED,
                format!(
                    "Secret {} exists and is not controlled by EventBus {}; delete it or \
                     rename the bus",
                    n,
                    bus.metadata.name.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
    if found.iter().any(Option::is_none) {
        let creds = (facts.credentials)(bus)
            .map_err(|e| Check::failed(reason::JETSTREAM_AUTH_SECRETS_FAILED, e.to_string()))?;
        for s in jetstream_secrets(bus, &creds) {
            let name = s.metadata.name.clone().unwrap_or_default();
            writes.push(Write::Apply {
                kind: ChildKind::Secret,
                name,
                body: to_json(&s),
            });
        }
    }
    let mut hashed = |kind: ChildKind, meta: &ObjectMeta, body: Value| {
        let name = meta.name.clone().unwrap_or_default();
        let same = find(kind, &name).is_some_and(|e| {
            e.spec_hash.as_deref() == annotation_hash(meta)
                && e.controller_uid.as_deref() == Some(uid.as_str())
        });
        if !same {
            writes.push(Write::Apply { kind, name, body });
        }
    };
    let cm = jetstream_config_map(bus, facts.global)
        .map_err(|e| Check::failed(reason::JETSTREAM_CONFIG_MAP_FAILED, e.to_string()))?;
    hashed(ChildKind::ConfigMap, &cm.metadata, to_json(&cm));
    let svc = jetstream_service(bus)
        .map_err(|e| Check::failed(reason::JETSTREAM_SERVICE_FAILED, e.to_string()))?;
    hashed(ChildKind::Service, &svc.metadata, to_json(&svc));
    let sts = jetstream_stateful_set(bus, facts.global)
        .map_err(|e| Check::failed(reason::JETSTREAM_STATEFUL_SET_FAILED, e.to_string()))?;
    hashed(ChildKind::StatefulSet, &sts.metadata, to_json(&sts));
    let pdb = jetstream_pod_disruption_budget(bus).map_err(|e: BuildError| {
        Check::failed(reason::JETSTREAM_STATEFUL_SET_FAILED, e.to_string())
    })?;
    match pdb {
        Some(p) => hashed(ChildKind::PodDisruptionBudget, &p.metadata, to_json(&p)),
        None => {
            let name = crate::desired::eventbus::stateful_set_name(bus);
            if let Some(e) = find(ChildKind::PodDisruptionBudget, &name)
                && e.controller_uid.as_deref() == Some(uid.as_str())
            {
                writes.push(Write::Delete {
                    kind: ChildKind::PodDisruptionBudget,
                    name,
                });
            }
        }
    }
    Ok(writes)
}

/// The names of the children of a native JetStream or NATS Streaming bus, by kind (what
/// [`BusFacts::children`] must be looked up for).
pub fn bus_child_names(bus: &EventBus) -> Vec<(ChildKind, String)> {
    use crate::desired::eventbus::{config_map_name, service_name, stateful_set_name};
    vec![
        (ChildKind::Secret, server_secret_name(bus)),
        (ChildKind::Secret, client_secret_name(bus)),
        (ChildKind::ConfigMap, config_map_name(bus)),
        (ChildKind::Service, service_name(bus)),
        (ChildKind::StatefulSet, stateful_set_name(bus)),
        (ChildKind::PodDisruptionBudget, stateful_set_name(bus)),
        (ChildKind::Secret, stan::server_secret_name(bus)),
        (ChildKind::Secret, stan::client_secret_name(bus)),
        (ChildKind::ConfigMap, stan::config_map_name(bus)),
        (ChildKind::Service, stan::service_name(bus)),
        (ChildKind::StatefulSet, stan::stateful_set_name(bus)),
    ]
}

/// Writes of a native NATS Streaming bus (upstream's installer: Service, ConfigMap, auth
/// Secrets re-generated only when they do not fit the auth strategy, StatefulSet), or the
/// failed `Deployed` check.
fn stan_writes(bus: &EventBus, facts: &BusFacts<'_>) -> Result<Vec<Write>, Check> {
    let failed =
        |why: &str, e: BuildError| Check::failed(why, format!("{e}. {NATS_STREAMING_DEPRECATED}"));
    let strategy =
        stan::auth_strategy(bus).map_err(|e| failed(extra_reason::UNSUPPORTED_AUTH_STRATEGY, e))?;
    let uid = bus.metadata.uid.clone().unwrap_or_default();
    let ns = bus.metadata.namespace.clone().unwrap_or_default();
    let owned = |kind: ChildKind, name: &str| {
        facts.children.iter().find(|c| {
            c.kind == kind && c.name == name && c.controller_uid.as_deref() == Some(uid.as_str())
        })
    };
    let mut writes = Vec::new();
    let mut hashed = |kind: ChildKind, meta: &ObjectMeta, body: Value| {
        let name = meta.name.clone().unwrap_or_default();
        if owned(kind, &name).is_none_or(|e| e.spec_hash.as_deref() != annotation_hash(meta)) {
            writes.push(Write::Apply { kind, name, body });
        }
    };
    let svc = stan::stan_service(bus).map_err(|e| failed(reason::BUILD_SERVICE_FAILED, e))?;
    hashed(ChildKind::Service, &svc.metadata, to_json(&svc));
    let cm =
        stan::stan_config_map(bus).map_err(|e| failed(extra_reason::NATS_STREAMING_FAILED, e))?;
    hashed(ChildKind::ConfigMap, &cm.metadata, to_json(&cm));
    // The auth Secrets as far as metadata tells: their `strategy` annotation.
    let as_secret = |c: &ExistingChild| k8s_openapi::api::core::v1::Secret {
        metadata: ObjectMeta {
            name: Some(c.name.clone()),
            namespace: Some(ns.clone()),
            annotations: c
                .auth_strategy
                .as_ref()
                .map(|s| [(stan::AUTH_STRATEGY_ANNOTATION.to_owned(), s.clone())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let server = owned(ChildKind::Secret, &stan::server_secret_name(bus)).map(as_secret);
    let client_name = stan::client_secret_name(bus);
    let client_child = owned(ChildKind::Secret, &client_name);
    let client = client_child.map(as_secret);
    if !stan::existing_secrets_current(strategy, server.as_ref(), client.as_ref()) {
        let token = (facts.token)();
        let secrets = stan::stan_secrets(bus, &token)
            .map_err(|e| failed(extra_reason::NATS_STREAMING_FAILED, e))?;
        writes.push(Write::Apply {
            kind: ChildKind::Secret,
            name: stan::server_secret_name(bus),
            body: to_json(&secrets.server),
        });
        if let Some(c) = &secrets.client {
            writes.push(Write::Apply {
                kind: ChildKind::Secret,
                name: client_name.clone(),
                body: to_json(c),
            });
        }
    }
    if strategy == stan::AuthStrategy::None && client_child.is_some() {
        writes.push(Write::Delete {
            kind: ChildKind::Secret,
            name: client_name,
        });
    }
    let sts = stan::stan_stateful_set(bus, facts.stan)
        .map_err(|e| failed(extra_reason::NATS_STREAMING_FAILED, e))?;
    let mut hashed = |kind: ChildKind, meta: &ObjectMeta, body: Value| {
        let name = meta.name.clone().unwrap_or_default();
        if owned(kind, &name).is_none_or(|e| e.spec_hash.as_deref() != annotation_hash(meta)) {
            writes.push(Write::Apply { kind, name, body });
        }
    };
    hashed(ChildKind::StatefulSet, &sts.metadata, to_json(&sts));
    Ok(writes)
}
