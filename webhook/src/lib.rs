//! Admission decisions for the three kinds, as pure functions over decoded objects and a
//! snapshot of cluster facts. The admission server and `kubectl argo events lint` both call
//! them, so a denial and a lint finding say the same thing.
//!
//! So far: decoding with upstream's rules and upstream's structural validation of each kind
//! ([`validate`]), both reported by [`lint`]. Naming, references, RBAC and policies come with
//! the admission issue.
#![warn(missing_docs)]

pub mod lint;
pub mod validate;
