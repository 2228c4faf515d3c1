//! The kubectl plugin `kubectl-argo-events`, used as `kubectl argo events <command>`.
//!
//! Every command is `run(args, out, err) -> exit code`, so tests capture what people see.
//! Exit codes: 0 success (lint: clean or warnings only), 1 findings of error severity,
//! 2 usage or I/O errors.

pub mod cli;
pub mod crds;
pub mod lint;
pub mod run;
pub mod sensorfile;
pub mod simulate;
pub mod suite;
pub mod version;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the command ran and found errors.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: bad usage, or a file could not be read.
pub const EXIT_USAGE: u8 = 2;

/// `run` owns standard output (it prints while events flow) and an async runtime.
fn run_local(kube: &cli::KubeArgs, args: &cli::RunArgs) -> anyhow::Result<u8> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run::run(
        kube,
        args,
        run::Printer::stdout(),
        tokio_util::sync::CancellationToken::new(),
    ))
}

/// Parses `args` (program name first) and runs the command.
pub fn run_from_args<I, T>(args: I, out: &mut impl Write, err: &mut impl Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let rendered = if e.use_stderr() {
                e.render().ansi().to_string()
            } else {
                e.render().to_string()
            };
            let target: &mut dyn Write = if e.use_stderr() { err } else { out };
            let _ = write!(target, "{rendered}");
            return code;
        }
    };
    let result = match &cli.command {
        cli::Command::Lint(args) => lint::run(&cli.kube, args, out, err),
        cli::Command::Simulate(args) => simulate::run(args, out),
        cli::Command::Test(args) => suite::run(args, out, err),
        cli::Command::Run(args) => run_local(&cli.kube, args),
        cli::Command::Crds(args) => crds::run(args, out, err),
        cli::Command::Version(args) => version::run(args, out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "error: {e:#}");
            EXIT_USAGE
        }
    }
}
