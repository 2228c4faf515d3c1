//! One self-signed certificate shared by every replica, through a Secret (upstream's
//! `events-webhook-certs`, keys `server-key.pem`, `server-cert.pem`, `ca-cert.pem`).
//!
//! The first replica generates a CA and a serving certificate signed by it and creates the
//! Secret; the others (and restarts) read it. A create answered 409 means another replica won:
//! the winner's Secret is read and used. A certificate expiring within [`RENEW_BEFORE`] is
//! regenerated and written back with a `resourceVersion` precondition (a conflict: re-read).
//! The new `ca-cert.pem` keeps the previous CA after the new one, so a replica still serving
//! the old certificate stays trusted until it picks up the new one.
//!
//! The decisions ([`decide`], [`read_material`], [`generate`]) are pure; [`ensure`] is the
//! thin I/O shell.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The serving private key (PKCS#8 PEM).
pub const KEY_PEM: &str = "server-key.pem";
/// The serving certificate (PEM).
pub const CERT_PEM: &str = "server-cert.pem";
/// The CA certificate(s) (PEM): what goes into the webhook configurations' caBundle.
pub const CA_PEM: &str = "ca-cert.pem";
/// How long a generated CA and serving certificate are valid.
pub const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// A stored certificate expiring within this is renewed.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How far back a generated certificate's validity starts (clock skew between nodes).
const BACKDATE: Duration = Duration::from_secs(3600);
/// How many read-then-write rounds [`ensure`] tries before giving up.
const ATTEMPTS: usize = 5;

/// The key, certificate and CA bundle a replica serves with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    /// PKCS#8 private key, PEM.
    pub key_pem: String,
    /// Serving certificate, PEM.
    pub cert_pem: String,
    /// CA certificate(s), PEM; the first signed `cert_pem`.
    pub ca_pem: String,
}

/// What a Secret holds that cannot be used. Never overwritten silently: an operator fixes or
/// deletes the Secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// A key is absent.
    #[error("Secret {secret} has no key {key}; fix it or delete the Secret to have it regenerated")]
    MissingKey {
        /// `namespace/name`.
        secret: String,
        /// The key.
        key: &'static str,
    },
    /// A key's value is not what it should be.
    #[error(
        "Secret {secret} key {key}: {reason}; fix it or delete the Secret to have it regenerated"
    )]
    Unparsable {
        /// `namespace/name`.
        secret: String,
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// What to do after reading the Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// There is no Secret: generate and create it.
    Create,
    /// Serve what it holds.
    Use(Material),
    /// It expires within [`RENEW_BEFORE`] (or already has): generate, keep `old`'s CA in the
    /// bundle, and update the Secret at `resource_version`.
    Renew {
        /// What it holds now.
        old: Material,
        /// Its `metadata.resourceVersion`, the update's precondition.
        resource_version: Option<String>,
    },
}

/// Decides from the Secret as read (`None`: absent) at `now` (Unix seconds).
pub fn decide(secret_id: &str, secret: Option<&Secret>, now: i64) -> Result<Action, SecretError> {
    let Some(secret) = secret else {
        return Ok(Action::Create);
    };
    let empty = BTreeMap::new();
    let (material, not_after) = read_material(secret_id, secret.data.as_ref().unwrap_or(&empty))?;
    if not_after - now <= RENEW_BEFORE.as_secs() as i64 {
        Ok(Action::Renew {
            old: material,
            resource_version: secret.metadata.resource_version.clone(),
        })
    } else {
        Ok(Action::Use(material))
    }
}

/// Reads and checks the three keys: PEM that parses, a key that goes with the certificate.
/// Returns the material and the serving certificate's notAfter (Unix seconds).
pub fn read_material(
    secret_id: &str,
    data: &BTreeMap<String, ByteString>,
) -> Result<(Material, i64), SecretError> {
    let text = |key: &'static str| -> Result<String, SecretError> {
        let value = data.get(key).ok_or_else(|| SecretError::MissingKey {
            secret: secret_id.to_owned(),
            key,
        })?;
        String::from_utf8(value.0.clone()).map_err(|_| unparsable(secret_id, key, "not UTF-8 text"))
    };
    let material = Material {
        key_pem: text(KEY_PEM)?,
        cert_pem: text(CERT_PEM)?,
        ca_pem: text(CA_PEM)?,
    };
    let certs = pem_certs(&material.cert_pem).map_err(|r| unparsable(secret_id, CERT_PEM, &r))?;
    pem_certs(&material.ca_pem).map_err(|r| unparsable(secret_id, CA_PEM, &r))?;
    let key = PrivateKeyDer::from_pem_slice(material.key_pem.as_bytes())
        .map_err(|e| unparsable(secret_id, KEY_PEM, &format!("no PEM private key ({e})")))?;
    let not_after = not_after(&certs[0]).map_err(|r| unparsable(secret_id, CERT_PEM, &r))?;
    crate::server::server_config(certs, key)
        .map_err(|e| unparsable(secret_id, KEY_PEM, &format!("{e:#}")))?;
    Ok((material, not_after))
}

fn unparsable(secret_id: &str, key: &'static str, reason: &str) -> SecretError {
    SecretError::Unparsable {
        secret: secret_id.to_owned(),
        key,
        reason: reason.to_owned(),
    }
}

/// The certificates of a PEM text; at least one.
pub fn pem_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates ({e})"))?;
    if certs.is_empty() {
        return Err("no PEM certificate".to_owned());
    }
    Ok(certs)
}

/// Generates a CA and a serving certificate for `dns_names` signed by it, valid from `now`
/// (Unix seconds, less an hour) for [`VALIDITY`]. `previous_ca`, when given, is kept in the
/// bundle after the new CA.
pub fn generate(
    dns_names: &[String],
    now: i64,
    previous_ca: Option<&str>,
) -> anyhow::Result<Material> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let start = u64::try_from(now)
        .context("the clock is before 1970")?
        .saturating_sub(BACKDATE.as_secs());
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let not_before = epoch + Duration::from_secs(start);
    let not_after = epoch + Duration::from_secs(start + BACKDATE.as_secs() + VALIDITY.as_secs());

    let mut ca = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "argo-events-webhook-ca");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let ca_cert = ca
        .self_signed(&ca_key)
        .context("signing the CA certificate")?;
    let issuer = Issuer::new(ca, ca_key);

    let mut leaf = CertificateParams::new(dns_names.to_vec())
        .with_context(|| format!("certificate parameters for DNS names {dns_names:?}"))?;
    if let Some(first) = dns_names.first() {
        leaf.distinguished_name
            .push(DnType::CommonName, first.as_str());
    }
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let key = KeyPair::generate().context("generating the serving key")?;
    let cert = leaf
        .signed_by(&key, &issuer)
        .context("signing the serving certificate")?;

    let mut ca_pem = ca_cert.pem();
    if let Some(previous) = previous_ca {
        ca_pem.push_str(previous);
    }
    Ok(Material {
        key_pem: key.serialize_pem(),
        cert_pem: cert.pem(),
        ca_pem,
    })
}

/// The first certificate of `bundle` (PEM) if it is still valid at `now`: the CA a replica
/// that has not renewed yet still serves under.
pub fn current_ca(bundle: &str, now: i64) -> Option<String> {
    let first = pem_certs(bundle).ok()?.into_iter().next()?;
    (not_after(&first).ok()? > now).then(|| {
        let b64 =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, first.as_ref());
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    })
}

/// The Secret holding `material`.
pub fn secret_for(
    name: &str,
    namespace: &str,
    material: &Material,
    resource_version: Option<String>,
) -> Secret {
    let data = [
        (KEY_PEM, &material.key_pem),
        (CERT_PEM, &material.cert_pem),
        (CA_PEM, &material.ca_pem),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), ByteString(v.clone().into_bytes())))
    .collect();
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            resource_version,
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/name".to_owned(),
                "argo-events-webhook".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Reads the Secret `name`, creating or renewing it as [`decide`]s, until one replica's
/// material is stored; returns it. `now` gives the time (Unix seconds).
pub async fn ensure(
    api: &Api<Secret>,
    namespace: &str,
    name: &str,
    dns_names: &[String],
    now: impl Fn() -> i64,
) -> anyhow::Result<Material> {
    let id = format!("{namespace}/{name}");
    for _ in 0..ATTEMPTS {
        let current = api
            .get_opt(name)
            .await
            .with_context(|| format!("reading Secret {id}"))?;
        let (material, resource_version, renewing) = match decide(&id, current.as_ref(), now())? {
            Action::Use(material) => {
                tracing::info!(secret = %id, "using the certificate stored in the Secret");
                return Ok(material);
            }
            Action::Create => (generate(dns_names, now(), None)?, None, false),
            Action::Renew {
                old,
                resource_version,
            } => {
                let keep = current_ca(&old.ca_pem, now());
                (
                    generate(dns_names, now(), keep.as_deref())?,
                    resource_version,
                    true,
                )
            }
        };
        let secret = secret_for(name, namespace, &material, resource_version.clone());
        let written = if renewing {
            api.replace(name, &PostParams::default(), &secret).await
        } else {
            api.create(&PostParams::default(), &secret).await
        };
        match written {
            Ok(_) => {
                tracing::info!(secret = %id, renewed = renewing, "stored a new self-signed certificate");
                return Ok(material);
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                tracing::info!(secret = %id, reason = %status.reason, "another replica wrote the Secret first; reading it");
            }
            Err(e) => {
                let verb = if renewing { "updating" } else { "creating" };
                return Err(e).with_context(|| format!("{verb} Secret {id}"));
            }
        }
    }
    bail!("Secret {id} kept changing under us; gave up after {ATTEMPTS} attempts")
}

/// The notAfter of a DER X.509 certificate, in Unix seconds.
pub fn not_after(cert: &[u8]) -> Result<i64, String> {
    let bad = |what: &str| format!("not an X.509 certificate ({what})");
    let (_, certificate, _) = der_item(cert).ok_or_else(|| bad("outer SEQUENCE"))?;
    let (_, mut tbs, _) = der_item(certificate).ok_or_else(|| bad("tbsCertificate"))?;
    // [0] version (optional), serialNumber, signature, issuer, then validity.
    let (tag, _, rest) = der_item(tbs).ok_or_else(|| bad("version"))?;
    if tag == 0xa0 {
        tbs = rest;
    }
    for field in ["serialNumber", "signature", "issuer"] {
        let (_, _, rest) = der_item(tbs).ok_or_else(|| bad(field))?;
        tbs = rest;
    }
    let (_, validity, _) = der_item(tbs).ok_or_else(|| bad("validity"))?;
    let (_, _, rest) = der_item(validity).ok_or_else(|| bad("notBefore"))?;
    let (tag, time, _) = der_item(rest).ok_or_else(|| bad("notAfter"))?;
    let time = std::str::from_utf8(time).map_err(|_| bad("notAfter text"))?;
    parse_time(tag, time).ok_or_else(|| bad(&format!("notAfter {time:?}")))
}

/// One DER item: (tag, contents, what follows).
fn der_item(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or GeneralizedTime (`YYYYMMDDHHMMSSZ`, tag 0x18).
fn parse_time(tag: u8, text: &str) -> Option<i64> {
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: i64 = digits[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        (0x18, 14) => (digits[..4].parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let field = |i: usize| rest[i..i + 2].parse::<i64>().ok();
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests;
