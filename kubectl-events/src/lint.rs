//! `lint`: upstream's decoding and validation rules, the webhook's admission rules and the policy
//! bundle (the compiled-in default one, or `--policies DIR`) over manifest files.

use std::io::{IsTerminal, Write};

use argo_events_api::manifest;
use argo_events_webhook::lint::{self as rules, Finding, Severity};
use argo_events_webhook::policy;

use crate::cli::{KubeArgs, LintArgs, LintOutput};
use crate::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};

/// Runs `lint` and prints its findings; returns the exit code.
pub fn run(
    kube: &KubeArgs,
    args: &LintArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<u8> {
    let (docs, parse_errors) = match manifest::load(&args.paths) {
        Ok(loaded) => loaded,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(EXIT_USAGE);
        }
    };
    let loaded = match &args.policies {
        Some(dir) => policy::load_bundle(dir),
        None => policy::default_bundle(),
    };
    let policies = match loaded {
        Ok(policies) => policies,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(EXIT_USAGE);
        }
    };
    let opts = rules::Options {
        namespace: kube.namespace.clone(),
        policies,
    };
    let findings = rules::lint(&docs, &parse_errors, &opts);
    let checked = docs
        .iter()
        .filter(|d| matches!(manifest::classify(&d.value), manifest::DocKind::Ours(_)))
        .count();
    match args.output {
        LintOutput::Json => {
            serde_json::to_writer_pretty(&mut *out, &findings)?;
            writeln!(out)?;
        }
        LintOutput::Text => {
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            write_text(&findings, checked, colour, out)?;
        }
    }
    let failed = findings
        .iter()
        .any(|f| f.severity == Severity::Error || args.strict);
    Ok(if failed { EXIT_FINDINGS } else { EXIT_OK })
}

/// The text form: one line per finding, then a summary.
pub fn write_text(
    findings: &[Finding],
    checked: usize,
    colour: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    for f in findings {
        let (mark, word, code) = match f.severity {
            Severity::Error => ("✗", "error", "31"),
            Severity::Warning => ("!", "warning", "33"),
        };
        let label = if colour {
            format!("\x1b[{code}m{mark} {word}\x1b[0m")
        } else {
            format!("{mark} {word}")
        };
        let object = match (&f.kind, &f.name) {
            (Some(kind), Some(name)) => match &f.namespace {
                Some(ns) => format!(" {kind} {ns}/{name}"),
                None => format!(" {kind} {name}"),
            },
            (Some(kind), None) => format!(" {kind}"),
            _ => String::new(),
        };
        let path = if f.path.is_empty() {
            String::new()
        } else {
            format!(" {}:", f.path)
        };
        writeln!(
            out,
            "{label} {}#{}{object}{path} {} [{}]",
            f.file, f.document, f.message, f.rule
        )?;
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    writeln!(
        out,
        "{checked} object(s) checked: {errors} error(s), {warnings} warning(s)"
    )
}
