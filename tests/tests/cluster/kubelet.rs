//! A kubelet stand-in: runs a pod's containers on the host, as a kubelet would start them,
//! with the workspace's binaries in place of the images. Two ways in:
//!
//! - [`Pod::of`]`(deployment, name).start()` runs the first container of a Deployment's pod
//!   template as a host process, with no Pod object: the API server never hears of it.
//! - [`Pod::adopt`]`(deployment_or_statefulset).start()` is the kubelet of one Node
//!   (`standin`, registered once per suite, [`node`]): it takes the Pod the ReplicaSet or
//!   StatefulSet controller created, binds it to the Node as a scheduler would, runs every
//!   container of the *Pod's* spec, and reports the Pod's status (phase, pod IP, conditions,
//!   container states, readiness from the readiness probe, restarts) to the API server, which
//!   then counts it in the Deployment's and StatefulSet's status and in Endpoints; the API
//!   server reads the containers' logs from the Node's kubelet port and proxies to the pod IP.
//!   See `kubelet/adopt.rs`. Every adopted pod reports the host's first global-unicast address
//!   as its IP ([`pod_ip`]; the API server proxies to no loopback address), so a test makes its
//!   processes listen on `0.0.0.0:PORT` (or `pod_ip():PORT`) with ports of their own
//!   ([`pod_port`], free on every address), set in the pod spec or through [`Adopt::env`].
//!   Pods are named by their controllers (`<deployment>-<hash>-<suffix>`, `<statefulset>-<n>`).
//!
//! How a container is started, in both ways:
//!
//! - The program is the container's `command` (else the image's entrypoint, `argo-events`, as
//!   the Dockerfile sets it) followed by its `args`.
//! - The environment is exactly the container's: plain values, `envFrom`, `fieldRef`
//!   (`metadata.name`/`namespace`/`uid`/`labels['…']`/`annotations['…']`,
//!   `spec.serviceAccountName`/`nodeName`, `status.podIP(s)`/`hostIP(s)`), `secretKeyRef` and
//!   `configMapKeyRef` read from the API server, plus what a kubelet adds (`HOSTNAME`,
//!   `KUBERNETES_SERVICE_HOST`/`PORT`), and only the overrides a test names.
//! - Volumes (ConfigMap, Secret, emptyDir, downwardAPI, projected sources of those and of
//!   ServiceAccount tokens, PersistentVolumeClaims as a directory per claim) are written to the
//!   scratch directory and bind-mounted at their `mountPath` in a private mount namespace
//!   (`unshare -m`), so the process sees the same paths it would in the pod. Without a Pod
//!   object ([`Pod::of`]) the ServiceAccount's token (TokenRequest API), CA and namespace are
//!   mounted at `/var/run/secrets/kubernetes.io/serviceaccount`; an adopted Pod carries the
//!   projected `kube-api-access-…` volume the ServiceAccount admission plugin added, and its
//!   token is bound to the Pod. `kube-root-ca.crt` is the cluster's CA when the namespace has no
//!   such ConfigMap (the suite's controller manager runs no root-CA publisher: it would add a
//!   ConfigMap to every namespace, which the resource-source cases would see). Mount points
//!   that do not exist on the host are created there as empty directories (they stay empty:
//!   every file is only visible inside the process's namespace).

mod adopt;
pub mod node;
mod probe;
mod record;
mod running;
mod serve;
mod supervise;
mod tests;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

use crate::harness::{Proc, cluster, workspace_bin};

pub use adopt::Adopt;
pub use node::{pod_ip, pod_port};
pub use running::RunningPod;
pub use tests::trials;

/// The image entrypoint of every container the controller creates without a `command`.
const IMAGE_ENTRYPOINT: &str = "argo-events";
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";

/// One pod: its metadata and spec, from a Deployment's template or a real Pod.
#[derive(Clone)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    metadata: Value,
    spec: Value,
    /// The Pod object's uid and Node, when there is one.
    uid: Option<String>,
    node: Option<String>,
    pod_ip: String,
    host_ip: String,
    overrides: Vec<(String, String)>,
}

impl Pod {
    /// A pod of `deployment` (as `kubectl get -o json` returns it) named `name`, run without a
    /// Pod object, at 127.0.0.1.
    pub fn of(deployment: &Value, name: &str) -> Pod {
        let template = &deployment["spec"]["template"];
        Pod {
            name: name.to_string(),
            namespace: deployment["metadata"]["namespace"]
                .as_str()
                .expect("a stored Deployment has a namespace")
                .to_string(),
            metadata: template["metadata"].clone(),
            spec: template["spec"].clone(),
            uid: None,
            node: None,
            pod_ip: node::NODE_IP.to_string(),
            host_ip: node::NODE_IP.to_string(),
            overrides: Vec::new(),
        }
    }

    /// The Pod the Deployment's newest ReplicaSet (or the StatefulSet) created, to be bound to
    /// the stand-in's Node and run there; see [`Adopt`].
    pub fn adopt(owner: &Value) -> Adopt {
        Adopt::new(owner)
    }

    /// A stored Pod bound to `node` with this pod IP.
    fn bound(pod: &Value, node: &str, pod_ip: &str) -> Pod {
        let field = |v: &Value, what: &str| {
            v.as_str()
                .unwrap_or_else(|| panic!("a stored Pod has {what}: {}", pod["metadata"]))
                .to_string()
        };
        Pod {
            name: field(&pod["metadata"]["name"], "a name"),
            namespace: field(&pod["metadata"]["namespace"], "a namespace"),
            metadata: pod["metadata"].clone(),
            spec: pod["spec"].clone(),
            uid: Some(field(&pod["metadata"]["uid"], "a uid")),
            node: Some(node.to_string()),
            pod_ip: pod_ip.to_string(),
            host_ip: node::NODE_IP.to_string(),
            overrides: Vec::new(),
        }
    }

    /// Sets an environment variable over the container's own (the one liberty a test takes:
    /// ports that would collide on the host, the bus address).
    pub fn env(mut self, name: &str, value: &str) -> Pod {
        self.overrides.push((name.to_string(), value.to_string()));
        self
    }

    fn containers(&self) -> Vec<Value> {
        self.spec["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn container(&self) -> Value {
        self.containers()
            .into_iter()
            .next()
            .expect("a pod spec has a container")
    }

    /// The first container's environment as a kubelet resolves it, then the overrides.
    pub fn environment(&self) -> Vec<(String, String)> {
        self.environment_of(&self.container())
    }

    fn environment_of(&self, container: &Value) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        for from in container["envFrom"].as_array().into_iter().flatten() {
            let prefix = from["prefix"].as_str().unwrap_or_default();
            let data = if let Some(name) = from["secretRef"]["name"].as_str() {
                secret_data(&self.namespace, name)
            } else if let Some(name) = from["configMapRef"]["name"].as_str() {
                config_map_data(&self.namespace, name)
            } else {
                panic!("kubelet stand-in: envFrom {from} is not supported")
            };
            for (k, v) in data {
                env.push((format!("{prefix}{k}"), v));
            }
        }
        for var in container["env"].as_array().into_iter().flatten() {
            let name = var["name"].as_str().expect("env has a name").to_string();
            let value = if let Some(value) = var.get("value") {
                value.as_str().unwrap_or_default().to_string()
            } else if let Some(path) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                self.field(path)
            } else if let Some(r) = var["valueFrom"].get("secretKeyRef") {
                let data = secret_data(&self.namespace, r["name"].as_str().unwrap_or_default());
                lookup(&data, r, &name)
            } else if let Some(r) = var["valueFrom"].get("configMapKeyRef") {
                let data = config_map_data(&self.namespace, r["name"].as_str().unwrap_or_default());
                lookup(&data, r, &name)
            } else {
                String::new()
            };
            env.retain(|(k, _)| *k != name);
            env.push((name, value));
        }
        let port = cluster()
            .kubeconfig_server_port()
            .expect("the kubeconfig names the API server's port");
        env.push(("HOSTNAME".into(), self.name.clone()));
        env.push(("KUBERNETES_SERVICE_HOST".into(), "127.0.0.1".into()));
        env.push(("KUBERNETES_SERVICE_PORT".into(), port.to_string()));
        env.push((
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ));
        for (k, v) in &self.overrides {
            env.retain(|(name, _)| name != k);
            env.push((k.clone(), v.clone()));
        }
        env
    }

    /// A downward-API field of this pod (env `fieldRef`, downwardAPI volume items).
    fn field(&self, path: &str) -> String {
        let bracketed = |prefix: &str| {
            path.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix("']"))
        };
        if let Some(key) = bracketed("metadata.labels['") {
            return self.metadata["labels"][key]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        if let Some(key) = bracketed("metadata.annotations['") {
            return self.metadata["annotations"][key]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        let adopted = |value: &Option<String>| {
            value.clone().unwrap_or_else(|| {
                panic!("kubelet stand-in: fieldRef {path} needs a Pod object (Pod::adopt)")
            })
        };
        match path {
            "metadata.name" => self.name.clone(),
            "metadata.namespace" => self.namespace.clone(),
            "metadata.uid" => adopted(&self.uid),
            "spec.serviceAccountName" => self.account().to_string(),
            "spec.nodeName" => adopted(&self.node),
            "status.podIP" | "status.podIPs" => self.pod_ip.clone(),
            "status.hostIP" | "status.hostIPs" => self.host_ip.clone(),
            other => panic!("kubelet stand-in: fieldRef {other} is not supported"),
        }
    }

    fn account(&self) -> &str {
        self.spec["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
    }

    /// The first container's program and its arguments.
    pub fn argv(&self) -> Vec<String> {
        argv_of(&self.container())
    }

    /// Starts the pod's first container without a Pod object; killed when the returned
    /// process is dropped.
    pub fn start(&self) -> Proc {
        // Keyed by namespace too: cases running at once start pods of the same name (each its
        // own `controller-manager-0`), whose volumes and tokens must not mix.
        let root = cluster()
            .scratch
            .path()
            .join(format!("pod-{}-{}", self.namespace, self.name));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("creating the pod's directory");
        let container = self.container();
        let mut volumes = self
            .fill_volumes(&root, &mounted_volumes(std::slice::from_ref(&container)))
            .unwrap_or_else(|e| panic!("kubelet stand-in: {e}"));
        let sa_dir = root.join("serviceaccount");
        std::fs::create_dir_all(&sa_dir).expect("creating the token directory");
        let token = cluster().must(&[
            "create",
            "token",
            self.account(),
            "-n",
            &self.namespace,
            "--duration",
            "2h",
        ]);
        write(&sa_dir.join("token"), token.trim().as_bytes());
        write(&sa_dir.join("namespace"), self.namespace.as_bytes());
        write(&sa_dir.join("ca.crt"), &cluster().ca_pem());
        volumes
            .extra
            .push((sa_dir, SERVICE_ACCOUNT_DIR.to_string()));
        let argv = self.argv();
        let program = workspace_bin(
            Path::new(&argv[0])
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default(),
        );
        let cmd = self
            .command(&container, &program, &root, &volumes)
            .unwrap_or_else(|e| panic!("kubelet stand-in: {e}"));
        Proc::spawn(&format!("pod-{}-{}", self.namespace, self.name), cmd)
    }

    /// The command that runs `container` (program resolved) in a private mount namespace with
    /// its volumes mounted, its environment and `root` as working directory.
    fn command(
        &self,
        container: &Value,
        program: &Path,
        root: &Path,
        volumes: &Volumes,
    ) -> Result<Command, String> {
        let mut mounts: Vec<(PathBuf, String)> = Vec::new();
        for mount in container["volumeMounts"].as_array().into_iter().flatten() {
            let name = mount["name"].as_str().unwrap_or_default();
            let target = mount["mountPath"].as_str().unwrap_or_default().to_string();
            if mount.get("subPath").is_some() || mount.get("subPathExpr").is_some() {
                return Err(format!("subPath mounts are not supported ({name})"));
            }
            let dir = volumes
                .dirs
                .iter()
                .find(|(v, _)| v == name)
                .map(|(_, dir)| dir.clone())
                .ok_or_else(|| format!("volumeMount {name} has no volume"))?;
            mounts.push((dir, target));
        }
        mounts.extend(volumes.extra.iter().cloned());
        // A mount over a directory holding the scratch space (an emptyDir at /tmp) would hide
        // the sources of the mounts after it: those go last.
        mounts.sort_by_key(|(_, target)| root.starts_with(target));

        let argv = argv_of(container);
        // A binary is opened before the mounts and run through its descriptor: a volume at
        // /tmp (or over the checkout) may hide its path. A script (a version manager's shim
        // on PATH) goes by its path: it may dispatch on its own name.
        let mut script = String::from("set -e\nexec 3<\"$1\"\nprogram=$1\nshift\n");
        for (source, target) in &mounts {
            script.push_str(&format!(
                "mkdir -p '{target}'\nmount --bind '{}' '{target}'\n",
                source.display()
            ));
        }
        if is_script(program) {
            script.push_str("exec \"$program\" \"$@\"\n");
        } else {
            script.push_str("exec /proc/self/fd/3 \"$@\"\n");
        }
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
        ])
        .arg(program)
        .args(&argv[1..])
        .env_clear()
        .envs(self.environment_of(container))
        .current_dir(root);
        Ok(cmd)
    }

    /// Writes every volume named in `names` under `root/volumes/`.
    fn fill_volumes(&self, root: &Path, names: &BTreeSet<String>) -> Result<Volumes, String> {
        let mut out = Volumes::default();
        for volume in self.spec["volumes"].as_array().into_iter().flatten() {
            let name = volume["name"].as_str().unwrap_or_default();
            if !names.contains(name) {
                continue;
            }
            let dir = if let Some(claim) = volume["persistentVolumeClaim"]["claimName"].as_str() {
                // A claim outlives its pods: one directory per claim.
                cluster()
                    .scratch
                    .path()
                    .join(format!("claim-{}-{claim}", self.namespace))
            } else {
                root.join("volumes").join(name)
            };
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            self.fill_volume(volume, &dir)?;
            out.dirs.push((name.to_string(), dir));
        }
        Ok(out)
    }

    fn fill_volume(&self, volume: &Value, dir: &Path) -> Result<(), String> {
        if volume.get("emptyDir").is_some() || volume.get("persistentVolumeClaim").is_some() {
            return Ok(());
        }
        if let Some(projected) = volume.get("projected") {
            for source in projected["sources"].as_array().into_iter().flatten() {
                self.fill_source(source, dir)?;
            }
            return Ok(());
        }
        self.fill_source(volume, dir)
    }

    /// One volume (or projected source) of the kinds a kubelet writes as files.
    fn fill_source(&self, source: &Value, dir: &Path) -> Result<(), String> {
        let (data, items) = if let Some(cm) = source.get("configMap") {
            let name = cm["name"].as_str().unwrap_or_default();
            let data = match cluster().get(&self.namespace, "configmap", name) {
                Some(object) => object_entries(&object["data"]),
                None if name == ROOT_CA_CONFIG_MAP => vec![(
                    "ca.crt".to_string(),
                    String::from_utf8_lossy(&cluster().ca_pem()).into_owned(),
                )],
                None if cm["optional"] == true => Vec::new(),
                None => {
                    return Err(format!(
                        "ConfigMap {}/{name} does not exist",
                        self.namespace
                    ));
                }
            };
            (data, cm["items"].clone())
        } else if let Some(secret) = source.get("secret") {
            let name = secret["secretName"]
                .as_str()
                .or(secret["name"].as_str())
                .unwrap_or_default();
            let data = if cluster().get(&self.namespace, "secret", name).is_none()
                && secret["optional"] == true
            {
                Vec::new()
            } else {
                secret_data(&self.namespace, name)
            };
            (data, secret["items"].clone())
        } else if let Some(token) = source.get("serviceAccountToken") {
            let path = token["path"].as_str().unwrap_or("token");
            let seconds = token["expirationSeconds"].as_u64().unwrap_or(3600).max(600);
            let duration = format!("{seconds}s");
            let mut args = vec![
                "create",
                "token",
                self.account(),
                "-n",
                &self.namespace,
                "--duration",
                &duration,
            ];
            if let Some(audience) = token["audience"].as_str() {
                args.extend(["--audience", audience]);
            }
            let uid = self.uid.clone().unwrap_or_default();
            if self.uid.is_some() {
                args.extend([
                    "--bound-object-kind",
                    "Pod",
                    "--bound-object-name",
                    &self.name,
                    "--bound-object-uid",
                    &uid,
                ]);
            }
            let token = cluster().kubectl(&args)?;
            return write_item(dir, path, token.trim().as_bytes());
        } else if let Some(downward) = source.get("downwardAPI") {
            for item in downward["items"].as_array().into_iter().flatten() {
                let path = item["path"].as_str().unwrap_or_default();
                let Some(field) = item["fieldRef"]["fieldPath"].as_str() else {
                    return Err(format!("downwardAPI item {item} is not supported"));
                };
                write_item(dir, path, self.field(field).as_bytes())?;
            }
            return Ok(());
        } else {
            return Err(format!("volume {source} is not supported"));
        };
        match items.as_array() {
            Some(items) => {
                for item in items {
                    let key = item["key"].as_str().unwrap_or_default();
                    let path = item["path"].as_str().unwrap_or(key);
                    let value = data
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| format!("volume {source}: key {key} is missing"))?;
                    write_item(dir, path, value.as_bytes())?;
                }
            }
            None => {
                for (k, v) in data {
                    write_item(dir, &k, v.as_bytes())?;
                }
            }
        }
        Ok(())
    }
}

/// The volumes of a pod written to disk: `(volume name, directory)`, and mounts of the
/// stand-in's own (the ServiceAccount directory of a pod without a Pod object).
#[derive(Default, Clone)]
struct Volumes {
    dirs: Vec<(String, PathBuf)>,
    extra: Vec<(PathBuf, String)>,
}

/// Whether a program is a script (`#!`) rather than a binary.
fn is_script(program: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 2];
    std::fs::File::open(program)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == b"#!")
}

/// The names of the volumes these containers mount.
fn mounted_volumes(containers: &[Value]) -> BTreeSet<String> {
    containers
        .iter()
        .flat_map(|c| c["volumeMounts"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["name"].as_str().map(str::to_string))
        .collect()
}

/// A container's `command` (or the image's entrypoint) and `args`.
fn argv_of(container: &Value) -> Vec<String> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let mut argv = strings(&container["command"]);
    if argv.is_empty() {
        argv.push(IMAGE_ENTRYPOINT.to_string());
    }
    argv.extend(strings(&container["args"]));
    argv
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn write_item(dir: &Path, path: &str, bytes: &[u8]) -> Result<(), String> {
    let file = dir.join(path);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    std::fs::write(&file, bytes).map_err(|e| format!("writing {}: {e}", file.display()))
}

fn lookup(data: &[(String, String)], reference: &Value, var: &str) -> String {
    let key = reference["key"].as_str().unwrap_or_default();
    data.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("env {var}: key {key} of {reference} is missing"))
}

/// A Secret's data, decoded.
pub fn secret_data(namespace: &str, name: &str) -> Vec<(String, String)> {
    let secret = cluster()
        .get(namespace, "secret", name)
        .unwrap_or_else(|| panic!("Secret {namespace}/{name} does not exist"));
    object_entries(&secret["data"])
        .into_iter()
        .map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v)
                .unwrap_or_else(|e| panic!("Secret {name} key {k}: {e}"));
            (k, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

/// A ConfigMap's data.
pub fn config_map_data(namespace: &str, name: &str) -> Vec<(String, String)> {
    let cm = cluster()
        .get(namespace, "configmap", name)
        .unwrap_or_else(|| panic!("ConfigMap {namespace}/{name} does not exist"));
    object_entries(&cm["data"])
}

fn object_entries(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}
