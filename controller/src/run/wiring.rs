//! The caches and the three Controllers: watches (metadata-only for children), predicates,
//! the EventBus fan-out, readiness.

use super::*;

fn hash_of(parts: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// Reconcile-storm guard for the primaries (upstream issue 2810): a change of the generation
/// (spec), the labels or the deletion mark triggers; status and finalizer writes do not.
pub fn primary_predicate<K: Resource>(obj: &K) -> Option<u64> {
    let m = obj.meta();
    Some(hash_of((
        m.generation,
        &m.labels,
        m.deletion_timestamp.is_some(),
    )))
}

/// What EventSources and Sensors read from their bus: its readiness and client config.
pub fn bus_status_predicate(w: &Watched<EventBus>) -> Option<u64> {
    Some(match &w.object {
        Ok(b) => hash_of((
            crate::status::is_ready(&b.status.conditions),
            serde_json::to_string(&b.status.config).unwrap_or_default(),
            w.metadata.deletion_timestamp.is_some(),
        )),
        Err(_) => 0,
    })
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Which children changed in a way the owner must see (generation or hash annotation), by
/// UID. A re-list (`Init` … `InitDone`) rebuilds the set from the listed children, so UIDs of
/// children deleted while the watch was down do not stay forever.
#[derive(Debug, Default)]
pub(super) struct SeenChildren {
    seen: HashMap<String, u64>,
    /// The set being rebuilt by a re-list in progress.
    next: Option<HashMap<String, u64>>,
}

impl SeenChildren {
    /// Takes one watch event; true when the owner should be reconciled for it.
    pub(super) fn observe<K: Resource>(&mut self, ev: &watcher::Event<K>) -> bool {
        let fingerprint = |m: &ObjectMeta| {
            (
                m.uid.clone().unwrap_or_default(),
                hash_of((
                    m.generation,
                    m.annotations
                        .as_ref()
                        .and_then(|a| a.get(ANNOTATION_RESOURCE_SPEC_HASH)),
                )),
            )
        };
        match ev {
            watcher::Event::Apply(o) => {
                let (uid, h) = fingerprint(o.meta());
                self.seen.insert(uid, h) != Some(h)
            }
            watcher::Event::InitApply(o) => {
                let (uid, h) = fingerprint(o.meta());
                let changed = self.seen.get(&uid) != Some(&h);
                self.next.get_or_insert_with(HashMap::new).insert(uid, h);
                changed
            }
            watcher::Event::Delete(o) => {
                self.seen
                    .remove(o.meta().uid.as_deref().unwrap_or_default());
                true
            }
            watcher::Event::Init => {
                self.next = Some(HashMap::new());
                false
            }
            watcher::Event::InitDone => {
                self.seen = self.next.take().unwrap_or_default();
                false
            }
        }
    }

    /// How many UIDs are remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.seen.len()
    }
}

/// A metadata-only watch of `K` children with `selector`, feeding `index` and yielding the
/// children whose generation or hash annotation changed (or which were deleted), for
/// `Controller::owns_stream`.
fn child_stream<K>(
    client: &Client,
    namespace: Option<&str>,
    selector: &str,
    kind: ChildKind,
    index: ChildIndex,
) -> impl Stream<Item = Result<kube::core::PartialObjectMeta<K>, watcher::Error>> + Send + 'static
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let mut seen = SeenChildren::default();
    watcher(
        api::<kube::core::PartialObjectMeta<K>>(client, namespace),
        watcher::Config::default().labels(selector).any_semantic(),
    )
    .default_backoff()
    .modify(|m| {
        m.metadata.managed_fields = None;
    })
    .filter_map(move |ev| {
        let out = match ev {
            Err(e) => Some(Err(e)),
            Ok(ev) => {
                index.apply(kind, &ev);
                let emit = seen.observe(&ev);
                match ev {
                    watcher::Event::Apply(o)
                    | watcher::Event::InitApply(o)
                    | watcher::Event::Delete(o) => emit.then_some(Ok(o)),
                    watcher::Event::Init | watcher::Event::InitDone => None,
                }
            }
        };
        future::ready(out)
    })
}

/// A watch of a primary kind reflected into a store, as `(stream of changed objects, store)`.
fn primary<K>(
    client: &Client,
    namespace: Option<&str>,
) -> (
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    Store<K>,
)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(
        api::<K>(client, namespace),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects();
    (stream, reader)
}

/// What a Controller's `run` stream yields for one reconcile.
type RunResult<K, E> =
    Result<(ObjectRef<K>, Action), kube::runtime::controller::Error<E, watcher::Error>>;

fn log_result<K: Resource, E: std::error::Error>(
    kind: &'static str,
) -> impl FnMut(RunResult<K, E>) -> future::Ready<()> {
    move |res| {
        match res {
            Ok((obj, _)) => {
                debug!(kind, name = %obj.name, namespace = ?obj.namespace, "reconciled")
            }
            Err(kube::runtime::controller::Error::ReconcilerFailed(_, _)) => {}
            Err(e) => warn!(kind, error = %e, "controller"),
        }
        future::ready(())
    }
}

/// Inputs of [`controllers`].
pub struct Setup {
    /// API client.
    pub client: Client,
    /// `Some(ns)`: watch only `ns`.
    pub namespace: Option<String>,
    /// Image and pull policy of generated pods.
    pub cfg: ControllerConfig,
    /// JetStream versions and defaults.
    pub global: JetStreamGlobalConfig,
    /// NATS Streaming versions.
    pub stan: StanGlobalConfig,
    /// Where reconciles are counted.
    pub metrics: Arc<Metrics>,
    /// Set ready once every cache has listed (reconciles wait for the same moment).
    pub health: Arc<Health>,
    /// The clock.
    pub clock: fn() -> Time,
    /// Credential generator.
    pub credentials: fn(&EventBus) -> Result<JetStreamCredentials, BuildError>,
    /// NATS Streaming token generator.
    pub token: fn() -> String,
}

/// Builds the caches and the three Controllers and runs them until a shutdown signal
/// (SIGTERM/Ctrl-C) or until the returned future is dropped.
pub async fn controllers(setup: Setup) {
    let Setup {
        client,
        namespace,
        cfg,
        global,
        stan,
        metrics,
        health,
        clock,
        credentials,
        token,
    } = setup;
    let ns = namespace.as_deref();
    let children = Children::default();

    let (bus_stream, buses) = primary::<Watched<EventBus>>(&client, ns);
    let (es_stream, event_sources) = primary::<Cached<EventSource>>(&client, ns);
    let (sensor_stream, sensors) = primary::<Cached<Sensor>>(&client, ns);

    // One EventBus watch, fanned out to the three controllers.
    let (bus_tx, bus_rx) = futures::channel::mpsc::unbounded::<Watched<EventBus>>();
    let (es_bus_tx, es_bus_rx) = futures::channel::mpsc::unbounded::<Watched<EventBus>>();
    let (s_bus_tx, s_bus_rx) = futures::channel::mpsc::unbounded::<Watched<EventBus>>();
    let bus_fanout = bus_stream.for_each(move |res| {
        match res {
            Ok(b) => {
                // A closed receiver means its controller stopped; nothing to do then.
                let _ = es_bus_tx.unbounded_send(b.clone());
                let _ = s_bus_tx.unbounded_send(b.clone());
                let _ = bus_tx.unbounded_send(b);
            }
            Err(e) => warn!(kind = "EventBus", error = %e, "watch"),
        }
        future::ready(())
    });

    let ctx = Arc::new(Context {
        client: client.clone(),
        cfg,
        global,
        stan,
        buses: buses.clone(),
        event_sources: event_sources.clone(),
        sensors: sensors.clone(),
        children: children.clone(),
        metrics,
        failures: Mutex::default(),
        synced: Arc::new(AtomicBool::new(false)),
        clock,
        credentials,
        token,
        events: Events::start(
            client.clone(),
            crate::kube_events::reporter(|k| std::env::var(k).ok()),
        ),
    });
    let config = ControllerRuntimeConfig::default()
        .debounce(Duration::from_millis(200))
        .concurrency(super::RECONCILE_CONCURRENCY);

    let sel = |c: &str| format!("{LABEL_CONTROLLER}={c}");
    let bus_sel = sel(CONTROLLER_EVENT_BUS);
    let idx = &children.event_bus;
    let bus_ctrl = Controller::for_stream(
        bus_rx
            .map(Ok)
            .predicate_filter(primary_predicate::<Watched<EventBus>>, Default::default()),
        buses.clone(),
    )
    .with_config(config.clone())
    .owns_stream(child_stream::<Secret>(
        &client,
        ns,
        &bus_sel,
        ChildKind::Secret,
        idx.clone(),
    ))
    .owns_stream(child_stream::<ConfigMap>(
        &client,
        ns,
        &bus_sel,
        ChildKind::ConfigMap,
        idx.clone(),
    ))
    .owns_stream(child_stream::<Service>(
        &client,
        ns,
        &bus_sel,
        ChildKind::Service,
        idx.clone(),
    ))
    .owns_stream(child_stream::<StatefulSet>(
        &client,
        ns,
        &bus_sel,
        ChildKind::StatefulSet,
        idx.clone(),
    ))
    .owns_stream(child_stream::<PodDisruptionBudget>(
        &client,
        ns,
        &bus_sel,
        ChildKind::PodDisruptionBudget,
        idx.clone(),
    ))
    .shutdown_on_signal()
    .run(
        reconcile_event_bus,
        error_policy::<Watched<EventBus>>,
        ctx.clone(),
    )
    .for_each(log_result("EventBus"));

    let es_sel = sel(CONTROLLER_EVENT_SOURCE);
    let idx = &children.event_source;
    let es_store = event_sources.clone();
    let es_ctrl = Controller::for_stream(
        es_stream.predicate_filter(primary_predicate::<Cached<EventSource>>, Default::default()),
        event_sources.clone(),
    )
    .with_config(config.clone())
    .owns_stream(child_stream::<Deployment>(
        &client,
        ns,
        &es_sel,
        ChildKind::Deployment,
        idx.clone(),
    ))
    .owns_stream(child_stream::<Service>(
        &client,
        ns,
        &es_sel,
        ChildKind::Service,
        idx.clone(),
    ))
    .watches_stream(
        es_bus_rx
            .map(Ok)
            .predicate_filter(bus_status_predicate, Default::default()),
        move |bus: Watched<EventBus>| users(&es_store, &bus),
    )
    .shutdown_on_signal()
    .run(
        reconcile_event_source,
        error_policy::<Cached<EventSource>>,
        ctx.clone(),
    )
    .for_each(log_result("EventSource"));

    let s_sel = sel(CONTROLLER_SENSOR);
    let s_store = sensors.clone();
    let sensor_ctrl = Controller::for_stream(
        sensor_stream.predicate_filter(primary_predicate::<Cached<Sensor>>, Default::default()),
        sensors.clone(),
    )
    .with_config(config)
    .owns_stream(child_stream::<Deployment>(
        &client,
        ns,
        &s_sel,
        ChildKind::Deployment,
        children.sensor.clone(),
    ))
    .watches_stream(
        s_bus_rx
            .map(Ok)
            .predicate_filter(bus_status_predicate, Default::default()),
        move |bus: Watched<EventBus>| users(&s_store, &bus),
    )
    .shutdown_on_signal()
    .run(
        reconcile_sensor,
        error_policy::<Cached<Sensor>>,
        ctx.clone(),
    )
    .for_each(log_result("Sensor"));

    let readiness = {
        let (b, e, s) = (buses.clone(), event_sources.clone(), sensors.clone());
        let ctx = ctx.clone();
        async move {
            let _ = futures::join!(
                b.wait_until_ready(),
                e.wait_until_ready(),
                s.wait_until_ready()
            );
            while !(children.event_bus.is_synced()
                && children.event_source.is_synced()
                && children.sensor.is_synced())
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            info!("caches synced");
            ctx.synced.store(true, Ordering::Release);
            health.ready.store(true, Ordering::Relaxed);
            // Back-off counters of deleted objects go even when nothing else fails.
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                ctx.prune_failures();
            }
        }
    };
    // The controllers end on a shutdown signal; the watch fan-out and readiness never end.
    tokio::select! {
        _ = futures::future::join3(bus_ctrl, es_ctrl, sensor_ctrl) => {}
        _ = bus_fanout => {}
        _ = readiness.boxed() => {}
    }
}

/// The EventSources or Sensors in the bus's namespace that use it.
fn users<T: cached::BusUser>(
    store: &Store<Cached<T>>,
    bus: &Watched<EventBus>,
) -> Vec<ObjectRef<Cached<T>>> {
    let (namespace, name) = ns_name(&bus.metadata);
    store
        .state()
        .iter()
        .filter(|c| c.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .filter(|c| c.uses_bus(&name))
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}
