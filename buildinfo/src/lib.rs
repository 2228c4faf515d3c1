//! What every binary says about its build, in one place so that the four agree: the `version`
//! subcommand (text, `-o json`, `-o yaml`), clap's `--version`, and the
//! `argo_events_build_info` gauge on `/metrics`.
//!
//! The values are captured once, by this crate's build script (`build.rs` says where each
//! comes from), so the binaries need no build scripts of their own.

use std::fmt;
use std::io::{self, Write};

use clap::{Args, ValueEnum};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

#[cfg(test)]
mod date;

/// The workspace version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit built, or `unknown`.
pub const GIT_COMMIT: &str = env!("BUILDINFO_GIT_COMMIT");
/// When it was built (RFC 3339, UTC): `SOURCE_DATE_EPOCH` when that was set.
pub const BUILD_DATE: &str = env!("BUILDINFO_BUILD_DATE");
/// `rustc --version` of the compiler.
pub const RUSTC_VERSION: &str = env!("BUILDINFO_RUSTC");
/// The target triple.
pub const TARGET: &str = env!("BUILDINFO_TARGET");
/// For clap's `long_version`, so `--version` also names the commit and date.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BUILDINFO_GIT_COMMIT"),
    ", built ",
    env!("BUILDINFO_BUILD_DATE"),
    ")"
);

/// The name of the gauge that is always 1 and carries the build as labels.
pub const BUILD_INFO_METRIC: &str = "argo_events_build_info";

/// One binary's build, as `version -o json` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    /// The binary's name, e.g. `argo-events-controller`.
    pub binary: &'static str,
    /// [`VERSION`].
    pub version: &'static str,
    /// [`GIT_COMMIT`].
    pub git_commit: &'static str,
    /// [`BUILD_DATE`].
    pub build_date: &'static str,
    /// [`RUSTC_VERSION`].
    pub rustc_version: &'static str,
    /// [`TARGET`].
    pub target: &'static str,
}

impl BuildInfo {
    /// The build of `binary`.
    pub const fn of(binary: &'static str) -> Self {
        BuildInfo {
            binary,
            version: VERSION,
            git_commit: GIT_COMMIT,
            build_date: BUILD_DATE,
            rustc_version: RUSTC_VERSION,
            target: TARGET,
        }
    }

    /// The compiler's release alone (`1.95.0` of `rustc 1.95.0 (59807616e 2026-04-14)`), for
    /// the metric label.
    pub fn rustc_release(&self) -> &'static str {
        self.rustc_version
            .split_whitespace()
            .nth(1)
            .unwrap_or(self.rustc_version)
    }

    /// The text lines after the version: commit, date, compiler, target.
    pub fn details(&self) -> [(&'static str, &'static str); 4] {
        [
            ("Git Commit", self.git_commit),
            ("Build Date", self.build_date),
            ("Rustc", self.rustc_version),
            ("Target", self.target),
        ]
    }
}

/// `Binary`, `Version` and the [`details`](BuildInfo::details), one `Key: value` per line.
impl fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut fields = vec![("Binary", self.binary), ("Version", self.version)];
        fields.extend(self.details());
        f.write_str(&render_fields(&fields))
    }
}

/// `Key: value` lines with the values aligned, each ending in a newline.
pub fn render_fields(fields: &[(&str, &str)]) -> String {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    fields
        .iter()
        .map(|(key, value)| format!("{:width$} {value}\n", format!("{key}:"), width = width + 1))
        .collect()
}

/// `version -o …`: text when omitted, as `kubectl version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VersionFormat {
    /// One JSON object.
    Json,
    /// The same as YAML.
    Yaml,
}

/// The `version` subcommand's flags, the same on every binary.
#[derive(Debug, Clone, Default, Args)]
pub struct VersionArgs {
    /// Output format; text when omitted.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<VersionFormat>,
}

impl VersionArgs {
    /// Writes `text` as it is, or `doc` as JSON or YAML.
    pub fn write(&self, out: &mut impl Write, text: &str, doc: &impl Serialize) -> io::Result<()> {
        match self.output {
            None => out.write_all(text.as_bytes()),
            Some(VersionFormat::Json) => {
                serde_json::to_writer_pretty(&mut *out, doc)?;
                writeln!(out)
            }
            Some(VersionFormat::Yaml) => {
                let yaml = serde_yaml_ng::to_string(doc).map_err(io::Error::other)?;
                out.write_all(yaml.as_bytes())
            }
        }
    }

    /// A server binary's `version`: [`BuildInfo`] as text, JSON or YAML.
    pub fn write_build_info(&self, out: &mut impl Write, info: &BuildInfo) -> io::Result<()> {
        self.write(out, &info.to_string(), info)
    }
}

/// Registers [`BUILD_INFO_METRIC`]`{version, commit, rustc, binary} 1` in `registry`, whose
/// prefix (if any) is prepended to the name; register it in a root registry without one.
pub fn register_build_info(registry: &mut Registry, binary: &'static str) {
    let info = BuildInfo::of(binary);
    let gauge = Family::<[(&'static str, &'static str); 4], Gauge>::default();
    gauge
        .get_or_create(&[
            ("version", info.version),
            ("commit", info.git_commit),
            ("rustc", info.rustc_release()),
            ("binary", info.binary),
        ])
        .set(1);
    registry.register(
        BUILD_INFO_METRIC,
        "Always 1; the labels say which build of which binary this is",
        gauge,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_script_filled_every_field() {
        let info = BuildInfo::of("argo-events");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        // A commit is 40 (SHA-1) or 64 (SHA-256) hex digits, or `unknown` without git.
        assert!(
            info.git_commit == "unknown"
                || (matches!(info.git_commit.len(), 40 | 64)
                    && info.git_commit.chars().all(|c| c.is_ascii_hexdigit())),
            "{}",
            info.git_commit
        );
        assert_eq!(info.build_date.len(), "2026-01-02T03:04:05Z".len());
        assert!(info.build_date.ends_with('Z'), "{}", info.build_date);
        assert!(
            info.rustc_version.starts_with("rustc "),
            "{}",
            info.rustc_version
        );
        assert!(
            info.rustc_release()
                .starts_with(|c: char| c.is_ascii_digit()),
            "{}",
            info.rustc_release()
        );
        assert!(!info.target.is_empty() && info.target != "unknown");
        assert!(LONG_VERSION.starts_with(VERSION) && LONG_VERSION.contains(GIT_COMMIT));
    }

    #[test]
    fn text_aligns_the_values() {
        assert_eq!(
            render_fields(&[("Version", "0.1.0"), ("Git Commit", "abc")]),
            "Version:    0.1.0\nGit Commit: abc\n"
        );
        let text = BuildInfo::of("argo-events-webhook").to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert_eq!(lines[0], "Binary:     argo-events-webhook");
        assert_eq!(lines[1], format!("Version:    {VERSION}"));
        assert_eq!(lines[2], format!("Git Commit: {GIT_COMMIT}"));
    }

    #[test]
    fn json_and_yaml_carry_the_same_fields() {
        let info = BuildInfo::of("argo-events");
        let mut json = Vec::new();
        VersionArgs {
            output: Some(VersionFormat::Json),
        }
        .write_build_info(&mut json, &info)
        .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let mut yaml = Vec::new();
        VersionArgs {
            output: Some(VersionFormat::Yaml),
        }
        .write_build_info(&mut yaml, &info)
        .unwrap();
        let yaml: serde_json::Value = serde_yaml_ng::from_slice(&yaml).unwrap();
        assert_eq!(json, yaml);
        assert_eq!(
            json,
            serde_json::json!({
                "binary": "argo-events",
                "version": VERSION,
                "gitCommit": GIT_COMMIT,
                "buildDate": BUILD_DATE,
                "rustcVersion": RUSTC_VERSION,
                "target": TARGET,
            })
        );
    }

    #[test]
    fn the_gauge_is_one_with_the_build_as_labels() {
        let mut root = Registry::default();
        let _ = root.sub_registry_with_prefix("argo_events_controller");
        register_build_info(&mut root, "argo-events-controller");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &root).unwrap();
        let info = BuildInfo::of("argo-events-controller");
        let want = format!(
            "argo_events_build_info{{version=\"{VERSION}\",commit=\"{GIT_COMMIT}\",rustc=\"{}\",binary=\"argo-events-controller\"}} 1\n",
            info.rustc_release()
        );
        assert!(text.contains(&want), "{text}");
        assert!(
            text.contains("# TYPE argo_events_build_info gauge"),
            "{text}"
        );
    }
}
