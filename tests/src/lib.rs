//! Helpers for the cross-crate integration tests in `tests/`.

pub mod kubelet;
pub mod tools;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

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

/// Runs a prepared `kubectl` command (`args` are its arguments, for messages) with `input` on
/// standard input: its stdout on success, else the command, its exit status and its stderr.
pub fn run_kubectl(mut cmd: Command, args: &[&str], input: Option<&str>) -> Result<String, String> {
    let what = || format!("kubectl {}", args.join(" "));
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", what()))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("{}: writing stdin: {e}", what()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{}: {e}", what()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{} ({}): {}",
            what(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
