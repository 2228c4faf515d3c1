//! The test cluster and the helpers every cluster case uses: one API server for the whole
//! suite (`scripts/test-cluster start`, or an existing cluster named by a kubeconfig), a
//! namespace per test, `kubectl` calls that return the API server's message on failure,
//! processes killed on drop and bounded waits.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use argo_events_tests::workspace_root;
use serde_json::Value;

/// Names an existing cluster's kubeconfig: the suite runs there instead of starting one.
pub const KUBECONFIG_VAR: &str = "ARGO_EVENTS_TEST_KUBECONFIG";
/// Set to a reason to skip the cluster suite (it then passes nothing).
pub const SKIP_VAR: &str = "ARGO_EVENTS_SKIP_CLUSTER";
/// Label on every namespace the suite creates.
pub const NAMESPACE_LABEL: &str = "argo-events-rs.test/suite";

/// Where the suite's cluster comes from.
pub enum Setup {
    /// `ARGO_EVENTS_SKIP_CLUSTER` said so, with its reason.
    Skip(String),
    /// An API server reached through this kubeconfig.
    Ready(Cluster),
}

/// The API server the cases run against.
pub struct Cluster {
    /// Admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// `kubectl` of the same release as the API server (or the one on PATH for an external
    /// cluster).
    pub kubectl: PathBuf,
    /// The directory `scripts/test-cluster start` used; `None` for an external cluster.
    started: Option<PathBuf>,
    /// Scratch space of the suite (temp files, logs of processes the cases start).
    pub scratch: tempfile::TempDir,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The suite's cluster; set once by `main` before any case runs.
pub fn cluster() -> &'static Cluster {
    CLUSTER
        .get()
        .expect("invariant: main sets the cluster before running cases")
}

pub fn install(cluster: Cluster) {
    if CLUSTER.set(cluster).is_err() {
        panic!("invariant: the cluster is installed once");
    }
}

impl Setup {
    /// Reads the environment and starts the API server unless told otherwise.
    pub fn from_env() -> Result<Setup, String> {
        if let Ok(reason) = std::env::var(SKIP_VAR) {
            return Ok(Setup::Skip(if reason.trim().is_empty() {
                format!("{SKIP_VAR} is set")
            } else {
                reason
            }));
        }
        let scratch = tempfile::Builder::new()
            .prefix("argo-events-cluster-suite")
            .tempdir()
            .map_err(|e| format!("creating a scratch directory: {e}"))?;
        if let Ok(path) = std::env::var(KUBECONFIG_VAR) {
            return Ok(Setup::Ready(Cluster {
                kubeconfig: PathBuf::from(path),
                kubectl: PathBuf::from("kubectl"),
                started: None,
                scratch,
            }));
        }
        let dir = scratch.path().join("cluster");
        let script = workspace_root().join("scripts/test-cluster");
        let started = Instant::now();
        let status = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(&dir)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !status.success() {
            return Err(format!(
                "`scripts/test-cluster start` failed ({status}); see its output above and the logs in {}",
                dir.display()
            ));
        }
        eprintln!(
            "cluster suite: test API server started in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let bins = std::fs::read_to_string(dir.join("bin"))
            .map_err(|e| format!("reading {}: {e}", dir.join("bin").display()))?;
        Ok(Setup::Ready(Cluster {
            kubeconfig: dir.join("kubeconfig"),
            kubectl: PathBuf::from(bins.trim()).join("kubectl"),
            started: Some(dir),
            scratch,
        }))
    }
}

impl Cluster {
    /// Stops what `scripts/test-cluster start` started (nothing for an external cluster).
    pub fn stop(&self) {
        if let Some(dir) = &self.started {
            let _ = Command::new("bash")
                .arg(workspace_root().join("scripts/test-cluster"))
                .arg("stop")
                .arg(dir)
                .stdin(Stdio::null())
                .status();
        }
    }

    /// `kubectl --kubeconfig …` with these arguments, from the workspace root.
    pub fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.kubectl);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .current_dir(workspace_root());
        cmd
    }

    /// Runs kubectl; stdout on success, the command and its stderr otherwise.
    pub fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        self.kubectl_stdin(args, None)
    }

    /// Runs kubectl with `input` on its standard input.
    pub fn kubectl_stdin(&self, args: &[&str], input: Option<&str>) -> Result<String, String> {
        argo_events_tests::run_kubectl(self.kubectl_command(args), args, input)
    }

    /// Runs kubectl and panics with its message when it fails.
    pub fn must(&self, args: &[&str]) -> String {
        self.kubectl(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Applies YAML or JSON given as text (server-side, one field manager for the suite).
    pub fn apply(&self, namespace: &str, manifest: &str) -> Result<String, String> {
        self.kubectl_stdin(
            &[
                "apply",
                "--server-side",
                "--field-manager",
                "cluster-suite",
                "-n",
                namespace,
                "-f",
                "-",
            ],
            Some(manifest),
        )
    }

    /// Applies objects of any namespace (or none) as one List, server-side, as field manager
    /// `manager`; panics with the API server's message.
    pub fn apply_objects(&self, manager: &str, items: Vec<Value>) {
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        self.kubectl_stdin(
            &[
                "apply",
                "--server-side",
                "--field-manager",
                manager,
                "-f",
                "-",
            ],
            Some(&list.to_string()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// `kubectl get -o json` of one object; `None` when it does not exist.
    pub fn get(&self, namespace: &str, kind: &str, name: &str) -> Option<Value> {
        let out = self
            .kubectl(&[
                "get",
                kind,
                name,
                "-n",
                namespace,
                "-o",
                "json",
                "--ignore-not-found",
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        if out.trim().is_empty() {
            return None;
        }
        Some(
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl get {kind} {name}: {e}")),
        )
    }

    /// The items of `kubectl get KIND -o json` in a namespace, with an optional label selector.
    pub fn list(&self, namespace: &str, kind: &str, selector: Option<&str>) -> Vec<Value> {
        let mut args = vec!["get", kind, "-n", namespace, "-o", "json"];
        if let Some(selector) = selector {
            args.extend(["-l", selector]);
        }
        let out = self.must(&args);
        let list: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl get {kind}: {e}"));
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// A fresh namespace for one test, labelled for the suite; deleted when dropped.
    pub fn namespace(&'static self, prefix: &str) -> Namespace {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.must(&["create", "namespace", &name]);
        self.must(&[
            "label",
            "namespace",
            &name,
            &format!("{NAMESPACE_LABEL}={prefix}"),
        ]);
        Namespace {
            cluster: self,
            name,
        }
    }

    /// The admin kubeconfig's cluster entry (server, CA).
    fn kubeconfig_cluster(&self) -> Value {
        let view: Value = serde_json::from_str(
            &self.must(&["config", "view", "--raw", "--minify", "-o", "json"]),
        )
        .expect("kubectl config view prints JSON");
        view["clusters"][0]["cluster"].clone()
    }

    /// The API server's port on 127.0.0.1, from the kubeconfig.
    pub fn kubeconfig_server_port(&self) -> Option<u16> {
        let server = self.kubeconfig_cluster()["server"].as_str()?.to_string();
        server
            .rsplit(':')
            .next()?
            .trim_end_matches('/')
            .parse()
            .ok()
    }

    /// The CA (PEM) the API server's certificate is signed by.
    pub fn ca_pem(&self) -> Vec<u8> {
        use base64::Engine as _;
        let data = self.kubeconfig_cluster()["certificate-authority-data"]
            .as_str()
            .map(str::to_string)
            .expect("the kubeconfig carries certificate-authority-data");
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("certificate-authority-data is base64")
    }

    /// A kubeconfig that authenticates as a ServiceAccount (a token from the TokenRequest
    /// API), written to the scratch directory; what a pod of that ServiceAccount would use.
    pub fn service_account_kubeconfig(&self, namespace: &str, account: &str) -> PathBuf {
        let token = self.must(&[
            "create",
            "token",
            account,
            "-n",
            namespace,
            "--duration",
            "2h",
        ]);
        let cluster = self.kubeconfig_cluster();
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": cluster}],
            "users": [{"name": account, "user": {"token": token.trim()}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": account, "namespace": namespace}}],
            "current-context": "test",
        });
        let path = self
            .scratch
            .path()
            .join(format!("kubeconfig-{namespace}-{account}"));
        std::fs::write(&path, config.to_string())
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }
}

/// A namespace deleted (without waiting) when dropped.
pub struct Namespace {
    cluster: &'static Cluster,
    pub name: String,
}

impl Namespace {
    pub fn apply(&self, manifest: &str) -> Result<String, String> {
        self.cluster.apply(&self.name, manifest)
    }

    pub fn must_apply(&self, manifest: &str) -> String {
        self.apply(manifest).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Applies a manifest file of the workspace with every object moved into this namespace.
    pub fn apply_file(&self, path: &str) {
        let (docs, errors) =
            argo_events_api::manifest::load(&[argo_events_tests::workspace_root().join(path)])
                .unwrap_or_else(|e| panic!("reading {path}: {e}"));
        assert!(errors.is_empty(), "{path}: {errors:?}");
        let items: Vec<Value> = docs
            .into_iter()
            .map(|d| {
                let mut v = d.value;
                v["metadata"]["namespace"] = Value::from(self.name.as_str());
                v
            })
            .collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        self.must_apply(&list.to_string());
    }

    pub fn get(&self, kind: &str, name: &str) -> Option<Value> {
        self.cluster.get(&self.name, kind, name)
    }

    pub fn list(&self, kind: &str, selector: Option<&str>) -> Vec<Value> {
        self.cluster.list(&self.name, kind, selector)
    }

    /// kubectl with `-n NAMESPACE` appended.
    pub fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-n", &self.name]);
        self.cluster.kubectl(&all)
    }

    pub fn must(&self, args: &[&str]) -> String {
        self.kubectl(args).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.cluster.kubectl(&[
            "delete",
            "namespace",
            &self.name,
            "--wait=false",
            "--ignore-not-found",
        ]);
    }
}

/// A binary of this workspace, built by `cargo build --bins` into the same target directory
/// as this test (scripts/test builds them before the tests).
pub fn workspace_bin(name: &str) -> PathBuf {
    let bin = workspace_bin_dir().join(name);
    assert!(
        bin.is_file(),
        "{} is missing: the cluster suite runs the workspace's binaries; build them first with \
         `cargo build --workspace --bins` (scripts/test does)",
        bin.display()
    );
    bin
}

/// Where `cargo build --bins` puts the workspace's binaries: the test binary's
/// `target/<profile>/`.
pub fn workspace_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/cluster-<hash> → target/<profile>/
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("invariant: test binaries live in target/<profile>/deps")
}

/// A child process killed (SIGKILL) and reaped when dropped; its output goes to a log file.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
    pub name: String,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `<scratch>/<name>.log`.
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        let log = cluster().scratch.path().join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
        let err = file.try_clone().expect("cloning a log file handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc {
            child,
            log,
            name: name.to_string(),
        }
    }

    /// What the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with its log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited ({status}); its output:\n{}",
                self.name,
                self.output()
            );
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free TCP port on 127.0.0.1, never one handed out before in this run: the port is only
/// free when asked, so two calls in a row (a metrics and a health port) could otherwise get the
/// same one back.
pub fn free_port() -> u16 {
    fresh_port(|| {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("binding a free loopback port")
    })
}

/// A port from `bind` that this run has not handed out yet (for [`free_port`] and the kubelet
/// stand-in's `pod_port`).
pub fn fresh_port(mut bind: impl FnMut() -> u16) -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = bind();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Calls `check` every `every` until it returns `Ok(Some(value))`; panics after `timeout`
/// naming what it waited for and the last answer.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    let every = Duration::from_millis(250);
    let mut last = String::from("not yet");
    loop {
        match check() {
            Ok(Some(value)) => return value,
            Ok(None) => {}
            Err(e) => last = e,
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last: {last}"
        );
        std::thread::sleep(every);
    }
}

/// The default bound of a wait in the cluster suite.
pub const WAIT: Duration = Duration::from_secs(30);
