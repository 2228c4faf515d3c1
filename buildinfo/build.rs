//! Captures what `version` and `argo_events_build_info` report, once for every binary:
//! the git commit, the build date, the compiler and the target, as `BUILDINFO_*` variables
//! for `env!` in `src/lib.rs`.
//!
//! - commit: `ARGO_EVENTS_GIT_COMMIT` when set (image builds from a copy without `.git`), else
//!   `git rev-parse HEAD`, else `unknown`;
//! - date: `SOURCE_DATE_EPOCH` when set (reproducible builds), else now; RFC 3339, UTC;
//! - compiler: `$RUSTC --version`; target: cargo's `TARGET`.
//!
//! The script reruns when those variables change or git's HEAD moves, not on every build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

#[path = "src/date.rs"]
mod date;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/date.rs");
    println!("cargo:rerun-if-env-changed=ARGO_EVENTS_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());

    let commit = match non_empty_env("ARGO_EVENTS_GIT_COMMIT") {
        Some(commit) => commit,
        None => {
            watch_git_head(&dir);
            git(&dir, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
        }
    };
    println!("cargo:rustc-env=BUILDINFO_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=BUILDINFO_BUILD_DATE={}", build_date());
    println!("cargo:rustc-env=BUILDINFO_RUSTC={}", rustc_version());
    println!(
        "cargo:rustc-env=BUILDINFO_TARGET={}",
        std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned())
    );
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `git ARGS` in `dir`, its trimmed output when it succeeds and prints something.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

/// Reruns this script when HEAD moves: HEAD itself (a checkout), the branch it names (a
/// commit) and `packed-refs` (a `git gc`). Paths come from `git rev-parse --git-path`, which
/// also finds them for a worktree. Only existing paths are named: cargo reruns on every build
/// for a path that does not exist.
fn watch_git_head(dir: &Path) {
    let mut watched = Vec::new();
    let git_path = |name: &str| git(dir, &["rev-parse", "--git-path", name]).map(|p| dir.join(p));
    watched.extend(git_path("HEAD"));
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        // The loose ref, or the directory where the next commit writes it while it is packed.
        if let Some(path) = git_path(&branch) {
            match path.exists() {
                true => watched.push(path),
                false => watched.extend(path.parent().map(Path::to_path_buf)),
            }
        }
    }
    watched.extend(git_path("packed-refs"));
    for path in watched.into_iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn build_date() -> String {
    let secs = match non_empty_env("SOURCE_DATE_EPOCH").map(|v| v.parse::<u64>()) {
        Some(Ok(secs)) => secs,
        Some(Err(e)) => {
            println!("cargo:warning=SOURCE_DATE_EPOCH is not a number of seconds ({e}); using now");
            now()
        }
        None => now(),
    };
    date::rfc3339_utc(secs)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `rustc 1.95.0 (59807616e 2026-04-14)` from the compiler cargo builds with.
fn rustc_version() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
