//! The pod runtime: `argo-events eventsource run` and `argo-events sensor run`, reading their
//! object as upstream pods do (`EVENTSOURCE_OBJECT` / `SENSOR_OBJECT`, `EVENTBUS_CONFIG`) or
//! from a file; the Sensor loop with at-least-once delivery; trigger execution; Prometheus
//! metrics with upstream's names; leader election of Sensor and EventSource replicas; what a
//! Sensor decided, on its admin port (`/decisions`, `/bus`) and as Kubernetes Events; the stored
//! events of a dependency (`/bus/messages`) and their replay to the Sensor (`/replay`); an
//! EventSource's events published by hand onto their bus subjects (`/publish`).

pub mod busconnect;
pub mod decisions;
pub mod diagnostics;
pub mod election;
pub mod kube_events;
pub mod metrics;
pub mod objects;
pub mod publish;
pub mod replay;
pub mod sensor;
pub mod sources;
pub mod telemetry;
pub mod triggers;
