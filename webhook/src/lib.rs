//! Admission decisions for the three kinds, as pure functions over decoded objects and a
//! snapshot of cluster facts. The admission server and `kubectl argo events lint` both call
//! them, so a denial and a lint finding say the same thing.
//!
//! So far: decoding with upstream's rules and upstream's structural validation of each kind
//! ([`validate`]), and the admission rules over a [`snapshot::Snapshot`] of cluster facts
//! ([`rules`]: naming, references, EventBus presence, RBAC, pitfalls), all reported by
//! [`lint`]; and the answer to an AdmissionReview ([`admission`]), which runs the same
//! decisions on the incoming object over an indexed [`snapshot::Facts`] (looking up only what
//! the object refers to), or patches in upstream's defaults. Which RBAC checks a Sensor needs is
//! decided here ([`rules::sensor_access_checks`]) for both the static evaluator and the server's
//! SubjectAccessReviews.
//! On top, an organisation's declarative checks: the [`policy`] bundle (JSON Schema or built-in
//! rules per policy, `policies/` at the repository root), evaluated by [`lint`].
//!
//! The `argo-events-webhook` binary (`src/main.rs`, `src/server.rs`) serves [`admission`] over
//! rustls, with cluster facts from reflector caches (`src/cluster.rs`), SubjectAccessReviews
//! (`src/sar.rs`), the certificate shared by the replicas through a Secret
//! (`src/certsecret.rs`) and the self-signed caBundle bootstrap (`src/cabundle.rs`); this library
//! stays free of I/O.
#![warn(missing_docs)]

pub mod admission;
pub mod lint;
pub mod policy;
pub mod rules;
pub mod snapshot;
pub mod validate;
