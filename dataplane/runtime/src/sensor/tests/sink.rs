//! A local HTTP sink for trigger tests: records every request's arrival (path and the `id` of
//! its JSON body) in order, and can hang or hold chosen requests. Plain HTTP/1.1 over tokio
//! TCP, one request per connection (`Connection: close`), so a request the client gives up on
//! shows as its connection closing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What the sink saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seen {
    /// A request arrived.
    Arrived { path: String, id: String },
    /// A hung request's client closed the connection (it gave up).
    Abandoned { path: String, id: String },
}

impl Seen {
    pub(super) fn arrived(path: &str, id: &str) -> Seen {
        Seen::Arrived {
            path: path.into(),
            id: id.into(),
        }
    }
    pub(super) fn abandoned(path: &str, id: &str) -> Seen {
        Seen::Abandoned {
            path: path.into(),
            id: id.into(),
        }
    }
}

/// How the sink answers the next request for a (path, id).
#[derive(Clone)]
pub(super) enum Rule {
    /// Never answer the first one; record when the client closes it.
    HangOnce,
    /// Answer the first one only once the notify fires.
    HoldOnce(Arc<Notify>),
}

#[derive(Clone, Default)]
pub(super) struct Sink {
    log: Arc<Mutex<Vec<Seen>>>,
    rules: Arc<Mutex<HashMap<(String, String), Rule>>>,
}

impl Sink {
    /// Listens on a free loopback port; returns the sink and its base URL.
    pub(super) async fn start() -> (Sink, String, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sink = Sink::default();
        let serving = sink.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = serving.clone();
                tokio::spawn(async move { sink.serve(stream).await });
            }
        });
        (sink, url, task)
    }

    pub(super) fn rule(&self, path: &str, id: &str, rule: Rule) {
        self.rules
            .lock()
            .unwrap()
            .insert((path.into(), id.into()), rule);
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    pub(super) fn count(&self, seen: &Seen) -> usize {
        self.seen().iter().filter(|s| *s == seen).count()
    }

    /// The position of the `nth` (from 0) occurrence of `seen`.
    pub(super) fn position(&self, seen: &Seen, nth: usize) -> Option<usize> {
        self.seen()
            .iter()
            .enumerate()
            .filter(|(_, s)| *s == seen)
            .nth(nth)
            .map(|(i, _)| i)
    }

    async fn serve(&self, mut stream: TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let path = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: serde_json::Value =
            serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or_default();
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        self.log.lock().unwrap().push(Seen::Arrived {
            path: path.clone(),
            id: id.clone(),
        });
        let rule = self
            .rules
            .lock()
            .unwrap()
            .remove(&(path.clone(), id.clone()));
        match rule {
            Some(Rule::HangOnce) => {
                // Until the client closes its end.
                loop {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                self.log.lock().unwrap().push(Seen::Abandoned { path, id });
                return;
            }
            Some(Rule::HoldOnce(release)) => release.notified().await,
            None => {}
        }
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        let _ = stream.shutdown().await;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Polls `check` every 20 ms until it holds; fails the test after `limit` (a bound on a hang,
/// not a measurement).
pub(super) async fn wait_until(what: &str, limit: Duration, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
