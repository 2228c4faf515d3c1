//! The compact cache entry of an EventSource or a Sensor.
//!
//! The decoded API types are large (a Sensor with one trigger is ~10 KiB in memory, most of it
//! the inline `Option`s of every trigger kind), which puts 10 000 Sensors far above the
//! controller's memory budget. The caches therefore keep, per object, its metadata, the JSON
//! text of the rest of the object (what the API server sent, minus `managedFields` and the
//! last-applied annotation) and the EventBus it uses; a reconcile decodes the object again with
//! [`Watched`]'s Go rules ([`Cached::decode`]), so the decisions see exactly what a
//! `Watched<T>` watch would have given.

use std::borrow::Cow;
use std::marker::PhantomData;

use argo_events_api::gocompat::DecodeError;
use argo_events_api::watched::{ArgoKind, Watched, trim_json};
use argo_events_api::{EventSource, Sensor};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Kinds that name the EventBus they use.
pub trait BusUser: ArgoKind {
    /// `spec.eventBusName`, `default` when empty.
    fn bus_name(&self) -> &str;
}

impl BusUser for EventSource {
    fn bus_name(&self) -> &str {
        self.spec.effective_event_bus_name()
    }
}

impl BusUser for Sensor {
    fn bus_name(&self) -> &str {
        self.spec.effective_event_bus_name()
    }
}

/// One cached object of kind `T`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cached<T> {
    /// Its metadata, trimmed as [`Watched`] trims it.
    pub metadata: ObjectMeta,
    /// JSON text of the object without `metadata`.
    body: Box<str>,
    /// The EventBus it uses, `None` when its body does not decode.
    bus_name: Option<Box<str>>,
    _kind: PhantomData<fn() -> T>,
}

impl<T: BusUser> Cached<T> {
    /// Builds the entry from the object's JSON. Fails only when `metadata` is unreadable.
    pub fn from_json(mut value: Value) -> Result<Self, String> {
        trim_json(&mut value);
        let watched = Watched::<T>::from_json(value.clone())?;
        if let Some(o) = value.as_object_mut() {
            o.remove("metadata");
        }
        Ok(Cached {
            metadata: watched.metadata,
            body: value.to_string().into_boxed_str(),
            bus_name: watched
                .object
                .as_ref()
                .ok()
                .map(|o| o.bus_name().to_owned().into_boxed_str()),
            _kind: PhantomData,
        })
    }

    /// The object decoded with Go's rules, as a [`Watched`] watch delivers it.
    pub fn decode(&self) -> Watched<T> {
        let mut value: Value = serde_json::from_str(&self.body).unwrap_or(Value::Null);
        if let (Some(o), Ok(meta)) = (value.as_object_mut(), serde_json::to_value(&self.metadata)) {
            o.insert("metadata".to_owned(), meta);
        }
        Watched::from_json(value).unwrap_or_else(|message| Watched {
            metadata: self.metadata.clone(),
            object: Err(DecodeError {
                path: String::new(),
                message,
            }),
        })
    }

    /// Whether it uses the EventBus named `bus` (never when its body does not decode).
    pub fn uses_bus(&self, bus: &str) -> bool {
        self.bus_name.as_deref() == Some(bus)
    }

    /// The EventBus it uses; `default` when its body does not decode.
    pub fn bus_name(&self) -> &str {
        self.bus_name.as_deref().unwrap_or("default")
    }
}

impl<'de, T: BusUser> Deserialize<'de> for Cached<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Cached::from_json(value).map_err(D::Error::custom)
    }
}

impl<T: ArgoKind> Resource for Cached<T> {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Watched::<T>::kind(&())
    }
    fn group(_: &()) -> Cow<'_, str> {
        Watched::<T>::group(&())
    }
    fn version(_: &()) -> Cow<'_, str> {
        Watched::<T>::version(&())
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Watched::<T>::plural(&())
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
    use argo_events_api::watched::LAST_APPLIED_ANNOTATION;
    use serde_json::json;

    #[test]
    fn round_trips_through_the_go_decoder() {
        let v = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
            "metadata": {"name": "s", "namespace": "ns", "uid": "u",
                "annotations": {LAST_APPLIED_ANNOTATION: "{...}"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"EventBusName": "other", "dependencies": [
                {"name": "d", "eventSourceName": "es", "eventName": "e"}]},
            "status": {"conditions": [{"type": "Deployed", "status": "True"}]}
        });
        let c: Cached<Sensor> = serde_json::from_value(v.clone()).unwrap();
        assert!(c.uses_bus("other") && !c.uses_bus("default"));
        assert!(!c.body.contains("managedFields") && !c.body.contains("\"metadata\""));
        let (w, direct) = (c.decode(), Watched::<Sensor>::from_json(v).unwrap());
        assert_eq!(w.metadata, direct.metadata);
        let (o, d) = (w.object.unwrap(), direct.object.unwrap());
        assert_eq!((&o.spec, &o.status), (&d.spec, &d.status));
        assert_eq!(o.metadata.name, d.metadata.name);
        assert_eq!(o.metadata.uid, d.metadata.uid);
        assert_eq!(o.status.conditions[0].type_, "Deployed");

        let bad: Cached<EventSource> = serde_json::from_value(json!({
            "metadata": {"name": "bad"}, "spec": {"webhook": {"push": {"port": 1}}}
        }))
        .unwrap();
        assert_eq!(bad.bus_name(), "default");
        assert!(!bad.uses_bus("default"));
        assert_eq!(
            bad.decode().object.unwrap_err().path,
            "spec.webhook.push.port"
        );
    }
}
