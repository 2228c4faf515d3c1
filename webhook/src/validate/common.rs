//! Checks shared by several kinds: TLS, SASL and basic-auth settings (upstream
//! `pkg/apis/events/v1alpha1/validate.go`), the webhook HTTP server settings
//! (`pkg/eventsources/common/webhook`), watched paths (`WatchPathConfig.Validate`), and the Go
//! parsers upstream leans on (`strconv.Atoi`, `time.ParseDuration`, `time.LoadLocation`,
//! `regexp.Compile`).

use argo_events_api::{BasicAuth, SASLConfig, TLSConfig, WatchPathConfig, WebhookContext};

use super::{Errors, at};

/// `ValidateTLSConfig`.
pub(super) fn tls(tls: &TLSConfig, path: &str, errors: &mut Errors) {
    if tls.insecure_skip_verify {
        return;
    }
    let ca = tls.ca_cert_secret.is_some();
    let cert = tls.client_cert_secret.is_some();
    let key = tls.client_key_secret.is_some();
    if !ca && !cert && !key && !tls.enabled {
        errors.push(
            path,
            "invalid tls config, please configure either caCertSecret, or clientCertSecret and clientKeySecret, or both",
        );
    }
    if cert != key {
        let missing = if cert {
            "clientKeySecret"
        } else {
            "clientCertSecret"
        };
        errors.push(
            at(path, missing),
            "invalid tls config, both clientCertSecret and clientKeySecret need to be configured",
        );
    }
}

/// `ValidateBasicAuth`.
pub(super) fn basic_auth(auth: &BasicAuth, path: &str, errors: &mut Errors) {
    if auth.username.is_none() {
        errors.push(at(path, "username"), "username missing");
    }
    if auth.password.is_none() {
        errors.push(at(path, "password"), "password missing");
    }
}

/// `ValidateSASLConfig`.
pub(super) fn sasl(sasl: &SASLConfig, path: &str, errors: &mut Errors) {
    if !matches!(
        sasl.mechanism.as_str(),
        "" | "PLAIN" | "OAUTHBEARER" | "SCRAM-SHA-256" | "SCRAM-SHA-512" | "GSSAPI"
    ) {
        errors.push(
            at(path, "mechanism"),
            "invalid sasl config. Possible values for SASL Mechanism are `OAUTHBEARER`, `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` and `GSSAPI`",
        );
    }
    let missing = match (&sasl.user_secret, &sasl.password_secret) {
        (None, _) => Some("userSecret"),
        (_, None) => Some("passwordSecret"),
        _ => None,
    };
    if let Some(field) = missing {
        errors.push(
            at(path, field),
            "invalid sasl config, both userSecret and passwordSecret must be defined",
        );
    }
}

/// `ValidateWebhookContext` on an optional context (the webhook of GitHub, GitLab, …).
pub(super) fn webhook_context(ctx: Option<&WebhookContext>, path: &str, errors: &mut Errors) {
    match ctx {
        // Upstream fails with an empty message here.
        None => errors.push(path, "webhook can't be empty"),
        Some(ctx) => webhook_fields(&ctx.endpoint, &ctx.port, path, errors),
    }
}

/// `ValidateWebhookContext` on the endpoint and port of a context at `path`.
pub(super) fn webhook_fields(endpoint: &str, port: &str, path: &str, errors: &mut Errors) {
    if endpoint.is_empty() {
        errors.push(at(path, "endpoint"), "endpoint can't be empty");
    }
    if port.is_empty() {
        errors.push(at(path, "port"), "port can't be empty");
    } else if let Err(e) = go_atoi(port) {
        errors.push(
            at(path, "port"),
            format!("failed to parse server port {port}. err: {e}"),
        );
    }
}

/// `WatchPathConfig.Validate`; the fields live at `path.directory`, `path.path` and
/// `path.pathRegexp`.
pub(super) fn watch_path(config: &WatchPathConfig, path: &str, errors: &mut Errors) {
    if config.directory.is_empty() {
        errors.push(at(path, "directory"), "directory is required");
    } else if !config.directory.starts_with('/') {
        errors.push(
            at(path, "directory"),
            "directory must be an absolute file path",
        );
    }
    match (config.path.is_empty(), config.path_regexp.is_empty()) {
        (true, true) => errors.push(
            at(path, "path"),
            "either path or pathRegexp must be specified",
        ),
        (false, false) => errors.push(
            at(path, "pathRegexp"),
            "path and pathRegexp cannot be specified together",
        ),
        _ => {}
    }
    if config.path.starts_with('/') {
        errors.push(at(path, "path"), "path must be a relative file path");
    }
    if !config.path_regexp.is_empty()
        && let Err(e) = go_regexp(&config.path_regexp)
    {
        errors.push(at(path, "pathRegexp"), e);
    }
}

/// Go's `strconv.Atoi`: an optionally signed decimal integer that fits an `int64`. The error
/// is Go's text.
pub(super) fn go_atoi(text: &str) -> Result<i64, String> {
    text.parse::<i64>().map_err(|_| {
        let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
        let reason = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            "value out of range"
        } else {
            "invalid syntax"
        };
        format!("strconv.Atoi: parsing {text:?}: {reason}")
    })
}

/// Go's `time.ParseDuration`, which (unlike the fields the API parses for use) accepts a sign.
/// The error is Go's text.
pub(super) fn go_duration(text: &str) -> Result<(), String> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    argo_events_api::duration::parse_go_duration(unsigned)
        .map(|_| ())
        .map_err(|_| format!("time: invalid duration {text:?}"))
}

/// Go's `time.LoadLocation`: empty and `UTC` are UTC, `Local` is the local zone, anything else
/// must be an IANA zone name. The error is Go's text.
pub(super) fn go_location(name: &str) -> Result<(), String> {
    argo_events_api::cron::go_location(name).map(|_| ())
}

/// Go's `regexp.Compile` (RE2 syntax), with an error worded like Go's.
pub(super) fn go_regexp(pattern: &str) -> Result<(), String> {
    regex::Regex::new(pattern).map(|_| ()).map_err(|e| {
        let text = e.to_string();
        let reason = text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or(text.as_str())
            .to_owned();
        format!("error parsing regexp: {reason}: `{pattern}`")
    })
}

#[cfg(test)]
mod tests {
    use argo_events_api::SecretKeySelector;

    use super::*;

    #[test]
    fn go_parsers_accept_what_go_accepts() {
        for zone in [
            "",
            "UTC",
            "Local",
            "America/New_York",
            "Asia/Kolkata",
            "US/Pacific",
            "Etc/GMT+5",
            "EST5EDT",
            "GMT",
        ] {
            assert_eq!(go_location(zone), Ok(()), "{zone}");
        }
        for zone in ["Mars/Olympus", "america/new_york", "UTC+1", " UTC"] {
            assert_eq!(
                go_location(zone),
                Err(format!("unknown time zone {zone}")),
                "{zone}"
            );
        }
        assert_eq!(go_atoi("12000"), Ok(12000));
        assert_eq!(go_atoi("+1"), Ok(1));
        assert_eq!(
            go_atoi("12 000"),
            Err(r#"strconv.Atoi: parsing "12 000": invalid syntax"#.into())
        );
        assert_eq!(
            go_atoi("99999999999999999999"),
            Err(r#"strconv.Atoi: parsing "99999999999999999999": value out of range"#.into())
        );
        for ok in ["10s", "1h30m", "-5m", "0", "1.5h", "300ms"] {
            assert_eq!(go_duration(ok), Ok(()), "{ok}");
        }
        for bad in ["", "10", "1d", "s", "-"] {
            assert_eq!(
                go_duration(bad),
                Err(format!("time: invalid duration {bad:?}")),
                "{bad}"
            );
        }
        assert_eq!(go_regexp(r"^[a-z]+\.txt$"), Ok(()));
        let err = go_regexp("(unclosed").expect_err("unclosed group");
        assert!(err.starts_with("error parsing regexp: "), "{err}");
        assert!(err.ends_with(": `(unclosed`"), "{err}");
    }

    #[test]
    fn tls_sasl_and_basic_auth_rules() {
        let secret = || {
            Some(SecretKeySelector {
                name: "s".into(),
                key: "k".into(),
                optional: None,
            })
        };
        let run = |f: &dyn Fn(&mut Errors)| {
            let mut e = Errors::default();
            f(&mut e);
            e.0.into_iter().map(|e| e.path).collect::<Vec<_>>()
        };
        let cases: Vec<(TLSConfig, Vec<&str>)> = vec![
            (TLSConfig::default(), vec!["tls"]),
            (
                TLSConfig {
                    insecure_skip_verify: true,
                    ..Default::default()
                },
                vec![],
            ),
            (
                TLSConfig {
                    enabled: true,
                    ..Default::default()
                },
                vec![],
            ),
            (
                TLSConfig {
                    ca_cert_secret: secret(),
                    ..Default::default()
                },
                vec![],
            ),
            (
                TLSConfig {
                    client_cert_secret: secret(),
                    client_key_secret: secret(),
                    ..Default::default()
                },
                vec![],
            ),
            (
                TLSConfig {
                    ca_cert_secret: secret(),
                    client_key_secret: secret(),
                    ..Default::default()
                },
                vec!["tls.clientCertSecret"],
            ),
        ];
        for (config, want) in cases {
            assert_eq!(run(&|e| tls(&config, "tls", e)), want, "{config:?}");
        }
        let full = SASLConfig {
            mechanism: "PLAIN".into(),
            user_secret: secret(),
            password_secret: secret(),
        };
        assert_eq!(run(&|e| sasl(&full, "sasl", e)), Vec::<String>::new());
        let bad = SASLConfig {
            mechanism: "plain".into(),
            password_secret: None,
            ..full.clone()
        };
        assert_eq!(
            run(&|e| sasl(&bad, "sasl", e)),
            ["sasl.mechanism", "sasl.passwordSecret"]
        );
        let auth = BasicAuth {
            username: secret(),
            password: None,
        };
        assert_eq!(run(&|e| basic_auth(&auth, "auth", e)), ["auth.password"]);
    }
}
