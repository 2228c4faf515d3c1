//! TLS of the client connection: a CA file, client certificates, or no verification.

use std::sync::Arc;

use async_nats::rustls;

use crate::BusError;
use crate::config::TlsOptions;

pub(super) fn apply_tls(
    connect: async_nats::ConnectOptions,
    tls: &TlsOptions,
) -> Result<async_nats::ConnectOptions, BusError> {
    tls.validate()?;
    let connect = connect.require_tls(true);
    if tls.insecure_skip_verify {
        return Ok(connect.tls_client_config(unverified_tls_config(Some(tls))?));
    }
    let Some(ca_file) = &tls.ca_file else {
        // The system roots: async-nats loads them itself.
        return Ok(match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key)) => connect.add_client_certificate(cert.clone(), key.clone()),
            _ => connect,
        });
    };
    let mut roots = rustls::RootCertStore::empty();
    let mut added = 0;
    for cert in read_certs(ca_file)? {
        roots
            .add(cert)
            .map_err(|e| BusError::Config(format!("CA certificate {}: {e}", ca_file.display())))?;
        added += 1;
    }
    if added == 0 {
        return Err(BusError::Config(format!(
            "CA file {} holds no PEM certificate",
            ca_file.display()
        )));
    }
    let builder = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| BusError::Config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots);
    Ok(connect.tls_client_config(with_client_auth(builder, Some(tls))?))
}

fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS client config that accepts any server certificate (signatures are still checked).
pub(super) fn unverified_tls_config(
    tls: Option<&TlsOptions>,
) -> Result<rustls::ClientConfig, BusError> {
    let provider = crypto_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| BusError::Config(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)));
    with_client_auth(builder, tls)
}

fn with_client_auth(
    builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>,
    tls: Option<&TlsOptions>,
) -> Result<rustls::ClientConfig, BusError> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject as _;
    match tls.map(|t| (&t.cert_file, &t.key_file)) {
        Some((Some(cert), Some(key))) => {
            let certs = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| BusError::Config(format!("client key {}: {e}", key.display())))?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                BusError::Config(format!("client certificate {}: {e}", cert.display()))
            })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn read_certs(
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, BusError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| BusError::Config(format!("certificate file {}: {e}", path.display())))
}

/// Accepts every server certificate; what upstream's clients do without a `tls` block, and
/// what `insecureSkipVerify` asks for.
#[derive(Debug)]
struct AnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
