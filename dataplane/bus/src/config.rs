//! What a process needs to reach the bus: the EventBus `status.config` handed over in
//! `EVENTBUS_CONFIG`, the credentials file the controller mounts, TLS files, and the settings of
//! the stream a client creates when it is missing.
//!
//! Stream defaults differ from upstream on purpose: upstream creates the stream with
//! `discard: Old`, `maxAge: 168h` and `maxMsgs: 50000` (from the controller's global config), so
//! a busy or idle-Sensor bus silently deletes events nobody has consumed. Here an absent key
//! means "never lose an event": `discard: New` (a full stream refuses publishes, which an HTTP
//! EventSource turns into a 503), no age limit, no message-count limit, 1 GiB of storage. What a
//! user sets is honoured exactly, and the settings that delete unconsumed events are reported by
//! [`StreamSettings::warnings`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use argo_events_api::duration::parse_go_duration;
use argo_events_api::{BusConfig, JetStreamConfig, TLSConfig};
use base64::Engine as _;
use serde_yaml_ng::Value as Yaml;

use crate::{BusError, naming};

/// Where upstream's controller mounts the bus credentials (`accessSecret`) in every pod.
pub const AUTH_FILE_PATH: &str = "/etc/eventbus/auth/auth.yaml";
/// Where upstream's controller mounts secrets (`<root>/<secret name>/<key>`), TLS files included.
pub const SECRETS_ROOT: &str = "/argo-events/secrets";
/// How long the server waits for an ack before it delivers a message again (upstream's default).
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
/// How long a publish waits for the stream's acknowledgement, and a JetStream API call for its
/// answer.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Default `maxBytes` of the stream: 1 GiB.
pub const DEFAULT_MAX_BYTES: i64 = 1 << 30;
/// Default `duplicates` window of the stream (upstream's too).
pub const DEFAULT_DUPLICATES: Duration = Duration::from_secs(300);

/// Decodes `EVENTBUS_CONFIG`: base64 (standard alphabet, as Go writes it) of the JSON of the
/// EventBus `status.config`, read with Go's `encoding/json` rules.
pub fn bus_config_from_env_value(b64: &str) -> Result<BusConfig, BusError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| BusError::Config(format!("EVENTBUS_CONFIG is not valid base64: {e}")))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| BusError::Config(format!("EVENTBUS_CONFIG is not valid JSON: {e}")))?;
    let decoded = argo_events_api::gocompat::from_value::<BusConfig>(&json)
        .map_err(|e| BusError::Config(format!("EVENTBUS_CONFIG: {e}")))?;
    if !decoded.unknown_fields.is_empty() {
        tracing::warn!(
            fields = %decoded.unknown_fields.join(", "),
            "EVENTBUS_CONFIG has fields this version does not know; they are ignored"
        );
    }
    Ok(decoded.value)
}

/// How the client authenticates to the NATS server.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    /// No authentication.
    #[default]
    None,
    /// A token.
    Token(String),
    /// A user name and password.
    UserPassword {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Token(_) => f.write_str("Token(***)"),
            Credentials::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &"***")
                .finish(),
        }
    }
}

/// Reads the credentials file upstream mounts from the EventBus `accessSecret`
/// ([`AUTH_FILE_PATH`]): YAML with `username` and `password`, or with `token`; keys match
/// case-insensitively, as upstream's reader does.
///
/// Upstream's exotic-JetStream docs say the secret holds "the password or token as a plain
/// string", but upstream parses it as YAML, so a plain string never worked there; it is refused
/// here with a message saying which form is expected. Upstream always authenticates to a
/// JetStream bus with user/password (a `token:` file logs in with an empty user); here a `token:`
/// file authenticates with the token.
pub fn read_auth_file(path: impl AsRef<Path>) -> Result<Credentials, BusError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| {
        BusError::Config(format!(
            "cannot read the event bus credentials file {}: {e}",
            path.display()
        ))
    })?;
    parse_auth(&text).map_err(|reason| {
        BusError::Config(format!(
            "event bus credentials file {}: {reason}",
            path.display()
        ))
    })
}

fn parse_auth(text: &str) -> Result<Credentials, String> {
    const EXPECTED: &str = "expected YAML with `username:` and `password:`, or with `token:` (the form the controller generates)";
    let doc: Yaml = serde_yaml_ng::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    let map = match doc {
        Yaml::Mapping(map) => map,
        Yaml::Null => return Err(format!("the file is empty; {EXPECTED}")),
        _ => return Err(format!("not a YAML mapping; {EXPECTED}")),
    };
    let (mut user, mut password, mut token) = (None, None, None);
    for (key, value) in &map {
        let Some(key) = key.as_str() else { continue };
        let slot = match key.to_ascii_lowercase().as_str() {
            "username" => &mut user,
            "password" => &mut password,
            "token" => &mut token,
            _ => {
                tracing::warn!(key, "event bus credentials file: key ignored");
                continue;
            }
        };
        *slot = Some(scalar_text(value).ok_or_else(|| format!("{key} must be a string"))?);
    }
    let user = user.filter(|u| !u.is_empty());
    let token = token.filter(|t| !t.is_empty());
    match (user, token) {
        (Some(_), Some(_)) => Err("both `username` and `token` are set; keep one".into()),
        (Some(user), None) => Ok(Credentials::UserPassword {
            user,
            password: password.unwrap_or_default(),
        }),
        (None, Some(token)) => Ok(Credentials::Token(token)),
        (None, None) => Err(format!("no credentials found; {EXPECTED}")),
    }
}

/// A YAML scalar as the text Go's loose decoding would give it.
fn scalar_text(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Null => Some(String::new()),
        _ => None,
    }
}

/// The credentials an EventBus config calls for: none without `accessSecret`, else the
/// mounted credentials file at `auth_file` (normally [`AUTH_FILE_PATH`]).
pub fn credentials_for(
    config: &JetStreamConfig,
    auth_file: &Path,
) -> Result<Credentials, BusError> {
    match &config.access_secret {
        None => Ok(Credentials::None),
        Some(_) => read_auth_file(auth_file),
    }
}

/// Stream retention policy (streamConfig `retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// `0`: keep messages until a limit removes them.
    Limits,
    /// `1`: keep messages while some consumer has not acked them.
    Interest,
    /// `2`: remove a message once one consumer acks it.
    WorkQueue,
}

/// What a full stream does with a new message (streamConfig `discard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// `0`: delete the oldest messages to make room.
    Old,
    /// `1`: refuse the new message.
    New,
}

/// Settings of the stream a client creates when it is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSettings {
    /// Most messages kept; `-1` for no limit.
    pub max_msgs: i64,
    /// Most bytes kept; `-1` for no limit.
    pub max_bytes: i64,
    /// Oldest message kept; zero for no limit.
    pub max_age: Duration,
    /// Copies of the stream in a cluster.
    pub replicas: usize,
    /// Window in which a repeated `Nats-Msg-Id` is dropped as a duplicate.
    pub duplicates: Duration,
    /// Retention policy.
    pub retention: Retention,
    /// Discard policy.
    pub discard: Discard,
    /// Largest message accepted; `-1` for the server's limit.
    pub max_msg_size: i32,
    /// Remarks made while reading the YAML (ignored keys, unit-less durations…).
    notes: Vec<String>,
}

impl Default for StreamSettings {
    /// The defaults of this implementation (see the module docs): nothing is ever deleted
    /// before it is consumed, and a full stream refuses publishes.
    fn default() -> Self {
        StreamSettings {
            max_msgs: -1,
            max_bytes: DEFAULT_MAX_BYTES,
            max_age: Duration::ZERO,
            replicas: 1,
            duplicates: DEFAULT_DUPLICATES,
            retention: Retention::Limits,
            discard: Discard::New,
            max_msg_size: -1,
            notes: Vec::new(),
        }
    }
}

impl StreamSettings {
    /// Reads upstream's streamConfig YAML (`maxMsgs`, `maxAge`, `maxBytes`, `replicas`,
    /// `duplicates`, `retention`, `discard`, and `maxMsgSize`), keys matched case-insensitively
    /// since the controller's merge lower-cases them. Integers may be written as strings and
    /// durations as Go duration strings or integers of nanoseconds, as upstream's reader
    /// accepts; anything else is an error naming the key, where upstream silently used zero.
    pub fn from_stream_config(yaml: &str) -> Result<StreamSettings, BusError> {
        let err = |reason: String| BusError::Config(format!("streamConfig: {reason}"));
        let doc: Yaml = if yaml.trim().is_empty() {
            Yaml::Null
        } else {
            serde_yaml_ng::from_str(yaml).map_err(|e| err(format!("invalid YAML: {e}")))?
        };
        let map = match doc {
            Yaml::Null => serde_yaml_ng::Mapping::new(),
            Yaml::Mapping(map) => map,
            _ => return Err(err("expected a YAML mapping of stream settings".into())),
        };
        let mut settings = StreamSettings::default();
        let mut duplicates_set = false;
        for (key, value) in &map {
            let Some(key) = key.as_str() else {
                settings.notes.push(format!(
                    "streamConfig key {key:?} is not a string and is ignored"
                ));
                continue;
            };
            match key.to_ascii_lowercase().as_str() {
                "maxmsgs" => settings.max_msgs = yaml_int(key, value).map_err(err)?,
                "maxbytes" => settings.max_bytes = yaml_int(key, value).map_err(err)?,
                "maxmsgsize" => {
                    let n = yaml_int(key, value).map_err(err)?;
                    settings.max_msg_size = i32::try_from(n)
                        .map_err(|_| err(format!("{key}: {n} is out of range")))?;
                }
                "replicas" => {
                    let n = yaml_int(key, value).map_err(err)?;
                    settings.replicas = usize::try_from(n)
                        .map_err(|_| err(format!("{key}: {n} must not be negative")))?;
                }
                "retention" => {
                    settings.retention = match yaml_int(key, value).map_err(err)? {
                        0 => Retention::Limits,
                        1 => Retention::Interest,
                        2 => Retention::WorkQueue,
                        n => {
                            return Err(err(format!(
                                "{key}: {n} is not a retention policy (0 Limits, 1 Interest, 2 WorkQueue)"
                            )));
                        }
                    }
                }
                "discard" => {
                    settings.discard = match yaml_int(key, value).map_err(err)? {
                        0 => Discard::Old,
                        1 => Discard::New,
                        n => {
                            return Err(err(format!(
                                "{key}: {n} is not a discard policy (0 Old, 1 New)"
                            )));
                        }
                    }
                }
                "maxage" => {
                    settings.max_age = yaml_duration(key, value, &mut settings.notes).map_err(err)?
                }
                "duplicates" => {
                    settings.duplicates =
                        yaml_duration(key, value, &mut settings.notes).map_err(err)?;
                    duplicates_set = true;
                }
                _ => settings.notes.push(format!(
                    "streamConfig key {key:?} is not a stream setting this client knows and is ignored"
                )),
            }
        }
        if !settings.max_age.is_zero() && settings.duplicates > settings.max_age {
            if duplicates_set {
                return Err(err(format!(
                    "duplicates {} must not be longer than maxAge {}",
                    go_duration(settings.duplicates),
                    go_duration(settings.max_age)
                )));
            }
            settings.duplicates = settings.max_age;
        }
        Ok(settings)
    }

    /// Settings that delete or refuse events silently or surprisingly, one sentence each, for
    /// the runtime to log at startup. Empty for the defaults.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.max_age.is_zero() {
            out.push(format!(
                "maxAge {} deletes events no Sensor has consumed yet once they are that old",
                go_duration(self.max_age)
            ));
        }
        if self.discard == Discard::Old {
            let mut limits = Vec::new();
            if self.max_msgs > 0 {
                limits.push(format!("maxMsgs {}", self.max_msgs));
            }
            if self.max_bytes > 0 {
                limits.push(format!("maxBytes {}", self.max_bytes));
            }
            if !limits.is_empty() {
                out.push(format!(
                    "discard 0 (Old) with {} deletes the oldest events, consumed or not, when the stream is full; discard 1 (New) refuses new events instead",
                    limits.join(" and ")
                ));
            }
        }
        if self.retention == Retention::WorkQueue {
            out.push(
                "retention 2 (WorkQueue) lets only one Sensor dependency consume each event; a second durable consumer on the same event is refused"
                    .into(),
            );
        }
        out.extend(self.notes.iter().cloned());
        out
    }
}

/// An integer setting: a YAML integer, an integral float, or a string holding an integer.
fn yaml_int(key: &str, value: &Yaml) -> Result<i64, String> {
    match value {
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Ok(f as i64),
                    _ => Err(format!("{key}: expected an integer, got {n}")),
                }
            }
        }
        Yaml::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("{key}: expected an integer, got {s:?}")),
        other => Err(format!(
            "{key}: expected an integer, got {}",
            yaml_kind(other)
        )),
    }
}

/// A duration setting: a Go duration string, or an integer of nanoseconds (also as a string of
/// digits), which is what upstream's reader makes of a number.
fn yaml_duration(key: &str, value: &Yaml, notes: &mut Vec<String>) -> Result<Duration, String> {
    let mut nanos = |n: i64| -> Result<Duration, String> {
        let n = u64::try_from(n).map_err(|_| format!("{key}: {n} must not be negative"))?;
        if n != 0 {
            notes.push(format!(
                "{key} {n} has no unit and is read as {n} nanoseconds, as upstream does; write e.g. \"{n}s\" for seconds"
            ));
        }
        Ok(Duration::from_nanos(n))
    };
    match value {
        Yaml::Number(_) => nanos(yaml_int(key, value)?),
        Yaml::String(s) if !s.is_empty() && s.trim().chars().all(|c| c.is_ascii_digit()) => {
            nanos(yaml_int(key, value)?)
        }
        Yaml::String(s) => parse_go_duration(s.trim()).map_err(|e| format!("{key}: {e}")),
        other => Err(format!(
            "{key}: expected a duration such as \"168h\", got {}",
            yaml_kind(other)
        )),
    }
}

fn yaml_kind(value: &Yaml) -> &'static str {
    match value {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a mapping",
        Yaml::Tagged(_) => "a tagged value",
    }
}

/// A duration the way Go users write it: `168h`, `1h30m`, `300ms`, `0s`.
pub fn go_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    let secs = d.as_secs();
    let sub = d.subsec_nanos();
    let mut out = String::new();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sub == 0 {
        if s > 0 {
            out.push_str(&format!("{s}s"));
        }
    } else if secs > 0 {
        let frac = format!("{sub:09}");
        out.push_str(&format!("{s}.{}s", frac.trim_end_matches('0')));
    } else if sub.is_multiple_of(1_000_000) {
        out.push_str(&format!("{}ms", sub / 1_000_000));
    } else if sub.is_multiple_of(1_000) {
        out.push_str(&format!("{}µs", sub / 1_000));
    } else {
        out.push_str(&format!("{sub}ns"));
    }
    out
}

/// TLS settings of the client connection; when present, the connection always uses TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of the CA that signs the server certificate; the system roots when absent.
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate (needs `key_file`).
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client private key (needs `cert_file`).
    pub key_file: Option<PathBuf>,
    /// Do not verify the server certificate.
    pub insecure_skip_verify: bool,
}

impl TlsOptions {
    /// The TLS options of an EventBus `tls` block, with each secret read from where the
    /// controller mounts it: `<secrets_root>/<secret name>/<key>` (normally [`SECRETS_ROOT`]).
    pub fn from_api(tls: &TLSConfig, secrets_root: &Path) -> Result<TlsOptions, BusError> {
        let file = |sel: &Option<argo_events_api::SecretKeySelector>| {
            sel.as_ref()
                .map(|s| secrets_root.join(&s.name).join(&s.key))
        };
        let options = TlsOptions {
            ca_file: file(&tls.ca_cert_secret),
            cert_file: file(&tls.client_cert_secret),
            key_file: file(&tls.client_key_secret),
            insecure_skip_verify: tls.insecure_skip_verify,
        };
        options.validate()?;
        Ok(options)
    }

    /// Refuses a client certificate without its key and the other way round.
    pub fn validate(&self) -> Result<(), BusError> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => Err(BusError::Config(
                "tls: clientCertSecret is set without clientKeySecret".into(),
            )),
            (None, Some(_)) => Err(BusError::Config(
                "tls: clientKeySecret is set without clientCertSecret".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Everything [`crate::jetstream::JetStreamBus::connect`] needs.
#[derive(Debug, Clone)]
pub struct JetStreamOptions {
    /// Server URL(s), comma-separated: `nats://host:4222` or `tls://host:4222`.
    pub url: String,
    /// How to authenticate.
    pub credentials: Credentials,
    /// TLS settings. `None` keeps upstream's default: plain unless the URL is `tls://` or the
    /// server demands TLS, and then TLS *without verifying the server certificate* (upstream
    /// clients do the same when the EventBus has no `tls` block; a warning is logged).
    pub tls: Option<TlsOptions>,
    /// Settings of the stream, used when it has to be created.
    pub stream: StreamSettings,
    /// Name of the stream ([`naming::STREAM_NAME`] unless testing).
    pub stream_name: String,
    /// Ack wait of durable consumers this client creates (existing ones keep theirs).
    pub ack_wait: Duration,
    /// Bound on each publish acknowledgement and each JetStream API call.
    pub request_timeout: Duration,
}

impl JetStreamOptions {
    /// Options for a server at `url` without authentication or TLS, with the default stream.
    pub fn new(url: impl Into<String>) -> JetStreamOptions {
        JetStreamOptions {
            url: url.into(),
            credentials: Credentials::None,
            tls: None,
            stream: StreamSettings::default(),
            stream_name: naming::STREAM_NAME.to_owned(),
            ack_wait: DEFAULT_ACK_WAIT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Options from an EventBus JetStream config (`status.config.jetstream`), with credentials
    /// and TLS files already resolved (see [`credentials_for`] and [`TlsOptions::from_api`]).
    pub fn from_config(
        config: &JetStreamConfig,
        credentials: Credentials,
        tls: Option<TlsOptions>,
    ) -> Result<JetStreamOptions, BusError> {
        if config.url.trim().is_empty() {
            return Err(BusError::Config("jetstream.url is empty".into()));
        }
        if let Some(tls) = &tls {
            tls.validate()?;
        }
        Ok(JetStreamOptions {
            credentials,
            tls,
            stream: StreamSettings::from_stream_config(&config.stream_config)?,
            ..JetStreamOptions::new(config.url.trim())
        })
    }

    /// Options from a whole EventBus `status.config`, reading the credentials file and the TLS
    /// files where the controller mounts them (`auth_file`, `secrets_root`). Only JetStream
    /// buses are supported; NATS Streaming and Kafka are refused by name.
    pub fn from_bus_config(
        bus: &BusConfig,
        auth_file: &Path,
        secrets_root: &Path,
    ) -> Result<JetStreamOptions, BusError> {
        let Some(js) = &bus.jetstream else {
            let kind = if bus.nats.is_some() {
                "NATS Streaming (nats)"
            } else if bus.kafka.is_some() {
                "Kafka (kafka)"
            } else {
                return Err(BusError::Config(
                    "the EventBus config names no bus (no jetstream, nats or kafka)".into(),
                ));
            };
            return Err(BusError::Config(format!(
                "{kind} event buses are not supported; use a JetStream EventBus"
            )));
        };
        let tls = js
            .tls
            .as_ref()
            .map(|t| TlsOptions::from_api(t, secrets_root))
            .transpose()?;
        JetStreamOptions::from_config(js, credentials_for(js, auth_file)?, tls)
    }
}

#[cfg(test)]
mod tests;
