//! `kubectl-argo-events`: the kubectl plugin, run as `kubectl argo events <command>`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = argo_events_kubectl::run_from_args(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}
