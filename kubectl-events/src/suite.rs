//! `test`: Sensor test suites, in the spirit of `kyverno test`. A suite file names a Sensor,
//! feeds it events case by case and states what each trigger must do:
//!
//! ```yaml
//! apiVersion: argo-events-rs.io/v1alpha1
//! kind: SensorTest
//! metadata: {name: quickstart}
//! sensor: sensor.yaml                 # relative to this file
//! now: "2026-01-01T12:00:00Z"         # optional; events without time get it
//! cases:
//!   - name: a push to main starts the build
//!     events:
//!       - file: events/push-main.json # or `event: {…CloudEvent…}`; optional `dependency: push`
//!     expect:
//!       triggers:
//!         - name: build
//!           fired: true
//!           rendered:                 # optional: path → expected value in the rendered action
//!             spec.arguments.parameters.0.value: 6113728f27ae82c7b1a177c8d03f9e96e0adf246
//!           reason: optional text the reason must contain
//!       dependencies:                 # optional
//!         - {event: 0, name: push, matched: true}
//! ```

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::cli::TestArgs;
use crate::sensorfile::{self, FileSourceLoader};
use crate::simulate::{self, Input, Report};

/// The `apiVersion` of suite files.
pub const SUITE_API_VERSION: &str = "argo-events-rs.io/v1alpha1";
/// The `kind` of suite files.
pub const SUITE_KIND: &str = "SensorTest";

/// A suite file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Suite {
    /// Must be [`SUITE_API_VERSION`].
    pub api_version: String,
    /// Must be [`SUITE_KIND`].
    pub kind: String,
    /// `name` names the suite.
    #[serde(default)]
    pub metadata: SuiteMetadata,
    /// The Sensor manifest, relative to the suite file.
    pub sensor: PathBuf,
    /// Default time for events without one (RFC 3339).
    #[serde(default)]
    pub now: Option<String>,
    /// The cases, each run on a fresh Sensor.
    pub cases: Vec<Case>,
}

/// Suite metadata.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteMetadata {
    /// The suite's name.
    #[serde(default)]
    pub name: String,
}

/// One case: events in, expectations out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows.
    pub name: String,
    /// Events, fed in order.
    pub events: Vec<CaseEvent>,
    /// What must happen.
    pub expect: Expect,
}

/// An event of a case: from a file or inline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseEvent {
    /// A file with a CloudEvent (or an array of them), relative to the suite file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// An inline CloudEvent.
    #[serde(default)]
    pub event: Option<Value>,
    /// Deliver to this dependency instead of routing by source/subject.
    #[serde(default)]
    pub dependency: Option<String>,
}

/// Expectations of a case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Per trigger.
    #[serde(default)]
    pub triggers: Vec<ExpectTrigger>,
    /// Per dependency verdict.
    #[serde(default)]
    pub dependencies: Vec<ExpectDependency>,
}

/// What a trigger must do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectTrigger {
    /// Trigger name.
    pub name: String,
    /// Whether it fires.
    pub fired: bool,
    /// Path (dotted, numeric array indexes) → value in the rendered action.
    #[serde(default)]
    pub rendered: serde_json::Map<String, Value>,
    /// Text the reason must contain.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What a dependency must make of an event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDependency {
    /// 0-based index of the event in the case.
    pub event: usize,
    /// Dependency name.
    pub name: String,
    /// Whether the event passes it.
    pub matched: bool,
}

/// Reads a suite file.
pub fn load_suite(path: &Path) -> anyhow::Result<Suite> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let json = argo_events_api::manifest::parse_yaml(&text)
        .map_err(|e| anyhow::anyhow!("{}: not YAML: {e}", path.display()))?;
    let suite: Suite = serde_json::from_value(json)
        .with_context(|| format!("{}: not a SensorTest suite", path.display()))?;
    if suite.api_version != SUITE_API_VERSION || suite.kind != SUITE_KIND {
        bail!(
            "{}: expected apiVersion {SUITE_API_VERSION} and kind {SUITE_KIND}, got {} {}",
            path.display(),
            suite.api_version,
            suite.kind
        );
    }
    Ok(suite)
}

/// Finds suite files: named files as they are; directories searched recursively for YAML
/// files whose `kind` is `SensorTest`.
pub fn find_suites(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let files = argo_events_api::manifest::expand_paths(std::slice::from_ref(path))?;
            for file in files {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                if text
                    .lines()
                    .any(|l| l.trim() == format!("kind: {SUITE_KIND}"))
                {
                    out.push(file);
                }
            }
        } else if path.exists() {
            out.push(path.clone());
        } else {
            bail!("{}: no such file or directory", path.display());
        }
    }
    Ok(out)
}

/// One failed expectation.
pub type Mismatch = String;

/// Runs one case and returns what did not hold.
pub fn run_case(suite: &Suite, base: &Path, case: &Case) -> anyhow::Result<Vec<Mismatch>> {
    let sensor = sensorfile::load_sensor(&base.join(&suite.sensor))?;
    let mut inputs = Vec::new();
    for (i, e) in case.events.iter().enumerate() {
        let events = match (&e.file, &e.event) {
            (Some(file), None) => sensorfile::load_events(&base.join(file))?,
            (None, Some(v)) => {
                sensorfile::parse_events(v).with_context(|| format!("events[{i}]"))?
            }
            _ => bail!("events[{i}]: give exactly one of file and event"),
        };
        inputs.extend(events.into_iter().map(|event| Input {
            dependency: e.dependency.clone(),
            event,
        }));
    }
    let now = match &suite.now {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .with_context(|| format!("now {t:?} is not RFC 3339"))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let sensor_dir = base
        .join(&suite.sensor)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let loader = FileSourceLoader { base: sensor_dir };
    let report = simulate::simulate(&sensor, &inputs, now, &loader)?;
    Ok(compare(&case.expect, &report))
}

/// Compares a report with the expectations.
pub fn compare(expect: &Expect, report: &Report) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for want in &expect.triggers {
        let Some(got) = report.triggers.iter().find(|t| t.name == want.name) else {
            let known: Vec<&str> = report.triggers.iter().map(|t| t.name.as_str()).collect();
            out.push(format!(
                "trigger {}: no such trigger (the Sensor has: {})",
                want.name,
                known.join(", ")
            ));
            continue;
        };
        if got.fired != want.fired {
            out.push(format!(
                "trigger {}: expected fired: {}, got fired: {} ({})",
                want.name, want.fired, got.fired, got.reason
            ));
            continue;
        }
        if let Some(text) = &want.reason
            && !got.reason.contains(text.as_str())
        {
            out.push(format!(
                "trigger {}: reason {:?} does not contain {text:?}",
                want.name, got.reason
            ));
        }
        for (path, expected) in &want.rendered {
            let actual = got
                .rendered
                .as_ref()
                .and_then(|r| argo_events_engine::sjson::get_str(r, path));
            match actual {
                Some(a) if a == expected => {}
                Some(a) => out.push(format!(
                    "trigger {}: {path}: expected {expected}, got {a}",
                    want.name
                )),
                None => out.push(format!(
                    "trigger {}: {path}: expected {expected}, got nothing",
                    want.name
                )),
            }
        }
    }
    for want in &expect.dependencies {
        let got = report
            .events
            .get(want.event)
            .and_then(|e| e.dependencies.iter().find(|d| d.name == want.name));
        match got {
            Some(d) if d.matched == want.matched => {}
            Some(d) => out.push(format!(
                "event {} dependency {}: expected matched: {}, got matched: {} ({})",
                want.event, want.name, want.matched, d.matched, d.reason
            )),
            None => out.push(format!(
                "event {} did not reach dependency {}",
                want.event, want.name
            )),
        }
    }
    out
}

/// Runs `test`.
pub fn run(args: &TestArgs, out: &mut impl Write, err: &mut impl Write) -> anyhow::Result<u8> {
    let files = find_suites(&args.paths)?;
    if files.is_empty() {
        writeln!(
            err,
            "error: no SensorTest suites found under the given paths"
        )?;
        return Ok(crate::EXIT_USAGE);
    }
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in files {
        let suite = load_suite(&file)?;
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let suite_name = if suite.metadata.name.is_empty() {
            file.display().to_string()
        } else {
            suite.metadata.name.clone()
        };
        for case in &suite.cases {
            let mismatches = run_case(&suite, &base, case)
                .with_context(|| format!("{}: case {:?}", file.display(), case.name))?;
            if mismatches.is_empty() {
                passed += 1;
                let mark = if colour { "\x1b[32m✓\x1b[0m" } else { "✓" };
                writeln!(out, "{mark} {suite_name}: {}", case.name)?;
            } else {
                failed += 1;
                let mark = if colour { "\x1b[31m✗\x1b[0m" } else { "✗" };
                writeln!(out, "{mark} {suite_name}: {}", case.name)?;
                for m in mismatches {
                    writeln!(out, "    {m}")?;
                }
            }
        }
    }
    writeln!(
        out,
        "{} cases: {passed} passed, {failed} failed",
        passed + failed
    )?;
    Ok(if failed == 0 {
        crate::EXIT_OK
    } else {
        crate::EXIT_FINDINGS
    })
}
