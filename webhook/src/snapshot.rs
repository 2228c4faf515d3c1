//! The cluster facts the admission rules look at, as one value: filled from reflector caches in
//! the server and from the manifest set in `lint` ([`Snapshot::from_documents`]).

use std::collections::HashMap;
use std::sync::Arc;

use argo_events_api::manifest::{self, Document, Object};
use argo_events_api::{EventBus, EventSource, Sensor, gocompat};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::de::DeserializeOwned;

use crate::rules::RbacIndex;

/// The namespace assumed when neither the object nor the caller names one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// One object of a snapshot, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<T> {
    /// Index of the document it was decoded from, among the documents given to
    /// [`Snapshot::from_documents`].
    pub doc: usize,
    /// Its namespace (`metadata.namespace`, else the default one); empty for cluster-scoped
    /// kinds.
    pub namespace: String,
    /// Its `metadata.name` (empty when it has none).
    pub name: String,
    /// The decoded object.
    pub value: T,
}

/// Every object of the kinds the rules use, decoded from a set of documents. Documents that do
/// not decode are left out (their decode findings say why). Entries are shared (`Arc`), so the
/// admission server's per-review copy of the snapshot, with the incoming object swapped in,
/// costs reference counts rather than deep copies.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// EventBuses.
    pub event_buses: Vec<Arc<Entry<EventBus>>>,
    /// EventSources.
    pub event_sources: Vec<Arc<Entry<EventSource>>>,
    /// Sensors.
    pub sensors: Vec<Arc<Entry<Sensor>>>,
    /// ServiceAccounts (`v1`).
    pub service_accounts: Vec<Arc<Entry<ServiceAccount>>>,
    /// Roles (`rbac.authorization.k8s.io/v1`).
    pub roles: Vec<Arc<Entry<Role>>>,
    /// ClusterRoles (namespace empty).
    pub cluster_roles: Vec<Arc<Entry<ClusterRole>>>,
    /// RoleBindings.
    pub role_bindings: Vec<Arc<Entry<RoleBinding>>>,
    /// ClusterRoleBindings (namespace empty).
    pub cluster_role_bindings: Vec<Arc<Entry<ClusterRoleBinding>>>,
}

const RBAC: &str = "rbac.authorization.k8s.io/v1";

impl Snapshot {
    /// Decodes `docs`; objects without a namespace are in `default_namespace`, else in
    /// [`DEFAULT_NAMESPACE`].
    pub fn from_documents(docs: &[Document], default_namespace: Option<&str>) -> Self {
        let objects = docs
            .iter()
            .map(|doc| {
                manifest::decode_object(&doc.value)
                    .and_then(Result::ok)
                    .map(|d| d.value)
            })
            .collect();
        Self::from_decoded(docs, objects, default_namespace)
    }

    /// As [`Snapshot::from_documents`], with the documents of the three kinds already decoded
    /// (`objects[i]` for `docs[i]`, `None` where it is not one or did not decode): `lint`
    /// decodes each once and moves them here instead of holding two copies.
    pub fn from_decoded(
        docs: &[Document],
        mut objects: Vec<Option<Object>>,
        default_namespace: Option<&str>,
    ) -> Self {
        let default_ns = default_namespace.unwrap_or(DEFAULT_NAMESPACE);
        let mut snap = Snapshot::default();
        for (i, doc) in docs.iter().enumerate() {
            let ns = doc.namespace().unwrap_or(default_ns).to_owned();
            let name = doc.name().unwrap_or_default().to_owned();
            match (doc.api_version(), doc.kind()) {
                (Some("v1"), Some("ServiceAccount")) => {
                    if let Some(v) = decode(doc) {
                        snap.service_accounts.push(entry(i, &ns, &name, v));
                    }
                }
                (Some(RBAC), Some("Role")) => {
                    if let Some(v) = decode(doc) {
                        snap.roles.push(entry(i, &ns, &name, v));
                    }
                }
                (Some(RBAC), Some("RoleBinding")) => {
                    if let Some(v) = decode(doc) {
                        snap.role_bindings.push(entry(i, &ns, &name, v));
                    }
                }
                (Some(RBAC), Some("ClusterRole")) => {
                    if let Some(v) = decode(doc) {
                        snap.cluster_roles.push(entry(i, "", &name, v));
                    }
                }
                (Some(RBAC), Some("ClusterRoleBinding")) => {
                    if let Some(v) = decode(doc) {
                        snap.cluster_role_bindings.push(entry(i, "", &name, v));
                    }
                }
                _ => {
                    if let Some(object) = objects.get_mut(i).and_then(Option::take) {
                        match object {
                            Object::EventBus(b) => {
                                snap.event_buses.push(entry(i, &ns, &name, *b));
                            }
                            Object::EventSource(es) => {
                                snap.event_sources.push(entry(i, &ns, &name, *es));
                            }
                            Object::Sensor(s) => snap.sensors.push(entry(i, &ns, &name, *s)),
                        }
                    }
                }
            }
        }
        snap
    }
}

fn decode<T: DeserializeOwned>(doc: &Document) -> Option<T> {
    gocompat::from_value::<T>(&doc.value).ok().map(|d| d.value)
}

fn entry<T>(doc: usize, namespace: &str, name: &str, value: T) -> Arc<Entry<T>> {
    Arc::new(Entry {
        doc,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        value,
    })
}

/// A [`Snapshot`] indexed for admission, built once per change of the cluster facts (never per
/// review): EventSources and EventBuses by namespace, RBAC by binding namespace and role name.
/// The rules for one incoming object ([`crate::rules::check_incoming`]) then look up only what
/// that object refers to.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    snapshot: Snapshot,
    event_sources: HashMap<String, Vec<Arc<Entry<EventSource>>>>,
    event_buses: HashMap<String, Vec<Arc<Entry<EventBus>>>>,
    pub(crate) rbac: RbacIndex,
}

impl Facts {
    /// Indexes `snapshot`.
    pub fn new(snapshot: Snapshot) -> Self {
        let mut event_sources: HashMap<String, Vec<Arc<Entry<EventSource>>>> = HashMap::new();
        for es in &snapshot.event_sources {
            event_sources
                .entry(es.namespace.clone())
                .or_default()
                .push(es.clone());
        }
        let mut event_buses: HashMap<String, Vec<Arc<Entry<EventBus>>>> = HashMap::new();
        for b in &snapshot.event_buses {
            event_buses
                .entry(b.namespace.clone())
                .or_default()
                .push(b.clone());
        }
        let rbac = RbacIndex::new(&snapshot);
        Facts {
            snapshot,
            event_sources,
            event_buses,
            rbac,
        }
    }

    /// The snapshot indexed.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The EventSources of `namespace`, in snapshot order.
    pub fn event_sources_in(&self, namespace: &str) -> &[Arc<Entry<EventSource>>] {
        self.event_sources.get(namespace).map_or(&[], Vec::as_slice)
    }

    /// The EventBuses of `namespace`, in snapshot order.
    pub fn event_buses_in(&self, namespace: &str) -> &[Arc<Entry<EventBus>>] {
        self.event_buses.get(namespace).map_or(&[], Vec::as_slice)
    }

    /// The EventBus `namespace/name`, if the snapshot holds it (the first one so named).
    pub fn event_bus(&self, namespace: &str, name: &str) -> Option<&EventBus> {
        self.event_buses_in(namespace)
            .iter()
            .find(|b| b.name == name)
            .map(|b| &b.value)
    }
}
