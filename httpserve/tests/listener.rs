//! The listener against raw TCP clients on loopback: slowloris heads, slow bodies, idle
//! keep-alive connections, the connection cap, bare-LF heads, and (in a child process with a
//! low open-file limit) accept failing with EMFILE. Every wait is bounded by `BOUND`, a limit
//! on how long a test may hang, not a measurement.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argo_events_httpserve::{Limits, is_body_timeout, serve};
use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::{get, post};

/// The longest any client read waits before the test fails.
const BOUND: Duration = Duration::from_secs(20);

fn router() -> Router {
    Router::new()
        .route("/health", get(|| async { "OK" }))
        .route(
            "/echo",
            post(|body: Body| async move {
                match axum::body::to_bytes(body, 1 << 20).await {
                    Ok(b) => (StatusCode::OK, b.to_vec()),
                    Err(e) if is_body_timeout(&e) => {
                        (StatusCode::REQUEST_TIMEOUT, e.to_string().into_bytes())
                    }
                    Err(e) => (StatusCode::BAD_REQUEST, e.to_string().into_bytes()),
                }
            }),
        )
}

/// A server on a free loopback port in its own runtime thread, stopped on drop.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(limits: Limits) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send");
                serve("test", listener, router(), &limits, async {
                    let _ = stopped.await;
                })
                .await;
            });
        });
        let addr = addr_rx.recv().expect("server address");
        Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(BOUND)).expect("timeout");
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn limits(header_ms: u64, body_ms: u64, max: usize) -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(header_ms),
        body_read_timeout: Duration::from_millis(body_ms),
        max_connections: max,
    }
}

/// Reads until the server closes the connection; what it sent. Panics when it stays open
/// past `BOUND`.
fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&out).into_owned(),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return String::from_utf8_lossy(&out).into_owned();
            }
            Err(e) => panic!("the server kept the connection open past {BOUND:?}: {e}"),
        }
    }
}

/// Reads one response (headers and a Content-Length body) off a keep-alive connection.
fn read_response(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(1) => out.push(buf[0]),
            other => panic!(
                "no response: {other:?} after {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    let head = String::from_utf8_lossy(&out).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).expect("body");
    head + &String::from_utf8_lossy(&body)
}

#[test]
fn a_head_never_finished_is_closed_after_the_header_timeout() {
    let server = Server::start(limits(300, 5_000, 64));
    let mut s = server.connect();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .expect("write");
    let answer = read_to_close(&mut s);
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[test]
fn a_slow_body_is_answered_408_and_closed_after_the_body_deadline() {
    let server = Server::start(limits(5_000, 300, 64));
    let mut s = server.connect();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        .expect("write");
    let answer = read_to_close(&mut s);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 300 ms"), "{answer}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let server = Server::start(limits(300, 5_000, 64));
    let mut s = server.connect();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let first = read_response(&mut s);
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // Nothing more is sent: the connection is closed without another answer.
    assert_eq!(read_to_close(&mut s), "");
}

#[test]
fn a_bare_lf_in_a_header_value_is_refused_with_400() {
    let server = Server::start(limits(5_000, 5_000, 64));
    let mut s = server.connect();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nX-A: v\nContent-Length: 2\r\n\r\nhi")
        .expect("write");
    let answer = read_to_close(&mut s);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // The same request with CRLF everywhere is served, and so is a second request on the
    // connection whose body holds bare LFs.
    let mut s = server.connect();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nX-A: v\r\nContent-Length: 3\r\n\r\na\nb")
        .expect("write");
    let ok = read_response(&mut s);
    assert!(
        ok.starts_with("HTTP/1.1 200") && ok.ends_with("a\nb"),
        "{ok}"
    );
    s.write_all(b"GET /health HTTP/1.1\r\nX-B: w\nX-C: z\r\n\r\n")
        .expect("write");
    let answer = read_to_close(&mut s);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

/// Log lines of the test, for the cap line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn at_the_connection_cap_new_connections_wait_logged_then_are_served() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // The server's runtime threads log through the global default; set it for them.
    let server = {
        let captured = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || captured.clone())
            .with_ansi(false)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        Server::start(limits(10_000, 10_000, 2))
    };
    let mut held: Vec<TcpStream> = (0..2).map(|_| server.connect()).collect();
    // Both hold a finished request, so they are accepted and counted.
    for s in &mut held {
        s.write_all(b"GET /health HTTP/1.1\r\n\r\n").expect("write");
        assert!(read_response(s).starts_with("HTTP/1.1 200"));
    }
    let mut third = server.connect();
    third
        .write_all(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        .expect("write");
    // Not answered while the two are open: the server stopped accepting. Closing one lets it
    // through.
    third
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    assert!(third.read(&mut byte).is_err(), "answered past the cap");
    third.set_read_timeout(Some(BOUND)).expect("timeout");
    drop(held.pop());
    let answer = read_to_close(&mut third);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let log = String::from_utf8_lossy(&captured.0.lock().expect("log").clone()).into_owned();
    assert!(log.contains("connection cap reached"), "{log}");
}

/// Run in a child process with `ulimit -n` lowered (see [`accept_under_emfile_backs_off_and_serves_open_connections`]).
#[test]
fn emfile_child() {
    if std::env::var_os("HTTPSERVE_EMFILE_CHILD").is_none() {
        return;
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let server = Server::start(limits(10_000, 10_000, 1_000));
    let mut first = server.connect();
    first
        .write_all(b"GET /health HTTP/1.1\r\n\r\n")
        .expect("write");
    assert!(read_response(&mut first).starts_with("HTTP/1.1 200"));
    // Use up the descriptors: connect until connect itself fails.
    let mut others = Vec::new();
    let exhausted = loop {
        match TcpStream::connect(server.addr) {
            Ok(s) => others.push(s),
            Err(e) => break e,
        }
        assert!(others.len() < 10_000, "never ran out of descriptors");
    };
    eprintln!(
        "CHILD: connect failed after {} connections: {exhausted}",
        others.len()
    );
    std::thread::sleep(Duration::from_millis(300));
    // The open connection is still served.
    first
        .write_all(b"GET /health HTTP/1.1\r\n\r\n")
        .expect("write");
    assert!(read_response(&mut first).starts_with("HTTP/1.1 200"));
    // Free descriptors: a new connection is accepted and answered.
    let keep = others.split_off(others.len() / 2);
    drop(others);
    drop(keep);
    let mut late = server.connect();
    late.write_all(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        .expect("write");
    assert!(read_to_close(&mut late).starts_with("HTTP/1.1 200"));
    eprintln!("CHILD: ok");
}

#[test]
fn accept_under_emfile_backs_off_and_serves_open_connections() {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 200 && exec \"$0\" --exact emfile_child --nocapture --test-threads 1")
        .arg(&exe)
        .env("HTTPSERVE_EMFILE_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let pid = child.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
            panic!("the child {pid} did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let mut stdout = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut stdout);
    }
    assert!(status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stderr.contains("CHILD: ok"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("cannot accept connections: out of file descriptors"),
        "{stderr}"
    );
}
