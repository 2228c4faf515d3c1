//! What the stand-in holds of each pod it runs: every container's state and every run's output
//! lines (with their receive time), shared by the supervisor that writes them, the kubelet
//! server that reads logs from them, and the status reports built from them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use argo_events_tests::kubelet::logs::LogLine;
use argo_events_tests::kubelet::status::{self, Container, PodReport, RestartPolicy, State};
use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// The pods the stand-in runs, by (namespace, name).
#[derive(Default)]
pub struct Registry(Mutex<HashMap<(String, String), Arc<PodRecord>>>);

impl Registry {
    fn map(&self) -> MutexGuard<'_, HashMap<(String, String), Arc<PodRecord>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, record: Arc<PodRecord>) {
        self.map()
            .insert((record.namespace.clone(), record.name.clone()), record);
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<PodRecord>> {
        self.map()
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Forgets the pod if it is still this one (same uid).
    pub fn remove(&self, record: &PodRecord) {
        let key = (record.namespace.clone(), record.name.clone());
        let mut map = self.map();
        if map.get(&key).is_some_and(|r| r.uid == record.uid) {
            map.remove(&key);
        }
    }
}

/// One run of a container: its output, and whether it has ended.
pub struct Run {
    pub id: String,
    pub pid: Option<u32>,
    pub lines: Vec<LogLine>,
    pub finished: bool,
}

/// A container: what its status reports, and its runs (oldest first).
pub struct ContainerRecord {
    pub report: Container,
    pub runs: Vec<Run>,
    /// Exits the test caused ([`super::RunningPod::kill`]).
    pub kills: u32,
}

impl ContainerRecord {
    /// The run a status entry names.
    fn run_of(&self, id: &str) -> Option<usize> {
        self.runs.iter().position(|r| r.id == id)
    }

    /// The run a `containerLogs` request reads, by the kubelet's rules
    /// (validateContainerLogStatus in pkg/kubelet/kubelet_pods.go), or its refusal.
    pub fn log_run(&self, pod: &str, previous: bool) -> Result<usize, String> {
        let name = &self.report.name;
        let last = self
            .report
            .last
            .as_ref()
            .and_then(|t| self.run_of(&t.container_id));
        if previous {
            return last.ok_or_else(|| {
                format!("previous terminated container {name:?} in pod {pod:?} not found")
            });
        }
        let run = match &self.report.state {
            State::Running { container_id, .. } => self.run_of(container_id),
            State::Terminated(t) => self.run_of(&t.container_id).or(last),
            State::Waiting { .. } => last,
        };
        run.ok_or_else(|| match &self.report.state {
            State::Waiting { reason, .. } => {
                format!("container {name:?} in pod {pod:?} is waiting to start: {reason}")
            }
            _ => format!("container {name:?} in pod {pod:?} is terminated"),
        })
    }
}

/// The pod-level part of the state.
pub struct PodState {
    pub restart_policy: RestartPolicy,
    pub start_time: DateTime<Utc>,
    pub scheduled_at: DateTime<Utc>,
    pub ready_changed_at: DateTime<Utc>,
    pub containers: Vec<ContainerRecord>,
}

impl PodState {
    pub fn container(&self, name: &str) -> Option<usize> {
        self.containers.iter().position(|c| c.report.name == name)
    }

    fn ready(&self) -> bool {
        let reports: Vec<Container> = self.containers.iter().map(|c| c.report.clone()).collect();
        status::all_ready(&reports)
    }
}

/// One pod the stand-in runs.
pub struct PodRecord {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub pod_ip: String,
    pub host_ip: String,
    state: Mutex<PodState>,
    changed: watch::Sender<u64>,
}

impl PodRecord {
    pub fn new(
        namespace: &str,
        name: &str,
        uid: &str,
        (pod_ip, host_ip): (&str, &str),
        state: PodState,
    ) -> PodRecord {
        PodRecord {
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: uid.to_string(),
            pod_ip: pod_ip.to_string(),
            host_ip: host_ip.to_string(),
            state: Mutex::new(state),
            changed: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PodState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the state; keeps the readiness transition time and wakes whoever waits.
    pub fn update<R>(&self, change: impl FnOnce(&mut PodState) -> R) -> R {
        let out = {
            let mut state = self.lock();
            let before = state.ready();
            let out = change(&mut state);
            if state.ready() != before {
                state.ready_changed_at = Utc::now();
            }
            out
        };
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        out
    }

    pub fn read<R>(&self, look: impl FnOnce(&PodState) -> R) -> R {
        look(&self.lock())
    }

    /// Wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// What the next status report says.
    pub fn report(&self) -> PodReport {
        self.read(|s| PodReport {
            restart_policy: s.restart_policy,
            host_ip: self.host_ip.clone(),
            pod_ip: self.pod_ip.clone(),
            start_time: s.start_time,
            scheduled_at: s.scheduled_at,
            ready_changed_at: s.ready_changed_at,
            containers: s.containers.iter().map(|c| c.report.clone()).collect(),
        })
    }
}
