//! Helpers for the cross-crate integration tests in `tests/`.

use std::path::PathBuf;

/// The workspace root (the directory holding the top `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Upstream's example manifests, read in place from `../shared/corpus/argo-events-examples`.
/// Panics with a clear message when the corpus is not beside the checkout.
pub fn corpus_dir() -> PathBuf {
    let dir = workspace_root().join("../shared/corpus/argo-events-examples");
    assert!(
        dir.is_dir(),
        "upstream's examples are expected at {} (the shared/ folder beside this checkout)",
        dir.display()
    );
    dir
}

/// Every manifest file of the corpus, in name order.
pub fn corpus_files() -> Vec<PathBuf> {
    argo_events_api::manifest::expand_paths(&[corpus_dir()])
        .unwrap_or_else(|e| panic!("reading the corpus: {e}"))
}
