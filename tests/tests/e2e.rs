//! Cluster end-to-end test of the quickstart pipeline, gated by `ARGO_EVENTS_E2E_CONTEXT` (the
//! name of a kube context). Unset, the test prints that it is skipped and returns; it never runs
//! in `scripts/test` or CI, which have no cluster.
//!
//! With a context it runs, through `kubectl --context CONTEXT`:
//! 1. `kubectl apply --server-side -f manifests/install.yaml` (namespace `argo-events`, CRDs,
//!    RBAC, the controller, the default EventBus). The cluster must be able to pull the
//!    controller's image `argo-events-rs:latest` (e.g. build it from the Dockerfile and
//!    `kind load docker-image argo-events-rs:latest`).
//! 2. Waits for the controller Deployment, the EventBus `Deployed` condition and its pods.
//! 3. Creates the ServiceAccount `operate-workflow-sa` the quickstart Sensor runs as, allowed to
//!    create Workflows, then applies the quickstart EventSource and Sensor.
//! 4. Port-forwards the EventSource's Deployment (the quickstart EventSource has no
//!    `spec.service`, so the controller creates no Service for it) and posts the body of
//!    `manifests/examples/quickstart/events/push-main.json` to `/push`.
//! 5. Waits for the Sensor's effect: with Argo Workflows' CRD installed, a Workflow whose first
//!    argument is the pushed commit; without it, the Sensor's log line deciding that trigger
//!    `build` fired.
//! 6. Deletes the quickstart objects and the `argo-events` namespace (also on failure). The
//!    cluster-scoped objects of the install (CRDs, ClusterRole, ClusterRoleBinding) stay.
//!
//! Every wait is bounded.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use argo_events_tests::workspace_root;
use serde_json::Value;

/// The env var naming the kube context; unset means "skip".
const CONTEXT_VAR: &str = "ARGO_EVENTS_E2E_CONTEXT";
const NAMESPACE: &str = "argo-events";
const QUICKSTART: &str = "manifests/examples/quickstart";
/// The quickstart objects applied (not `quickstart-test.yaml`, an offline SensorTest).
const QUICKSTART_FILES: [&str; 2] = ["eventsource.yaml", "sensor.yaml"];
const EVENT_SOURCE: &str = "webhook";
const SENSOR: &str = "build-on-push";
const WEBHOOK_PORT: u16 = 12000;

/// The ServiceAccount the quickstart Sensor runs as, allowed to create Workflows.
const WORKFLOW_SA: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: operate-workflow-sa, namespace: argo-events}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: operate-workflow-role, namespace: argo-events}
rules:
  - apiGroups: [argoproj.io]
    resources: [workflows]
    verbs: [create, get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: operate-workflow-role-binding, namespace: argo-events}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: operate-workflow-role}
subjects:
  - {kind: ServiceAccount, name: operate-workflow-sa, namespace: argo-events}
"#;

/// `kubectl --context CONTEXT …`, run from the workspace root.
struct Kubectl {
    context: String,
}

impl Kubectl {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--context")
            .arg(&self.context)
            .args(args)
            .current_dir(workspace_root());
        cmd
    }

    /// Runs kubectl; stdout on success, a message with stderr otherwise.
    fn run(&self, args: &[&str]) -> Result<String, String> {
        self.run_with_input(args, None)
    }

    fn run_with_input(&self, args: &[&str], input: Option<&str>) -> Result<String, String> {
        argo_events_tests::run_kubectl(self.command(args), args, input)
    }

    /// Runs kubectl and panics when it fails.
    fn must(&self, args: &[&str]) -> String {
        self.run(args).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Calls `check` every 2 s until it says done; panics after `timeout` with the last error.
fn poll(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<bool, String>) {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("not done yet");
    loop {
        match check() {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => last = e,
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last: {last}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Deletes the quickstart objects and the namespace when dropped, so a failing run cleans up.
struct Cleanup<'a>(&'a Kubectl);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for file in QUICKSTART_FILES {
            let path = format!("{QUICKSTART}/{file}");
            // While the controller still runs, so it can remove its finalizers.
            let _ = self.0.run(&[
                "delete",
                "-f",
                &path,
                "--ignore-not-found",
                "--timeout=120s",
            ]);
        }
        if let Err(e) = self.0.run(&[
            "delete",
            "namespace",
            NAMESPACE,
            "--ignore-not-found",
            "--timeout=300s",
        ]) {
            eprintln!("e2e cleanup: {e}");
        }
    }
}

/// `kubectl port-forward TARGET :12000` in the background; the child and the local port.
fn port_forward(kubectl: &Kubectl, target: &str) -> (KillOnDrop, u16) {
    let port_arg = format!(":{WEBHOOK_PORT}");
    let mut child = kubectl
        .command(&["port-forward", "-n", NAMESPACE, target, &port_arg])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting kubectl port-forward");
    let stdout = child.stdout.take().expect("piped stdout");
    let child = KillOnDrop(child);
    // "Forwarding from 127.0.0.1:41234 -> 12000"
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let port = line
                .strip_prefix("Forwarding from 127.0.0.1:")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|p| p.parse::<u16>().ok());
            if let Some(port) = port {
                let _ = tx.send(port);
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("kubectl port-forward did not report a local port within 60 s");
    (child, port)
}

/// A child process killed when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// POSTs a JSON body to `http://127.0.0.1:PORT/push`; the HTTP status code.
fn post_push(port: u16, body: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "POST /push HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {response:?}"))
}

#[test]
fn quickstart_pipeline_in_a_cluster() {
    let Some(context) = std::env::var(CONTEXT_VAR).ok().filter(|c| !c.is_empty()) else {
        eprintln!(
            "e2e: skipped: {CONTEXT_VAR} is not set (it names the kube context of a disposable \
             cluster to install manifests/ into)"
        );
        return;
    };
    let kubectl = Kubectl { context };

    // The pushed commit the Workflow must carry.
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            workspace_root()
                .join(QUICKSTART)
                .join("events/push-main.json"),
        )
        .expect("reading the quickstart event"),
    )
    .expect("the quickstart event is JSON");
    let body = event["data"]["body"].to_string();
    let commit = event["data"]["body"]["after"]
        .as_str()
        .expect("the event carries body.after")
        .to_owned();

    // 1-2. Install, wait for the controller and the EventBus.
    let _cleanup = Cleanup(&kubectl);
    // Retried: the EventBus is refused until the CRDs applied with it are established, and then
    // (failurePolicy Fail) until the admission webhook applied with it answers.
    poll(
        "manifests/install.yaml to apply",
        Duration::from_secs(120),
        || {
            kubectl
                .run(&[
                    "apply",
                    "--server-side",
                    "--force-conflicts",
                    "-f",
                    "manifests/install.yaml",
                ])
                .map(|_| true)
        },
    );
    for deployment in ["deployment/controller-manager", "deployment/events-webhook"] {
        kubectl.must(&[
            "-n",
            NAMESPACE,
            "rollout",
            "status",
            deployment,
            "--timeout=300s",
        ]);
    }
    kubectl.must(&[
        "-n",
        NAMESPACE,
        "wait",
        "eventbus/default",
        "--for=condition=Deployed",
        "--timeout=300s",
    ]);
    poll(
        "the EventBus pods to be Ready",
        Duration::from_secs(600),
        || {
            kubectl
                .run(&[
                    "-n",
                    NAMESPACE,
                    "wait",
                    "pod",
                    "-l",
                    "eventbus-name=default",
                    "--for=condition=Ready",
                    "--timeout=20s",
                ])
                .map(|_| true)
        },
    );

    // 3. The Sensor's ServiceAccount, then the quickstart.
    kubectl
        .run_with_input(&["apply", "-f", "-"], Some(WORKFLOW_SA))
        .unwrap_or_else(|e| panic!("{e}"));
    for file in QUICKSTART_FILES {
        kubectl.must(&["apply", "-f", &format!("{QUICKSTART}/{file}")]);
    }
    for (what, selector) in [
        ("EventSource", format!("eventsource-name={EVENT_SOURCE}")),
        ("Sensor", format!("sensor-name={SENSOR}")),
    ] {
        poll(
            &format!("the {what} pod to be Ready"),
            Duration::from_secs(300),
            || {
                kubectl
                    .run(&[
                        "-n",
                        NAMESPACE,
                        "wait",
                        "pod",
                        "-l",
                        &selector,
                        "--for=condition=Ready",
                        "--timeout=20s",
                    ])
                    .map(|_| true)
            },
        );
    }

    // 4. Post the push to main through a port-forward to the EventSource's Deployment.
    let deployment = kubectl
        .must(&[
            "-n",
            NAMESPACE,
            "get",
            "deployment",
            "-l",
            &format!("eventsource-name={EVENT_SOURCE}"),
            "-o",
            "name",
        ])
        .trim()
        .to_owned();
    assert!(
        deployment.starts_with("deployment.apps/") && !deployment.contains('\n'),
        "expected one EventSource Deployment, got {deployment:?}"
    );
    let (_forward, port) = port_forward(&kubectl, &deployment);
    poll(
        "the webhook to accept the push",
        Duration::from_secs(120),
        || match post_push(port, &body)? {
            200 => Ok(true),
            code => Err(format!("HTTP {code}")),
        },
    );

    // 5. The Sensor's effect.
    let workflows_installed = kubectl
        .run(&["get", "crd", "workflows.argoproj.io", "-o", "name"])
        .is_ok();
    if workflows_installed {
        poll(
            &format!("a Workflow carrying commit {commit}"),
            Duration::from_secs(180),
            || {
                let values = kubectl.run(&[
                    "-n",
                    NAMESPACE,
                    "get",
                    "workflows",
                    "-o",
                    "jsonpath={.items[*].spec.arguments.parameters[0].value}",
                ])?;
                Ok(values.split_whitespace().any(|v| v == commit))
            },
        );
    } else {
        eprintln!("e2e: no Argo Workflows CRD in the cluster; checking the Sensor's log instead");
        poll(
            "the Sensor to log that trigger build fired",
            Duration::from_secs(180),
            || {
                let log = kubectl.run(&[
                    "-n",
                    NAMESPACE,
                    "logs",
                    "-l",
                    &format!("sensor-name={SENSOR}"),
                    "--tail=-1",
                ])?;
                Ok(log.lines().any(|l| {
                    l.contains("decision")
                        && l.contains("build")
                        && (l.contains("fired=true") || l.contains("\"fired\":true"))
                }))
            },
        );
    }
    eprintln!(
        "e2e: the quickstart pipeline ran in context {}",
        kubectl.context
    );
}
