//! `kubectl-argo-events`: the kubectl plugin, run as `kubectl argo events <command>`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = argo_events_kubectl::run_from_args(
        std::env::args_os(),
        // Not locked: `run` prints from several threads while the command runs.
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    ExitCode::from(code)
}
