//! Running an adopted pod: one task per container (start, capture, probe, report, restart
//! with back-off) and one for the pod (stopping it when the test drops it or the Pod is being
//! deleted, then deleting the Pod object for good).

use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argo_events_tests::kubelet::logs::{LogLine, Stream};
use argo_events_tests::kubelet::status::{State, Termination, pod_status, restart_back_off};
use chrono::Utc;
use k8s_openapi::api::core::v1::Pod as PodObject;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::node::node;
use super::probe::Probe;
use super::record::{PodRecord, Run};
use super::{Pod, Volumes};

/// How one container runs.
pub(super) struct Plan {
    pub(super) index: usize,
    pub(super) name: String,
    pub(super) container: Value,
    pub(super) program: Result<PathBuf, String>,
    pub(super) probe: Option<Probe>,
}

/// How the stand-in stops a pod's containers.
#[derive(Clone, Copy, Debug)]
pub(super) enum Stop {
    /// SIGKILL now (the test is done with the pod).
    Kill,
    /// SIGTERM, then SIGKILL after the grace period (the Pod is being deleted).
    Graceful(Duration),
}

/// What a pod's tasks share.
pub(super) struct Ctx {
    pub(super) api: Api<PodObject>,
    pub(super) record: Arc<PodRecord>,
    pub(super) report_lock: tokio::sync::Mutex<()>,
    pub(super) pod: Pod,
    pub(super) volumes: Volumes,
    pub(super) root: PathBuf,
}

impl Ctx {
    /// Patches the Pod's status with what the record says now (one report at a time, so
    /// the last one written is the latest).
    async fn report(&self) {
        let _one_at_a_time = self.report_lock.lock().await;
        let status = pod_status(&self.record.report());
        let patch = json!({"status": status});
        if let Err(e) = self
            .api
            .patch_status(
                &self.record.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            let gone = matches!(&e, kube::Error::Api(s) if s.code == 404);
            if !gone {
                eprintln!(
                    "kubelet stand-in: reporting the status of pod {}/{}: {e}",
                    self.record.namespace, self.record.name
                );
            }
        }
    }

    fn set_waiting(&self, index: usize, reason: &str, message: String) {
        self.record.update(|s| {
            s.containers[index].report.state = State::Waiting {
                reason: reason.to_string(),
                message: Some(message),
            };
            s.containers[index].report.ready = false;
        });
    }
}

/// Runs the pod: its containers, until the test drops it or the Pod is deleted; then the
/// Pod object goes.
pub(super) async fn supervise(
    ctx: Arc<Ctx>,
    plans: Vec<Plan>,
    stop: Arc<watch::Sender<Option<Stop>>>,
) {
    ctx.report().await;
    let containers: Vec<JoinHandle<()>> = plans
        .into_iter()
        .map(|plan| tokio::spawn(run_container(ctx.clone(), plan, stop.subscribe())))
        .collect();
    let mut told = stop.subscribe();
    loop {
        tokio::select! {
            _ = stopped(&mut told) => break,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let grace = match ctx.api.get_opt(&ctx.record.name).await {
            Ok(Some(pod)) if pod.metadata.uid.as_deref() == Some(ctx.record.uid.as_str()) => {
                if pod.metadata.deletion_timestamp.is_none() {
                    continue;
                }
                pod.metadata
                    .deletion_grace_period_seconds
                    .or(pod.spec.and_then(|s| s.termination_grace_period_seconds))
                    .unwrap_or(30)
            }
            Ok(_) => 0,
            Err(_) => continue,
        };
        let grace = Duration::from_secs(u64::try_from(grace).unwrap_or(0));
        stop.send_replace(Some(Stop::Graceful(grace)));
        break;
    }
    for c in containers {
        let _ = c.await;
    }
    // The kubelet's last word on a pod: deleted for good, if it is still this one.
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(ctx.record.uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let _ = ctx.api.delete(&ctx.record.name, &params).await;
    node().pods.remove(&ctx.record);
}

/// One container: started, watched, reported, restarted as the restart policy says.
async fn run_container(ctx: Arc<Ctx>, plan: Plan, mut stop: watch::Receiver<Option<Stop>>) {
    let i = plan.index;
    let name = plan.name.clone();
    let program = match &plan.program {
        Ok(program) => program.clone(),
        Err(why) => {
            ctx.set_waiting(i, "CreateContainerError", why.clone());
            ctx.report().await;
            return;
        }
    };
    let policy = ctx.record.read(|s| s.restart_policy);
    let mut in_a_row = 0u32;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let (pod, container, root, volumes) = (
            ctx.pod.clone(),
            plan.container.clone(),
            ctx.root.clone(),
            ctx.volumes.clone(),
        );
        let prog = program.clone();
        let built =
            tokio::task::spawn_blocking(move || pod.command(&container, &prog, &root, &volumes))
                .await
                .map_err(|e| format!("preparing the container failed: {e}"))
                .and_then(|r| r);
        // As a kubelet, a container whose configuration cannot be made (a missing Secret
        // key) and one whose process cannot start are reported by different reasons; neither
        // is retried here.
        let spawned = built
            .map_err(|why| ("CreateContainerConfigError", why))
            .and_then(|cmd| {
                let mut cmd = tokio::process::Command::from(cmd);
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true);
                cmd.spawn().map_err(|e| {
                    (
                        "RunContainerError",
                        format!("starting {}: {e}", program.display()),
                    )
                })
            });
        let mut child = match spawned {
            Ok(child) => child,
            Err((reason, why)) => {
                ctx.set_waiting(i, reason, why);
                ctx.report().await;
                stopped(&mut stop).await;
                return;
            }
        };
        let id = format!("standin://{}-{name}-{attempt}", ctx.record.uid);
        let started_at = Utc::now();
        let started = Instant::now();
        let pid = child.id();
        let ready_at_start = plan.probe.is_none();
        let run = ctx.record.update(|s| {
            let c = &mut s.containers[i];
            c.runs.push(Run {
                id: id.clone(),
                pid,
                lines: Vec::new(),
                finished: false,
            });
            c.report.state = State::Running {
                container_id: id.clone(),
                started_at,
            };
            c.report.ready = ready_at_start;
            c.runs.len() - 1
        });
        ctx.report().await;
        let mut pumps = Vec::new();
        if let Some(out) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(
                out,
                Stream::Stdout,
                ctx.record.clone(),
                i,
                run,
            )));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(
                err,
                Stream::Stderr,
                ctx.record.clone(),
                i,
                run,
            )));
        }
        let prober = plan
            .probe
            .clone()
            .map(|probe| tokio::spawn(readiness(ctx.clone(), i, probe)));
        let (status, stopped_by) = tokio::select! {
            status = child.wait() => (status, None),
            how = stopped(&mut stop) => (terminate(&mut child, how).await, Some(how)),
        };
        if let Some(prober) = prober {
            prober.abort();
        }
        for p in pumps {
            let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
        }
        let (code, signal) = match &status {
            Ok(s) => (s.code(), s.signal()),
            Err(_) => (None, None),
        };
        let end = Termination::of_exit(&id, code, signal, started_at, Utc::now());
        ctx.record.update(|s| {
            let c = &mut s.containers[i];
            c.runs[run].finished = true;
            c.runs[run].pid = None;
            c.report.state = State::Terminated(end.clone());
            c.report.ready = false;
        });
        if stopped_by.is_some() {
            return;
        }
        ctx.report().await;
        if !policy.restarts(end.exit_code) {
            stopped(&mut stop).await;
            return;
        }
        if started.elapsed() > Duration::from_secs(600) {
            in_a_row = 0;
        }
        let delay = restart_back_off(in_a_row);
        in_a_row += 1;
        if !delay.is_zero() {
            let message = format!(
                "back-off {}s restarting failed container={name} pod={}_{}({})",
                delay.as_secs(),
                ctx.record.name,
                ctx.record.namespace,
                ctx.record.uid
            );
            ctx.record.update(|s| {
                let c = &mut s.containers[i];
                c.report.state = State::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: Some(message),
                };
                c.report.last = Some(end.clone());
            });
            ctx.report().await;
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stopped(&mut stop) => return,
            }
        }
        ctx.record.update(|s| {
            let c = &mut s.containers[i];
            c.report.last = Some(end);
            c.report.restart_count += 1;
        });
    }
}

/// How the stand-in is told to stop (the sender gone: at once).
async fn stopped(stop: &mut watch::Receiver<Option<Stop>>) -> Stop {
    match stop.wait_for(Option::is_some).await {
        Ok(how) => (*how).unwrap_or(Stop::Kill),
        Err(_) => Stop::Kill,
    }
}

/// Stops a running process as told; its exit status.
async fn terminate(
    child: &mut tokio::process::Child,
    how: Stop,
) -> std::io::Result<std::process::ExitStatus> {
    if let (Stop::Graceful(grace), Some(pid)) = (how, child.id()) {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
            return status;
        }
    }
    let _ = child.start_kill();
    child.wait().await
}

/// Captures one output stream of a run, line by line, with each line's receive time.
async fn pump(
    reader: impl AsyncRead + Unpin,
    stream: Stream,
    record: Arc<PodRecord>,
    container: usize,
    run: usize,
) {
    let mut reader = BufReader::new(reader);
    loop {
        let mut bytes = Vec::new();
        match reader.read_until(b'\n', &mut bytes).await {
            Ok(0) | Err(_) => return,
            Ok(_) => record.update(|s| {
                s.containers[container].runs[run].lines.push(LogLine {
                    time: Utc::now(),
                    stream,
                    bytes,
                })
            }),
        }
    }
}

/// Runs a container's readiness probe for as long as the run lasts (aborted at its end).
async fn readiness(ctx: Arc<Ctx>, index: usize, probe: Probe) {
    tokio::time::sleep(probe.initial_delay).await;
    let (mut passed, mut failed) = (0u32, 0u32);
    loop {
        let ok = probe.check(&ctx.record.pod_ip).await;
        if ok {
            passed += 1;
            failed = 0;
        } else {
            failed += 1;
            passed = 0;
        }
        let ready = ctx.record.read(|s| s.containers[index].report.ready);
        let flip = (!ready && ok && passed >= probe.success_threshold)
            || (ready && !ok && failed >= probe.failure_threshold);
        if flip {
            ctx.record
                .update(|s| s.containers[index].report.ready = !ready);
            ctx.report().await;
        }
        tokio::time::sleep(probe.period).await;
    }
}
