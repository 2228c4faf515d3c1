//! Carrying a plan out: child writes (POST, server-side apply, delete), finalizer and status
//! patches.

use super::*;

fn api_resource(kind: ChildKind) -> ApiResource {
    let (group, version, k, plural) = kind.gvkp();
    ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version: if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        },
        kind: k.to_owned(),
        plural: plural.to_owned(),
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Carries out one write to a child, recording the result in `index`.
async fn write(
    client: &Client,
    namespace: &str,
    w: &Write,
    index: &ChildIndex,
) -> Result<(), Error> {
    let kind_of = |k: ChildKind| k.gvkp().2.to_owned();
    match w {
        Write::Create { kind, body } => {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &api_resource(*kind));
            let obj: DynamicObject =
                serde_json::from_value(body.clone()).map_err(|source| Error::Encode {
                    kind: kind_of(*kind),
                    namespace: namespace.to_owned(),
                    source,
                })?;
            let pp = PostParams {
                dry_run: false,
                field_manager: Some(FIELD_MANAGER.to_owned()),
            };
            let created = api.create(&pp, &obj).await.map_err(|source| Error::Api {
                op: "create",
                kind: kind_of(*kind),
                namespace: namespace.to_owned(),
                name: obj.metadata.generate_name.clone().unwrap_or_default(),
                source,
            })?;
            info!(kind = %kind_of(*kind), namespace, name = ?created.metadata.name, "created");
            index.record(*kind, &created.metadata);
            let managed = created
                .metadata
                .managed_fields
                .as_deref()
                .unwrap_or_default();
            if let (Some(fields), Some(name)) = (
                managed_fields_for_apply(managed),
                created.metadata.name.as_deref(),
            ) {
                // Best effort: without it a later apply cannot remove fields the POST set.
                let body = json!({"metadata": {
                    "managedFields": fields,
                    "resourceVersion": created.metadata.resource_version,
                }});
                if let Err(e) = api
                    .patch(name, &PatchParams::default(), &Patch::Merge(&body))
                    .await
                {
                    warn!(kind = %kind_of(*kind), namespace, name, error = %e,
                        "moving field ownership of the created object to server-side apply");
                }
            }
        }
        Write::Apply { kind, name, body } => {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &api_resource(*kind));
            let applied = api
                .patch(
                    name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(body),
                )
                .await
                .map_err(|source| Error::Api {
                    op: "apply",
                    kind: kind_of(*kind),
                    namespace: namespace.to_owned(),
                    name: name.clone(),
                    source,
                })?;
            info!(kind = %kind_of(*kind), namespace, name, "applied");
            index.record(*kind, &applied.metadata);
        }
        Write::Delete { kind, name } => {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &api_resource(*kind));
            match api.delete(name, &DeleteParams::background()).await {
                Ok(_) => info!(kind = %kind_of(*kind), namespace, name, "deleted"),
                Err(e) if is_not_found(&e) => {}
                Err(source) => {
                    return Err(Error::Api {
                        op: "delete",
                        kind: kind_of(*kind),
                        namespace: namespace.to_owned(),
                        name: name.clone(),
                        source,
                    });
                }
            }
            index.forget(*kind, namespace, name);
        }
        Write::DeleteCollection {
            kind,
            label_selector,
        } => {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &api_resource(*kind));
            api.delete_collection(
                &DeleteParams::background(),
                &ListParams::default().labels(label_selector),
            )
            .await
            .map_err(|source| Error::Api {
                op: "delete collection",
                kind: kind_of(*kind),
                namespace: namespace.to_owned(),
                name: label_selector.clone(),
                source,
            })?;
            info!(kind = %kind_of(*kind), namespace, label_selector, "deleted collection");
        }
    }
    Ok(())
}

async fn patch_finalizers<T: ArgoKind>(
    api: &Api<Watched<T>>,
    meta: &ObjectMeta,
    finalizers: &[String],
) -> Result<(), Error> {
    let (namespace, name) = ns_name(meta);
    let body = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": meta.resource_version,
    }});
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&body))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(source) => Err(Error::Api {
            op: "patch finalizers of",
            kind: T::KIND.to_owned(),
            namespace,
            name,
            source,
        }),
    }
}

/// Carries out `plan` for the object with metadata `meta` and conditions `previous`: finalizer
/// additions, child writes (a failed one is reported in `Deployed`), status, finalizer removals.
pub async fn execute<T: ArgoKind>(
    client: &Client,
    meta: &ObjectMeta,
    previous: &[argo_events_api::Condition],
    now: &Time,
    plan: Plan,
    index: &ChildIndex,
) -> Result<Action, Error> {
    let (namespace, name) = ns_name(meta);
    let api: Api<Watched<T>> = Api::namespaced(client.clone(), &namespace);
    for note in &plan.notes {
        warn!(kind = T::KIND, namespace, name, "{note}");
    }
    let current = meta.finalizers.as_deref().unwrap_or_default().len();
    let adds = plan.finalizers.as_ref().filter(|f| f.len() > current);
    let removes = plan.finalizers.as_ref().filter(|f| f.len() <= current);
    if let Some(f) = adds {
        patch_finalizers(&api, meta, f).await?;
    }
    for w in &plan.writes {
        if let Err(e) = write(client, &namespace, w, index).await {
            // As upstream: the failure shows in `Deployed` (best effort), then back off.
            if let Some(status) = failed_write_status(
                T::KIND,
                previous,
                plan.status.as_ref(),
                w,
                &e.to_string(),
                now,
            ) {
                let patched = api
                    .patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({ "status": status })),
                    )
                    .await;
                if let Err(pe) = patched {
                    warn!(kind = T::KIND, namespace, name, error = %pe, "writing the failure status");
                }
            }
            return Err(e);
        }
    }
    if let Some(status) = &plan.status {
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .map_err(|source| Error::Api {
            op: "patch status of",
            kind: T::KIND.to_owned(),
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        })?;
        debug!(kind = T::KIND, namespace, name, "status written");
    }
    if let Some(f) = removes {
        patch_finalizers(&api, meta, f).await?;
    }
    Ok(plan
        .requeue
        .map_or_else(Action::await_change, Action::requeue))
}
