use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use tower::ServiceExt as _;

use base64::Engine as _;
use serde_json::{Value, json};

use super::*;
use crate::fake_api::{self, Seen};

const NS: &str = "argo-events";
const CONFIG: &str = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/v";
const SECRET: &str = "/api/v1/namespaces/argo-events/secrets/certs";

fn material(previous: Option<&str>) -> Material {
    certsecret::generate(
        &["events-webhook".to_owned()],
        certsecret::unix_now(),
        previous,
    )
    .unwrap()
}

fn config(bundle: Option<&str>) -> Value {
    let mut client = json!({"service": {"name": "s", "namespace": NS}});
    if let Some(b) = bundle {
        client["caBundle"] = json!(base64::engine::general_purpose::STANDARD.encode(b));
    }
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "v", "resourceVersion": "7"},
        "webhooks": [{"name": "w.example", "admissionReviewVersions": ["v1"],
            "sideEffects": "None", "clientConfig": client}]})
}

/// The fake cluster: the Secret holds `secret`; the configuration's caBundle is `bundle`
/// (`None`: recreated without one); PATCHes fail while `fail_patches` is set.
struct Cluster {
    secret: Mutex<Material>,
    bundle: Mutex<Option<String>>,
    fail_patches: std::sync::atomic::AtomicBool,
    patches: AtomicUsize,
}

fn handler(cluster: Arc<Cluster>) -> fake_api::Handler {
    Arc::new(move |req: &Seen| {
        let path = req.uri.split('?').next().unwrap_or_default();
        match (req.method.as_str(), path) {
            ("GET", SECRET) => {
                let m = cluster.secret.lock().unwrap().clone();
                let secret = certsecret::secret_for("certs", NS, &m, Some("1".into()));
                Some((200, serde_json::to_value(secret).unwrap()))
            }
            ("GET", CONFIG) => Some((200, config(cluster.bundle.lock().unwrap().as_deref()))),
            ("PATCH", CONFIG) => {
                cluster.patches.fetch_add(1, Ordering::SeqCst);
                if cluster.fail_patches.load(Ordering::SeqCst) {
                    return Some((500, fake_api::status(500, "InternalError", "etcd is down")));
                }
                let encoded = req.body["webhooks"][0]["clientConfig"]["caBundle"]
                    .as_str()
                    .unwrap();
                let pem = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap();
                let pem = String::from_utf8(pem).unwrap();
                *cluster.bundle.lock().unwrap() = Some(pem.clone());
                Some((200, config(Some(&pem))))
            }
            _ => Some((404, fake_api::status(404, "NotFound", "unexpected"))),
        }
    })
}

/// A renewal is served only after caBundle trusts the new CA (with the old one); while the
/// patch fails, the old certificate stays. Unchanged ticks heal a recreated configuration.
#[tokio::test]
async fn renewal_patches_ca_bundle_before_serving_and_ticks_heal_it() {
    let old = material(None);
    let cluster = Arc::new(Cluster {
        secret: Mutex::new(old.clone()),
        bundle: Mutex::new(Some(old.ca_pem.clone())),
        fail_patches: true.into(),
        patches: AtomicUsize::new(0),
    });
    let (client, _seen) = fake_api::client(handler(cluster.clone()));
    let served = material_config(&old).unwrap();
    let tls = TlsState {
        config: RwLock::new(served.clone()),
        self_signed_pem: None,
    };
    let mut shared = SharedCert {
        api: kube::Api::namespaced(client.clone(), NS),
        namespace: NS.into(),
        name: "certs".into(),
        dns_names: vec!["events-webhook".into()],
        material: old.clone(),
    };
    let mut trusted = old.ca_pem.clone();
    let targets = cabundle::parse_targets("validating:v").unwrap();
    let tick = async |shared: &mut SharedCert, trusted: &mut String| {
        tokio::time::timeout(
            Duration::from_secs(10),
            refresh_once(&tls, shared, trusted, &client, &targets),
        )
        .await
        .unwrap()
    };

    // Unchanged and trusted: nothing patched.
    assert_eq!(tick(&mut shared, &mut trusted).await, Refreshed::Unchanged);
    assert_eq!(cluster.patches.load(Ordering::SeqCst), 0);

    // Another replica renewed the Secret (its bundle lacks the old CA); caBundle cannot be
    // patched: the old certificate is still served.
    let renewed = material(None);
    *cluster.secret.lock().unwrap() = renewed.clone();
    assert_eq!(tick(&mut shared, &mut trusted).await, Refreshed::Kept);
    assert!(Arc::ptr_eq(&tls.current(), &served));
    assert_eq!(shared.material, old);

    // The patch goes through: caBundle trusts new and old, then the new one is served.
    cluster.fail_patches.store(false, Ordering::SeqCst);
    assert_eq!(tick(&mut shared, &mut trusted).await, Refreshed::Switched);
    assert!(!Arc::ptr_eq(&tls.current(), &served));
    assert_eq!(shared.material, renewed);
    let bundle = cluster.bundle.lock().unwrap().clone().unwrap();
    assert!(bundle.starts_with(renewed.ca_pem.trim()), "{bundle}");
    assert!(bundle.contains(old.ca_pem.trim()), "{bundle}");
    assert_eq!(trusted, bundle);

    // The configuration is recreated without caBundle: the next tick writes it back.
    *cluster.bundle.lock().unwrap() = None;
    let patches = cluster.patches.load(Ordering::SeqCst);
    assert_eq!(tick(&mut shared, &mut trusted).await, Refreshed::Unchanged);
    assert_eq!(cluster.patches.load(Ordering::SeqCst), patches + 1);
    assert_eq!(
        cluster.bundle.lock().unwrap().as_deref(),
        Some(bundle.as_str())
    );
    // And then leaves it alone.
    assert_eq!(tick(&mut shared, &mut trusted).await, Refreshed::Unchanged);
    assert_eq!(cluster.patches.load(Ordering::SeqCst), patches + 1);
}

#[test]
fn the_trust_bundle_keeps_new_then_missing_old_certificates() {
    let a = material(None).ca_pem;
    let b = material(None).ca_pem;
    let ab = cabundle::trust_bundle(&a, &b);
    assert_eq!(ab, format!("{}\n{}\n", a.trim(), b.trim()));
    // Already contained: not repeated.
    assert_eq!(cabundle::trust_bundle(&ab, &b), ab);
    assert_eq!(cabundle::trust_bundle(&a, &a), format!("{}\n", a.trim()));
}

/// The Secret is re-read every minute by default, so caBundle heals within one.
#[test]
fn serve_defaults() {
    use clap::Parser as _;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        opts: ServeOpts,
    }
    let cli = Cli::try_parse_from(["x", "--self-signed"]).unwrap();
    assert_eq!(cli.opts.cert_secret_check_interval, 60);
}

#[test]
fn body_and_concurrency_defaults() {
    use clap::Parser as _;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        opts: ServeOpts,
    }
    let cli = Cli::try_parse_from(["x", "--self-signed"]).unwrap();
    assert_eq!(cli.opts.body_limit, 8 * 1024 * 1024);
    assert_eq!(cli.opts.max_concurrent_reviews, 256);
    let cli = Cli::try_parse_from(["x", "--self-signed", "--max-concurrent-reviews", "3"]).unwrap();
    assert_eq!(cli.opts.max_concurrent_reviews, 3);
}

/// A review waits for its permits after its body is read; the request timeout covers the wait.
#[tokio::test]
async fn reviews_beyond_the_concurrency_limit_wait_within_the_timeout() {
    let reviews = Arc::new(ReviewPermits::new(1, 64));
    let state = AppState {
        facts: Arc::new(FactsCell::default()),
        authorizer: None,
        live: None,
        policies: Arc::new(Vec::new()),
        metrics: Arc::new(Metrics::new()),
        body_limit: 1024 * 1024,
        log_denials: false,
        reviews: reviews.clone(),
    };
    let app = admission_router(state, 1);
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Sensor"},
            "operation": "DELETE", "namespace": NS}});
    let request = || {
        Request::builder()
            .method("POST")
            .uri("/validate")
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&review).unwrap()))
            .unwrap()
    };
    // The only permit is taken: the review waits and times out.
    let held = reviews.count.acquire().await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), app.clone().oneshot(request()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Released: answered.
    drop(held);
    let r = tokio::time::timeout(Duration::from_secs(10), app.clone().oneshot(request()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(reviews.count.available_permits(), 1);
    // A body larger than the whole budget takes all of it, not more: it is still answered.
    assert_eq!(reviews.weight(10 * 1024 * 1024), 64);
    assert_eq!(reviews.weight(0), 1);
    assert_eq!(reviews.weight(1025), 2);
    // All the budget is held: the review waits and times out, then goes through.
    let budget = reviews.budget.acquire_many(64).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), app.clone().oneshot(request()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    drop(budget);
    let r = tokio::time::timeout(Duration::from_secs(10), app.oneshot(request()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
