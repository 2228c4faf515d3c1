//! A small cache of the controller's children, fed by metadata-only watches: per child only
//! its kind, name, hash annotation and controller owner, looked up by name or by owner UID.
//! Writes the controller makes are recorded at once ([`ChildIndex::record`]) so that a
//! reconcile running before the watch event arrives does not create a second Deployment.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::Event;

use crate::reconcile::{ChildKind, ExistingChild};

type Key = (ChildKind, String, String);

#[derive(Default)]
struct State {
    by_key: HashMap<Key, ExistingChild>,
    by_owner: HashMap<String, BTreeSet<Key>>,
    /// Per kind, the objects of a re-list in progress.
    relisting: HashMap<ChildKind, Vec<(Key, ExistingChild)>>,
    /// Per kind, what the controller wrote (`Some`) or deleted (`None`) since its re-list
    /// began: newer than a list that may come from a stale watch cache, so it wins at
    /// `InitDone`.
    written_during_relist: HashMap<ChildKind, HashMap<Key, Option<ExistingChild>>>,
}

impl State {
    fn insert(&mut self, key: Key, child: ExistingChild) {
        self.remove(&key);
        if let Some(uid) = &child.controller_uid {
            self.by_owner
                .entry(uid.clone())
                .or_default()
                .insert(key.clone());
        }
        self.by_key.insert(key, child);
    }

    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.by_key.remove(key)
            && let Some(uid) = old.controller_uid
            && let Some(set) = self.by_owner.get_mut(&uid)
        {
            set.remove(key);
            if set.is_empty() {
                self.by_owner.remove(&uid);
            }
        }
    }
}

/// Children of one or more kinds, shared between the watch tasks and the reconcilers.
#[derive(Clone, Default)]
pub struct ChildIndex {
    state: Arc<RwLock<State>>,
    synced: Arc<HashMap<ChildKind, AtomicBool>>,
}

fn key(kind: ChildKind, meta: &ObjectMeta) -> Key {
    (
        kind,
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

impl ChildIndex {
    /// An index fed by watches of `kinds`; synced once each has listed.
    pub fn new(kinds: &[ChildKind]) -> Self {
        ChildIndex {
            state: Arc::default(),
            synced: Arc::new(kinds.iter().map(|k| (*k, AtomicBool::new(false))).collect()),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        // A poisoned lock means a panic while updating plain maps; the data is still usable.
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one watch event of a child of `kind`.
    pub fn apply<K: kube::Resource>(&self, kind: ChildKind, event: &Event<K>) {
        let mut st = self.write();
        match event {
            Event::Apply(o) => {
                let m = o.meta();
                st.insert(key(kind, m), ExistingChild::from_meta(kind, m));
            }
            Event::Delete(o) => st.remove(&key(kind, o.meta())),
            Event::Init => {
                st.relisting.insert(kind, Vec::new());
                st.written_during_relist.insert(kind, HashMap::new());
            }
            Event::InitApply(o) => {
                let m = o.meta();
                st.relisting
                    .entry(kind)
                    .or_default()
                    .push((key(kind, m), ExistingChild::from_meta(kind, m)));
            }
            Event::InitDone => {
                let listed = st.relisting.remove(&kind).unwrap_or_default();
                let written = st.written_during_relist.remove(&kind).unwrap_or_default();
                let stale: Vec<Key> = st.by_key.keys().filter(|k| k.0 == kind).cloned().collect();
                for k in stale {
                    st.remove(&k);
                }
                for (k, c) in listed {
                    if !written.contains_key(&k) {
                        st.insert(k, c);
                    }
                }
                for (k, c) in written {
                    if let Some(c) = c {
                        st.insert(k, c);
                    }
                }
                drop(st);
                if let Some(flag) = self.synced.get(&kind) {
                    flag.store(true, Ordering::Release);
                }
            }
        }
    }

    /// Records a child the controller just wrote (its returned metadata).
    pub fn record(&self, kind: ChildKind, meta: &ObjectMeta) {
        let (k, child) = (key(kind, meta), ExistingChild::from_meta(kind, meta));
        let mut st = self.write();
        if let Some(w) = st.written_during_relist.get_mut(&kind) {
            w.insert(k.clone(), Some(child.clone()));
        }
        st.insert(k, child);
    }

    /// Forgets a child the controller just deleted.
    pub fn forget(&self, kind: ChildKind, namespace: &str, name: &str) {
        let k = (kind, namespace.to_owned(), name.to_owned());
        let mut st = self.write();
        if let Some(w) = st.written_during_relist.get_mut(&kind) {
            w.insert(k.clone(), None);
        }
        st.remove(&k);
    }

    /// Children of `kind` controlled by `uid`, sorted by name.
    pub fn owned_by(&self, uid: &str, kind: ChildKind) -> Vec<ExistingChild> {
        let st = self.read();
        st.by_owner
            .get(uid)
            .into_iter()
            .flatten()
            .filter(|k| k.0 == kind)
            .filter_map(|k| st.by_key.get(k).cloned())
            .collect()
    }

    /// The child of `kind` named `namespace/name`, whoever owns it.
    pub fn get(&self, kind: ChildKind, namespace: &str, name: &str) -> Option<ExistingChild> {
        self.read()
            .by_key
            .get(&(kind, namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Whether every watched kind has listed once.
    pub fn is_synced(&self) -> bool {
        self.synced.values().all(|f| f.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn dep(name: &str, owner: &str, hash: &str) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.name = Some(name.into());
        d.metadata.namespace = Some("ns".into());
        d.metadata.annotations = Some([("resource-spec-hash".to_owned(), hash.to_owned())].into());
        d.metadata.owner_references = Some(vec![OwnerReference {
            uid: owner.into(),
            controller: Some(true),
            ..Default::default()
        }]);
        d
    }

    #[test]
    fn relist_replaces_and_lookups_work() {
        let idx = ChildIndex::new(&[ChildKind::Deployment]);
        assert!(!idx.is_synced());
        idx.apply::<Deployment>(ChildKind::Deployment, &Event::Init);
        idx.apply(
            ChildKind::Deployment,
            &Event::InitApply(dep("a", "u1", "1")),
        );
        idx.apply(
            ChildKind::Deployment,
            &Event::InitApply(dep("b", "u2", "2")),
        );
        idx.apply::<Deployment>(ChildKind::Deployment, &Event::InitDone);
        assert!(idx.is_synced());
        let a = idx.owned_by("u1", ChildKind::Deployment);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].spec_hash.as_deref(), Some("1"));
        idx.apply(ChildKind::Deployment, &Event::Apply(dep("a", "u1", "3")));
        assert_eq!(
            idx.get(ChildKind::Deployment, "ns", "a")
                .unwrap()
                .spec_hash
                .as_deref(),
            Some("3")
        );
        idx.apply(ChildKind::Deployment, &Event::Delete(dep("a", "u1", "3")));
        assert!(idx.owned_by("u1", ChildKind::Deployment).is_empty());
        // A re-list without b drops it.
        idx.apply::<Deployment>(ChildKind::Deployment, &Event::Init);
        idx.apply(
            ChildKind::Deployment,
            &Event::InitApply(dep("c", "u3", "1")),
        );
        idx.apply::<Deployment>(ChildKind::Deployment, &Event::InitDone);
        assert!(idx.owned_by("u2", ChildKind::Deployment).is_empty());
        assert_eq!(idx.owned_by("u3", ChildKind::Deployment).len(), 1);
        idx.record(ChildKind::Deployment, &dep("d", "u3", "9").metadata);
        assert_eq!(idx.owned_by("u3", ChildKind::Deployment).len(), 2);
        idx.forget(ChildKind::Deployment, "ns", "d");
        assert_eq!(idx.owned_by("u3", ChildKind::Deployment).len(), 1);
    }

    /// A child the controller creates (or deletes) while a re-list runs is newer than that
    /// list, which may come from a stale watch cache: it survives `InitDone`.
    #[test]
    fn writes_during_a_relist_survive_it() {
        let idx = ChildIndex::new(&[ChildKind::Deployment]);
        idx.apply::<Deployment>(ChildKind::Deployment, &Event::Init);
        idx.apply(
            ChildKind::Deployment,
            &Event::InitApply(dep("gone", "u2", "1")),
        );
        idx.apply::<Deployment>(ChildKind::Deployment, &Event::InitDone);
        // Re-list begins; the controller creates one child and deletes another meanwhile.
        idx.apply::<Deployment>(ChildKind::Deployment, &Event::Init);
        idx.record(ChildKind::Deployment, &dep("new", "u1", "1").metadata);
        idx.forget(ChildKind::Deployment, "ns", "gone");
        // The (stale) list knows neither change.
        idx.apply(
            ChildKind::Deployment,
            &Event::InitApply(dep("gone", "u2", "1")),
        );
        idx.apply::<Deployment>(ChildKind::Deployment, &Event::InitDone);
        let kept = idx.owned_by("u1", ChildKind::Deployment);
        assert_eq!(kept.len(), 1, "the created child is kept");
        assert_eq!(kept[0].name, "new");
        assert!(
            idx.owned_by("u2", ChildKind::Deployment).is_empty(),
            "the deleted child does not come back"
        );
        // The next re-list is authoritative again.
        idx.apply::<Deployment>(ChildKind::Deployment, &Event::Init);
        idx.apply::<Deployment>(ChildKind::Deployment, &Event::InitDone);
        assert!(idx.owned_by("u1", ChildKind::Deployment).is_empty());
    }
}
