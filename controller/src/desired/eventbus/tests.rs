//! Tests of the JetStream EventBus builders.

use super::*;

fn global() -> JetStreamGlobalConfig {
    JetStreamGlobalConfig {
        settings: "max_memory_store: -1\nmax_file_store: 1TB".into(),
        stream_config: "maxMsgs: 50000\nmaxAge: 168h\nmaxBytes: -1\nreplicas: 3\nduplicates: 300s\nretention: 0\ndiscard: 0\n".into(),
        versions: vec![JetStreamVersion {
            version: "latest".into(),
            nats_image: "nats:2.10".into(),
            config_reloader_image: "natsio/nats-server-config-reloader:0.14".into(),
            metrics_exporter_image: "natsio/prometheus-nats-exporter:0.14".into(),
            start_command: "/nats-server".into(),
        }],
    }
}

fn bus(replicas: Option<i32>) -> EventBus {
    let mut b = EventBus::default();
    b.metadata.name = Some("default".into());
    b.metadata.namespace = Some("argo-events".into());
    b.metadata.labels = Some(BTreeMap::from([("team".into(), "a".into())]));
    b.spec.jetstream = Some(JetStreamBus {
        version: "latest".into(),
        replicas,
        stream_config: Some("maxAge: 24h\n".into()),
        ..Default::default()
    });
    b
}

#[test]
fn config_map_single_and_cluster() {
    let single = nats_config(&bus(Some(1)), &global()).unwrap();
    assert!(single.starts_with("max_payload: 1MB\nport: 4222\n"));
    assert!(single.contains("jetstream {\n  key: \"$JS_KEY\"\n  store_dir: \"/data/jetstream/store\"\n  max_memory_store: -1"));
    assert!(single.contains("lame_duck_duration: 30s"));
    assert!(!single.contains("cluster {"));
    assert!(single.ends_with("include ./auth.conf"));

    let cm = jetstream_config_map(&bus(None), &global()).unwrap();
    assert_eq!(
        cm.metadata.name.as_deref(),
        Some("eventbus-default-js-config")
    );
    let text = &cm.data.as_ref().unwrap()["nats-js"];
    assert!(text.contains("routes: [nats://eventbus-default-js-0.eventbus-default-js-svc.argo-events.svc:6222,nats://eventbus-default-js-1.eventbus-default-js-svc.argo-events.svc:6222,nats://eventbus-default-js-2.eventbus-default-js-svc.argo-events.svc:6222]"));
    assert!(text.contains("name: default"));
    let hash = &cm.metadata.annotations.as_ref().unwrap()[ANNOTATION_RESOURCE_SPEC_HASH];
    assert_eq!(hash.len(), 64);
}

#[test]
fn pdb_only_for_three_or_more() {
    assert!(
        jetstream_pod_disruption_budget(&bus(Some(1)))
            .unwrap()
            .is_none()
    );
    let pdb = jetstream_pod_disruption_budget(&bus(None))
        .unwrap()
        .unwrap();
    assert_eq!(pdb.metadata.name.as_deref(), Some("eventbus-default-js"));
    let spec = pdb.spec.unwrap();
    assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
    assert_eq!(spec.selector.unwrap().match_labels.unwrap().len(), 3);
}

#[test]
fn service_ports() {
    let svc = jetstream_service(&bus(None)).unwrap();
    assert_eq!(
        svc.metadata.name.as_deref(),
        Some("eventbus-default-js-svc")
    );
    let spec = svc.spec.unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
    assert_eq!(spec.publish_not_ready_addresses, Some(true));
    let ports: Vec<_> = spec
        .ports
        .unwrap()
        .into_iter()
        .map(|p| (p.name.unwrap(), p.port))
        .collect();
    assert_eq!(
        ports,
        [
            ("tcp-client".to_string(), 4222),
            ("cluster".to_string(), 6222),
            ("metrics".to_string(), 7777),
            ("monitor".to_string(), 8222)
        ]
    );
}

#[test]
fn stateful_set_shape() {
    let sts = jetstream_stateful_set(&bus(None), &global()).unwrap();
    assert_eq!(sts.metadata.name.as_deref(), Some("eventbus-default-js"));
    let labels = sts.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["team"], "a");
    assert_eq!(labels["controller"], "eventbus-controller");
    assert_eq!(labels["eventbus-name"], "default");
    let spec = sts.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(
        spec.service_name.as_deref(),
        Some("eventbus-default-js-svc")
    );
    assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
    let pod = spec.template.spec.as_ref().unwrap();
    let names: Vec<_> = pod.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["main", "reloader", "metrics"]);
    let env: Vec<_> = pod.containers[0]
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        env,
        [
            "POD_NAME",
            "SERVER_NAME",
            "POD_NAMESPACE",
            "CLUSTER_ADVERTISE",
            "JS_KEY"
        ]
    );
    let vols: Vec<_> = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(vols, ["pid", "config-volume", "js-data"]);
    assert!(spec.volume_claim_templates.is_none());

    let mut persistent = bus(Some(1));
    persistent.spec.jetstream.as_mut().unwrap().persistence = Some(Default::default());
    let sts = jetstream_stateful_set(&persistent, &global()).unwrap();
    let spec = sts.spec.unwrap();
    let claim = &spec.volume_claim_templates.unwrap()[0];
    assert_eq!(
        claim.metadata.name.as_deref(),
        Some("eventbus-default-js-vol")
    );

    let mut unknown = bus(None);
    unknown.spec.jetstream.as_mut().unwrap().version = "0.0.1".into();
    assert!(jetstream_stateful_set(&unknown, &global()).is_err());
}

#[test]
fn secrets_and_status_config() {
    let creds = JetStreamCredentials {
        js_user: "user1234".into(),
        js_password: "p".repeat(16),
        ..generate_passwords()
    };
    let [server, client] = jetstream_secrets(&bus(None), &creds);
    assert_eq!(
        server.metadata.name.as_deref(),
        Some("eventbus-default-js-server")
    );
    let data = server.data.unwrap();
    assert_eq!(data["encryption"].0.len(), 32);
    assert!(
        String::from_utf8_lossy(&data["auth"].0)
            .contains("{user: user1234, password: pppppppppppppppp}")
    );
    assert_eq!(
        client.metadata.name.as_deref(),
        Some("eventbus-default-js-client-auth")
    );
    assert_eq!(
        client.data.unwrap()["client-auth"].0,
        b"username: user1234\npassword: pppppppppppppppp"
    );

    let g = generate_passwords();
    assert_eq!(
        (g.js_user.len(), g.js_password.len(), g.sys_password.len()),
        (8, 16, 24)
    );

    let cfg = jetstream_status_config(&bus(None), &global()).unwrap();
    assert_eq!(
        cfg.url,
        "nats://eventbus-default-js-svc.argo-events.svc:4222"
    );
    assert_eq!(cfg.access_secret.unwrap().key, "client-auth");
    let merged: BTreeMap<String, serde_yaml_ng::Value> =
        serde_yaml_ng::from_str(&cfg.stream_config).unwrap();
    assert_eq!(merged["maxage"], serde_yaml_ng::Value::from("24h"));
    assert_eq!(merged["maxmsgs"], serde_yaml_ng::Value::from(50000));
    assert!(!merged.contains_key("maxAge"));
}

#[test]
fn bus_config_per_kind() {
    let js = bus_config(&bus(None), &global()).unwrap();
    assert!(js.jetstream.is_some());
    let mut kafka = EventBus::default();
    kafka.metadata.name = Some("k".into());
    kafka.metadata.namespace = Some("ns".into());
    kafka.spec.kafka = Some(argo_events_api::KafkaBus {
        url: "kafka:9092".into(),
        ..Default::default()
    });
    assert_eq!(
        bus_config(&kafka, &global()).unwrap().kafka.unwrap().topic,
        "ns-k"
    );
    let mut stan = kafka.clone();
    stan.spec.kafka = None;
    stan.spec.nats = Some(argo_events_api::NATSBus {
        native: Some(argo_events_api::NativeStrategy {
            auth: Some("token".into()),
            ..Default::default()
        }),
        exotic: None,
    });
    let nats = bus_config(&stan, &global()).unwrap().nats.unwrap();
    assert_eq!(nats.url, "nats://eventbus-k-stan-svc:4222");
    assert_eq!(nats.access_secret.unwrap().name, "eventbus-k-client");
    let mut empty = kafka;
    empty.spec = Default::default();
    assert!(bus_config(&empty, &global()).is_err());
}

/// A minimal DER reader, enough to look inside the generated certificates.
mod der {
    /// One TLV: tag byte, contents, and the whole encoding.
    #[derive(Clone, Copy, Debug)]
    pub struct Tlv<'a> {
        pub tag: u8,
        pub body: &'a [u8],
        pub raw: &'a [u8],
    }

    /// The first TLV of `input` and what follows it.
    pub fn read(input: &[u8]) -> (Tlv<'_>, &[u8]) {
        let tag = input[0];
        let (len, header) = match input[1] {
            n if n < 0x80 => (usize::from(n), 2),
            n => {
                let count = usize::from(n & 0x7f);
                let len = input[2..2 + count]
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                (len, 2 + count)
            }
        };
        let end = header + len;
        (
            Tlv {
                tag,
                body: &input[header..end],
                raw: &input[..end],
            },
            &input[end..],
        )
    }

    /// The TLVs inside a constructed value.
    pub fn children(mut body: &[u8]) -> Vec<Tlv<'_>> {
        let mut out = Vec::new();
        while !body.is_empty() {
            let (tlv, rest) = read(body);
            out.push(tlv);
            body = rest;
        }
        out
    }
}

/// What the tests check of one certificate.
#[derive(Debug)]
struct CertInfo {
    issuer: Vec<u8>,
    subject: Vec<u8>,
    spki: Vec<u8>,
    not_before: String,
    not_after: String,
    dns_names: Vec<String>,
    is_ca: bool,
    ext_key_usages: Vec<Vec<u8>>,
}

const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];
const EKU_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
const EKU_CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

/// The DER of the single PEM block of `pem`, checking its label.
fn pem_der(pem: &str, label: &str) -> Vec<u8> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let lines: Vec<&str> = pem.lines().map(str::trim).collect();
    assert_eq!(lines.first(), Some(&begin.as_str()), "{pem}");
    assert_eq!(lines.last(), Some(&end.as_str()), "{pem}");
    base64::engine::general_purpose::STANDARD
        .decode(lines[1..lines.len() - 1].concat())
        .unwrap()
}

fn parse_cert(pem: &str) -> CertInfo {
    let der = pem_der(pem, "CERTIFICATE");
    let (cert, rest) = der::read(&der);
    assert!(rest.is_empty());
    let tbs = der::children(der::children(cert.body)[0].body);
    // version [0], serial, signature algorithm, issuer, validity, subject, spki, extensions [3]
    assert_eq!(tbs[0].tag, 0xa0);
    let serial = tbs[1];
    assert_eq!(serial.tag, 0x02);
    assert!(serial.body[0] & 0x80 == 0, "serial must be positive");
    let validity = der::children(tbs[4].body);
    let time = |t: der::Tlv<'_>| String::from_utf8(t.body.to_vec()).unwrap();
    let mut info = CertInfo {
        issuer: tbs[3].raw.to_vec(),
        subject: tbs[5].raw.to_vec(),
        spki: tbs[6].raw.to_vec(),
        not_before: time(validity[0]),
        not_after: time(validity[1]),
        dns_names: vec![],
        is_ca: false,
        ext_key_usages: vec![],
    };
    let extensions = tbs.iter().find(|t| t.tag == 0xa3).unwrap();
    for ext in der::children(der::children(extensions.body)[0].body) {
        let parts = der::children(ext.body);
        let oid = parts[0].body;
        let value = parts.last().unwrap().body;
        // KeyUsage and the key identifiers hold no nested TLVs: only look inside these three.
        if ![OID_SAN, OID_BASIC_CONSTRAINTS, OID_EXT_KEY_USAGE].contains(&oid) {
            continue;
        }
        let inner = der::children(der::read(value).0.body);
        if oid == OID_SAN {
            info.dns_names = inner
                .iter()
                .filter(|n| n.tag == 0x82)
                .map(|n| String::from_utf8(n.body.to_vec()).unwrap())
                .collect();
        } else if oid == OID_BASIC_CONSTRAINTS {
            info.is_ca = inner
                .first()
                .is_some_and(|b| b.tag == 0x01 && b.body == [0xff]);
        } else if oid == OID_EXT_KEY_USAGE {
            info.ext_key_usages = inner.iter().map(|o| o.body.to_vec()).collect();
        }
    }
    info
}

/// Days since 1970-01-01 of a UTCTime `YYMMDDhhmmssZ` (years 1950..2049).
fn utc_time_days(t: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap();
    let yy = n(0..2);
    let (y, m, d) = (
        if yy < 50 { 2000 + yy } else { 1900 + yy },
        n(2..4),
        n(4..6),
    );
    // Inverse of `civil_from_days`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[test]
fn civil_dates_round_trip() {
    for (days, want) in [
        (0, (1970, 1, 1)),
        (59, (1970, 3, 1)),
        (11_016, (2000, 2, 29)),
        (20_779, (2026, 11, 22)),
        (24_429, (2036, 11, 19)),
    ] {
        assert_eq!(civil_from_days(days), want, "{days}");
        let (y, m, d) = want;
        assert_eq!(
            utc_time_days(&format!("{:02}{m:02}{d:02}000000Z", y % 100)),
            days
        );
    }
}

fn check_pair(key_pem: &str, cert_pem: &str, ca_pem: &str, hosts: &[String], client_auth: bool) {
    use rcgen::PublicKeyData as _;
    let cert = parse_cert(cert_pem);
    let ca = parse_cert(ca_pem);
    // The CA is self-signed and a CA; the leaf is issued by it and is not a CA.
    assert!(ca.is_ca);
    assert_eq!(ca.issuer, ca.subject);
    assert!(!cert.is_ca);
    assert_eq!(cert.issuer, ca.subject);
    assert_ne!(cert.spki, ca.spki);
    // O=io.argoproj on both.
    for subject in [&cert.subject, &ca.subject] {
        let needle = [OID_ORGANIZATION, &[0x0c, 11], b"io.argoproj"].concat();
        assert!(
            subject
                .windows(needle.len())
                .any(|w| w == needle.as_slice()),
            "{subject:?}"
        );
    }
    // The DNS names, on both, as upstream.
    assert_eq!(cert.dns_names, hosts);
    assert_eq!(ca.dns_names, hosts);
    // Usages.
    assert_eq!(ca.ext_key_usages, [EKU_SERVER_AUTH, EKU_CLIENT_AUTH]);
    let mut want = vec![EKU_SERVER_AUTH.to_vec()];
    if client_auth {
        want.push(EKU_CLIENT_AUTH.to_vec());
    }
    assert_eq!(cert.ext_key_usages, want);
    // Ten years (10 × 365 days) from today.
    let today = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 86_400,
    )
    .unwrap();
    for c in [&cert, &ca] {
        let from = utc_time_days(&c.not_before);
        assert!((today - 1..=today).contains(&from), "{}", c.not_before);
        assert_eq!(utc_time_days(&c.not_after) - from, CERT_VALIDITY_DAYS);
    }
    // The private key parses and belongs to the certificate.
    pem_der(key_pem, "PRIVATE KEY");
    let key = rcgen::KeyPair::from_pem(key_pem).unwrap();
    assert_eq!(key.subject_public_key_info(), cert.spki);
}

#[test]
fn generated_credentials_carry_upstream_certificates() {
    let b = bus(None);
    let creds = generate_credentials(&b).unwrap();
    assert_eq!(
        server_cert_hosts(&b),
        [
            "eventbus-default-js-svc.argo-events.svc.cluster.local",
            "eventbus-default-js-svc.argo-events.svc"
        ]
    );
    assert_eq!(
        cluster_cert_hosts(&b),
        [
            "*.eventbus-default-js-svc.argo-events.svc.cluster.local",
            "*.eventbus-default-js-svc.argo-events.svc"
        ]
    );
    check_pair(
        &creds.server_key_pem,
        &creds.server_cert_pem,
        &creds.ca_cert_pem,
        &server_cert_hosts(&b),
        false,
    );
    check_pair(
        &creds.cluster_key_pem,
        &creds.cluster_cert_pem,
        &creds.cluster_ca_cert_pem,
        &cluster_cert_hosts(&b),
        true,
    );
    // Separate CAs for the client port and the routes, as upstream.
    assert_ne!(creds.ca_cert_pem, creds.cluster_ca_cert_pem);
    assert_eq!(
        (
            creds.js_user.len(),
            creds.js_password.len(),
            creds.sys_password.len(),
            creds.encryption_key.len()
        ),
        (8, 16, 24, 32)
    );
}

#[test]
fn generated_credentials_differ_between_calls() {
    let (a, b) = (
        generate_credentials(&bus(None)).unwrap(),
        generate_credentials(&bus(None)).unwrap(),
    );
    for (x, y) in [
        (&a.js_user, &b.js_user),
        (&a.js_password, &b.js_password),
        (&a.sys_password, &b.sys_password),
        (&a.encryption_key, &b.encryption_key),
        (&a.server_key_pem, &b.server_key_pem),
        (&a.server_cert_pem, &b.server_cert_pem),
        (&a.ca_cert_pem, &b.ca_cert_pem),
        (&a.cluster_key_pem, &b.cluster_key_pem),
        (&a.cluster_cert_pem, &b.cluster_cert_pem),
        (&a.cluster_ca_cert_pem, &b.cluster_ca_cert_pem),
    ] {
        assert_ne!(x, y);
    }
}

#[test]
fn server_secret_carries_every_key_non_empty() {
    let creds = generate_credentials(&bus(None)).unwrap();
    let [server, client] = jetstream_secrets(&bus(None), &creds);
    let data = server.data.unwrap();
    let keys: Vec<_> = data.keys().map(String::as_str).collect();
    let mut want = [
        "auth",
        "encryption",
        "private-key",
        "cert",
        "ca-cert",
        "cluster-private-key",
        "cluster-cert",
        "cluster-ca-cert",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    for (k, v) in &data {
        assert!(!v.0.is_empty(), "{k} is empty");
    }
    assert_eq!(data["cert"].0, creds.server_cert_pem.as_bytes());
    assert_eq!(
        data["cluster-ca-cert"].0,
        creds.cluster_ca_cert_pem.as_bytes()
    );
    assert!(!client.data.unwrap()["client-auth"].0.is_empty());
}

/// Every file the nats configuration and `auth.conf` name under `/etc/nats-config` is projected
/// into the StatefulSet's `config-volume` from a key the ConfigMap or server Secret holds, and
/// every projected PEM file is used.
#[test]
fn config_files_match_the_projected_volume() {
    let b = bus(None);
    let creds = generate_credentials(&b).unwrap();
    let sts = jetstream_stateful_set(&b, &global()).unwrap();
    let pod = sts.spec.unwrap().template.spec.unwrap();
    let main = &pod.containers[0];
    let mount = main
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == "config-volume")
        .unwrap();
    assert_eq!(mount.mount_path, "/etc/nats-config");
    let volume = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "config-volume")
        .unwrap();
    let cm = jetstream_config_map(&b, &global()).unwrap();
    let cm_data = cm.data.unwrap();
    let [server, _] = jetstream_secrets(&b, &creds);
    let secret_data = server.data.unwrap();

    let mut provided = std::collections::BTreeSet::new();
    for source in volume.projected.unwrap().sources.unwrap() {
        if let Some(c) = source.config_map {
            assert_eq!(c.name, config_map_name(&b));
            for item in c.items.unwrap() {
                assert!(cm_data.contains_key(&item.key), "{}", item.key);
                provided.insert(item.path);
            }
        }
        if let Some(s) = source.secret {
            assert_eq!(s.name, server_secret_name(&b));
            for item in s.items.unwrap() {
                assert!(secret_data.contains_key(&item.key), "{}", item.key);
                provided.insert(item.path);
            }
        }
    }

    fn referenced(text: &str) -> Vec<String> {
        text.split("\"/etc/nats-config/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect()
    }
    let nats_conf = &cm_data[CONFIG_MAP_KEY];
    let mut used: std::collections::BTreeSet<String> = referenced(&server_auth_config(&creds))
        .into_iter()
        .chain(referenced(nats_conf))
        .collect();
    assert!(nats_conf.contains("include ./auth.conf"));
    used.insert("auth.conf".to_owned());
    let command = main.command.as_ref().unwrap();
    used.insert(
        command[2]
            .strip_prefix("/etc/nats-config/")
            .unwrap()
            .to_owned(),
    );
    assert_eq!(
        pod.containers[1].args.as_ref().unwrap()[3],
        "/etc/nats-config/nats-js.conf"
    );
    assert_eq!(used, provided);
    assert!(used.contains("cluster-ca-cert.pem") && used.contains("ca-cert.pem"));
}
