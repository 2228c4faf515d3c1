//! The server under hostile load, each figure next to its ceiling from the same run:
//!
//! - **slow bodies**: a valid review's latency while 300 TLS clients each send a whole head
//!   with a Content-Length, then one body byte every 5 s (reconnecting as soon as the server
//!   answers 408 or closes, so 300 stay at it), next to the same review with none open;
//! - **memory**: the server process's peak RSS (`VmHWM`, reset through `/proc/PID/clear_refs`)
//!   while 16 reviews of a 5 000-trigger Sensor, then of a ~1.5 MiB Sensor, run at once, next
//!   to its idle RSS just before; a fresh server for each.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::{
    NS, Target, client_config, connect, many_triggers, micros, send, spawn_server, summarize,
};

/// Slow-body clients held open.
const SLOW_CONNECTIONS: usize = 300;
/// Seconds between the body bytes of a slow client.
const SLOW_BYTE_EVERY: Duration = Duration::from_secs(5);
/// Reviews timed in each slow-body phase, one every [`REVIEW_EVERY`].
const REVIEWS: usize = 300;
const REVIEW_EVERY: Duration = Duration::from_millis(20);
/// Reviews at once in the memory phase.
const CONCURRENT: usize = 16;

/// Both measurements; `valid_review` is an allowed review body.
pub async fn measure(
    dir: &Path,
    snapshot: &Path,
    server_log: &str,
    valid_review: &Bytes,
) -> anyhow::Result<Value> {
    let slow = slow_bodies(&dir.join("slow"), snapshot, server_log, valid_review).await?;
    let per_trigger = (review_body(1_000).len() - review_body(0).len()) / 1_000;
    let largest = 1_500_000 / per_trigger;
    let mut memory = serde_json::Map::new();
    for (name, triggers) in [
        ("concurrent_16_x_5000_triggers", 5_000),
        ("concurrent_16_x_1.5MiB", largest),
    ] {
        let case_dir = dir.join(name);
        let body = Bytes::from(review_body(triggers));
        memory.insert(
            name.to_owned(),
            peak_rss(&case_dir, snapshot, server_log, triggers, &body).await?,
        );
    }
    Ok(json!({"slow_bodies": slow, "server_memory": Value::Object(memory)}))
}

// ---------------------------------------------------------------------------------------------
// Slow bodies.

async fn slow_bodies(
    dir: &Path,
    snapshot: &Path,
    server_log: &str,
    body: &Bytes,
) -> anyhow::Result<Value> {
    std::fs::create_dir_all(dir)?;
    let server = spawn_server(dir, snapshot, server_log).await?;
    let target = Target {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], server.port)),
        tls: client_config(&server.ca)?,
    };
    eprintln!("slow bodies: {REVIEWS} reviews with none open");
    let (ceiling, _) = timed_reviews(&target, body, None).await?;

    eprintln!("slow bodies: {SLOW_CONNECTIONS} clients, one byte every {SLOW_BYTE_EVERY:?}");
    let stats = Arc::new(SlowStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..SLOW_CONNECTIONS {
        let (target, stats, stop) = (target.clone(), stats.clone(), stop.clone());
        clients.spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                if slow_client(&target, &stats).await.is_err() {
                    stats.connect_errors.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
    }
    // Until every client has sent its head once.
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats.heads.load(Ordering::SeqCst) < SLOW_CONNECTIONS as u64 {
        if Instant::now() > deadline {
            bail!("the slow clients did not all connect within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (under_slow, open) = timed_reviews(&target, body, Some(&stats)).await?;
    stop.store(true, Ordering::SeqCst);
    clients.abort_all();
    while clients.join_next().await.is_some() {}

    let p = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let ratio = |k: &str| {
        let c = p(&ceiling, k);
        if c > 0.0 {
            super::round3(p(&under_slow, k) / c)
        } else {
            0.0
        }
    };
    Ok(json!({
        "slow_connections": SLOW_CONNECTIONS,
        "slow_byte_every_secs": SLOW_BYTE_EVERY.as_secs(),
        "server_flags": "defaults (--body-read-timeout-ms 2000, --max-concurrent-reviews 256)",
        "reviews_timed": REVIEWS,
        "review_every_ms": REVIEW_EVERY.as_millis() as u64,
        "review_bytes": body.len(),
        "valid_review_with_slow_bodies": under_slow,
        "valid_review_none_open (ceiling)": ceiling,
        "p50_vs_ceiling": ratio("p50_ms"),
        "p99_vs_ceiling": ratio("p99_ms"),
        "slow_open_while_timing": open,
        "slow_clients": {
            "heads_sent": stats.heads.load(Ordering::SeqCst),
            "answered_408": stats.answered_408.load(Ordering::SeqCst),
            "answered_other": stats.answered_other.load(Ordering::SeqCst),
            "closed_without_answer": stats.closed.load(Ordering::SeqCst),
            "connect_errors": stats.connect_errors.load(Ordering::SeqCst),
        },
    }))
}

#[derive(Default)]
struct SlowStats {
    heads: AtomicU64,
    /// Slow clients whose head is sent and that are not answered or closed yet.
    open: AtomicU64,
    answered_408: AtomicU64,
    answered_other: AtomicU64,
    closed: AtomicU64,
    connect_errors: AtomicU64,
}

/// One slow client: a whole head (Content-Length 100 000) and a first byte, then one byte every
/// [`SLOW_BYTE_EVERY`], until the server answers or closes.
async fn slow_client(target: &Target, stats: &SlowStats) -> anyhow::Result<()> {
    let tcp = TcpStream::connect(target.addr).await?;
    let mut tls = target
        .tls
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    tls.write_all(
        b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 100000\r\n\r\n{",
    )
    .await?;
    tls.flush().await?;
    stats.heads.fetch_add(1, Ordering::SeqCst);
    stats.open.fetch_add(1, Ordering::SeqCst);
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let ended = loop {
        tokio::select! {
            r = tls.read(&mut buf) => match r {
                Ok(0) | Err(_) => break None,
                Ok(k) => {
                    answer.extend_from_slice(&buf[..k]);
                    if answer.len() >= 12 {
                        break Some(answer.starts_with(b"HTTP/1.1 408"));
                    }
                }
            },
            () = tokio::time::sleep(SLOW_BYTE_EVERY) => {
                let _ = tls.write_all(b" ").await;
                let _ = tls.flush().await;
            }
        }
    };
    stats.open.fetch_sub(1, Ordering::SeqCst);
    let counter = match ended {
        Some(true) => &stats.answered_408,
        Some(false) => &stats.answered_other,
        None => &stats.closed,
    };
    counter.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// [`REVIEWS`] reviews of `body`, one every [`REVIEW_EVERY`] on one keep-alive connection
/// (reconnecting after a failure); their latency summary and, with `stats`, how many slow
/// clients were open at each (min / mean / max).
async fn timed_reviews(
    target: &Target,
    body: &Bytes,
    stats: Option<&SlowStats>,
) -> anyhow::Result<(Value, Value)> {
    let mut sender = connect(target).await?;
    // Warm-up, not recorded.
    for _ in 0..10 {
        send(&mut sender, body).await?;
    }
    let mut lat = Vec::with_capacity(REVIEWS);
    let mut open = Vec::with_capacity(REVIEWS);
    let mut errors = 0u64;
    let started = tokio::time::Instant::now();
    for i in 0..REVIEWS {
        tokio::time::sleep_until(started + REVIEW_EVERY * u32::try_from(i).unwrap_or(0)).await;
        if let Some(stats) = stats {
            open.push(stats.open.load(Ordering::SeqCst));
        }
        let t0 = Instant::now();
        match send(&mut sender, body).await {
            Ok((200, resp)) if allowed(&resp) => lat.push(micros(t0.elapsed())),
            Ok(_) => errors += 1,
            Err(_) => {
                errors += 1;
                sender = connect(target).await?;
            }
        }
    }
    let n = lat.len();
    let mut out = summarize(lat);
    out["answered_allowed"] = json!(n);
    out["errors"] = json!(errors);
    let open = match (open.iter().min(), open.iter().max()) {
        (Some(min), Some(max)) => json!({
            "min": min,
            "mean": (open.iter().sum::<u64>() as f64 / open.len() as f64).round(),
            "max": max,
        }),
        _ => Value::Null,
    };
    eprintln!("  {out} slow open: {open}");
    Ok((out, open))
}

fn allowed(resp: &[u8]) -> bool {
    serde_json::from_slice::<Value>(resp)
        .ok()
        .and_then(|v| v.pointer("/response/allowed").and_then(Value::as_bool))
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// Memory.

/// A fresh server's idle RSS, then its peak while [`CONCURRENT`] reviews of `body` run at once.
async fn peak_rss(
    dir: &Path,
    snapshot: &Path,
    server_log: &str,
    triggers: usize,
    body: &Bytes,
) -> anyhow::Result<Value> {
    std::fs::create_dir_all(dir)?;
    let server = spawn_server(dir, snapshot, server_log).await?;
    let pid = server.child.id();
    let target = Target {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], server.port)),
        tls: client_config(&server.ca)?,
    };
    let mut senders = Vec::with_capacity(CONCURRENT);
    for _ in 0..CONCURRENT {
        senders.push(connect(&target).await?);
    }
    // One small review first, so lazily built state is part of the idle figure.
    send(&mut senders[0], &Bytes::from(review_body(2))).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_kb = status_kb(pid, "VmRSS:")?;
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .context("resetting the server's VmHWM")?;
    eprintln!(
        "memory: {CONCURRENT} reviews of {} bytes ({triggers} triggers) at once",
        body.len()
    );
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for mut sender in senders {
        let body = body.clone();
        set.spawn(async move {
            let t0 = Instant::now();
            let r = send(&mut sender, &body).await;
            (
                r.map(|(status, resp)| (status, allowed(&resp))),
                t0.elapsed(),
            )
        });
    }
    let mut outcomes = serde_json::Map::new();
    let mut slowest = Duration::ZERO;
    while let Some(joined) = set.join_next().await {
        let (r, took) = joined?;
        slowest = slowest.max(took);
        let key = match r {
            Ok((200, true)) => "200 allowed".to_owned(),
            Ok((200, false)) => "200 denied".to_owned(),
            Ok((status, _)) => format!("HTTP {status}"),
            Err(e) => format!("error: {e:#}"),
        };
        let n = outcomes.get(&key).and_then(Value::as_u64).unwrap_or(0);
        outcomes.insert(key, json!(n + 1));
    }
    let wall = started.elapsed();
    let peak_kb = status_kb(pid, "VmHWM:")?;
    let after_kb = status_kb(pid, "VmRSS:")?;
    let mib = |kb: u64| (kb as f64 / 1024.0 * 10.0).round() / 10.0;
    let out = json!({
        "triggers": triggers,
        "body_bytes": body.len(),
        "concurrent": CONCURRENT,
        "idle_rss_mib (ceiling)": mib(idle_kb),
        "peak_rss_mib": mib(peak_kb),
        "peak_over_idle_mib": mib(peak_kb.saturating_sub(idle_kb)),
        "rss_mib_after": mib(after_kb),
        "outcomes": outcomes,
        "all_answered_ms": super::round3(wall.as_secs_f64() * 1000.0),
        "slowest_review_ms": super::round3(slowest.as_secs_f64() * 1000.0),
    });
    eprintln!("  {out}");
    drop(server);
    Ok(out)
}

fn status_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// The many-trigger review, with request uid `u-many`.
fn review_body(triggers: usize) -> Vec<u8> {
    many_triggers::review_body(NS, "u-many", triggers)
}
