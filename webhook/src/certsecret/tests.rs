use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::fake_api::{self, Seen};

const DAY: i64 = 86_400;
const NS: &str = "argo-events";
const NAME: &str = "events-webhook-certs";
const ID: &str = "argo-events/events-webhook-certs";

fn names() -> Vec<String> {
    vec![
        "events-webhook.argo-events.svc".to_owned(),
        "events-webhook.argo-events.svc.cluster.local".to_owned(),
    ]
}

fn stored(material: &Material, rv: &str) -> Secret {
    secret_for(NAME, NS, material, Some(rv.to_owned()))
}

fn data_of(secret: &Secret) -> BTreeMap<String, ByteString> {
    secret.data.clone().unwrap()
}

#[test]
fn generated_material_reads_back_with_its_expiry() {
    let now = unix_now();
    let m = generate(&names(), now, None).unwrap();
    let (read, not_after) = read_material(ID, &data_of(&stored(&m, "1"))).unwrap();
    assert_eq!(read, m);
    let expected = now + VALIDITY.as_secs() as i64;
    assert!(
        (not_after - expected).abs() <= 1,
        "{not_after} vs {expected}"
    );
    // The CA signs the serving certificate and is a different certificate.
    assert_ne!(m.ca_pem, m.cert_pem);
    assert_eq!(pem_certs(&m.ca_pem).unwrap().len(), 1);
}

#[test]
fn the_serving_certificate_verifies_against_the_ca() {
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::pki_types::{ServerName, UnixTime};
    let now = unix_now();
    let m = generate(&names(), now, None).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for ca in pem_certs(&m.ca_pem).unwrap() {
        roots.add(ca).unwrap();
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    let leaf = pem_certs(&m.cert_pem).unwrap().remove(0);
    for name in names() {
        verifier
            .verify_server_cert(
                &leaf,
                &[],
                &ServerName::try_from(name.clone()).unwrap(),
                &[],
                UnixTime::now(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn asn1_times() {
    assert_eq!(parse_time(0x17, "700101000000Z"), Some(0));
    assert_eq!(parse_time(0x17, "491231235959Z"), Some(2_524_607_999));
    assert_eq!(parse_time(0x18, "20000301000000Z"), Some(951_868_800));
    assert_eq!(parse_time(0x18, "40960101000000Z"), Some(67_090_118_400));
    for (tag, bad) in [
        (0x17, "7001010000Z"),
        (0x17, "701301000000Z"),
        (0x18, "20000101000000"),
        (0x18, "2000010100000aZ"),
        (0x17, "20000101000000Z"),
    ] {
        assert_eq!(parse_time(tag, bad), None, "{bad}");
    }
    assert!(not_after(b"\x30\x03\x02\x01\x01").is_err());
    assert!(not_after(b"").is_err());
}

#[test]
fn decisions_from_what_was_read() {
    let now = unix_now();
    let fresh = generate(&names(), now, None).unwrap();
    // Expires in 25 days: renewed.
    let expiring = generate(&names(), now - 340 * DAY, None).unwrap();
    let expired = generate(&names(), now - 400 * DAY, None).unwrap();
    assert_eq!(decide(ID, None, now), Ok(Action::Create));
    assert_eq!(
        decide(ID, Some(&stored(&fresh, "3")), now),
        Ok(Action::Use(fresh.clone()))
    );
    // Still fine 334 days on (31 days left), renewed at 336 (29 left).
    assert!(matches!(
        decide(ID, Some(&stored(&fresh, "3")), now + 334 * DAY),
        Ok(Action::Use(_))
    ));
    for (material, label) in [(&expiring, "expiring"), (&expired, "expired")] {
        assert_eq!(
            decide(ID, Some(&stored(material, "4")), now),
            Ok(Action::Renew {
                old: material.clone(),
                resource_version: Some("4".to_owned())
            }),
            "{label}"
        );
    }
}

#[test]
fn a_broken_secret_is_an_error_naming_it_and_the_key() {
    let now = unix_now();
    let good = generate(&names(), now, None).unwrap();
    let other = generate(&names(), now, None).unwrap();
    let with = |key: &str, value: Option<&str>| {
        let mut secret = stored(&good, "1");
        let data = secret.data.as_mut().unwrap();
        match value {
            Some(v) => data.insert(key.to_owned(), ByteString(v.as_bytes().to_vec())),
            None => data.remove(key),
        };
        secret
    };
    let cases: Vec<(Secret, &str, &str)> = vec![
        (with(KEY_PEM, None), KEY_PEM, "has no key"),
        (with(CERT_PEM, None), CERT_PEM, "has no key"),
        (with(CA_PEM, None), CA_PEM, "has no key"),
        (Secret::default(), KEY_PEM, "has no key"),
        (
            with(CERT_PEM, Some("garbage")),
            CERT_PEM,
            "no PEM certificate",
        ),
        (with(CA_PEM, Some("")), CA_PEM, "no PEM certificate"),
        (
            with(KEY_PEM, Some("garbage")),
            KEY_PEM,
            "no PEM private key",
        ),
        (
            with(KEY_PEM, Some(&other.key_pem)),
            KEY_PEM,
            "do not go together",
        ),
        (
            with(
                CERT_PEM,
                Some("-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n"),
            ),
            CERT_PEM,
            "not an X.509 certificate",
        ),
    ];
    for (secret, key, reason) in cases {
        let err = decide(ID, Some(&secret), now).unwrap_err().to_string();
        assert!(
            err.contains(&format!("Secret {ID}")) && err.contains(key) && err.contains(reason),
            "{key}/{reason}: {err}"
        );
    }
    let mut binary = stored(&good, "1");
    binary
        .data
        .as_mut()
        .unwrap()
        .insert(CA_PEM.to_owned(), ByteString(vec![0xff, 0xfe]));
    assert_eq!(
        decide(ID, Some(&binary), now),
        Err(SecretError::Unparsable {
            secret: ID.to_owned(),
            key: CA_PEM,
            reason: "not UTF-8 text".to_owned()
        })
    );
}

#[test]
fn the_previous_ca_is_kept_after_the_new_one_while_valid() {
    let now = unix_now();
    let old = generate(&names(), now - 340 * DAY, None).unwrap();
    let kept = current_ca(&old.ca_pem, now).unwrap();
    assert_eq!(pem_certs(&kept).unwrap(), pem_certs(&old.ca_pem).unwrap());
    let renewed = generate(&names(), now, Some(&kept)).unwrap();
    let bundle = pem_certs(&renewed.ca_pem).unwrap();
    assert_eq!(bundle.len(), 2);
    assert_eq!(bundle[1], pem_certs(&old.ca_pem).unwrap()[0]);
    // A second renewal keeps only the CA then current, not the one before.
    assert_eq!(
        pem_certs(&current_ca(&renewed.ca_pem, now).unwrap()).unwrap(),
        bundle[..1]
    );
    // An expired CA is not kept.
    let dead = generate(&names(), now - 400 * DAY, None).unwrap();
    assert_eq!(current_ca(&dead.ca_pem, now), None);
}

/// An in-memory Secret endpoint: get, create (409 when it exists), replace (409 when the
/// resourceVersion is not the current one). `stale_gets` GETs answer 404 whatever is stored,
/// as a replica that read before another one created the Secret.
#[derive(Default)]
struct Store {
    secret: Option<Value>,
    version: u64,
    stale_gets: usize,
}

fn secret_api(store: Arc<Mutex<Store>>) -> (Api<Secret>, Arc<Mutex<Vec<Seen>>>) {
    let handler: fake_api::Handler = Arc::new(move |req: &Seen| {
        let collection = format!("/api/v1/namespaces/{NS}/secrets");
        let item = format!("{collection}/{NAME}");
        let path = req.uri.split('?').next().unwrap_or_default();
        let mut store = store.lock().unwrap();
        let not_found = || Some((404, fake_api::status(404, "NotFound", "secrets not found")));
        match (req.method.as_str(), path) {
            ("GET", p) if p == item => {
                if store.stale_gets > 0 {
                    store.stale_gets -= 1;
                    return not_found();
                }
                match &store.secret {
                    Some(s) => Some((200, s.clone())),
                    None => not_found(),
                }
            }
            ("POST", p) if p == collection => {
                if store.secret.is_some() {
                    return Some((
                        409,
                        fake_api::status(409, "AlreadyExists", "secrets already exists"),
                    ));
                }
                store.version += 1;
                let mut body = req.body.clone();
                body["metadata"]["resourceVersion"] = json!(store.version.to_string());
                store.secret = Some(body.clone());
                Some((201, body))
            }
            ("PUT", p) if p == item => {
                let current = store
                    .secret
                    .as_ref()
                    .map(|s| s["metadata"]["resourceVersion"].clone());
                if current != Some(req.body["metadata"]["resourceVersion"].clone()) {
                    return Some((
                        409,
                        fake_api::status(409, "Conflict", "the object has been modified"),
                    ));
                }
                store.version += 1;
                let mut body = req.body.clone();
                body["metadata"]["resourceVersion"] = json!(store.version.to_string());
                store.secret = Some(body.clone());
                Some((200, body))
            }
            _ => Some((404, fake_api::status(404, "NotFound", "unexpected"))),
        }
    });
    let (client, seen) = fake_api::client(handler);
    (Api::namespaced(client, NS), seen)
}

async fn run(api: &Api<Secret>, now: i64) -> anyhow::Result<Material> {
    tokio::time::timeout(
        Duration::from_secs(20),
        ensure(api, NS, NAME, &names(), move || now),
    )
    .await
    .expect("ensure finished")
}

fn stored_material(store: &Arc<Mutex<Store>>) -> Material {
    let value = store.lock().unwrap().secret.clone().unwrap();
    let secret: Secret = serde_json::from_value(value).unwrap();
    read_material(ID, &data_of(&secret)).unwrap().0
}

fn methods(seen: &Arc<Mutex<Vec<Seen>>>) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|s| s.method.to_string())
        .collect()
}

#[tokio::test]
async fn the_first_replica_creates_the_secret() {
    let store = Arc::new(Mutex::new(Store::default()));
    let (api, seen) = secret_api(store.clone());
    let m = run(&api, unix_now()).await.unwrap();
    assert_eq!(stored_material(&store), m);
    assert_eq!(methods(&seen), ["GET", "POST"]);
    let created = &seen.lock().unwrap()[1].body;
    assert_eq!(created["metadata"]["name"], NAME);
    assert_eq!(created["type"], "Opaque");
    let keys: Vec<&String> = created["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, [CA_PEM, CERT_PEM, KEY_PEM]);
}

/// Both replicas read "absent"; one creates, the other's create is answered 409 and it uses
/// the winner's Secret.
#[tokio::test]
async fn racing_replicas_end_with_the_same_certificate() {
    // Deterministic interleaving: B creates; A had read before that (a stale 404), so its
    // create conflicts, and it re-reads.
    let store = Arc::new(Mutex::new(Store::default()));
    let (b_api, _) = secret_api(store.clone());
    let b = run(&b_api, unix_now()).await.unwrap();
    store.lock().unwrap().stale_gets = 1;
    let (a_api, a_seen) = secret_api(store.clone());
    let a = run(&a_api, unix_now()).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(stored_material(&store), b);
    assert_eq!(methods(&a_seen), ["GET", "POST", "GET"]);

    // Truly concurrent.
    let store = Arc::new(Mutex::new(Store::default()));
    let (api, seen) = secret_api(store.clone());
    let now = unix_now();
    let (a, b) = tokio::join!(run(&api, now), run(&api, now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(stored_material(&store), a);
    let seen = seen.lock().unwrap();
    let creates = seen
        .iter()
        .filter(|s| s.method == http::Method::POST)
        .count();
    assert!((1..=2).contains(&creates), "{creates}");
    assert_eq!(store.lock().unwrap().version, 1, "created once");
}

#[tokio::test]
async fn an_existing_secret_is_reused() {
    let now = unix_now();
    let existing = generate(&names(), now - 10 * DAY, None).unwrap();
    let store = Arc::new(Mutex::new(Store {
        secret: Some(serde_json::to_value(stored(&existing, "9")).unwrap()),
        version: 9,
        stale_gets: 0,
    }));
    let (api, seen) = secret_api(store.clone());
    assert_eq!(run(&api, now).await.unwrap(), existing);
    assert_eq!(methods(&seen), ["GET"]);
}

#[tokio::test]
async fn an_expiring_certificate_is_renewed_keeping_the_old_ca() {
    let now = unix_now();
    let old = generate(&names(), now - 340 * DAY, None).unwrap();
    let store = Arc::new(Mutex::new(Store {
        secret: Some(serde_json::to_value(stored(&old, "9")).unwrap()),
        version: 9,
        stale_gets: 0,
    }));
    let (api, seen) = secret_api(store.clone());
    let renewed = run(&api, now).await.unwrap();
    assert_ne!(renewed.cert_pem, old.cert_pem);
    assert_eq!(stored_material(&store), renewed);
    assert_eq!(methods(&seen), ["GET", "PUT"]);
    assert_eq!(
        seen.lock().unwrap()[1].body["metadata"]["resourceVersion"],
        "9",
        "the update is conditional on what was read"
    );
    let bundle = pem_certs(&renewed.ca_pem).unwrap();
    assert_eq!(bundle[1], pem_certs(&old.ca_pem).unwrap()[0]);
    // Fresh now.
    assert!(matches!(
        decide(ID, Some(&stored(&renewed, "10")), now),
        Ok(Action::Use(_))
    ));
}

/// Two replicas renew at once: the second update conflicts and that replica uses the first's.
#[tokio::test]
async fn concurrent_renewals_end_with_the_same_certificate() {
    let now = unix_now();
    let old = generate(&names(), now - 340 * DAY, None).unwrap();
    let store = Arc::new(Mutex::new(Store {
        secret: Some(serde_json::to_value(stored(&old, "9")).unwrap()),
        version: 9,
        stale_gets: 0,
    }));
    let (api, seen) = secret_api(store.clone());
    let (a, b) = tokio::join!(run(&api, now), run(&api, now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(stored_material(&store), a);
    assert_eq!(store.lock().unwrap().version, 10, "renewed once");
    let puts = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == http::Method::PUT)
        .count();
    assert!((1..=2).contains(&puts), "{puts}");
}

#[tokio::test]
async fn a_broken_secret_is_not_overwritten() {
    let now = unix_now();
    let mut broken = stored(&generate(&names(), now, None).unwrap(), "9");
    broken.data.as_mut().unwrap().remove(CERT_PEM);
    let store = Arc::new(Mutex::new(Store {
        secret: Some(serde_json::to_value(&broken).unwrap()),
        version: 9,
        stale_gets: 0,
    }));
    let (api, seen) = secret_api(store.clone());
    let err = format!("{:#}", run(&api, now).await.unwrap_err());
    assert!(err.contains(ID) && err.contains(CERT_PEM), "{err}");
    assert_eq!(methods(&seen), ["GET"]);
    assert_eq!(store.lock().unwrap().version, 9);
}

#[tokio::test]
async fn other_api_errors_name_the_secret() {
    let handler: fake_api::Handler = Arc::new(|_: &Seen| {
        Some((
            403,
            fake_api::status(403, "Forbidden", "secrets is forbidden"),
        ))
    });
    let (client, _) = fake_api::client(handler);
    let api: Api<Secret> = Api::namespaced(client, NS);
    let err = format!("{:#}", run(&api, unix_now()).await.unwrap_err());
    assert!(
        err.contains(&format!("reading Secret {ID}")) && err.contains("forbidden"),
        "{err}"
    );
}
