//! Admission decisions for the three kinds, as pure functions over decoded objects and a
//! snapshot of cluster facts. The admission server and `kubectl argo events lint` both call
//! them, so a denial and a lint finding say the same thing.
//!
//! So far: decoding with upstream's rules and upstream's structural validation of each kind
//! ([`validate`]), and the admission rules over a [`snapshot::Snapshot`] of cluster facts
//! ([`rules`]: naming, references, EventBus presence, RBAC, pitfalls), all reported by
//! [`lint`].
#![warn(missing_docs)]

pub mod lint;
pub mod rules;
pub mod snapshot;
pub mod validate;
