//! The controller: pure desired-state and status builders with a thin apply shell.
//!
//! - [`constants`]: label keys, annotations, finalizers, env names, ports, mount paths.
//! - [`desired`]: the objects the controller owns, built from the custom resources (no I/O).
//! - [`render`]: offline rendering of the children of a set of manifests (`render` command).
//! - [`status`]: condition computation and readiness.
//! - [`reconcile`]: the reconcile decisions as pure functions (plans).
//! - [`run`]: the `run` shell: caches, Controllers, writes; [`leader`] election; [`admin`]
//!   metrics and health endpoints; [`kube_events`] the `ReconcileFailed` Events.
#![warn(missing_docs)]

pub mod admin;
pub mod constants;
pub mod desired;
pub mod kube_events;
pub mod leader;
pub mod reconcile;
pub mod render;
pub mod run;
pub mod status;
