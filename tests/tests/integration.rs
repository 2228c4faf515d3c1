//! Cross-crate integration tests: one binary, one module per area.

mod chart;
mod corpus;
mod crds;
mod e2e;
mod eventpath;
mod golden;
mod krew;
mod kubevalidate;
mod manifests;
mod monitoring;
