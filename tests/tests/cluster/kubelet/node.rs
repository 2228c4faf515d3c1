//! The stand-in's Node, registered once per suite on first use: `standin`, Ready, at
//! InternalIP 127.0.0.1 with `status.daemonEndpoints.kubeletEndpoint.Port` the port of the
//! kubelet server this process runs ([`super::serve`], HTTPS with a self-signed certificate:
//! the API server has no `--kubelet-certificate-authority`, so it does not verify it, as
//! pkg/kubelet/client/kubelet_client.go says). The Node is tainted `NoSchedule` so that a real
//! scheduler (on an external cluster) places nothing on it; the stand-in binds pods itself.
//! Its Ready condition is written once: nothing here evicts (no node-lifecycle controller).
//!
//! The pod IP is the host's first global-unicast IPv4 address (the API server proxies only to
//! such addresses), or `ARGO_EVENTS_TEST_POD_IP`; every pod the stand-in runs shares it, as
//! host-network pods do, so each process listens on a port of its own ([`pod_port`]).

use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, OnceLock};

use argo_events_tests::kubelet::address;
use k8s_openapi::api::core::v1::Node as NodeObject;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::record::Registry;
use crate::harness::cluster;

/// The Node's name.
pub const NODE_NAME: &str = "standin";
/// The Node's address: where the API server reaches the kubelet server (and the pods' hostIP).
pub const NODE_IP: &str = "127.0.0.1";
/// Overrides the pod IP the stand-in reports (a global-unicast IPv4 address of this host).
pub const POD_IP_VAR: &str = "ARGO_EVENTS_TEST_POD_IP";
/// The field manager of what the stand-in writes.
pub const FIELD_MANAGER: &str = "kubelet-standin";

/// The stand-in's Node: its async runtime, API client, kubelet server and pods.
pub struct Node {
    runtime: tokio::runtime::Runtime,
    pub client: kube::Client,
    pub pod_ip: Ipv4Addr,
    pub port: u16,
    pub pods: Arc<Registry>,
}

static NODE: OnceLock<Node> = OnceLock::new();

/// The Node, registered (and its kubelet server started) on first use.
pub fn node() -> &'static Node {
    NODE.get_or_init(|| Node::start().unwrap_or_else(|e| panic!("kubelet stand-in: {e}")))
}

/// Deletes the Node if it was registered (at the end of the suite).
pub fn remove() {
    if let Some(node) = NODE.get() {
        let api: Api<NodeObject> = Api::all(node.client.clone());
        let deleted = node.block_on(api.delete(NODE_NAME, &DeleteParams::default()));
        if let Err(e) = deleted {
            eprintln!("kubelet stand-in: deleting Node {NODE_NAME}: {e}");
        }
    }
}

/// The pod IP every adopted pod reports: processes listen on it (or on 0.0.0.0).
pub fn pod_ip() -> Ipv4Addr {
    static IP: OnceLock<Ipv4Addr> = OnceLock::new();
    *IP.get_or_init(|| find_pod_ip().unwrap_or_else(|e| panic!("kubelet stand-in: {e}")))
}

/// A TCP port free on every address of the host, for a process of a pod to listen on
/// (`0.0.0.0:PORT`, reached at [`pod_ip`]`:PORT` through the API server's proxies).
pub fn pod_port() -> u16 {
    crate::harness::fresh_port(|| {
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("binding a free port on 0.0.0.0")
    })
}

fn find_pod_ip() -> Result<Ipv4Addr, String> {
    if let Ok(value) = std::env::var(POD_IP_VAR) {
        let ip: Ipv4Addr = value
            .trim()
            .parse()
            .map_err(|e| format!("{POD_IP_VAR}={value:?}: {e}"))?;
        if !address::is_global_unicast(ip) {
            return Err(format!(
                "{POD_IP_VAR}={ip} is not a global-unicast address (the API server's pod and \
                 service proxies refuse loopback and link-local addresses)"
            ));
        }
        return Ok(ip);
    }
    let trie = std::fs::read_to_string("/proc/net/fib_trie")
        .map_err(|e| format!("reading /proc/net/fib_trie for the host's addresses: {e}"))?;
    address::pod_ip(&trie).ok_or_else(|| {
        format!(
            "this host has no global-unicast IPv4 address to give pods (its addresses: {:?}); \
             the API server's pod and service proxies refuse loopback and link-local ones. \
             Add one to an interface or name one in {POD_IP_VAR}",
            address::local_ipv4_addresses(&trie)
        )
    })
}

impl Node {
    /// Runs `work` on the stand-in's runtime (from a test's thread).
    pub fn block_on<F: std::future::Future>(&self, work: F) -> F::Output {
        self.runtime.block_on(work)
    }

    pub fn spawn<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(work)
    }

    fn start() -> Result<Node, String> {
        let pod_ip = pod_ip();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kubelet-standin")
            .enable_all()
            .build()
            .map_err(|e| format!("starting the runtime: {e}"))?;
        let pods = Arc::new(Registry::default());
        let (client, port) = runtime.block_on(async {
            let kubeconfig = kube::config::Kubeconfig::read_from(&cluster().kubeconfig)
                .map_err(|e| format!("reading the kubeconfig: {e}"))?;
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| format!("the kubeconfig: {e}"))?;
            let client =
                kube::Client::try_from(config).map_err(|e| format!("an API client: {e}"))?;
            let port = super::serve::start(pods.clone()).await?;
            register(&client, port).await?;
            Ok::<_, String>((client, port))
        })?;
        eprintln!(
            "kubelet stand-in: Node {NODE_NAME} registered, kubelet server https://{NODE_IP}:{port}, pod IP {pod_ip}"
        );
        Ok(Node {
            runtime,
            client,
            pod_ip,
            port,
            pods,
        })
    }
}

/// Creates (or takes over) the Node and writes its status.
async fn register(client: &kube::Client, port: u16) -> Result<(), String> {
    let api: Api<NodeObject> = Api::all(client.clone());
    let version = client
        .apiserver_version()
        .await
        .map(|v| v.git_version)
        .unwrap_or_else(|_| "unknown".into());
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let object = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": std::env::consts::ARCH,
                "argo-events-rs.test/kubelet-standin": "true",
            },
        },
        "spec": {"taints": [{"key": "argo-events-rs.test/kubelet-standin", "effect": "NoSchedule"}]},
    });
    api.patch(NODE_NAME, &apply, &Patch::Apply(&object))
        .await
        .map_err(|e| format!("registering Node {NODE_NAME}: {e}"))?;
    let now = argo_events_tests::kubelet::status::time(chrono::Utc::now());
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    let status = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE_NAME},
        "status": {
            "addresses": [{"type": "InternalIP", "address": NODE_IP}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "the argo-events-rs cluster suite's kubelet stand-in is running"),
            ],
            "nodeInfo": {
                "kubeletVersion": version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": std::env::consts::ARCH,
                "containerRuntimeVersion": "standin://0",
                "osImage": "host processes (argo-events-rs kubelet stand-in)",
                "kernelVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    });
    api.patch_status(NODE_NAME, &apply, &Patch::Apply(&status))
        .await
        .map_err(|e| format!("writing Node {NODE_NAME}'s status: {e}"))?;
    Ok(())
}
