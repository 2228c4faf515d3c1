//! Readiness probes as the kubelet runs them: httpGet (HTTP; a status in 200..400) or
//! tcpSocket (a connect), on the pod IP unless the probe names a host, after
//! `initialDelaySeconds`, every `periodSeconds`, each within `timeoutSeconds`, flipping after
//! `successThreshold` passes or `failureThreshold` failures.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// A readiness probe the stand-in runs.
#[derive(Clone, Debug)]
pub(super) struct Probe {
    host: Option<String>,
    port: u16,
    /// An HTTP GET path and headers; `None`: a TCP connect.
    http: Option<(String, Vec<(String, String)>)>,
    pub(super) initial_delay: Duration,
    pub(super) period: Duration,
    pub(super) timeout: Duration,
    pub(super) success_threshold: u32,
    pub(super) failure_threshold: u32,
}

impl Probe {
    pub(super) fn readiness(container: &Value) -> Result<Option<Probe>, String> {
        let probe = &container["readinessProbe"];
        if probe.is_null() {
            return Ok(None);
        }
        let seconds =
            |key: &str, default: u64| Duration::from_secs(probe[key].as_u64().unwrap_or(default));
        let port_of = |port: &Value| -> Result<u16, String> {
            match port {
                Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
                Value::String(named) => container["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| p["name"] == named.as_str())
                    .and_then(|p| p["containerPort"].as_u64())
                    .and_then(|p| u16::try_from(p).ok()),
                _ => None,
            }
            .ok_or_else(|| format!("readinessProbe port {port} names no container port"))
        };
        let (host, port, http) = if let Some(get) = probe.get("httpGet") {
            if get["scheme"]
                .as_str()
                .is_some_and(|s| !s.eq_ignore_ascii_case("http"))
            {
                return Err(format!(
                    "readinessProbe scheme {} is not supported",
                    get["scheme"]
                ));
            }
            let headers = get["httpHeaders"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| {
                    (
                        h["name"].as_str().unwrap_or_default().to_string(),
                        h["value"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            (
                get["host"].as_str().map(str::to_string),
                port_of(&get["port"])?,
                Some((get["path"].as_str().unwrap_or("/").to_string(), headers)),
            )
        } else if let Some(tcp) = probe.get("tcpSocket") {
            (
                tcp["host"].as_str().map(str::to_string),
                port_of(&tcp["port"])?,
                None,
            )
        } else {
            return Err(format!(
                "readinessProbe {probe} is not supported (httpGet and tcpSocket are)"
            ));
        };
        Ok(Some(Probe {
            host,
            port,
            http,
            initial_delay: seconds("initialDelaySeconds", 0),
            period: seconds("periodSeconds", 10).max(Duration::from_secs(1)),
            timeout: seconds("timeoutSeconds", 1).max(Duration::from_secs(1)),
            success_threshold: probe["successThreshold"].as_u64().unwrap_or(1).max(1) as u32,
            failure_threshold: probe["failureThreshold"].as_u64().unwrap_or(3).max(1) as u32,
        }))
    }

    /// One probe: a TCP connect, or an HTTP GET answered with a status in 200..400.
    pub(super) async fn check(&self, pod_ip: &str) -> bool {
        let host = self.host.clone().unwrap_or_else(|| pod_ip.to_string());
        let attempt = async {
            let mut stream = tokio::net::TcpStream::connect((host.as_str(), self.port)).await?;
            let Some((path, headers)) = &self.http else {
                return Ok::<bool, std::io::Error>(true);
            };
            let mut request = format!(
                "GET {path} HTTP/1.1\r\nHost: {host}:{}\r\nUser-Agent: kube-probe/1.34\r\nAccept: */*\r\nConnection: close\r\n",
                self.port
            );
            for (name, value) in headers {
                request.push_str(&format!("{name}: {value}\r\n"));
            }
            request.push_str("\r\n");
            stream.write_all(request.as_bytes()).await?;
            let mut reader = BufReader::new(stream);
            let mut status_line = String::new();
            reader.read_line(&mut status_line).await?;
            let code: u16 = status_line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            Ok((200..400).contains(&code))
        };
        matches!(
            tokio::time::timeout(self.timeout, attempt).await,
            Ok(Ok(true))
        )
    }
}
