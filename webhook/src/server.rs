//! The HTTP shell around [`argo_events_webhook::admission::try_review`]: TLS admission port
//! (`POST /validate`, `POST /mutate`), plain-HTTP admin port (`/metrics`, `/live`, `/ready`),
//! certificate hot reload and self-signed certificates.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use argo_events_webhook::admission::Review;
use argo_events_webhook::policy::{self, Policy};
use argo_events_webhook::snapshot::{Facts, Snapshot};
use axum::Router;
use axum::body::{Body, HttpBody as _};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::cabundle::{self, Target};
use crate::certsecret::{self, Material};
use crate::cluster::{self, FactsCell};
use crate::sar::Authorizer;

/// Flags of `serve`; each is also read from the environment variable named.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeOpts {
    /// Address of the TLS admission port.
    #[arg(long, env = "WEBHOOK_ADDR", default_value = "0.0.0.0:8443")]
    addr: SocketAddr,
    /// PEM certificate chain; re-read when its modification time changes.
    #[arg(
        long,
        env = "WEBHOOK_TLS_CERT",
        required_unless_present = "self_signed"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key; re-read when its modification time changes.
    #[arg(long, env = "WEBHOOK_TLS_KEY", required_unless_present = "self_signed")]
    tls_key: Option<PathBuf>,
    /// Generate a self-signed certificate for the --dns-name values instead of reading one
    /// (with --cert-secret: one CA and certificate shared by all replicas).
    #[arg(long, env = "WEBHOOK_SELF_SIGNED", conflicts_with_all = ["tls_cert", "tls_key"])]
    self_signed: bool,
    /// DNS name of the self-signed certificate (repeatable; comma-separated in the env var).
    #[arg(
        long = "dns-name",
        env = "WEBHOOK_DNS_NAMES",
        value_delimiter = ',',
        default_value = "localhost"
    )]
    dns_names: Vec<String>,
    /// Write the self-signed certificate (with --cert-secret: the CA bundle) as PEM here: the
    /// caBundle of the webhook configurations.
    #[arg(long, env = "WEBHOOK_WRITE_CA", requires = "self_signed")]
    write_ca: Option<PathBuf>,
    /// Address of the plain-HTTP admin port (/metrics, /live, /ready).
    #[arg(long, env = "WEBHOOK_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    admin_addr: SocketAddr,
    /// Directory (or file) of manifests holding the cluster facts the rules use (EventBuses,
    /// EventSources, Sensors, ServiceAccounts, RBAC), read once at start; RBAC is then
    /// evaluated statically over them, as `lint` does. Without it the server watches the
    /// cluster (in-cluster config or KUBECONFIG): EventBuses, EventSources and Sensors from
    /// reflector caches (/ready once they are synced) and RBAC by SubjectAccessReview.
    #[arg(long, env = "WEBHOOK_SNAPSHOT")]
    snapshot: Option<PathBuf>,
    /// With --self-signed: write the certificate (with --cert-secret: the Secret's
    /// ca-cert.pem) into clientConfig.caBundle of every webhook
    /// of the webhook configuration NAME, retrying until it exists. `validating:NAME` or
    /// `mutating:NAME` names one kind; a bare NAME means a configuration of each kind so named.
    /// Repeatable; comma-separated in the env var.
    #[arg(
        long = "webhook-config",
        env = "WEBHOOK_CONFIGS",
        value_name = "[validating:|mutating:]NAME",
        value_delimiter = ',',
        requires = "self_signed",
        value_parser = parse_webhook_config
    )]
    webhook_configs: Vec<Vec<Target>>,
    /// With --self-signed: share one certificate between all replicas through the Secret NAME
    /// (keys server-key.pem, server-cert.pem, ca-cert.pem) in --namespace. The first replica
    /// generates a CA and a serving certificate for the Service (--service-name) and creates
    /// the Secret; the others read it. The CA goes into caBundle (--webhook-config). A
    /// certificate expiring within 30 days is renewed; the Secret is re-read every
    /// --cert-secret-check-interval seconds. Needs get, create and update on the Secret.
    #[arg(
        long,
        env = "WEBHOOK_CERT_SECRET",
        value_name = "NAME",
        requires = "self_signed",
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    cert_secret: Option<String>,
    /// Namespace of the --cert-secret Secret and of the Service; default: the client's (in a
    /// pod, the service account's namespace file; else the kubeconfig context's).
    #[arg(long, env = "NAMESPACE")]
    namespace: Option<String>,
    /// With --cert-secret: the Service in front of the webhook; the certificate is for
    /// NAME, NAME.<namespace>, NAME.<namespace>.svc, NAME.<namespace>.svc.cluster.local and
    /// the --dns-name values.
    #[arg(
        long,
        env = "WEBHOOK_SERVICE_NAME",
        value_name = "NAME",
        default_value = "events-webhook"
    )]
    service_name: String,
    /// With --cert-secret: seconds between re-reads of the Secret (renewal, or another
    /// replica's renewal, is then served).
    #[arg(long, env = "WEBHOOK_CERT_SECRET_CHECK_INTERVAL", default_value_t = 60)]
    cert_secret_check_interval: u64,
    /// Seconds an allowing SubjectAccessReview answer is reused (without --snapshot); a denial
    /// is reused for at most 5 s.
    #[arg(long, env = "WEBHOOK_SAR_CACHE_TTL", default_value_t = 30)]
    sar_cache_ttl: u64,
    /// Most SubjectAccessReview answers kept (without --snapshot).
    #[arg(long, env = "WEBHOOK_SAR_CACHE_SIZE", default_value_t = 4096)]
    sar_cache_size: usize,
    /// Milliseconds a SubjectAccessReview may take; after that the check is a warning, never a
    /// denial.
    #[arg(long, env = "WEBHOOK_SAR_TIMEOUT_MS", default_value_t = 2000)]
    sar_timeout_ms: u64,
    /// Policy bundle directory (`<name>/policy.yaml` directories or flat `*.yaml` Policy files,
    /// as a mounted ConfigMap gives), read once at start; replaces the compiled-in default
    /// bundle. A bundle that does not load stops the server.
    #[arg(long, env = "WEBHOOK_POLICIES", value_name = "DIR")]
    policies: Option<PathBuf>,
    /// Largest request body accepted, in bytes (413 above). An UPDATE review carries both
    /// the object and the old object.
    #[arg(long, env = "WEBHOOK_BODY_LIMIT", default_value_t = 8 * 1024 * 1024)]
    body_limit: usize,
    /// Most reviews handled at once; more wait (within the request timeout) after their body
    /// is read.
    #[arg(long, env = "WEBHOOK_MAX_CONCURRENT_REVIEWS", default_value_t = 256)]
    max_concurrent_reviews: usize,
    /// KiB of request bodies reviewed at once: a review takes one permit per KiB of its body
    /// (at most all of them) after the body is read, so memory stays proportional to this
    /// budget (a review peaks at about 50 times its body; `cargo bench -p argo-events-webhook
    /// --bench memory`).
    #[arg(long, env = "WEBHOOK_REVIEW_BUDGET_KIB", default_value_t = 2048)]
    review_budget_kib: usize,
    /// Milliseconds a client may take to send a whole review body, shorter than the API
    /// server's 5 s webhook timeout; later, 408 and the connection closes.
    #[arg(long, env = "WEBHOOK_BODY_READ_TIMEOUT_MS", default_value_t = 2000)]
    body_read_timeout_ms: u64,
    #[command(flatten)]
    listener: argo_events_httpserve::LimitsArgs,
    /// Seconds a request may take before it is answered 503.
    #[arg(long, env = "WEBHOOK_REQUEST_TIMEOUT", default_value_t = 10)]
    request_timeout: u64,
    /// Log each denial (with its message) at info level. Off by default, as each denial
    /// already goes back to the client and into the API server's audit log; at debug level
    /// every review is logged.
    #[arg(long, env = "WEBHOOK_LOG_DENIALS")]
    log_denials: bool,
    /// Seconds between checks of the certificate files' modification times.
    #[arg(long, env = "WEBHOOK_CERT_CHECK_INTERVAL", default_value_t = 5)]
    cert_check_interval: u64,
}

fn parse_webhook_config(value: &str) -> Result<Vec<Target>, String> {
    cabundle::parse_targets(value)
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(opts: ServeOpts) -> anyhow::Result<()> {
    let snapshot = match &opts.snapshot {
        Some(dir) => Some(load_snapshot(dir)?),
        None => None,
    };
    let policies = match &opts.policies {
        Some(dir) => policy::load_bundle(dir)?,
        None => policy::default_bundle()?,
    };
    tracing::info!(
        source = %opts.policies.as_deref().map_or("compiled-in default".into(), |d| d.display().to_string()),
        policies = policies.len(),
        "loaded the policy bundle"
    );
    // Certificate files (or a replica-local self-signed certificate) are checked before the
    // cluster is contacted; the shared Secret needs the cluster first.
    let local_tls = match opts.cert_secret {
        None => Some(Arc::new(TlsState::new(&opts, None)?)),
        Some(_) => None,
    };
    let targets: Vec<Target> = opts.webhook_configs.iter().flatten().cloned().collect();
    let client = if snapshot.is_none() || !targets.is_empty() || opts.cert_secret.is_some() {
        Some(kube::Client::try_default().await.context(
            "connecting to the Kubernetes API (in-cluster config or KUBECONFIG); without a cluster, give --snapshot DIR",
        )?)
    } else {
        None
    };
    let shared = match (&opts.cert_secret, &client) {
        (Some(name), Some(client)) => Some(shared_certificate(&opts, name, client).await?),
        _ => None,
    };
    let tls = match local_tls {
        Some(tls) => tls,
        None => Arc::new(TlsState::new(&opts, shared.as_ref().map(|s| &s.material))?),
    };
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let facts = Arc::new(FactsCell::default());
    let mut authorizer = None;
    let mut live = None;
    match (snapshot, &client) {
        (Some(snapshot), _) => {
            facts.set(Facts::new(snapshot));
            ready.store(true, Ordering::SeqCst);
        }
        (None, Some(client)) => {
            authorizer = Some(Arc::new(Authorizer::new(
                client.clone(),
                Duration::from_secs(opts.sar_cache_ttl),
                opts.sar_cache_size,
                Duration::from_millis(opts.sar_timeout_ms.max(1)),
            )));
            live = Some(cluster::LiveReader::new(
                client.clone(),
                cluster::LIVE_READ_TIMEOUT,
            ));
            let changed = Arc::new(tokio::sync::Notify::new());
            let (stores, run) = cluster::reflectors(client.clone(), changed.clone());
            tokio::spawn(run);
            tokio::spawn(cluster::keep_facts(stores.clone(), facts.clone(), changed));
            let (facts, ready) = (facts.clone(), ready.clone());
            tokio::spawn(async move {
                tracing::info!("waiting for the EventBus, EventSource and Sensor caches");
                match stores.wait_until_ready().await {
                    Ok(()) => {
                        facts.set(Facts::new(stores.snapshot()));
                        ready.store(true, Ordering::SeqCst);
                        tracing::info!("the caches are synced; ready");
                    }
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "the caches never synced"),
                }
            });
        }
        (None, None) => unreachable!("invariant: a client exists when there is no snapshot"),
    }
    if let (Some(client), Some(ca)) = (&client, &tls.self_signed_pem)
        && !targets.is_empty()
    {
        tokio::spawn(cabundle::patch_all(
            client.clone(),
            targets.clone(),
            ca.clone(),
        ));
    }
    if let (Some(client), Some(shared)) = (&client, shared) {
        let interval = Duration::from_secs(opts.cert_secret_check_interval.max(1));
        tokio::spawn(refresh_from_secret(
            tls.clone(),
            shared,
            client.clone(),
            targets,
            interval,
        ));
    }
    let state = AppState {
        facts,
        authorizer,
        live,
        policies: Arc::new(policies),
        metrics: metrics.clone(),
        body_limit: opts.body_limit,
        log_denials: opts.log_denials,
        reviews: Arc::new(ReviewPermits::new(
            opts.max_concurrent_reviews,
            opts.review_budget_kib,
        )),
    };
    let app = admission_router(state, opts.request_timeout);
    let admission_limits = argo_events_httpserve::Limits {
        body_read_timeout: Duration::from_millis(opts.body_read_timeout_ms.max(1)),
        ..opts.listener.limits()
    };
    let admin_limits = opts.listener.limits();
    let listener = TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("binding the admission address {}", opts.addr))?;
    let admin = TcpListener::bind(opts.admin_addr)
        .await
        .with_context(|| format!("binding the admin address {}", opts.admin_addr))?;
    tracing::info!(addr = %opts.addr, admin_addr = %opts.admin_addr, "serving admission");
    if let (Some(cert), Some(key)) = (opts.tls_cert.clone(), opts.tls_key.clone()) {
        let interval = Duration::from_secs(opts.cert_check_interval.max(1));
        tokio::spawn(watch_certs(tls.clone(), cert, key, interval));
    }
    let admin_app = admin_router(metrics, ready.clone());
    let admin_task = tokio::spawn(async move {
        argo_events_httpserve::serve(
            "admin",
            admin,
            admin_app,
            &admin_limits,
            std::future::pending(),
        )
        .await;
    });
    let admission = argo_events_httpserve::serve_with(
        "admission",
        listener,
        app,
        &admission_limits,
        move |tcp| TlsAcceptor::from(tls.current()).accept(tcp),
        std::future::pending(),
    );
    tokio::select! {
        () = admission => bail!("the admission listener ended"),
        r = admin_task => bail!("the admin server ended: {r:?}"),
        () = shutdown_signal() => {
            tracing::info!("shutting down");
            Ok(())
        }
    }
}

/// The Secret shared by the replicas and what it held last.
struct SharedCert {
    api: kube::Api<k8s_openapi::api::core::v1::Secret>,
    namespace: String,
    name: String,
    dns_names: Vec<String>,
    material: Material,
}

/// Reads (or creates, or renews) the `--cert-secret` Secret.
async fn shared_certificate(
    opts: &ServeOpts,
    name: &str,
    client: &kube::Client,
) -> anyhow::Result<SharedCert> {
    let namespace = opts
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let service = &opts.service_name;
    let mut dns_names = vec![
        service.clone(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ];
    for extra in &opts.dns_names {
        if !dns_names.contains(extra) {
            dns_names.push(extra.clone());
        }
    }
    let api = kube::Api::namespaced(client.clone(), &namespace);
    let material = certsecret::ensure(&api, &namespace, name, &dns_names, certsecret::unix_now)
        .await
        .with_context(|| format!("the shared certificate in Secret {namespace}/{name}"))?;
    Ok(SharedCert {
        api,
        namespace,
        name: name.to_owned(),
        dns_names,
        material,
    })
}

/// Re-reads the shared Secret every `interval` ([`refresh_once`]). A Secret that cannot be used
/// leaves the current certificate in use.
async fn refresh_from_secret(
    tls: Arc<TlsState>,
    mut shared: SharedCert,
    client: kube::Client,
    targets: Vec<Target>,
    interval: Duration,
) {
    let mut trusted = shared.material.ca_pem.clone();
    loop {
        tokio::time::sleep(interval).await;
        refresh_once(&tls, &mut shared, &mut trusted, &client, &targets).await;
    }
}

/// What one refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refreshed {
    /// The Secret holds what is served; caBundle was re-checked (and patched if it differed).
    Unchanged,
    /// The new certificate is trusted by caBundle and now served.
    Switched,
    /// Nothing changed: the Secret could not be read, its certificate does not load, or
    /// caBundle could not be made to trust it (the old certificate is still served).
    Kept,
}

/// One refresh: re-reads the Secret (renewing it when due). Unchanged: re-checks caBundle of
/// every target against `trusted`, so a recreated webhook configuration heals. Changed: first
/// patches caBundle with the new and old CAs, and only once that succeeded serves the new
/// certificate; until then the API server could not verify it.
async fn refresh_once(
    tls: &TlsState,
    shared: &mut SharedCert,
    trusted: &mut String,
    client: &kube::Client,
    targets: &[Target],
) -> Refreshed {
    let id = format!("{}/{}", shared.namespace, shared.name);
    let material = match certsecret::ensure(
        &shared.api,
        &shared.namespace,
        &shared.name,
        &shared.dns_names,
        certsecret::unix_now,
    )
    .await
    {
        Ok(material) => material,
        Err(e) => {
            tracing::warn!(secret = %id, error = %format!("{e:#}"), "cannot refresh the shared certificate; keeping the current one");
            return Refreshed::Kept;
        }
    };
    if material == shared.material {
        if let Err(e) = cabundle::patch_each_once(client, targets, trusted).await {
            tracing::warn!(secret = %id, error = %format!("{e:#}"), "cannot re-check caBundle; retrying at the next refresh");
        }
        return Refreshed::Unchanged;
    }
    let config = match material_config(&material) {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!(secret = %id, error = %format!("{e:#}"), "the Secret's certificate does not load; keeping the current one");
            return Refreshed::Kept;
        }
    };
    let bundle = cabundle::trust_bundle(&material.ca_pem, &shared.material.ca_pem);
    if let Err(e) = cabundle::patch_each_once(client, targets, &bundle).await {
        tracing::warn!(secret = %id, error = %format!("{e:#}"), "caBundle does not trust the new certificate yet; keeping the current one until the next refresh");
        return Refreshed::Kept;
    }
    tls.replace(config);
    tracing::info!(secret = %id, "serving the certificate the Secret now holds");
    shared.material = material;
    *trusted = bundle;
    Refreshed::Switched
}

/// The TLS configuration serving `material`.
fn material_config(material: &Material) -> anyhow::Result<Arc<ServerConfig>> {
    let certs = certsecret::pem_certs(&material.cert_pem)
        .map_err(|e| anyhow::anyhow!("{}: {e}", certsecret::CERT_PEM))?;
    let key = PrivateKeyDer::from_pem_slice(material.key_pem.as_bytes())
        .with_context(|| format!("{}: no PEM private key", certsecret::KEY_PEM))?;
    server_config(certs, key)
}

fn load_snapshot(dir: &Path) -> anyhow::Result<Snapshot> {
    let (docs, errors) = argo_events_api::manifest::load(&[dir.to_owned()])
        .with_context(|| format!("reading the snapshot manifests under {}", dir.display()))?;
    if let Some(e) = errors.first() {
        bail!(
            "snapshot manifests under {} do not parse: {e}",
            dir.display()
        );
    }
    tracing::info!(dir = %dir.display(), documents = docs.len(), "loaded the snapshot");
    Ok(Snapshot::from_documents(&docs, None))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The current TLS configuration; replaced when the certificate files change.
struct TlsState {
    config: RwLock<Arc<ServerConfig>>,
    /// The self-signed certificate (PEM), when there is one.
    self_signed_pem: Option<String>,
}

impl TlsState {
    /// `shared`: the material of the --cert-secret Secret, served instead of a certificate of
    /// this replica's own.
    fn new(opts: &ServeOpts, shared: Option<&Material>) -> anyhow::Result<Self> {
        let mut self_signed_pem = None;
        let config = if let Some(material) = shared {
            if let Some(path) = &opts.write_ca {
                std::fs::write(path, &material.ca_pem)
                    .with_context(|| format!("writing the CA bundle to {}", path.display()))?;
            }
            self_signed_pem = Some(material.ca_pem.clone());
            material_config(material)?
        } else if opts.self_signed {
            let certified = rcgen::generate_simple_self_signed(opts.dns_names.clone())
                .context("generating a self-signed certificate")?;
            let pem = certified.cert.pem();
            if let Some(path) = &opts.write_ca {
                std::fs::write(path, &pem)
                    .with_context(|| format!("writing the CA bundle to {}", path.display()))?;
            }
            self_signed_pem = Some(pem);
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                certified.signing_key.serialize_der(),
            ));
            server_config(vec![certified.cert.der().clone()], key)?
        } else {
            let (Some(cert), Some(key)) = (&opts.tls_cert, &opts.tls_key) else {
                bail!("--tls-cert and --tls-key are required without --self-signed");
            };
            load_server_config(cert, key)?
        };
        Ok(TlsState {
            config: RwLock::new(config),
            self_signed_pem,
        })
    }

    fn current(&self) -> Arc<ServerConfig> {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, config: Arc<ServerConfig>) {
        match self.config.write() {
            Ok(mut c) => *c = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }
}

fn load_server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate {}", cert.display()))?;
    if certs.is_empty() {
        bail!("no certificate in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    server_config(certs, key)
}

/// A TLS configuration serving `certs` with `key`; fails when they do not go together.
pub(crate) fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the certificate and key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Re-reads the certificate and key when either file's modification time changes; a pair
/// that does not load leaves the current one in use.
async fn watch_certs(tls: Arc<TlsState>, cert: PathBuf, key: PathBuf, interval: Duration) {
    let mut seen = (mtime(&cert), mtime(&key));
    loop {
        tokio::time::sleep(interval).await;
        let now = (mtime(&cert), mtime(&key));
        if now == seen {
            continue;
        }
        match load_server_config(&cert, &key) {
            Ok(config) => {
                tls.replace(config);
                seen = now;
                tracing::info!(cert = %cert.display(), "reloaded the TLS certificate");
            }
            Err(e) => {
                tracing::warn!(cert = %cert.display(), error = %format!("{e:#}"), "cannot reload the TLS certificate; keeping the current one");
            }
        }
    }
}

#[derive(Clone)]
struct AppState {
    facts: Arc<FactsCell>,
    /// SubjectAccessReviews for RBAC (cluster mode); `None`: static RBAC over the facts.
    authorizer: Option<Arc<Authorizer>>,
    /// Live reads confirming an absence from the caches before it denies (cluster mode);
    /// `None`: the facts are the whole truth (`--snapshot`).
    live: Option<cluster::LiveReader>,
    policies: Arc<Vec<Policy>>,
    metrics: Arc<Metrics>,
    body_limit: usize,
    /// Log denials at info rather than debug.
    log_denials: bool,
    /// Taken once the body is read.
    reviews: Arc<ReviewPermits>,
}

/// What a review holds while it is decided: one of `count` and one per KiB of its body out of
/// `budget_kib`, both taken after the body is read, so slow clients hold none and memory stays
/// proportional to the bodies in review.
struct ReviewPermits {
    count: tokio::sync::Semaphore,
    budget: tokio::sync::Semaphore,
    budget_kib: u32,
}

impl ReviewPermits {
    fn new(count: usize, budget_kib: usize) -> Self {
        let budget_kib = u32::try_from(budget_kib.max(1)).unwrap_or(u32::MAX >> 4);
        ReviewPermits {
            count: tokio::sync::Semaphore::new(count.max(1)),
            budget: tokio::sync::Semaphore::new(budget_kib as usize),
            budget_kib,
        }
    }

    /// The KiB a body of `len` bytes takes from the budget: at least 1, at most all.
    fn weight(&self, len: usize) -> u32 {
        u32::try_from(len.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.budget_kib)
    }

    async fn acquire(
        &self,
        len: usize,
    ) -> Option<(
        tokio::sync::SemaphorePermit<'_>,
        tokio::sync::SemaphorePermit<'_>,
    )> {
        let count = self.count.acquire().await.ok()?;
        let budget = self.budget.acquire_many(self.weight(len)).await.ok()?;
        Some((count, budget))
    }
}

/// The admission routes, with the body limit and the request timeout (which covers waiting
/// for the review permits, taken in [`admit`] after the body is read).
fn admission_router(state: AppState, timeout_secs: u64) -> Router {
    let timeout = Duration::from_secs(timeout_secs.max(1));
    Router::new()
        .route(
            "/validate",
            post(|s: State<AppState>, h: HeaderMap, b: Body| admit(s, h, b, false)),
        )
        .route(
            "/mutate",
            post(|s: State<AppState>, h: HeaderMap, b: Body| admit(s, h, b, true)),
        )
        // The limit is enforced by `read_body`, which drains what it does not keep.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(
            move |req: Request, next: Next| async move {
                match tokio::time::timeout(timeout, next.run(req)).await {
                    Ok(response) => response,
                    Err(_) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "request timed out".to_owned(),
                    )
                        .into_response(),
                }
            },
        ))
        .with_state(state)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

async fn admit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
    mutate: bool,
) -> Response {
    let started = Instant::now();
    let path = if mutate { "/mutate" } else { "/validate" };
    if !is_json(&headers) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json".to_owned(),
        )
            .into_response();
    }
    let body = match read_body(&headers, body, state.body_limit).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let reviews = state.reviews.clone();
    let Some(_permits) = reviews.acquire(body.len()).await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down".to_owned()).into_response();
    };
    let review: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            state.metrics.record("", "", "malformed", started);
            return (
                StatusCode::BAD_REQUEST,
                format!("malformed AdmissionReview: the body is not JSON: {e}"),
            )
                .into_response();
        }
    };
    drop(body);
    let parsed = match Review::parse(review, mutate) {
        Ok(parsed) => parsed,
        Err(e) => {
            state.metrics.record("", "", "malformed", started);
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let decisions = match (&state.authorizer, parsed.access_checks()) {
        (Some(authorizer), checks) if !checks.is_empty() => Some(authorizer.decide(checks).await),
        _ => None,
    };
    let kind = kind_label(parsed.kind());
    let operation = operation_label(parsed.operation());
    let facts = state.facts.get();
    let presence = match &state.live {
        Some(live) => {
            let absent = parsed.absences(&facts);
            if absent.is_empty() {
                Vec::new()
            } else {
                live.confirm(&absent).await
            }
        }
        None => Vec::new(),
    };
    let response =
        parsed.answer_confirmed(&facts, &state.policies, decisions.as_deref(), &presence);
    let allowed = response
        .pointer("/response/allowed")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let uid = response
        .pointer("/response/uid")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    if allowed {
        tracing::debug!(path, uid, kind, operation, allowed, "reviewed");
    } else {
        let message = response
            .pointer("/response/status/message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        if state.log_denials {
            tracing::info!(path, uid, kind, operation, allowed, message, "denied");
        } else {
            tracing::debug!(path, uid, kind, operation, allowed, message, "denied");
        }
    }
    state.metrics.record(
        kind,
        operation,
        if allowed { "true" } else { "false" },
        started,
    );
    axum::Json(response).into_response()
}

/// Reads a request body of at most `limit` bytes. A larger one is answered 413, after reading
/// and discarding it (up to four times the limit) so the client sees the answer instead of a
/// reset connection; beyond that, or when Content-Length already says so, at once.
async fn read_body(headers: &HeaderMap, mut body: Body, limit: usize) -> Result<Vec<u8>, Response> {
    let drain_cap = limit.saturating_mul(4);
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {limit} bytes"),
        )
            .into_response()
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > drain_cap as u64) {
        return Err(too_large());
    }
    let mut kept = Vec::with_capacity(declared.map_or(0, |n| n.min(limit as u64) as usize));
    let mut seen = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| {
            let status = if argo_events_httpserve::is_body_timeout(&e) {
                StatusCode::REQUEST_TIMEOUT
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, format!("reading the request body: {e}")).into_response()
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            kept.extend_from_slice(&data);
        } else if seen > drain_cap {
            return Err(too_large());
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(kept)
}

/// Labels `{kind, operation, allowed}`, each from a fixed set (a request cannot grow the number
/// of series).
type ReviewLabels = [(&'static str, &'static str); 3];

/// The `kind` label: one of the three kinds, else `other`.
fn kind_label(kind: &str) -> &'static str {
    match kind {
        "EventBus" => "EventBus",
        "EventSource" => "EventSource",
        "Sensor" => "Sensor",
        "" => "",
        _ => "other",
    }
}

/// The `operation` label: an admission operation, else `other`.
fn operation_label(operation: &str) -> &'static str {
    match operation {
        "CREATE" => "CREATE",
        "UPDATE" => "UPDATE",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "" => "",
        _ => "other",
    }
}

/// The webhook's metrics.
struct Metrics {
    registry: Registry,
    reviews: Family<ReviewLabels, Counter>,
    duration: Histogram,
}

impl Metrics {
    fn new() -> Self {
        let mut root = Registry::default();
        argo_events_buildinfo::register_build_info(&mut root, crate::BINARY);
        let registry = root.sub_registry_with_prefix("argo_events_webhook");
        let reviews = Family::<ReviewLabels, Counter>::default();
        // 0.5 ms to about 4 s.
        let duration = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "reviews",
            "AdmissionReviews answered, by kind, operation and allowed (true, false, malformed)",
            reviews.clone(),
        );
        registry.register(
            "review_duration_seconds",
            "Time to answer an AdmissionReview",
            duration.clone(),
        );
        Metrics {
            registry: root,
            reviews,
            duration,
        }
    }

    fn record(&self, kind: &str, operation: &str, allowed: &'static str, started: Instant) {
        self.reviews
            .get_or_create(&[
                ("kind", kind_label(kind)),
                ("operation", operation_label(operation)),
                ("allowed", allowed),
            ])
            .inc();
        self.duration.observe(started.elapsed().as_secs_f64());
    }
}

fn admin_router(metrics: Arc<Metrics>, ready: Arc<AtomicBool>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || async move {
                let mut text = String::new();
                match encode(&mut text, &metrics.registry) {
                    Ok(()) => (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        text,
                    )
                        .into_response(),
                    Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
                }
            }),
        )
        .route("/live", get(|| async { "ok" }))
        .route(
            "/ready",
            get(move || async move {
                if ready.load(Ordering::SeqCst) {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting")
                }
            }),
        )
}

#[cfg(test)]
mod tests;
