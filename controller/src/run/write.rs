//! Carrying a plan out: child writes (server-side apply, also to create under a generated
//! name; delete), finalizer and status patches.

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

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// How many generated names a create tries before giving up (a conflict means the name is
/// taken; 36^5 names make a second one unlikely).
const CREATE_ATTEMPTS: usize = 5;

/// Five random characters of `[a-z0-9]`, the shape of the API server's `generateName` suffix.
fn random_suffix() -> String {
    use rand::RngExt as _;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

/// The name of a created child: its `generateName` prefix and a suffix.
pub(super) fn generated_name(prefix: &str, suffix: &str) -> String {
    format!("{prefix}{suffix}")
}

/// How long to wait after losing a race on the finalizer patch (the watch brings the new
/// version meanwhile).
pub const REQUEUE_CONFLICT: std::time::Duration = std::time::Duration::from_secs(1);

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
            let prefix = body["metadata"]["generateName"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let mut last = None;
            for _ in 0..CREATE_ATTEMPTS {
                let name = generated_name(&prefix, &random_suffix());
                if index.get(*kind, namespace, &name).is_some() {
                    continue;
                }
                let mut body = body.clone();
                if let Some(meta) = body["metadata"].as_object_mut() {
                    meta.remove("generateName");
                    meta.insert("name".to_owned(), json!(name));
                }
                // Not forced: an object of that name owned by someone else conflicts (409),
                // and another name is picked.
                match api
                    .patch(
                        &name,
                        &PatchParams::apply(FIELD_MANAGER),
                        &Patch::Apply(&body),
                    )
                    .await
                {
                    Ok(created) => {
                        info!(kind = %kind_of(*kind), namespace, name, "created");
                        index.record(*kind, &created.metadata);
                        return Ok(());
                    }
                    Err(e) if is_conflict(&e) => {
                        debug!(kind = %kind_of(*kind), namespace, name, "name taken, picking another");
                        last = Some((name, e));
                    }
                    Err(source) => {
                        return Err(Error::Api {
                            op: "create",
                            kind: kind_of(*kind),
                            namespace: namespace.to_owned(),
                            name,
                            source,
                        });
                    }
                }
            }
            let (name, source) = last.unwrap_or_else(|| {
                (
                    prefix.clone(),
                    kube::Error::Api(
                        kube::core::Status::failure(
                            "every generated name is taken in the cache",
                            "AlreadyExists",
                        )
                        .with_code(409)
                        .boxed(),
                    ),
                )
            });
            return Err(Error::Api {
                op: "create",
                kind: kind_of(*kind),
                namespace: namespace.to_owned(),
                name,
                source,
            });
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
        match patch_finalizers(&api, meta, f).await {
            Err(Error::Api { source, .. }) if is_conflict(&source) => {
                // The object changed since it was read: not a failure, look again soon.
                debug!(
                    kind = T::KIND,
                    namespace, name, "finalizer patch conflicted; requeue"
                );
                return Ok(Action::requeue(REQUEUE_CONFLICT));
            }
            r => r?,
        }
    }
    for (i, w) in plan.writes.iter().enumerate() {
        if let Err(e) = write(client, &namespace, w, index).await {
            // As upstream: the failure shows in `Deployed` (best effort), then back off.
            if let Some(status) = failed_write_status(
                T::KIND,
                previous,
                plan.status.as_ref(),
                &plan.writes,
                i,
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
