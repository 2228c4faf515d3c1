//! The Pod status the kubelet stand-in reports, in the kubelet's shape: the phase by the
//! kubelet's rules (getPhase in pkg/kubelet/kubelet_pods.go, for pods without init
//! containers), the conditions, and one `containerStatuses` entry per container with its state,
//! last termination, readiness and restart count; plus when a crashed container restarts
//! (the kubelet's back-off: at once the first time, then 10 s doubling up to 5 min).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// A finished run of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Termination {
    pub container_id: String,
    pub exit_code: i32,
    pub reason: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

impl Termination {
    /// A process's end: its exit code, or 128 + the signal that killed it (as container
    /// runtimes report a kill); `Completed` for 0, else `Error`.
    pub fn of_exit(
        container_id: &str,
        code: Option<i32>,
        signal: Option<i32>,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
    ) -> Termination {
        let exit_code = code.or(signal.map(|s| 128 + s)).unwrap_or(-1);
        Termination {
            container_id: container_id.to_string(),
            exit_code,
            reason: if exit_code == 0 { "Completed" } else { "Error" }.to_string(),
            started_at,
            finished_at,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "containerID": self.container_id,
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": time(self.started_at),
            "finishedAt": time(self.finished_at),
        })
    }
}

/// A container's current state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Not started (yet, or again: a restart back-off).
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        container_id: String,
        started_at: DateTime<Utc>,
    },
    Terminated(Termination),
}

/// What the stand-in knows of one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub state: State,
    /// The run before the current state's (`lastState.terminated`).
    pub last: Option<Termination>,
    /// Its readiness probe passes (no probe: it runs).
    pub ready: bool,
    pub restart_count: u32,
}

impl Container {
    fn to_json(&self) -> Value {
        let (state, id, running) = match &self.state {
            State::Waiting { reason, message } => {
                let mut w = json!({"reason": reason});
                if let Some(m) = message {
                    w["message"] = Value::from(m.as_str());
                }
                (json!({"waiting": w}), None, false)
            }
            State::Running {
                container_id,
                started_at,
            } => (
                json!({"running": {"startedAt": time(*started_at)}}),
                Some(container_id.clone()),
                true,
            ),
            State::Terminated(t) => (
                json!({"terminated": t.to_json()}),
                Some(t.container_id.clone()),
                false,
            ),
        };
        let mut status = json!({
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": self.ready && running,
            "started": running,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": self.last.as_ref().map_or(json!({}), |t| json!({"terminated": t.to_json()})),
        });
        if let Some(id) = id {
            status["containerID"] = Value::from(id);
        }
        status
    }
}

/// `spec.restartPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    /// The policy of a pod spec's `restartPolicy` (Always when absent, as the API defaults it).
    pub fn of(spec: &Value) -> RestartPolicy {
        match spec["restartPolicy"].as_str() {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        }
    }

    /// Whether a container that ended with `exit_code` is started again.
    pub fn restarts(self, exit_code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// How long the kubelet waits before the next start of a container that has been restarted
/// `restarts` times in a row (within 10 minutes of each other): the first restart at once,
/// then 10 s, 20 s, 40 s, … at most 300 s.
pub fn restart_back_off(restarts: u32) -> Duration {
    if restarts == 0 {
        return Duration::ZERO;
    }
    let secs = 10u64.saturating_mul(1u64 << (restarts - 1).min(16));
    Duration::from_secs(secs.min(300))
}

/// The pod's phase from its containers (getPhase without init containers).
pub fn phase(containers: &[Container], policy: RestartPolicy) -> &'static str {
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in containers {
        match &c.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            State::Waiting { .. } if c.last.is_some() => stopped += 1,
            State::Waiting { .. } => waiting += 1,
        }
    }
    if waiting > 0 {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if stopped > 0 {
        match policy {
            RestartPolicy::Always => "Running",
            _ if stopped == succeeded => "Succeeded",
            RestartPolicy::Never => "Failed",
            RestartPolicy::OnFailure => "Running",
        }
    } else {
        "Pending"
    }
}

/// Every container runs and is ready.
pub fn all_ready(containers: &[Container]) -> bool {
    !containers.is_empty()
        && containers
            .iter()
            .all(|c| c.ready && matches!(c.state, State::Running { .. }))
}

/// What a status report is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodReport {
    pub restart_policy: RestartPolicy,
    pub host_ip: String,
    pub pod_ip: String,
    /// When the stand-in took the pod on (`startTime`; the other conditions' times).
    pub start_time: DateTime<Utc>,
    /// PodScheduled's transition (the binding's time).
    pub scheduled_at: DateTime<Utc>,
    /// When [`all_ready`] last changed (Ready's and ContainersReady's transition).
    pub ready_changed_at: DateTime<Utc>,
    pub containers: Vec<Container>,
}

/// The `status` of the Pod.
pub fn pod_status(report: &PodReport) -> Value {
    let ready = all_ready(&report.containers);
    let unready: Vec<&str> = report
        .containers
        .iter()
        .filter(|c| !(c.ready && matches!(c.state, State::Running { .. })))
        .map(|c| c.name.as_str())
        .collect();
    let readiness = |kind: &str| {
        let mut c = json!({
            "type": kind,
            "status": if ready { "True" } else { "False" },
            "lastProbeTime": null,
            "lastTransitionTime": time(report.ready_changed_at),
        });
        if !ready {
            c["reason"] = Value::from("ContainersNotReady");
            c["message"] = Value::from(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            ));
        }
        c
    };
    let since_start = |kind: &str, at: DateTime<Utc>| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": time(at)});
    json!({
        "phase": phase(&report.containers, report.restart_policy),
        "conditions": [
            since_start("PodReadyToStartContainers", report.start_time),
            since_start("Initialized", report.start_time),
            readiness("Ready"),
            readiness("ContainersReady"),
            since_start("PodScheduled", report.scheduled_at),
        ],
        "hostIP": report.host_ip,
        "hostIPs": [{"ip": report.host_ip}],
        "podIP": report.pod_ip,
        "podIPs": [{"ip": report.pod_ip}],
        "startTime": time(report.start_time),
        "containerStatuses": report.containers.iter().map(Container::to_json).collect::<Vec<_>>(),
    })
}

/// A Kubernetes timestamp (`metav1.Time`: RFC 3339, whole seconds, UTC).
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("a test time")
            .with_timezone(&Utc)
    }

    fn running(name: &str, ready: bool) -> Container {
        Container {
            name: name.into(),
            image: "argo-events-rs:test".into(),
            state: State::Running {
                container_id: format!("standin://{name}-1"),
                started_at: at("2025-01-01T00:00:01Z"),
            },
            last: None,
            ready,
            restart_count: 0,
        }
    }

    fn killed() -> Termination {
        Termination::of_exit(
            "standin://main-1",
            None,
            Some(9),
            at("2025-01-01T00:00:01Z"),
            at("2025-01-01T00:00:09.7Z"),
        )
    }

    fn report(containers: Vec<Container>) -> PodReport {
        PodReport {
            restart_policy: RestartPolicy::Always,
            host_ip: "127.0.0.1".into(),
            pod_ip: "192.0.2.2".into(),
            start_time: at("2025-01-01T00:00:00Z"),
            scheduled_at: at("2024-12-31T23:59:59Z"),
            ready_changed_at: at("2025-01-01T00:00:02Z"),
            containers,
        }
    }

    fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
        status["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
            .unwrap_or_else(|| panic!("no condition {kind} in {status}"))
    }

    #[test]
    fn a_ready_container_makes_a_ready_running_pod() {
        let status = pod_status(&report(vec![running("main", true)]));
        assert_eq!(status["phase"], "Running");
        for kind in [
            "Ready",
            "ContainersReady",
            "Initialized",
            "PodScheduled",
            "PodReadyToStartContainers",
        ] {
            assert_eq!(condition(&status, kind)["status"], "True", "{kind}");
        }
        assert_eq!(
            condition(&status, "Ready")["lastTransitionTime"],
            "2025-01-01T00:00:02Z"
        );
        assert_eq!(
            condition(&status, "PodScheduled")["lastTransitionTime"],
            "2024-12-31T23:59:59Z"
        );
        assert_eq!(
            (&status["podIP"], &status["podIPs"][0]["ip"]),
            (&json!("192.0.2.2"), &json!("192.0.2.2"))
        );
        assert_eq!(status["hostIP"], "127.0.0.1");
        let c = &status["containerStatuses"][0];
        assert_eq!(
            c,
            &json!({
                "name": "main", "image": "argo-events-rs:test", "imageID": "",
                "containerID": "standin://main-1", "ready": true, "started": true,
                "restartCount": 0, "state": {"running": {"startedAt": "2025-01-01T00:00:01Z"}},
                "lastState": {},
            })
        );
    }

    #[test]
    fn an_unready_container_names_itself_in_the_ready_condition() {
        let status = pod_status(&report(vec![running("main", false), running("side", true)]));
        assert_eq!(status["phase"], "Running");
        let ready = condition(&status, "Ready");
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["reason"], "ContainersNotReady");
        assert_eq!(ready["message"], "containers with unready status: [main]");
        assert_eq!(status["containerStatuses"][0]["ready"], false);
        assert_eq!(status["containerStatuses"][1]["ready"], true);
    }

    #[test]
    fn a_killed_container_is_terminated_with_128_plus_the_signal() {
        let t = killed();
        assert_eq!((t.exit_code, t.reason.as_str()), (137, "Error"));
        let done = Termination::of_exit("x", Some(0), None, t.started_at, t.finished_at);
        assert_eq!((done.exit_code, done.reason.as_str()), (0, "Completed"));
        let mut main = running("main", true);
        main.state = State::Terminated(t);
        let status = pod_status(&report(vec![main]));
        let c = &status["containerStatuses"][0];
        assert_eq!(c["ready"], false);
        assert_eq!(c["started"], false);
        assert_eq!(
            c["state"],
            json!({"terminated": {"containerID": "standin://main-1", "exitCode": 137, "reason": "Error",
                "startedAt": "2025-01-01T00:00:01Z", "finishedAt": "2025-01-01T00:00:09Z"}})
        );
        assert_eq!(condition(&status, "Ready")["status"], "False");
        // restartPolicy Always: the pod stays Running while the container restarts.
        assert_eq!(status["phase"], "Running");
    }

    #[test]
    fn a_restarted_container_shows_its_last_termination() {
        let mut main = running("main", true);
        main.last = Some(killed());
        main.restart_count = 1;
        let c = &pod_status(&report(vec![main]))["containerStatuses"][0];
        assert_eq!(c["restartCount"], 1);
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 137);
        assert!(c["state"]["running"].is_object());
    }

    #[test]
    fn phases_by_the_kubelet_rules() {
        let waiting = Container {
            state: State::Waiting {
                reason: "ContainerCreating".into(),
                message: None,
            },
            ..running("main", false)
        };
        assert_eq!(
            phase(std::slice::from_ref(&waiting), RestartPolicy::Always),
            "Pending"
        );
        let back_off = Container {
            last: Some(killed()),
            ..waiting.clone()
        };
        assert_eq!(phase(&[back_off], RestartPolicy::Always), "Running");
        let failed = Container {
            state: State::Terminated(killed()),
            ..running("main", false)
        };
        assert_eq!(
            phase(std::slice::from_ref(&failed), RestartPolicy::Never),
            "Failed"
        );
        assert_eq!(
            phase(std::slice::from_ref(&failed), RestartPolicy::OnFailure),
            "Running"
        );
        let mut ok = killed();
        ok.exit_code = 0;
        let done = Container {
            state: State::Terminated(ok),
            ..running("main", false)
        };
        assert_eq!(
            phase(std::slice::from_ref(&done), RestartPolicy::Never),
            "Succeeded"
        );
        assert_eq!(
            phase(std::slice::from_ref(&done), RestartPolicy::OnFailure),
            "Succeeded"
        );
        assert_eq!(
            phase(&[done, running("b", true)], RestartPolicy::Never),
            "Running"
        );
        assert_eq!(phase(&[failed, waiting], RestartPolicy::Never), "Pending");
    }

    #[test]
    fn restart_policies_and_back_off() {
        assert!(RestartPolicy::of(&json!({})).restarts(0));
        assert!(RestartPolicy::of(&json!({"restartPolicy": "OnFailure"})).restarts(1));
        assert!(!RestartPolicy::of(&json!({"restartPolicy": "OnFailure"})).restarts(0));
        assert!(!RestartPolicy::of(&json!({"restartPolicy": "Never"})).restarts(1));
        let secs: Vec<u64> = (0..8).map(|n| restart_back_off(n).as_secs()).collect();
        assert_eq!(secs, [0, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(restart_back_off(u32::MAX).as_secs(), 300);
    }
}
