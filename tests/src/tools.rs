//! The tools the chart, krew and monitoring tests run, built from their Go modules
//! (`tests/tools/helm`, `tests/tools/krew`, `tests/tools/promtool`) by `scripts/test-tools build`
//! into a cache outside `target/`. The README's
//! test command builds them before the tests; a test asking for them builds them when missing,
//! so they are never skipped. Without Go the test fails with the script's message.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::workspace_root;

/// Runs `scripts/test-tools ARGS` and returns the directory it prints, which must hold `bins`.
fn build_tools(args: &[&str], bins: &[&str]) -> Result<PathBuf, String> {
    let script = workspace_root().join("scripts/test-tools");
    let what = format!("`scripts/test-tools {}`", args.join(" "));
    let out = Command::new("bash")
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}); see its output above",
            out.status
        ));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if bins.iter().all(|b| dir.join(b).is_file()) {
        Ok(dir)
    } else {
        Err(format!(
            "{what} printed {}, which does not hold {}",
            dir.display(),
            bins.join(" and ")
        ))
    }
}

/// The directory holding `helm` and `krew` (`scripts/test-tools build`, run once per process;
/// it builds promtool too).
pub fn tools_dir() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| build_tools(&["build"], &["helm", "krew"]))
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// promtool, built from `tests/tools/promtool` (github.com/prometheus/prometheus) by
/// `scripts/test-tools build promtool` (run once per process).
pub fn promtool() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| build_tools(&["build", "promtool"], &["promtool"]))
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("promtool")
}

/// helm, built from `tests/tools/helm` (helm.sh/helm/v4).
pub fn helm() -> PathBuf {
    tools_dir().join("helm")
}

/// krew, built from `tests/tools/krew` (sigs.k8s.io/krew).
pub fn krew() -> PathBuf {
    tools_dir().join("krew")
}

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    workspace_root().join("manifests/helm/argo-events-rs")
}

/// `helm` with its configuration, cache and data under `home` (never the user's), run from the
/// workspace root.
pub fn helm_command(home: &Path) -> Command {
    let mut cmd = Command::new(helm());
    cmd.env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .current_dir(workspace_root())
        .stdin(Stdio::null());
    cmd
}

/// What a finished command printed.
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// Runs a prepared command: its output when it exits 0, else the command (`what`), its exit
/// status and both streams.
pub fn run(mut cmd: Command, what: &str) -> Result<Output, String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    let output = Output {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    if out.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{what} ({}):\n{}\n{}",
            out.status,
            output.stderr.trim(),
            output.stdout.trim()
        ))
    }
}
