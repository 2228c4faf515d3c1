//! `logs eventsource|sensor|eventbus NAME`: every pod of the object, found by upstream's
//! labels, read through the API server (`pods/log`), each line prefixed with `[pod]`, like
//! `kubectl logs -l … --prefix`: pod after pod, or with `-f` all at once, lines interleaved as
//! they come.

use std::io::Write;

use anyhow::Context as _;
use futures::{AsyncBufReadExt as _, StreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};

use crate::cli::{LogsArgs, LogsKind};
use crate::health::labels;
use crate::{EXIT_FINDINGS, EXIT_OK};

/// The label selecting the object's pods.
pub fn selector(kind: LogsKind, name: &str) -> String {
    let key = match kind {
        LogsKind::EventSource => labels::EVENT_SOURCE,
        LogsKind::Sensor => labels::SENSOR,
        LogsKind::EventBus => labels::EVENT_BUS,
    };
    format!("{key}={name}")
}

/// The container to read: `main` when the pod has one (ours and the bus's), else the first.
pub fn container_of(pod: &Pod) -> Option<String> {
    let containers = &pod.spec.as_ref()?.containers;
    containers
        .iter()
        .find(|c| c.name == "main")
        .or_else(|| containers.first())
        .map(|c| c.name.clone())
}

/// The `pods/log` parameters of the flags.
pub fn params(args: &LogsArgs, container: Option<String>) -> anyhow::Result<LogParams> {
    let since_seconds = match &args.since {
        Some(text) => {
            let d = argo_events_api::duration::parse_go_duration(text)
                .map_err(|e| anyhow::anyhow!("--since {text:?}: {e}"))?;
            Some(d.as_secs().max(1) as i64)
        }
        None => None,
    };
    Ok(LogParams {
        container,
        follow: args.follow,
        since_seconds,
        tail_lines: args.tail,
        timestamps: args.timestamps,
        ..LogParams::default()
    })
}

/// Runs `logs`.
pub async fn run(
    client: &Client,
    namespace: &str,
    args: &LogsArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<u8> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let selector = selector(args.kind, &args.name);
    let mut pods = api
        .list(&ListParams::default().labels(&selector))
        .await
        .with_context(|| format!("listing pods {selector} in {namespace}"))?
        .items;
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    if pods.is_empty() {
        writeln!(
            err,
            "no pods with label {selector} in namespace {namespace}"
        )?;
        return Ok(EXIT_FINDINGS);
    }
    if !args.follow {
        // One pod after the other, so each pod's lines stay together.
        let mut failed = false;
        for pod in &pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            match api.logs(&name, &params(args, container_of(pod))?).await {
                Ok(text) => {
                    for line in text.lines() {
                        writeln!(out, "[{name}] {line}")?;
                    }
                }
                Err(e) => {
                    failed = true;
                    writeln!(err, "error: pod {name}: {e}")?;
                }
            }
        }
        return Ok(if failed { EXIT_FINDINGS } else { EXIT_OK });
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<String, String>>(1024);
    for pod in &pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let lp = params(args, container_of(pod))?;
        let api = api.clone();
        let tx = tx.clone();
        let prefix = format!("[{name}] ");
        tokio::spawn(async move {
            let stream = match api.log_stream(&name, &lp).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(format!("pod {name}: {e}"))).await;
                    return;
                }
            };
            let mut lines = stream.lines();
            while let Some(line) = lines.next().await {
                let item = line
                    .map(|l| format!("{prefix}{l}"))
                    .map_err(|e| format!("pod {name}: {e}"));
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut failed = false;
    loop {
        let next = tokio::select! {
            next = rx.recv() => next,
            _ = tokio::signal::ctrl_c() => None,
        };
        match next {
            Some(Ok(line)) => {
                writeln!(out, "{line}")?;
                out.flush()?;
            }
            Some(Err(e)) => {
                failed = true;
                writeln!(err, "error: {e}")?;
            }
            None => break,
        }
    }
    Ok(if failed { EXIT_FINDINGS } else { EXIT_OK })
}
