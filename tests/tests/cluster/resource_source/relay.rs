//! A TCP relay to the API server that can be cut, for outages.

use std::io::ErrorKind;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{cluster, free_port};

/// A TCP relay on a loopback port to the API server: closed (connections refused) until
/// [`Relay::open`]; [`Relay::cut`] closes it and breaks every connection through it.
pub(super) struct Relay {
    port: u16,
    target: u16,
    running: Option<RelayRun>,
}

struct RelayRun {
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    pub(super) fn new() -> Relay {
        Relay {
            port: free_port(),
            target: cluster()
                .kubeconfig_server_port()
                .expect("the kubeconfig names the API server's port"),
            running: None,
        }
    }

    /// The admin kubeconfig with the server replaced by the relay.
    pub(super) fn kubeconfig(&self, tag: &str) -> PathBuf {
        let out = cluster().must(&["config", "view", "--raw", "--minify", "-o", "json"]);
        let mut config: Value = serde_json::from_str(&out).expect("kubectl prints JSON");
        config["clusters"][0]["cluster"]["server"] =
            Value::from(format!("https://127.0.0.1:{}", self.port));
        let path = cluster()
            .scratch
            .path()
            .join(format!("kubeconfig-relay-{tag}"));
        std::fs::write(&path, config.to_string())
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    pub(super) fn open(&mut self) {
        assert!(self.running.is_none(), "the relay is already open");
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("binding the relay port {}: {e}", self.port));
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let target = self.target;
        let accept = {
            let stop = stop.clone();
            let connections = connections.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            let _ = client.set_nonblocking(false);
                            let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)) else {
                                continue;
                            };
                            relay_pair(client, upstream, &connections);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        self.running = Some(RelayRun {
            stop,
            connections,
            accept,
        });
    }

    pub(super) fn cut(&mut self) {
        let Some(run) = self.running.take() else {
            return;
        };
        run.stop.store(true, Ordering::SeqCst);
        let _ = run.accept.join();
        for connection in run
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Copies both ways between `a` and `b` on two threads; both sockets are kept for a cut.
fn relay_pair(a: TcpStream, b: TcpStream, connections: &Mutex<Vec<TcpStream>>) {
    let (Ok(a2), Ok(b2), Ok(a3), Ok(b3)) =
        (a.try_clone(), b.try_clone(), a.try_clone(), b.try_clone())
    else {
        return;
    };
    connections
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend([a3, b3]);
    let pipe = |mut from: TcpStream, mut to: TcpStream| {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        });
    };
    pipe(a, b2);
    pipe(b, a2);
}
