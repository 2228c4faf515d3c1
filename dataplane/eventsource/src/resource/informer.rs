//! The watcher's events turned into the ADD / UPDATE / DELETE notifications a client-go
//! informer gives upstream's handlers.
//!
//! An informer keeps the last state of every object it has seen (keyed `namespace/name`). The
//! initial list and every relist go through that store: an object it does not hold yet is an
//! ADD, one it holds an UPDATE from the stored state (an unchanged object therefore comes back
//! as an UPDATE with the same resourceVersion, which the source drops), and an object the
//! store holds but the relist lacks is a DELETE of its last known state. So a reconnect that
//! relists re-announces nothing that did not change, while a restarted process (an empty
//! store) announces every existing object as ADD, exactly as upstream does.
//!
//! One deliberate difference: for an object deleted while the watch was down, client-go hands
//! the handler a `DeletedFinalStateUnknown` wrapper, which upstream either drops (when any
//! filter is set) or publishes as `{"Key": …, "Obj": …}`; here it is a DELETE of the last
//! known object, like any other.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kube::runtime::watcher::Event;
use serde_json::Value;

/// What happened to one object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// The object is new to this source.
    Add(Arc<Value>),
    /// The object changed (or was relisted): its previous and current state.
    Update { old: Arc<Value>, new: Arc<Value> },
    /// The object is gone: its last state.
    Delete(Arc<Value>),
}

/// The informer's store.
#[derive(Debug, Default)]
pub(crate) struct Informer {
    objects: BTreeMap<String, Arc<Value>>,
    /// Keys listed since the current (re)list began; `None` outside a list.
    listing: Option<BTreeSet<String>>,
}

impl Informer {
    /// The changes one watcher event stands for, in order.
    pub(crate) fn apply(&mut self, event: Event<Value>) -> Vec<Change> {
        match event {
            Event::Init => {
                self.listing = Some(BTreeSet::new());
                Vec::new()
            }
            Event::InitApply(object) => {
                let key = key_of(&object);
                if let Some(listed) = &mut self.listing {
                    listed.insert(key.clone());
                }
                vec![self.upsert(key, object)]
            }
            Event::InitDone => {
                let Some(listed) = self.listing.take() else {
                    return Vec::new();
                };
                let gone: Vec<String> = self
                    .objects
                    .keys()
                    .filter(|k| !listed.contains(*k))
                    .cloned()
                    .collect();
                gone.into_iter()
                    .filter_map(|k| self.objects.remove(&k))
                    .map(Change::Delete)
                    .collect()
            }
            Event::Apply(object) => {
                let key = key_of(&object);
                vec![self.upsert(key, object)]
            }
            Event::Delete(object) => {
                let key = key_of(&object);
                self.objects.remove(&key);
                if let Some(listed) = &mut self.listing {
                    listed.remove(&key);
                }
                vec![Change::Delete(Arc::new(object))]
            }
        }
    }

    /// How many objects the store holds.
    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }

    fn upsert(&mut self, key: String, object: Value) -> Change {
        let new = Arc::new(object);
        match self.objects.insert(key, new.clone()) {
            Some(old) => Change::Update { old, new },
            None => Change::Add(new),
        }
    }
}

/// client-go's `MetaNamespaceKeyFunc`: `namespace/name`, or `name` for cluster-scoped objects.
fn key_of(object: &Value) -> String {
    let meta = &object["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    match meta["namespace"].as_str().filter(|ns| !ns.is_empty()) {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(ns: &str, name: &str, rv: &str) -> Value {
        json!({"metadata": {"namespace": ns, "name": name, "resourceVersion": rv}})
    }

    /// A change as `(type, key@rv, old rv)`, easy to compare.
    fn short(change: &Change) -> String {
        let rv = |v: &Value| {
            format!(
                "{}@{}",
                key_of(v),
                v["metadata"]["resourceVersion"].as_str().unwrap_or("")
            )
        };
        match change {
            Change::Add(o) => format!("ADD {}", rv(o)),
            Change::Update { old, new } => format!("UPDATE {} (was {})", rv(new), rv(old)),
            Change::Delete(o) => format!("DELETE {}", rv(o)),
        }
    }

    fn feed(informer: &mut Informer, events: Vec<Event<Value>>) -> Vec<String> {
        events
            .into_iter()
            .flat_map(|e| informer.apply(e))
            .map(|c| short(&c))
            .collect()
    }

    #[test]
    fn the_initial_list_adds_every_object_then_watch_events_follow() {
        let mut informer = Informer::default();
        let got = feed(
            &mut informer,
            vec![
                Event::Init,
                Event::InitApply(obj("a", "one", "1")),
                Event::InitApply(obj("b", "one", "2")),
                Event::InitDone,
                Event::Apply(obj("a", "two", "3")),
                Event::Apply(obj("a", "one", "4")),
                Event::Delete(obj("b", "one", "5")),
                Event::Apply(obj("", "cluster-scoped", "6")),
            ],
        );
        assert_eq!(
            got,
            [
                "ADD a/one@1",
                "ADD b/one@2",
                "ADD a/two@3",
                "UPDATE a/one@4 (was a/one@1)",
                "DELETE b/one@5",
                "ADD cluster-scoped@6",
            ]
        );
        assert_eq!(informer.len(), 3);
    }

    #[test]
    fn a_relist_reports_only_what_changed_while_away() {
        let mut informer = Informer::default();
        feed(
            &mut informer,
            vec![
                Event::Init,
                Event::InitApply(obj("a", "kept", "1")),
                Event::InitApply(obj("a", "changed", "2")),
                Event::InitApply(obj("a", "deleted", "3")),
                Event::InitDone,
            ],
        );
        let got = feed(
            &mut informer,
            vec![
                Event::Init,
                Event::InitApply(obj("a", "kept", "1")),
                Event::InitApply(obj("a", "changed", "7")),
                Event::InitApply(obj("a", "created", "8")),
                Event::InitDone,
            ],
        );
        assert_eq!(
            got,
            [
                // Same resourceVersion: the source drops it, as upstream's handler does.
                "UPDATE a/kept@1 (was a/kept@1)",
                "UPDATE a/changed@7 (was a/changed@2)",
                "ADD a/created@8",
                "DELETE a/deleted@3",
            ]
        );
    }

    #[test]
    fn an_interrupted_list_starts_over_and_a_delete_during_a_list_counts() {
        let mut informer = Informer::default();
        feed(
            &mut informer,
            vec![
                Event::Init,
                Event::InitApply(obj("a", "x", "1")),
                Event::InitApply(obj("a", "y", "2")),
                Event::InitDone,
            ],
        );
        let got = feed(
            &mut informer,
            vec![
                Event::Init,
                Event::InitApply(obj("a", "x", "1")),
                // The list failed half-way; the watcher lists again from the start.
                Event::Init,
                Event::InitApply(obj("a", "x", "1")),
                Event::Delete(obj("a", "y", "3")),
                Event::InitDone,
                // A stray InitDone outside a list changes nothing.
                Event::InitDone,
            ],
        );
        assert_eq!(
            got,
            [
                "UPDATE a/x@1 (was a/x@1)",
                "UPDATE a/x@1 (was a/x@1)",
                "DELETE a/y@3",
            ]
        );
        assert_eq!(informer.len(), 1);
    }
}
