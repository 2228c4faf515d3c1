//! The three kinds as a Kubernetes watch delivers them, for `kube` API clients, watchers and
//! reflectors.
//!
//! The API server hands back what was applied, field names spelled as the user spelled them,
//! so a client must decode with upstream's rules ([`gocompat`]) and not with the types' plain
//! serde derive. [`Watched`] does that while never failing on the object's body: one object that
//! does not decode must not break a whole list or watch (the admission webhook may be absent or
//! fail open), so the decode error is kept next to the metadata and the reconciler reports it.
//!
//! To keep caches small, `metadata.managedFields` and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation (a second copy of the object)
//! are dropped on decode. A [`Watched`] is therefore never written back whole: clients patch
//! `status` and `metadata.finalizers` only.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_core::Resource;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::gocompat::{self, DecodeError};
use crate::{EventBus, EventSource, GROUP, Sensor, VERSION};

/// The annotation `kubectl apply` stores a copy of the object in; dropped from cached objects.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// One of the three kinds of this API, with its REST names.
pub trait ArgoKind: DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static {
    /// `kind`, e.g. `EventBus`.
    const KIND: &'static str;
    /// Plural resource name as the CRD registers it (`eventbus`, `eventsources`, `sensors`).
    const PLURAL: &'static str;
    /// The object's metadata.
    fn metadata(&self) -> &ObjectMeta;
}

impl ArgoKind for EventBus {
    const KIND: &'static str = EventBus::KIND;
    const PLURAL: &'static str = "eventbus";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl ArgoKind for EventSource {
    const KIND: &'static str = EventSource::KIND;
    const PLURAL: &'static str = "eventsources";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl ArgoKind for Sensor {
    const KIND: &'static str = Sensor::KIND;
    const PLURAL: &'static str = "sensors";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

/// An object of kind `T` as read from the API server: its metadata always, its body decoded
/// with Go's rules or the reason it did not decode.
#[derive(Clone, Debug, PartialEq)]
pub struct Watched<T> {
    /// The object's metadata (without managed fields and the last-applied annotation).
    pub metadata: ObjectMeta,
    /// The decoded object (its own `metadata` trimmed the same way), or where and why decoding
    /// failed.
    pub object: Result<T, DecodeError>,
}

impl<T: ArgoKind> Watched<T> {
    /// Decodes one object given as JSON. Fails only when `metadata` itself is unreadable.
    pub fn from_json(mut value: Value) -> Result<Self, String> {
        let metadata = match value.get("metadata") {
            Some(m) => {
                let mut meta =
                    ObjectMeta::deserialize(m).map_err(|e| format!("{} metadata: {e}", T::KIND))?;
                trim(&mut meta);
                meta
            }
            None => return Err(format!("{} without metadata", T::KIND)),
        };
        trim_json(&mut value);
        let object = gocompat::from_value::<T>(&value).map(|d| d.value);
        Ok(Watched { metadata, object })
    }

    /// Wraps an already decoded object.
    pub fn new(object: T) -> Self {
        let mut metadata = object.metadata().clone();
        trim(&mut metadata);
        Watched {
            metadata,
            object: Ok(object),
        }
    }
}

/// Drops `metadata.managedFields` and the last-applied annotation from an object's JSON, as
/// [`Watched`] does for what it caches.
pub fn trim_json(value: &mut Value) {
    if let Some(m) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove(LAST_APPLIED_ANNOTATION);
        }
    }
}

fn trim(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED_ANNOTATION);
        if a.is_empty() {
            meta.annotations = None;
        }
    }
}

impl<'de, T: ArgoKind> Deserialize<'de> for Watched<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Watched::from_json(value).map_err(D::Error::custom)
    }
}

impl<T: ArgoKind> Resource for Watched<T> {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(T::KIND)
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(GROUP)
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(VERSION)
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(T::PLURAL)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_with_go_rules_and_trims_cached_copies() {
        let w: Watched<Sensor> = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
            "metadata": {"name": "s", "namespace": "ns",
                "annotations": {LAST_APPLIED_ANNOTATION: "{...}", "keep": "me"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"EventBusName": "other", "dependencies": [
                {"name": "d", "eventSourceName": "es", "eventName": "e"}]}
        }))
        .unwrap();
        assert_eq!(w.metadata.name.as_deref(), Some("s"));
        assert!(w.metadata.managed_fields.is_none());
        let ann = w.metadata.annotations.clone().unwrap();
        assert_eq!(ann.len(), 1);
        assert_eq!(ann["keep"], "me");
        let sensor = w.object.unwrap();
        assert_eq!(sensor.spec.event_bus_name, "other");
        assert!(sensor.metadata.managed_fields.is_none());
        assert_eq!(
            sensor
                .metadata
                .annotations
                .unwrap()
                .get(LAST_APPLIED_ANNOTATION),
            None
        );
    }

    #[test]
    fn a_body_that_does_not_decode_keeps_metadata_and_the_error() {
        let w: Watched<EventSource> = serde_json::from_value(json!({
            "metadata": {"name": "bad", "namespace": "ns"},
            "spec": {"webhook": {"push": {"port": 12000}}}
        }))
        .unwrap();
        assert_eq!(w.metadata.name.as_deref(), Some("bad"));
        let err = w.object.unwrap_err();
        assert_eq!(err.path, "spec.webhook.push.port");
    }

    #[test]
    fn a_list_with_one_bad_object_still_decodes() {
        let list: Vec<Watched<EventSource>> = serde_json::from_value(json!([
            {"metadata": {"name": "bad"}, "spec": {"webhook": {"push": {"port": 1}}}},
            {"metadata": {"name": "good"}, "spec": {}}
        ]))
        .unwrap();
        assert!(list[0].object.is_err());
        assert!(list[1].object.is_ok());
    }

    #[test]
    fn rest_names() {
        assert_eq!(
            Watched::<EventBus>::url_path(&(), Some("ns")),
            "/apis/argoproj.io/v1alpha1/namespaces/ns/eventbus"
        );
        assert_eq!(Watched::<Sensor>::plural(&()), "sensors");
        // The plurals are the registered ones (upstream's `eventbus` has no `-es`).
        let registered: Vec<String> = crate::crd::all_crds()
            .iter()
            .map(|c| c["spec"]["names"]["plural"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            registered,
            [
                Watched::<EventBus>::plural(&()),
                Watched::<EventSource>::plural(&()),
                Watched::<Sensor>::plural(&())
            ]
        );
        assert_eq!(Watched::<EventSource>::kind(&()), "EventSource");
    }
}
