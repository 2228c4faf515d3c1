//! The pod runtime: `argo-events eventsource run` and `argo-events sensor run`, reading their
//! object as upstream pods do (`EVENTSOURCE_OBJECT` / `SENSOR_OBJECT`, `EVENTBUS_CONFIG`) or
//! from a file; trigger execution; Prometheus metrics with upstream's names.

pub mod metrics;
pub mod triggers;
