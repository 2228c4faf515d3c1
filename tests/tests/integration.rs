//! Cross-crate integration tests: one binary, one module per area.

mod corpus;
mod crds;
mod eventpath;
mod manifests;
