//! Cluster facts from reflector caches: EventBuses, EventSources and Sensors are listed and
//! watched once, and the rules read an indexed [`Facts`] rebuilt when the caches change (never
//! a GET per review). Objects whose body does not decode are no facts.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use argo_events_api::watched::{ArgoKind, Watched};
use argo_events_api::{EventBus, EventSource, Sensor};
use argo_events_webhook::rules::{Absent, Presence};
use argo_events_webhook::snapshot::{DEFAULT_NAMESPACE, Entry, Facts, Snapshot};
use futures::{Stream, StreamExt as _};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client};
use tokio::sync::Notify;

/// How long the facts wait after a cache change before they are rebuilt, so a burst of
/// changes (the initial list, a GitOps sync) costs one rebuild.
pub const REBUILD_DEBOUNCE: Duration = Duration::from_millis(100);

/// The current facts, swapped whole when the caches change; a review takes a reference count.
#[derive(Debug, Default)]
pub struct FactsCell {
    current: RwLock<Arc<Facts>>,
}

impl FactsCell {
    /// The facts now.
    pub fn get(&self) -> Arc<Facts> {
        match self.current.read() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the facts.
    pub fn set(&self, facts: Facts) {
        let facts = Arc::new(facts);
        match self.current.write() {
            Ok(mut f) => *f = facts,
            Err(poisoned) => *poisoned.into_inner() = facts,
        }
    }
}

/// The three caches.
#[derive(Clone)]
pub struct Stores {
    /// EventBuses.
    pub event_buses: Store<Watched<EventBus>>,
    /// EventSources.
    pub event_sources: Store<Watched<EventSource>>,
    /// Sensors.
    pub sensors: Store<Watched<Sensor>>,
}

impl Stores {
    /// Waits until every cache has its initial list.
    pub async fn wait_until_ready(&self) -> anyhow::Result<()> {
        self.event_buses.wait_until_ready().await?;
        self.event_sources.wait_until_ready().await?;
        self.sensors.wait_until_ready().await?;
        Ok(())
    }

    /// The snapshot of what the caches hold now.
    pub fn snapshot(&self) -> Snapshot {
        snapshot_of(
            self.event_buses.state().iter().map(Arc::as_ref),
            self.event_sources.state().iter().map(Arc::as_ref),
            self.sensors.state().iter().map(Arc::as_ref),
        )
    }
}

/// The snapshot of watched objects: each one whose body decoded, in its namespace, ordered by
/// namespace and name (so messages listing them are stable); objects that did not decode are
/// left out.
pub fn snapshot_of<'a>(
    buses: impl IntoIterator<Item = &'a Watched<EventBus>>,
    sources: impl IntoIterator<Item = &'a Watched<EventSource>>,
    sensors: impl IntoIterator<Item = &'a Watched<Sensor>>,
) -> Snapshot {
    let mut doc = 0usize;
    let event_buses = entries_of(buses, &mut doc);
    let event_sources = entries_of(sources, &mut doc);
    let sensors = entries_of(sensors, &mut doc);
    Snapshot {
        event_buses,
        event_sources,
        sensors,
        ..Snapshot::default()
    }
}

fn entries_of<'a, T: ArgoKind>(
    objects: impl IntoIterator<Item = &'a Watched<T>>,
    doc: &mut usize,
) -> Vec<Arc<Entry<T>>> {
    let mut decoded: Vec<(&str, &str, &T)> = objects
        .into_iter()
        .filter_map(|w| {
            let value = w.object.as_ref().ok()?;
            let namespace = w.metadata.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
            Some((
                namespace,
                w.metadata.name.as_deref().unwrap_or_default(),
                value,
            ))
        })
        .collect();
    decoded.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut out = Vec::with_capacity(decoded.len());
    for (namespace, name, value) in decoded {
        out.push(Arc::new(Entry {
            doc: *doc,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            value: value.clone(),
        }));
        *doc += 1;
    }
    out
}

/// Starts the three reflectors (all namespaces). The returned future drives them and wakes
/// `changed` on every change; it runs until the process ends (watch errors back off and retry).
pub fn reflectors(client: Client, changed: Arc<Notify>) -> (Stores, impl Future<Output = ()>) {
    let (event_buses, bus_writer) = reflector::store::<Watched<EventBus>>();
    let (event_sources, source_writer) = reflector::store::<Watched<EventSource>>();
    let (sensors, sensor_writer) = reflector::store::<Watched<Sensor>>();
    let config = watcher::Config::default();
    let buses = drive(
        "EventBus",
        reflector::reflector(
            bus_writer,
            watcher(
                Api::<Watched<EventBus>>::all(client.clone()),
                config.clone(),
            ),
        ),
        changed.clone(),
    );
    let sources = drive(
        "EventSource",
        reflector::reflector(
            source_writer,
            watcher(
                Api::<Watched<EventSource>>::all(client.clone()),
                config.clone(),
            ),
        ),
        changed.clone(),
    );
    let sensor_stream = drive(
        "Sensor",
        reflector::reflector(
            sensor_writer,
            watcher(Api::<Watched<Sensor>>::all(client), config),
        ),
        changed,
    );
    let stores = Stores {
        event_buses,
        event_sources,
        sensors,
    };
    let run = async move {
        futures::join!(buses, sources, sensor_stream);
    };
    (stores, run)
}

/// What of a watched object the facts depend on: its identity, `metadata.generation` (the
/// spec) and labels. A status-only update (the controller's) changes none of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    uid: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
}

impl Fingerprint {
    /// The fingerprint of `object`.
    pub fn of<K: kube::Resource>(object: &K) -> Self {
        let meta = object.meta();
        Fingerprint {
            uid: meta.uid.clone(),
            generation: meta.generation,
            labels: meta.labels.clone().filter(|l| !l.is_empty()),
        }
    }
}

/// Which objects of one kind the facts were last built from, to tell watch events that change
/// the facts from those that do not.
#[derive(Debug, Default)]
pub struct Observed {
    known: HashMap<(Option<String>, Option<String>), Fingerprint>,
    /// Built during a re-list, swapped in at its end.
    relisting: HashMap<(Option<String>, Option<String>), Fingerprint>,
}

impl Observed {
    /// Records `event`; whether the facts must be rebuilt: an object added, deleted, or with a
    /// new generation, labels or identity; the end of a (re-)list.
    pub fn changes_facts<K: kube::Resource>(&mut self, event: &watcher::Event<K>) -> bool {
        let key = |o: &K| (o.meta().namespace.clone(), o.meta().name.clone());
        match event {
            watcher::Event::Apply(o) => {
                let print = Fingerprint::of(o);
                self.known.insert(key(o), print.clone()) != Some(print)
            }
            watcher::Event::Delete(o) => {
                self.known.remove(&key(o));
                true
            }
            watcher::Event::Init => {
                self.relisting.clear();
                false
            }
            watcher::Event::InitApply(o) => {
                self.relisting.insert(key(o), Fingerprint::of(o));
                false
            }
            watcher::Event::InitDone => {
                self.known = std::mem::take(&mut self.relisting);
                true
            }
        }
    }
}

async fn drive<K: kube::Resource>(
    kind: &'static str,
    stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
    changed: Arc<Notify>,
) {
    let stream = stream.default_backoff();
    futures::pin_mut!(stream);
    let mut observed = Observed::default();
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => {
                if observed.changes_facts(&event) {
                    changed.notify_one();
                }
            }
            Err(e) => tracing::warn!(kind, error = %e, "watch failed; retrying with backoff"),
        }
    }
}

/// Rebuilds `cell` from `stores` after each change (debounced by [`REBUILD_DEBOUNCE`]) on a
/// blocking thread, off the reactor that serves reviews; never returns.
pub async fn keep_facts(stores: Stores, cell: Arc<FactsCell>, changed: Arc<Notify>) {
    loop {
        changed.notified().await;
        tokio::time::sleep(REBUILD_DEBOUNCE).await;
        let from = stores.clone();
        let facts = match tokio::task::spawn_blocking(move || Facts::new(from.snapshot())).await {
            Ok(facts) => facts,
            Err(e) => {
                tracing::error!(error = %e, "rebuilding the cluster facts failed; keeping the previous ones");
                continue;
            }
        };
        let snap = facts.snapshot();
        tracing::debug!(
            event_buses = snap.event_buses.len(),
            event_sources = snap.event_sources.len(),
            sensors = snap.sensors.len(),
            "rebuilt the cluster facts"
        );
        cell.set(facts);
    }
}

/// How long a live read confirming an absence may take before it counts as failed.
pub const LIVE_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// Live reads (one GET each) confirming that objects the caches lack are really absent, since
/// the caches lag: `kubectl apply -f dir/` may create an EventSource and its Sensor together.
#[derive(Clone)]
pub struct LiveReader {
    client: Client,
    timeout: Duration,
}

impl LiveReader {
    /// A reader giving each GET `timeout`.
    pub fn new(client: Client, timeout: Duration) -> Self {
        LiveReader { client, timeout }
    }

    /// What the API server says about each object, concurrently, in order.
    pub async fn confirm(&self, absent: &[Absent]) -> Vec<(Absent, Presence)> {
        futures::future::join_all(absent.iter().map(|a| async move {
            let presence = match a.kind {
                "EventSource" => self.read::<EventSource>(a).await,
                "EventBus" => self.read::<EventBus>(a).await,
                other => Presence::Unknown(format!("cannot read a {other}")),
            };
            (a.clone(), presence)
        }))
        .await
    }

    async fn read<T: ArgoKind>(&self, a: &Absent) -> Presence {
        let api = Api::<Watched<T>>::namespaced(self.client.clone(), &a.namespace);
        let presence = match tokio::time::timeout(self.timeout, api.get_opt(&a.name)).await {
            Ok(Ok(Some(_))) => Presence::Exists,
            Ok(Ok(None)) => Presence::Missing,
            // A 404 without the NotFound reason (kube's `get_opt` wants the reason) is absent too.
            Ok(Err(kube::Error::Api(status))) if status.code == 404 => Presence::Missing,
            Ok(Err(e)) => Presence::Unknown(format!(
                "reading {} {}/{}: {e}",
                a.kind, a.namespace, a.name
            )),
            Err(_) => Presence::Unknown(format!(
                "reading {} {}/{}: no answer within {} ms",
                a.kind,
                a.namespace,
                a.name,
                self.timeout.as_millis()
            )),
        };
        tracing::debug!(kind = a.kind, namespace = %a.namespace, name = %a.name, ?presence, "confirmed an absence from the cache");
        presence
    }
}

#[cfg(test)]
mod tests;
