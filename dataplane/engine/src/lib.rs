//! The Sensor engine: a pure state machine for one Sensor. Events go in with the time; verdicts
//! and commands (fire, persist, reset, ack) come out. No tokio, kube or nats: the runtime, the
//! `simulate`/`test` commands and the tests drive it the same way.

pub mod conditions;
pub mod datafilter;
pub mod exprfilter;
pub mod filter;
pub mod gotemplate;
pub mod govaluate;
pub mod jq;
pub mod jsonpath;
pub mod lua;
pub mod machine;
pub mod params;
#[cfg(test)]
mod proptests;
pub mod render;
pub mod sjson;
pub mod timefilter;

pub use argo_events_api::cloudevent::{self as event, Event};
pub use machine::{Command, Outcome, SensorMachine, State};
