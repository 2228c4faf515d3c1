//! Test inputs: corpus examples and a ready JetStream bus.

use std::path::PathBuf;

use argo_events_api::{BusConfig, EventBus, JetStreamConfig, SecretKeySelector};
use serde::de::DeserializeOwned;

/// Decodes the first document of a corpus example (path under `argo-events-examples/`).
pub fn corpus<T: DeserializeOwned>(rel: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/argo-events-examples")
        .join(rel);
    let (docs, errors) = argo_events_api::manifest::load(&[path]).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    argo_events_api::gocompat::from_value::<T>(&docs[0].value)
        .unwrap()
        .value
}

/// A JetStream bus `default` in `argo-events` whose status carries a client config.
pub fn jetstream_bus() -> EventBus {
    let mut bus = EventBus::default();
    bus.metadata.name = Some("default".into());
    bus.metadata.namespace = Some("argo-events".into());
    bus.status.config = BusConfig {
        jetstream: Some(JetStreamConfig {
            url: "nats://eventbus-default-js-svc.argo-events.svc:4222".into(),
            access_secret: Some(SecretKeySelector {
                name: "eventbus-default-js-client-auth".into(),
                key: "client-auth".into(),
                optional: None,
            }),
            stream_config: "maxmsgs: 50000\n".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    bus
}
