//! The cluster suite: every cluster-facing part against a real Kubernetes API server.
//!
//! One API server for the whole suite: started by `scripts/test-cluster start` in a temporary
//! directory and stopped at the end, or an existing cluster named by
//! `ARGO_EVENTS_TEST_KUBECONFIG` (a disposable one: the suite installs CRDs and cluster-scoped
//! RBAC). Each case works in a namespace of its own. If the API server cannot start, the suite
//! fails with the reason; `ARGO_EVENTS_SKIP_CLUSTER=<reason>` skips it, printing SKIPPED and
//! the reason, with every case counted as ignored, none as passed.
//!
//! The cases run the workspace's binaries (`argo-events-controller`, `argo-events-webhook`,
//! `argo-events`) from the target directory: `cargo build --workspace --bins` first
//! (scripts/test does).

mod chart;
mod containers;
mod controller;
mod harness;
mod install;
mod kubelet;
mod pipeline;
mod plugin;
mod rbac;
mod resource_source;
mod schema;
mod webhook;

use libtest_mimic::{Arguments, Trial};

use harness::{Setup, cluster};

fn main() {
    let args = Arguments::from_args();
    let exclusive = containers::trials();
    let trials = trials();
    let listing = args.list;
    let setup = if listing {
        Ok(Setup::Skip("listing only".into()))
    } else {
        Setup::from_env()
    };
    let conclusion = match setup {
        Err(reason) => {
            eprintln!("cluster suite: the test API server could not be started: {reason}");
            eprintln!(
                "cluster suite: set {}=<reason> to skip it (nothing then counts as passed)",
                harness::SKIP_VAR
            );
            std::process::exit(101);
        }
        Ok(Setup::Skip(reason)) => {
            if !listing {
                println!("SKIPPED: the cluster suite ({reason})");
            }
            let trials = exclusive
                .into_iter()
                .chain(trials)
                .map(|t| t.with_ignored_flag(true))
                .collect();
            libtest_mimic::run(&args, trials)
        }
        Ok(Setup::Ready(c)) => {
            harness::install(c);
            let setup = std::panic::catch_unwind(prepare);
            let conclusion = match setup {
                Ok(()) => run_in_phases(&args, exclusive, trials),
                Err(_) => {
                    cluster().stop();
                    eprintln!("cluster suite: preparing the cluster failed (see above)");
                    std::process::exit(101);
                }
            };
            kubelet::node::remove();
            cluster().stop();
            conclusion
        }
    };
    conclusion.exit();
}

/// Runs the cases that need the cluster to themselves one at a time, then the others in
/// parallel; one conclusion over both (each phase prints its own `test result` line).
fn run_in_phases(
    args: &Arguments,
    exclusive: Vec<Trial>,
    shared: Vec<Trial>,
) -> libtest_mimic::Conclusion {
    let mut alone = args.clone();
    alone.test_threads = Some(1);
    let first = libtest_mimic::run(&alone, exclusive);
    let second = libtest_mimic::run(args, shared);
    libtest_mimic::Conclusion {
        num_filtered_out: first.num_filtered_out + second.num_filtered_out,
        num_passed: first.num_passed + second.num_passed,
        num_failed: first.num_failed + second.num_failed,
        num_ignored: first.num_ignored + second.num_ignored,
        num_measured: first.num_measured + second.num_measured,
    }
}

/// What every case needs: the CRDs, established.
fn prepare() {
    let c = cluster();
    c.must(&["apply", "--server-side", "-k", "manifests/crds"]);
    c.must(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/eventbus.argoproj.io",
        "crd/eventsources.argoproj.io",
        "crd/sensors.argoproj.io",
    ]);
}

/// Every case of the suite.
fn trials() -> Vec<Trial> {
    let mut all = Vec::new();
    all.extend(smoke_trials());
    all.extend(schema::trials());
    all.extend(install::trials());
    all.extend(chart::trials());
    all.extend(controller::trials());
    all.extend(webhook::trials());
    all.extend(rbac::trials());
    all.extend(pipeline::trials());
    all.extend(plugin::trials());
    all.extend(resource_source::trials());
    all.extend(kubelet::trials());
    all
}

fn smoke_trials() -> Vec<Trial> {
    vec![Trial::test("readyz_answers_ok", || {
        let out = cluster().kubectl(&["get", "--raw", "/readyz"])?;
        if out.trim() == "ok" {
            Ok(())
        } else {
            Err(format!("/readyz answered {out:?}").into())
        }
    })]
}
