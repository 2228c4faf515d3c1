use std::io::Write as _;

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn defaults_never_lose_events() {
    let s = StreamSettings::from_stream_config("").unwrap();
    assert_eq!(s, StreamSettings::default());
    assert_eq!(s.discard, Discard::New);
    assert_eq!(s.max_age, Duration::ZERO);
    assert_eq!(s.max_msgs, -1);
    assert_eq!(s.max_bytes, 1 << 30);
    assert_eq!(s.retention, Retention::Limits);
    assert_eq!(s.duplicates, secs(300));
    assert_eq!(s.replicas, 1);
    assert_eq!(s.max_msg_size, -1);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    // An explicit null document is the same as an empty one.
    assert_eq!(
        StreamSettings::from_stream_config("~\n").unwrap(),
        StreamSettings::default()
    );
}

#[test]
fn stream_config_keys_are_case_insensitive() {
    // The controller's viper merge lower-cases keys; users write camelCase.
    for yaml in [
        "maxMsgs: 50000\nmaxAge: 168h\nmaxBytes: -1\nreplicas: 3\nduplicates: 300s\nretention: 1\ndiscard: 0\nmaxMsgSize: 1024\n",
        "maxmsgs: 50000\nmaxage: 168h\nmaxbytes: -1\nreplicas: 3\nduplicates: 300s\nretention: 1\ndiscard: 0\nmaxmsgsize: 1024\n",
        "MAXMSGS: \"50000\"\nMaxAge: 168h0m0s\nMAXBYTES: \"-1\"\nREPLICAS: 3\nDUPLICATES: 5m\nRETENTION: 1\nDISCARD: 0\nMAXMSGSIZE: 1024\n",
    ] {
        let s = StreamSettings::from_stream_config(yaml).unwrap();
        assert_eq!(s.max_msgs, 50000, "{yaml}");
        assert_eq!(s.max_age, secs(168 * 3600), "{yaml}");
        assert_eq!(s.max_bytes, -1, "{yaml}");
        assert_eq!(s.replicas, 3, "{yaml}");
        assert_eq!(s.duplicates, secs(300), "{yaml}");
        assert_eq!(s.retention, Retention::Interest, "{yaml}");
        assert_eq!(s.discard, Discard::Old, "{yaml}");
        assert_eq!(s.max_msg_size, 1024, "{yaml}");
    }
}

#[test]
fn user_values_are_honoured_exactly() {
    let s = StreamSettings::from_stream_config("discard: 1\nmaxMsgs: 10\nretention: 2\n").unwrap();
    assert_eq!(s.discard, Discard::New);
    assert_eq!(s.max_msgs, 10);
    assert_eq!(s.retention, Retention::WorkQueue);
    // Unset keys keep our defaults.
    assert_eq!(s.max_bytes, DEFAULT_MAX_BYTES);
    assert_eq!(s.max_age, Duration::ZERO);
}

#[test]
fn durations_follow_upstreams_reader() {
    let table: &[(&str, Duration, bool)] = &[
        ("maxAge: 72h", secs(72 * 3600), false),
        ("maxAge: 1h30m", secs(5400), false),
        ("maxAge: 0", Duration::ZERO, false),
        ("maxAge: \"0\"", Duration::ZERO, false),
        // A bare number is nanoseconds, as Go's cast library reads it; flagged.
        ("maxAge: 1000000000", secs(1), true),
        ("maxAge: \"1000000000\"", secs(1), true),
    ];
    for (yaml, want, noted) in table {
        let s = StreamSettings::from_stream_config(yaml).unwrap();
        assert_eq!(s.max_age, *want, "{yaml}");
        let has_note = s.warnings().iter().any(|w| w.contains("nanoseconds"));
        assert_eq!(has_note, *noted, "{yaml}: {:?}", s.warnings());
    }
}

#[test]
fn bad_values_name_the_key() {
    let table = [
        ("maxBytes: 1GB", "maxBytes"),
        ("maxMsgs: true", "maxMsgs"),
        ("maxMsgs: 1.5", "maxMsgs"),
        ("retention: 3", "retention"),
        ("discard: 2", "discard"),
        ("discard: -1", "discard"),
        ("replicas: -1", "replicas"),
        ("maxAge: forever", "maxAge"),
        ("maxAge: -1h", "maxAge"),
        ("duplicates: [1]", "duplicates"),
        ("maxMsgSize: 9999999999", "maxMsgSize"),
        ("- a\n- b", "mapping"),
        (
            "maxAge: 1m\nduplicates: 5m",
            "duplicates 5m must not be longer than maxAge 1m",
        ),
    ];
    for (yaml, needle) in table {
        let err = StreamSettings::from_stream_config(yaml).unwrap_err();
        assert!(matches!(err, BusError::Config(_)), "{yaml}: {err:?}");
        assert!(err.to_string().contains(needle), "{yaml}: {err}");
    }
}

#[test]
fn default_duplicates_shrink_to_a_shorter_max_age() {
    let s = StreamSettings::from_stream_config("maxAge: 1m").unwrap();
    assert_eq!(s.duplicates, secs(60));
}

#[test]
fn warnings_name_what_deletes_events() {
    // Upstream's shipped global streamConfig, as the controller hands it over (lower-cased).
    let upstream = "maxmsgs: 50000\nmaxage: 168h\nmaxbytes: -1\nreplicas: 3\nduplicates: 300s\nretention: 0\ndiscard: 0\n";
    let w = StreamSettings::from_stream_config(upstream)
        .unwrap()
        .warnings();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("maxAge 168h deletes events no Sensor has consumed yet"),
        "{w:?}"
    );
    assert!(w[1].contains("discard 0 (Old) with maxMsgs 50000"), "{w:?}");

    // discard Old with our default 1 GiB limit is reported too.
    let w = StreamSettings::from_stream_config("discard: 0")
        .unwrap()
        .warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("maxBytes 1073741824"), "{w:?}");

    // discard Old without any limit deletes nothing.
    let w = StreamSettings::from_stream_config("discard: 0\nmaxBytes: -1")
        .unwrap()
        .warnings();
    assert!(w.is_empty(), "{w:?}");

    // discard New with limits refuses, visibly: no warning.
    let w = StreamSettings::from_stream_config("maxMsgs: 10\nmaxBytes: 100")
        .unwrap()
        .warnings();
    assert!(w.is_empty(), "{w:?}");

    let w = StreamSettings::from_stream_config("retention: 2")
        .unwrap()
        .warnings();
    assert!(w[0].contains("WorkQueue"), "{w:?}");

    let w = StreamSettings::from_stream_config("maxPayload: 1MB")
        .unwrap()
        .warnings();
    assert!(
        w[0].contains("\"maxPayload\"") && w[0].contains("ignored"),
        "{w:?}"
    );
}

#[test]
fn go_durations_print_compactly() {
    let table = [
        (Duration::ZERO, "0s"),
        (secs(168 * 3600), "168h"),
        (secs(5400), "1h30m"),
        (secs(90), "1m30s"),
        (Duration::from_millis(300), "300ms"),
        (Duration::from_millis(1500), "1.5s"),
        (Duration::from_nanos(7), "7ns"),
    ];
    for (d, want) in table {
        assert_eq!(go_duration(d), want);
    }
}

fn auth_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn auth_file_forms() {
    let table = [
        (
            // What the controller generates for a native JetStream bus.
            "username: abcdefgh\npassword: 0123456789abcdef\n",
            Credentials::UserPassword {
                user: "abcdefgh".into(),
                password: "0123456789abcdef".into(),
            },
        ),
        (
            "Username: u\nPASSWORD: 12345\n",
            Credentials::UserPassword {
                user: "u".into(),
                password: "12345".into(),
            },
        ),
        ("token: \"s3cret\"\n", Credentials::Token("s3cret".into())),
        (
            "token: abc\nusername: \"\"\n",
            Credentials::Token("abc".into()),
        ),
    ];
    for (text, want) in table {
        let f = auth_file(text);
        assert_eq!(read_auth_file(f.path()).unwrap(), want, "{text}");
    }
}

#[test]
fn auth_file_errors_say_what_is_expected() {
    let table = [
        ("just-a-password", "not a YAML mapping"),
        ("", "empty"),
        ("password: p\n", "no credentials found"),
        ("username: u\ntoken: t\n", "both"),
        ("username: [a]\n", "username must be a string"),
    ];
    for (text, needle) in table {
        let f = auth_file(text);
        let err = read_auth_file(f.path()).unwrap_err().to_string();
        assert!(err.contains(needle), "{text:?}: {err}");
        assert!(err.contains(&f.path().display().to_string()), "{err}");
    }
    let err = read_auth_file("/nonexistent/auth.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/auth.yaml"), "{err}");
}

#[test]
fn credentials_debug_hides_secrets() {
    let c = Credentials::UserPassword {
        user: "u".into(),
        password: "hunter2".into(),
    };
    assert!(!format!("{c:?}").contains("hunter2"));
    assert!(!format!("{:?}", Credentials::Token("tok".into())).contains("tok"));
}

fn b64(json: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(json)
}

#[test]
fn eventbus_config_env_value() {
    // The controller's status.config of a native JetStream bus.
    let json = r#"{"jetstream":{"url":"nats://eventbus-default-js-svc.argo-events.svc:4222","accessSecret":{"name":"eventbus-default-js-client-auth","key":"client-auth"},"streamConfig":"maxage: 168h\nmaxmsgs: 50000\n"}}"#;
    let bus = bus_config_from_env_value(&format!("{}\n", b64(json))).unwrap();
    let js = bus.jetstream.as_ref().unwrap();
    assert_eq!(
        js.url,
        "nats://eventbus-default-js-svc.argo-events.svc:4222"
    );
    assert_eq!(
        js.access_secret.as_ref().unwrap().name,
        "eventbus-default-js-client-auth"
    );
    let s = StreamSettings::from_stream_config(&js.stream_config).unwrap();
    assert_eq!(s.max_msgs, 50000);

    // Go's case-insensitive field matching.
    let bus = bus_config_from_env_value(&b64(r#"{"JetStream":{"URL":"nats://x:4222"}}"#)).unwrap();
    assert_eq!(bus.jetstream.unwrap().url, "nats://x:4222");

    for (value, needle) in [
        ("%%%", "base64"),
        (b64("not json").as_str(), "JSON"),
        (
            b64(r#"{"jetstream":{"url":4222}}"#).as_str(),
            "jetstream.url",
        ),
    ] {
        let err = bus_config_from_env_value(value).unwrap_err().to_string();
        assert!(
            err.contains("EVENTBUS_CONFIG") && err.contains(needle),
            "{err}"
        );
    }
}

#[test]
fn options_from_bus_config() {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.yaml");
    std::fs::write(&auth, "username: u\npassword: p\n").unwrap();
    let json = r#"{"jetstream":{"url":"nats://bus:4222","accessSecret":{"name":"s","key":"k"},"streamConfig":"maxMsgs: 7","tls":{"caCertSecret":{"name":"ca","key":"ca.crt"},"clientCertSecret":{"name":"c","key":"tls.crt"},"clientKeySecret":{"name":"c","key":"tls.key"}}}}"#;
    let bus = bus_config_from_env_value(&b64(json)).unwrap();
    let opts = JetStreamOptions::from_bus_config(&bus, &auth, Path::new("/sec")).unwrap();
    assert_eq!(opts.url, "nats://bus:4222");
    assert_eq!(
        opts.credentials,
        Credentials::UserPassword {
            user: "u".into(),
            password: "p".into()
        }
    );
    assert_eq!(opts.stream.max_msgs, 7);
    assert_eq!(opts.stream_name, "default");
    assert_eq!(opts.ack_wait, secs(30));
    let tls = opts.tls.unwrap();
    assert_eq!(tls.ca_file.as_deref(), Some(Path::new("/sec/ca/ca.crt")));
    assert_eq!(tls.cert_file.as_deref(), Some(Path::new("/sec/c/tls.crt")));
    assert_eq!(tls.key_file.as_deref(), Some(Path::new("/sec/c/tls.key")));
    assert!(!tls.insecure_skip_verify);

    // No accessSecret: no credentials, the auth file is not read.
    let bus =
        bus_config_from_env_value(&b64(r#"{"jetstream":{"url":"nats://bus:4222"}}"#)).unwrap();
    let opts =
        JetStreamOptions::from_bus_config(&bus, Path::new("/missing"), Path::new("/sec")).unwrap();
    assert_eq!(opts.credentials, Credentials::None);
    assert!(opts.tls.is_none());

    let table = [
        (r#"{"nats":{"url":"nats://x"}}"#, "NATS Streaming"),
        (r#"{"kafka":{"url":"k:9092"}}"#, "Kafka"),
        (r#"{}"#, "names no bus"),
        (r#"{"jetstream":{"url":""}}"#, "url is empty"),
        (
            r#"{"jetstream":{"url":"nats://x","tls":{"clientCertSecret":{"name":"c","key":"k"}}}}"#,
            "without clientKeySecret",
        ),
        (
            r#"{"jetstream":{"url":"nats://x","accessSecret":{"name":"s","key":"k"}}}"#,
            "/missing",
        ),
    ];
    for (json, needle) in table {
        let bus = bus_config_from_env_value(&b64(json)).unwrap();
        let err = JetStreamOptions::from_bus_config(&bus, Path::new("/missing"), Path::new("/s"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{json}: {err}");
    }
}
