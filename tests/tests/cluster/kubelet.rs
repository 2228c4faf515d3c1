//! A kubelet stand-in: runs the first container of a Deployment's pod template on the host,
//! as a kubelet would start it, with the workspace's binary in place of the image.
//!
//! - The program is the container's `command` (else the image's entrypoint, `argo-events`, as
//!   the Dockerfile sets it) followed by its `args`.
//! - The environment is exactly the container's: plain values, `fieldRef`
//!   (`metadata.name`/`metadata.namespace`/`spec.serviceAccountName`/`status.podIP`),
//!   `secretKeyRef` and `configMapKeyRef` read from the API server, plus what a kubelet adds
//!   (`HOSTNAME`, `KUBERNETES_SERVICE_HOST`/`PORT`), and only the overrides a test names.
//! - Volumes (ConfigMap, Secret, emptyDir) are written to the scratch directory and bind-mounted
//!   at their `mountPath` in a private mount namespace (`unshare -m`), so the process sees the
//!   same paths it would in the pod; the ServiceAccount's token (TokenRequest API), CA and
//!   namespace are mounted at `/var/run/secrets/kubernetes.io/serviceaccount`, so the process
//!   authenticates as its ServiceAccount through in-cluster config. Mount points that do not
//!   exist on the host are created there as empty directories (they stay empty: every file is
//!   only visible inside the process's namespace).

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

use crate::harness::{Proc, cluster, workspace_bin};

/// The image entrypoint of every container the controller creates without a `command`.
const IMAGE_ENTRYPOINT: &str = "argo-events";
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// One pod, started from a Deployment's template.
pub struct Pod {
    pub name: String,
    pub namespace: String,
    deployment: Value,
    overrides: Vec<(String, String)>,
}

impl Pod {
    /// A pod of `deployment` (as `kubectl get -o json` returns it) named `name`.
    pub fn of(deployment: &Value, name: &str) -> Pod {
        Pod {
            name: name.to_string(),
            namespace: deployment["metadata"]["namespace"]
                .as_str()
                .expect("a stored Deployment has a namespace")
                .to_string(),
            deployment: deployment.clone(),
            overrides: Vec::new(),
        }
    }

    /// Sets an environment variable over the container's own (the one liberty a test takes:
    /// ports that would collide on the host, the bus address).
    pub fn env(mut self, name: &str, value: &str) -> Pod {
        self.overrides.push((name.to_string(), value.to_string()));
        self
    }

    fn container(&self) -> &Value {
        &self.deployment["spec"]["template"]["spec"]["containers"][0]
    }

    /// The container's environment as a kubelet resolves it, then the overrides.
    pub fn environment(&self) -> Vec<(String, String)> {
        let spec = &self.deployment["spec"]["template"]["spec"];
        let account = spec["serviceAccountName"].as_str().unwrap_or("default");
        let mut env: Vec<(String, String)> = Vec::new();
        let c = cluster();
        for from in self.container()["envFrom"].as_array().into_iter().flatten() {
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
        for var in self.container()["env"].as_array().into_iter().flatten() {
            let name = var["name"].as_str().expect("env has a name").to_string();
            let value = if let Some(value) = var.get("value") {
                value.as_str().unwrap_or_default().to_string()
            } else if let Some(path) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                match path {
                    "metadata.name" => self.name.clone(),
                    "metadata.namespace" => self.namespace.clone(),
                    "spec.serviceAccountName" => account.to_string(),
                    "status.podIP" | "status.hostIP" => "127.0.0.1".to_string(),
                    other => panic!("kubelet stand-in: fieldRef {other} is not supported"),
                }
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
        let port = c
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

    /// The program and its arguments.
    pub fn argv(&self) -> Vec<String> {
        let c = self.container();
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let mut argv = strings(&c["command"]);
        if argv.is_empty() {
            argv.push(IMAGE_ENTRYPOINT.to_string());
        }
        argv.extend(strings(&c["args"]));
        argv
    }

    /// Starts the pod's container; killed when the returned process is dropped.
    pub fn start(&self) -> Proc {
        let root = cluster().scratch.path().join(format!("pod-{}", self.name));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("creating the pod's directory");
        let mut mounts: Vec<(PathBuf, String)> = Vec::new();
        let spec = &self.deployment["spec"]["template"]["spec"];
        let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
        for mount in self.container()["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = mount["name"].as_str().unwrap_or_default();
            let target = mount["mountPath"].as_str().unwrap_or_default().to_string();
            assert!(
                mount.get("subPath").is_none(),
                "kubelet stand-in: subPath mounts are not supported ({name})"
            );
            let volume = volumes
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("volumeMount {name} has no volume"));
            let dir = root.join("volumes").join(name);
            std::fs::create_dir_all(&dir).expect("creating a volume directory");
            self.fill_volume(volume, &dir);
            mounts.push((dir, target));
        }
        let account = spec["serviceAccountName"].as_str().unwrap_or("default");
        let sa_dir = root.join("serviceaccount");
        std::fs::create_dir_all(&sa_dir).expect("creating the token directory");
        let token = cluster().must(&[
            "create",
            "token",
            account,
            "-n",
            &self.namespace,
            "--duration",
            "2h",
        ]);
        write(&sa_dir.join("token"), token.trim().as_bytes());
        write(&sa_dir.join("namespace"), self.namespace.as_bytes());
        write(&sa_dir.join("ca.crt"), &cluster().ca_pem());
        mounts.push((sa_dir, SERVICE_ACCOUNT_DIR.to_string()));

        // A mount over a directory holding the scratch space (an emptyDir at /tmp) would hide
        // the sources of the mounts after it: those go last.
        mounts.sort_by_key(|(_, target)| root.starts_with(target));

        let argv = self.argv();
        let program = workspace_bin(
            Path::new(&argv[0])
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default(),
        );
        // The program is opened before the mounts and run through its descriptor: a volume at
        // /tmp (or over the checkout) may hide its path.
        let mut script = String::from("set -e\nexec 3<\"$1\"\nshift\n");
        for (source, target) in &mounts {
            script.push_str(&format!(
                "mkdir -p '{target}'\nmount --bind '{}' '{target}'\n",
                source.display()
            ));
        }
        script.push_str("exec /proc/self/fd/3 \"$@\"\n");
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
        .envs(self.environment())
        .current_dir(&root);
        Proc::spawn(&format!("pod-{}", self.name), cmd)
    }

    fn fill_volume(&self, volume: &Value, dir: &Path) {
        let (data, items) = if let Some(cm) = volume.get("configMap") {
            (
                config_map_data(&self.namespace, cm["name"].as_str().unwrap_or_default()),
                cm["items"].clone(),
            )
        } else if let Some(secret) = volume.get("secret") {
            (
                secret_data(
                    &self.namespace,
                    secret["secretName"].as_str().unwrap_or_default(),
                ),
                secret["items"].clone(),
            )
        } else if volume.get("emptyDir").is_some() {
            return;
        } else {
            panic!("kubelet stand-in: volume {volume} is not supported")
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
                        .unwrap_or_else(|| panic!("volume {volume}: key {key} is missing"));
                    let file = dir.join(path);
                    if let Some(parent) = file.parent() {
                        std::fs::create_dir_all(parent).expect("creating a volume directory");
                    }
                    write(&file, value.as_bytes());
                }
            }
            None => {
                for (k, v) in data {
                    write(&dir.join(k), v.as_bytes());
                }
            }
        }
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
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
