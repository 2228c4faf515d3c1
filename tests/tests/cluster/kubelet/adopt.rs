//! The stand-in as the kubelet of its Node: adopting a controller's Pod, running it, reporting.
//!
//! [`Adopt::start`] waits for the Pod — a Deployment's: one of the newest ReplicaSet's (the
//! one whose template is the Deployment's, as the deployment controller matches them);
//! a StatefulSet's: `<name>-<ordinal>` — that no Node has yet, binds it to `standin` through
//! the `pods/binding` subresource (as a scheduler does), and runs every container of the
//! Pod's own spec. Then, as a kubelet:
//!
//! - The status is patched at each change: phase, `podIP`/`podIPs` (the host's address,
//!   [`super::node::pod_ip`]), `hostIP` (the Node's), conditions, and per container `ready`,
//!   `started`, `restartCount`, `state` (waiting/running/terminated with exit code, reason
//!   Completed/Error and times), `lastState`.
//! - Readiness comes from the container's readinessProbe (httpGet over HTTP or tcpSocket, on
//!   the pod IP, with its delay, period, timeout and thresholds); without one a container is
//!   ready once started. Liveness and startup probes are not run.
//! - A process that exits is reported terminated (a kill: exit code 128 + signal, as runtimes
//!   report it) and restarted as `restartPolicy` says, after the kubelet's back-off (the first
//!   restart at once, then 10 s doubling, shown as `CrashLoopBackOff`), with `restartCount` + 1.
//! - A Pod being deleted (a rollout, a scale-down, `kubectl delete`) has its containers sent
//!   SIGTERM, then SIGKILL after the grace period, and is then deleted for good (grace 0), as
//!   a kubelet confirms a deletion.
//! - stdout and stderr are captured line by line with their receive time for `kubectl logs`.
//!
//! Dropping the [`RunningPod`] kills the containers (SIGKILL) and deletes the Pod object (so
//! its ReplicaSet makes a new, Pending one).
//!
//! Containers run the workspace binary named by their `command` (else the image entrypoint
//! `argo-events` for this project's image), or a program of that name on PATH (`nats-server`);
//! a container with neither is reported waiting (`CreateContainerError`, saying why) and the
//! pod never becomes ready. Not supported (refused when adopting): init containers, exec, gRPC
//! and HTTPS readiness probes.

use std::path::PathBuf;
use std::sync::Arc;

use argo_events_tests::kubelet::status::{Container, RestartPolicy, State};
use chrono::Utc;
use k8s_openapi::api::core::v1::Pod as PodObject;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::node::{NODE_NAME, node};
use super::probe::Probe;
use super::record::{ContainerRecord, PodRecord, PodState};
use super::running::RunningPod;
use super::supervise::{Ctx, Plan, supervise};
use super::{IMAGE_ENTRYPOINT, Pod, mounted_volumes};
use crate::harness::{WAIT, cluster, wait_for, workspace_bin_dir};

const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// What owns the Pod to adopt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Deployment,
    StatefulSet,
}

/// Adopting the Pod of a Deployment or StatefulSet; [`Adopt::start`] runs it.
pub struct Adopt {
    owner: Owner,
    namespace: String,
    name: String,
    uid: String,
    ordinal: u32,
    overrides: Vec<(String, String)>,
}

impl Adopt {
    /// `owner`: a Deployment or StatefulSet as `kubectl get -o json` returns it.
    pub(super) fn new(owner: &Value) -> Adopt {
        let kind = match owner["kind"].as_str() {
            Some("Deployment") => Owner::Deployment,
            Some("StatefulSet") => Owner::StatefulSet,
            other => panic!(
                "kubelet stand-in: adopts the pods of Deployments and StatefulSets, not {other:?}"
            ),
        };
        let field = |key: &str| {
            owner["metadata"][key]
                .as_str()
                .unwrap_or_else(|| panic!("a stored {kind:?} has metadata.{key}"))
                .to_string()
        };
        Adopt {
            owner: kind,
            namespace: field("namespace"),
            name: field("name"),
            uid: field("uid"),
            ordinal: 0,
            overrides: Vec::new(),
        }
    }

    /// Sets an environment variable over every container's own (ports that would collide on
    /// the host, the bus address).
    pub fn env(mut self, name: &str, value: &str) -> Adopt {
        self.overrides.push((name.to_string(), value.to_string()));
        self
    }

    /// Which pod of a StatefulSet (`<name>-<ordinal>`; 0 unless told).
    pub fn ordinal(mut self, ordinal: u32) -> Adopt {
        self.ordinal = ordinal;
        self
    }

    /// Waits for the Pod, binds it to the Node and starts its containers; returns once each
    /// container has been started (or reported as not runnable). Panics naming what it waited
    /// for if no such Pod appears within the suite's wait.
    pub fn start(self) -> RunningPod {
        let node = node();
        let api: Api<PodObject> = Api::namespaced(node.client.clone(), &self.namespace);
        let pod_ip = node.pod_ip.to_string();
        let what = format!(
            "an unbound Pod of {:?} {}/{}",
            self.owner, self.namespace, self.name
        );
        let (found, plans, pod, volumes, root) = loop {
            let found: Value = wait_for(&what, WAIT, || node.block_on(self.find()));
            let mut pod = Pod::bound(&found, NODE_NAME, &pod_ip);
            pod.overrides = self.overrides.clone();
            let plans = plans(&pod).unwrap_or_else(|e| {
                panic!("kubelet stand-in: pod {}/{}: {e}", pod.namespace, pod.name)
            });
            let root = cluster()
                .scratch
                .path()
                .join(format!("pod-{}-{}", pod.namespace, pod.name));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).expect("creating the pod's directory");
            let volumes = pod
                .fill_volumes(&root, &mounted_volumes(&pod.containers()))
                .unwrap_or_else(|e| {
                    panic!("kubelet stand-in: pod {}/{}: {e}", pod.namespace, pod.name)
                });
            match node.block_on(bind(&api, &pod)) {
                Ok(()) => break (found, plans, pod, volumes, root),
                // Another adopter (or a scheduler) took it first: the next one.
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => panic!("kubelet stand-in: binding pod {}: {e}", pod.name),
            }
        };
        let now = Utc::now();
        let record = Arc::new(PodRecord::new(
            &pod.namespace,
            &pod.name,
            pod.uid.as_deref().unwrap_or_default(),
            (&pod_ip, &pod.host_ip),
            PodState {
                restart_policy: RestartPolicy::of(&found["spec"]),
                start_time: now,
                scheduled_at: now,
                ready_changed_at: now,
                containers: plans
                    .iter()
                    .map(|p| ContainerRecord {
                        report: Container {
                            name: p.name.clone(),
                            image: p.container["image"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            state: State::Waiting {
                                reason: "ContainerCreating".into(),
                                message: None,
                            },
                            last: None,
                            ready: false,
                            restart_count: 0,
                        },
                        runs: Vec::new(),
                        kills: 0,
                    })
                    .collect(),
            },
        ));
        node.pods.insert(record.clone());
        let ctx = Arc::new(Ctx {
            api,
            record: record.clone(),
            report_lock: tokio::sync::Mutex::new(()),
            pod: pod.clone(),
            volumes,
            root,
        });
        let stop = Arc::new(watch::channel(None).0);
        let task = node.spawn(supervise(ctx, plans, stop.clone()));
        RunningPod::new(&pod.name, &pod.namespace, &pod_ip, record, stop, task)
    }

    /// The Pod to adopt, if there is one yet (an error says why not).
    async fn find(&self) -> Result<Option<Value>, String> {
        let ns = &self.namespace;
        let owner_path = match self.owner {
            Owner::Deployment => format!("/apis/apps/v1/namespaces/{ns}/deployments/{}", self.name),
            Owner::StatefulSet => {
                format!("/apis/apps/v1/namespaces/{ns}/statefulsets/{}", self.name)
            }
        };
        let owner = get_json(&owner_path).await?.ok_or("it does not exist")?;
        if owner["metadata"]["uid"] != self.uid.as_str() {
            panic!(
                "kubelet stand-in: {:?} {ns}/{} is not the one given (uid {} now, {} given)",
                self.owner, self.name, owner["metadata"]["uid"], self.uid
            );
        }
        let candidates: Vec<Value> = match self.owner {
            Owner::Deployment => {
                let sets = get_json(&format!("/apis/apps/v1/namespaces/{ns}/replicasets"))
                    .await?
                    .unwrap_or_default();
                let template = &owner["spec"]["template"];
                let Some(set) = items(&sets)
                    .into_iter()
                    .filter(|rs| controlled_by(rs, &self.uid))
                    .find(|rs| same_template(&rs["spec"]["template"], template))
                else {
                    return Err("no ReplicaSet with the Deployment's template yet".into());
                };
                let set_uid = set["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let pods = get_json(&format!("/api/v1/namespaces/{ns}/pods"))
                    .await?
                    .unwrap_or_default();
                let mut pods: Vec<Value> = items(&pods)
                    .into_iter()
                    .filter(|p| controlled_by(p, &set_uid))
                    .collect();
                pods.sort_by_key(|p| {
                    (
                        p["metadata"]["creationTimestamp"]
                            .as_str()
                            .map(str::to_string),
                        p["metadata"]["name"].as_str().map(str::to_string),
                    )
                });
                pods
            }
            Owner::StatefulSet => {
                let name = format!("{}-{}", self.name, self.ordinal);
                match get_json(&format!("/api/v1/namespaces/{ns}/pods/{name}")).await? {
                    Some(pod) if controlled_by(&pod, &self.uid) => vec![pod],
                    Some(_) => return Err(format!("pod {name} is not the StatefulSet's")),
                    None => return Err(format!("no pod {name} yet")),
                }
            }
        };
        let unbound = |p: &&Value| {
            p["spec"]["nodeName"].as_str().is_none_or(str::is_empty)
                && p["metadata"]["deletionTimestamp"].is_null()
        };
        if let Some(pod) = candidates.iter().find(unbound) {
            return Ok(Some(pod.clone()));
        }
        let elsewhere: Vec<&str> = candidates
            .iter()
            .filter_map(|p| p["spec"]["nodeName"].as_str())
            .filter(|n| *n != NODE_NAME)
            .collect();
        if elsewhere.is_empty() {
            Err(format!("{} pods, none unbound", candidates.len()))
        } else {
            Err(format!(
                "its pods are bound to nodes {elsewhere:?} (does a scheduler run? the stand-in adopts only unscheduled pods)"
            ))
        }
    }
}

/// A GET of the API server as JSON; `None` for 404.
async fn get_json(path: &str) -> Result<Option<Value>, String> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| format!("GET {path}: {e}"))?;
    match node().client.request::<Value>(request).await {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(format!("GET {path}: {e}")),
    }
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

fn controlled_by(object: &Value, uid: &str) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["uid"] == uid && r["controller"] == true)
}

/// A ReplicaSet's template is its Deployment's plus the `pod-template-hash` label.
fn same_template(set_template: &Value, template: &Value) -> bool {
    let mut set_template = set_template.clone();
    if let Some(labels) = set_template["metadata"]["labels"].as_object_mut() {
        labels.remove(TEMPLATE_HASH_LABEL);
    }
    &set_template == template
}

/// Binds the Pod to the Node, as a scheduler does (only if it is still the same Pod: the
/// binding carries its uid; a Pod bound already is a 409 Conflict).
async fn bind(api: &Api<PodObject>, pod: &Pod) -> Result<(), kube::Error> {
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod.name, "uid": pod.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME},
    });
    api.create_subresource::<Value, Value>("binding", &pod.name, &PostParams::default(), &binding)
        .await
        .map(|_| ())
}

/// Every container's plan, or what the stand-in cannot do for this pod.
fn plans(pod: &Pod) -> Result<Vec<Plan>, String> {
    if pod.spec["initContainers"]
        .as_array()
        .is_some_and(|c| !c.is_empty())
    {
        return Err("init containers are not supported".into());
    }
    pod.containers()
        .into_iter()
        .enumerate()
        .map(|(index, container)| {
            Ok(Plan {
                index,
                name: container["name"].as_str().unwrap_or_default().to_string(),
                probe: Probe::readiness(&container)?,
                program: program(&container),
                container,
            })
        })
        .collect()
}

/// The program a container runs on the host.
fn program(container: &Value) -> Result<PathBuf, String> {
    let image = container["image"].as_str().unwrap_or_default();
    let base = |path: &str| {
        std::path::Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string()
    };
    let name = match container["command"][0].as_str() {
        Some(command) => base(command),
        None => {
            // The image's name without registry, tag or digest.
            let last = base(image);
            let repository = last.split(['@', ':']).next().unwrap_or_default();
            if !repository.starts_with("argo-events") {
                return Err(format!(
                    "no command, and the entrypoint of image {image:?} is unknown to the kubelet stand-in"
                ));
            }
            IMAGE_ENTRYPOINT.to_string()
        }
    };
    let workspace = workspace_bin_dir().join(&name);
    if workspace.is_file() {
        return Ok(workspace);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(&name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.is_file());
    on_path.ok_or_else(|| {
        format!(
            "the kubelet stand-in runs the workspace's binaries and programs on PATH; {name:?} (image {image:?}) is neither (build the workspace's binaries with `cargo build --workspace --bins`)"
        )
    })
}
