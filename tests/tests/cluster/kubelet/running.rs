//! The test's handle on an adopted pod.

use std::sync::Arc;
use std::time::Duration;

use argo_events_tests::kubelet::status::State;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::node::{NODE_NAME, node};
use super::record::PodRecord;
use super::supervise::Stop;
use crate::harness::{WAIT, cluster, wait_for};

/// A pod the stand-in runs. Dropping it kills the containers and deletes the Pod object.
pub struct RunningPod {
    /// The Pod's name (the ReplicaSet's generated one, or `<statefulset>-<ordinal>`).
    pub name: String,
    pub namespace: String,
    /// The pod IP (the host's, shared by every pod of the stand-in).
    pub ip: String,
    record: Arc<PodRecord>,
    stop: Arc<watch::Sender<Option<Stop>>>,
    task: Option<JoinHandle<()>>,
}

impl RunningPod {
    /// The handle on a pod whose supervisor runs; returns once every container has been
    /// started (or reported as not runnable).
    pub(super) fn new(
        name: &str,
        namespace: &str,
        ip: &str,
        record: Arc<PodRecord>,
        stop: Arc<watch::Sender<Option<Stop>>>,
        task: JoinHandle<()>,
    ) -> RunningPod {
        let running = RunningPod {
            name: name.to_string(),
            namespace: namespace.to_string(),
            ip: ip.to_string(),
            record,
            stop,
            task: Some(task),
        };
        let mut changes = running.record.subscribe();
        let started = node().block_on(async {
            let all_started = changes.wait_for(|_| {
                running.record.read(|s| {
                    s.containers.iter().all(|c| {
                        !c.runs.is_empty()
                            || !matches!(&c.report.state, State::Waiting { reason, .. } if reason == "ContainerCreating")
                    })
                })
            });
            tokio::time::timeout(WAIT, all_started).await.is_ok()
        });
        assert!(
            started,
            "kubelet stand-in: the containers of pod {} did not start within {WAIT:?}",
            running.name
        );
        running.describe_start();
        running
    }

    /// What the first container printed so far, every run, stdout and stderr as received.
    pub fn output(&self) -> String {
        let first: Option<String> = self
            .record
            .read(|s| s.containers.first().map(|c| c.report.name.clone()));
        first.map(|c| self.logs(&c)).unwrap_or_default()
    }

    /// What container `name` printed so far, every run.
    pub fn logs(&self, name: &str) -> String {
        self.record.read(|s| {
            let mut out = Vec::new();
            if let Some(c) = s.container(name) {
                for run in &s.containers[c].runs {
                    for line in &run.lines {
                        out.extend_from_slice(&line.bytes);
                    }
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        })
    }

    /// Panics (with its output) if a container is not running, or has exited other than by
    /// [`RunningPod::kill`].
    pub fn assert_running(&mut self) {
        let trouble = self.record.read(|s| {
            s.containers.iter().find_map(|c| {
                let exits = c.runs.iter().filter(|r| r.finished).count() as u32;
                let running = matches!(c.report.state, State::Running { .. });
                (!running || exits > c.kills).then(|| {
                    format!(
                        "container {} of pod {}: {:?} after {exits} exits ({} by the test)",
                        c.report.name, self.name, c.report.state, c.kills
                    )
                })
            })
        });
        if let Some(trouble) = trouble {
            panic!("{trouble}; its output:\n{}", self.output());
        }
    }

    /// Waits until the API server has the Pod Ready (the readiness the stand-in reported),
    /// failing early if a container exits.
    pub fn wait_ready(&mut self) {
        wait_for(&format!("pod {} to be Ready", self.name), WAIT, || {
            self.assert_running();
            let Some(pod) = cluster().get(&self.namespace, "pod", &self.name) else {
                return Err("the Pod is gone".into());
            };
            let ready = pod["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            Ok(ready.then_some(()))
        });
    }

    /// SIGKILL to the first container's process, as a crash would end it; what follows is
    /// the restart policy's (the status shows the termination, then the restart).
    pub fn kill(&self) {
        let first = self
            .record
            .read(|s| s.containers.first().map(|c| c.report.name.clone()))
            .expect("a pod has a container");
        self.kill_container(&first);
    }

    /// SIGKILL to container `name`'s process; panics if it is not running.
    pub fn kill_container(&self, name: &str) {
        let pid = self.record.update(|s| {
            let c = s
                .container(name)
                .unwrap_or_else(|| panic!("pod {} has no container {name}", self.name));
            let c = &mut s.containers[c];
            let pid = c.runs.last().and_then(|r| r.pid);
            if pid.is_some() {
                c.kills += 1;
            }
            pid
        });
        let pid =
            pid.unwrap_or_else(|| panic!("container {name} of pod {} is not running", self.name));
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -KILL {pid} failed ({status})");
    }

    /// How many times container `name` has been restarted.
    pub fn restart_count(&self, name: &str) -> u32 {
        self.record.read(|s| {
            s.container(name)
                .map(|c| s.containers[c].report.restart_count)
                .unwrap_or_default()
        })
    }

    fn describe_start(&self) {
        let states: Vec<String> = self.record.read(|s| {
            s.containers
                .iter()
                .map(|c| format!("{}: {:?}", c.report.name, c.report.state))
                .collect()
        });
        eprintln!(
            "kubelet stand-in: pod {}/{} bound to {NODE_NAME} at {}: {}",
            self.namespace,
            self.name,
            self.ip,
            states.join(", ")
        );
    }
}

impl Drop for RunningPod {
    fn drop(&mut self) {
        self.stop.send_replace(Some(Stop::Kill));
        if let Some(task) = self.task.take() {
            let _ = node()
                .block_on(async { tokio::time::timeout(Duration::from_secs(30), task).await });
        }
    }
}
