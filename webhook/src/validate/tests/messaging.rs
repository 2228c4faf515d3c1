//! EventSource rules of the broker and cloud kinds, and the rules across events.

use serde_json::{Value, json};

use super::sources::kind;
use super::{fails, passes, secret};
use crate::validate::{FieldError, validate_event_source};

const TLS_NONE: &str = "invalid tls config, please configure either caCertSecret, or clientCertSecret and clientKeySecret, or both";
const TLS_PAIR: &str =
    "invalid tls config, both clientCertSecret and clientKeySecret need to be configured";

#[test]
fn kafka() {
    kind(
        "kafka",
        json!({"url": "kafka:9092", "topic": "t", "partition": "0"}),
        vec![
            fails(
                vec![("/url", json!(""))],
                &[("spec.kafka.ev.url", "url must be specified")],
            ),
            fails(
                vec![("/topic", json!(""))],
                &[("spec.kafka.ev.topic", "topic must be specified")],
            ),
            fails(
                vec![("/partition", json!(""))],
                &[(
                    "spec.kafka.ev.partition",
                    "consumerGroup or partition must be specified",
                )],
            ),
            passes(vec![
                ("/partition", json!("")),
                ("/consumerGroup", json!({"groupName": "g"})),
            ]),
            fails(
                vec![("/tls", json!({}))],
                &[("spec.kafka.ev.tls", TLS_NONE)],
            ),
            passes(vec![("/tls", json!({"caCertSecret": secret()}))]),
            passes(vec![("/tls", json!({"enabled": true}))]),
            passes(vec![("/tls", json!({"insecureSkipVerify": true}))]),
            fails(
                vec![("/tls", json!({"clientCertSecret": secret()}))],
                &[("spec.kafka.ev.tls.clientKeySecret", TLS_PAIR)],
            ),
            fails(
                vec![(
                    "/sasl",
                    json!({"mechanism": "MD5", "userSecret": secret(), "passwordSecret": secret()}),
                )],
                &[(
                    "spec.kafka.ev.sasl.mechanism",
                    "invalid sasl config. Possible values for SASL Mechanism are",
                )],
            ),
            fails(
                vec![("/sasl", json!({"userSecret": secret()}))],
                &[(
                    "spec.kafka.ev.sasl.passwordSecret",
                    "invalid sasl config, both userSecret and passwordSecret must be defined",
                )],
            ),
            passes(vec![(
                "/sasl",
                json!({"mechanism": "SCRAM-SHA-512", "userSecret": secret(), "passwordSecret": secret()}),
            )]),
            // Upstream returns the TLS verdict and never looks at sasl when tls is set.
            passes(vec![
                ("/tls", json!({"caCertSecret": secret()})),
                ("/sasl", json!({})),
            ]),
            fails(
                vec![("/awsMskIamAuth", json!({}))],
                &[(
                    "spec.kafka.ev.awsMskIamAuth.region",
                    "awsMskIamAuth.region must be specified",
                )],
            ),
        ],
    );
}

#[test]
fn nats_amqp_mqtt() {
    kind(
        "nats",
        json!({"url": "nats://n:4222", "subject": "s"}),
        vec![
            fails(
                vec![("/url", json!(""))],
                &[("spec.nats.ev.url", "url must be specified")],
            ),
            fails(
                vec![("/subject", json!(""))],
                &[("spec.nats.ev.subject", "subject must be specified")],
            ),
            fails(
                vec![("/queue", json!(""))],
                &[(
                    "spec.nats.ev.queue",
                    "queue group cannot be empty if specified",
                )],
            ),
            passes(vec![("/queue", json!("workers"))]),
            passes(vec![
                ("/tls", json!({"caCertSecret": secret()})),
                ("/queue", json!("")),
            ]),
        ],
    );
    kind(
        "amqp",
        json!({"url": "amqp://a:5672", "exchangeType": "fanout", "routingKey": "r"}),
        vec![
            fails(
                vec![("/url", json!(""))],
                &[(
                    "spec.amqp.ev.url",
                    "either url or urlSecret must be specified",
                )],
            ),
            passes(vec![("/url", json!("")), ("/urlSecret", secret())]),
            fails(
                vec![("/urlSecret", secret())],
                &[(
                    "spec.amqp.ev.urlSecret",
                    "only one of url or urlSecret can be specified",
                )],
            ),
            fails(
                vec![("/routingKey", json!(""))],
                &[("spec.amqp.ev.routingKey", "routing key must be specified")],
            ),
            fails(
                vec![("/exchangeType", json!(""))],
                &[(
                    "spec.amqp.ev.exchangeType",
                    "exchange type must be specified",
                )],
            ),
            fails(
                vec![("/auth", json!({}))],
                &[
                    ("spec.amqp.ev.auth.username", "username missing"),
                    ("spec.amqp.ev.auth.password", "password missing"),
                ],
            ),
            fails(
                vec![("/tls", json!({})), ("/auth", json!({}))],
                &[("spec.amqp.ev.tls", TLS_NONE)],
            ),
        ],
    );
    kind(
        "mqtt",
        json!({"url": "tcp://m:1883", "topic": "t", "clientId": "c"}),
        vec![
            fails(
                vec![("/url", json!(""))],
                &[("spec.mqtt.ev.url", "url must be specified")],
            ),
            fails(
                vec![("/topic", json!(""))],
                &[("spec.mqtt.ev.topic", "topic must be specified")],
            ),
            fails(
                vec![("/clientId", json!(""))],
                &[("spec.mqtt.ev.clientId", "client id must be specified")],
            ),
            fails(
                vec![("/auth", json!({"password": secret()}))],
                &[("spec.mqtt.ev.auth.username", "username missing")],
            ),
        ],
    );
}

#[test]
fn other_brokers() {
    kind(
        "nsq",
        json!({"hostAddress": "nsq:4161", "topic": "t", "channel": "c"}),
        vec![
            fails(
                vec![("/hostAddress", json!(""))],
                &[("spec.nsq.ev.hostAddress", "host address must be specified")],
            ),
            fails(
                vec![("/topic", json!(""))],
                &[("spec.nsq.ev.topic", "topic must be specified")],
            ),
            fails(
                vec![("/channel", json!(""))],
                &[("spec.nsq.ev.channel", "channel must be specified")],
            ),
            fails(
                vec![("/tls", json!({"clientKeySecret": secret()}))],
                &[("spec.nsq.ev.tls.clientCertSecret", TLS_PAIR)],
            ),
        ],
    );
    kind(
        "emitter",
        json!({"broker": "tcp://e:8080", "channelKey": "k", "channelName": "n"}),
        vec![
            fails(
                vec![("/broker", json!(""))],
                &[("spec.emitter.ev.broker", "broker url must be specified")],
            ),
            fails(
                vec![("/channelName", json!(""))],
                &[(
                    "spec.emitter.ev.channelName",
                    "channel name must be specified",
                )],
            ),
            fails(
                vec![("/channelKey", json!(""))],
                &[(
                    "spec.emitter.ev.channelKey",
                    "channel key secret selector must be specified",
                )],
            ),
            fails(
                vec![("/tls", json!({}))],
                &[("spec.emitter.ev.tls", TLS_NONE)],
            ),
        ],
    );
    kind(
        "redis",
        json!({"hostAddress": "redis:6379", "channels": ["c"]}),
        vec![
            fails(
                vec![("/hostAddress", json!(""))],
                &[(
                    "spec.redis.ev.hostAddress",
                    "host address must be specified",
                )],
            ),
            fails(
                vec![("/channels", Value::Null)],
                &[("spec.redis.ev.channels", "channel/s must be specified")],
            ),
            fails(
                vec![("/password", secret())],
                &[(
                    "spec.redis.ev.namespace",
                    "namespace must be defined in order to retrieve the password from the secret",
                )],
            ),
            passes(vec![
                ("/password", secret()),
                ("/namespace", json!("argo-events")),
            ]),
            fails(
                vec![("/tls", json!({}))],
                &[("spec.redis.ev.tls", TLS_NONE)],
            ),
        ],
    );
    kind(
        "redisStream",
        json!({"hostAddress": "redis:6379", "streams": ["s"]}),
        vec![
            fails(
                vec![("/hostAddress", json!(""))],
                &[(
                    "spec.redisStream.ev.hostAddress",
                    "host address must be specified",
                )],
            ),
            fails(
                vec![("/streams", Value::Null)],
                &[(
                    "spec.redisStream.ev.streams",
                    "stream/streams must be specified",
                )],
            ),
        ],
    );
    kind(
        "pulsar",
        json!({"topics": ["t"], "url": "pulsar://p:6650", "type": "exclusive"}),
        vec![
            fails(
                vec![("/topics", Value::Null)],
                &[("spec.pulsar.ev.topics", "topics can't be empty list")],
            ),
            fails(
                vec![("/url", json!(""))],
                &[("spec.pulsar.ev.url", "url must be provided")],
            ),
            passes(vec![("/type", json!("shared"))]),
            fails(
                vec![("/type", json!(""))],
                &[(
                    "spec.pulsar.ev.type",
                    "subscription type must be either exclusive or shared",
                )],
            ),
            fails(
                vec![("/type", json!("failover"))],
                &[("spec.pulsar.ev.type", "subscription type must be")],
            ),
        ],
    );
    kind(
        "generic",
        json!({"url": "generic:8080", "config": "key: value"}),
        vec![
            fails(
                vec![("/url", json!(""))],
                &[("spec.generic.ev.url", "server url can't be empty")],
            ),
            fails(
                vec![("/config", json!(""))],
                &[("spec.generic.ev.config", "config can't be empty")],
            ),
        ],
    );
}

#[test]
fn cloud_kinds() {
    kind(
        "sqs",
        json!({"region": "us-east-1", "queue": "q"}),
        vec![
            fails(
                vec![("/region", json!(""))],
                &[("spec.sqs.ev.region", "must specify region")],
            ),
            fails(
                vec![("/queue", json!(""))],
                &[("spec.sqs.ev.queue", "must specify queue name")],
            ),
        ],
    );
    kind(
        "pubSub",
        json!({"topic": "t"}),
        vec![
            fails(
                vec![("/topic", json!(""))],
                &[(
                    "spec.pubSub.ev.topic",
                    "must specify topic or subscriptionID",
                )],
            ),
            passes(vec![("/topic", json!("")), ("/subscriptionID", json!("s"))]),
            fails(
                vec![
                    ("/topic", json!("")),
                    ("/subscriptionID", json!("s")),
                    ("/topicProjectID", json!("p")),
                ],
                &[(
                    "spec.pubSub.ev.topicProjectID",
                    "you can't specify topicProjectID if you don't specify topic",
                )],
            ),
        ],
    );
    kind(
        "azureEventsHub",
        json!({"fqdn": "x.servicebus.windows.net", "hubName": "h"}),
        vec![
            fails(
                vec![("/fqdn", json!(""))],
                &[("spec.azureEventsHub.ev.fqdn", "FQDN is not specified")],
            ),
            fails(
                vec![("/hubName", json!(""))],
                &[(
                    "spec.azureEventsHub.ev.hubName",
                    "hub name/path is not specified",
                )],
            ),
            fails(
                vec![("/sharedAccessKey", secret())],
                &[(
                    "spec.azureEventsHub.ev.sharedAccessKeyName",
                    "SharedAccessKey or SharedAccessKeyName is not specified. If one is set then both must be set",
                )],
            ),
            passes(vec![
                ("/sharedAccessKey", secret()),
                ("/sharedAccessKeyName", secret()),
            ]),
        ],
    );
    kind(
        "azureServiceBus",
        json!({"connectionString": secret(), "queueName": "q"}),
        vec![
            fails(
                vec![("/connectionString", Value::Null)],
                &[(
                    "spec.azureServiceBus.ev.connectionString",
                    "ConnectionString or fullyQualifiedNamespace must be specified",
                )],
            ),
            passes(vec![
                ("/connectionString", Value::Null),
                (
                    "/fullyQualifiedNamespace",
                    json!("x.servicebus.windows.net"),
                ),
            ]),
            fails(
                vec![("/queueName", json!(""))],
                &[(
                    "spec.azureServiceBus.ev.queueName",
                    "QueueName or TopicName/SubscriptionName must be specified",
                )],
            ),
            passes(vec![
                ("/queueName", json!("")),
                ("/topicName", json!("t")),
                ("/subscriptionName", json!("s")),
            ]),
            fails(
                vec![("/topicName", json!("t"))],
                &[
                    (
                        "spec.azureServiceBus.ev.queueName",
                        "QueueName and TopicName/SubscriptionName cannot be specified at the same time",
                    ),
                    (
                        "spec.azureServiceBus.ev.subscriptionName",
                        "SubscriptionName must be specified when TopicName is specified",
                    ),
                ],
            ),
            fails(
                vec![("/queueName", json!("")), ("/subscriptionName", json!("s"))],
                &[
                    (
                        "spec.azureServiceBus.ev.queueName",
                        "QueueName or TopicName/SubscriptionName must be specified",
                    ),
                    (
                        "spec.azureServiceBus.ev.topicName",
                        "TopicName must be specified when SubscriptionName is specified",
                    ),
                ],
            ),
        ],
    );
    kind(
        "azureQueueStorage",
        json!({"storageAccountName": "a", "queueName": "q"}),
        vec![
            fails(
                vec![("/storageAccountName", json!(""))],
                &[(
                    "spec.azureQueueStorage.ev.connectionString",
                    "must specify connection string or storageAccountName",
                )],
            ),
            passes(vec![
                ("/storageAccountName", json!("")),
                ("/connectionString", secret()),
            ]),
            fails(
                vec![("/queueName", json!(""))],
                &[(
                    "spec.azureQueueStorage.ev.queueName",
                    "must specify queue name",
                )],
            ),
        ],
    );
    kind(
        "minio",
        json!({
            "endpoint": "minio:9000", "bucket": {"name": "b"}, "accessKey": secret(),
            "secretKey": secret(), "events": ["s3:ObjectCreated:Put"],
        }),
        vec![
            fails(
                vec![("/accessKey", Value::Null)],
                &[("spec.minio.ev.accessKey", "access key can't be empty")],
            ),
            fails(
                vec![("/secretKey", Value::Null)],
                &[("spec.minio.ev.secretKey", "secret key can't be empty")],
            ),
            fails(
                vec![("/endpoint", json!(""))],
                &[("spec.minio.ev.endpoint", "endpoint url can't be empty")],
            ),
            fails(
                vec![("/bucket/name", json!(""))],
                &[("spec.minio.ev.bucket.name", "bucket name can't be empty")],
            ),
            // Event names are not checked against S3's list, only for being non-empty.
            passes(vec![("/events", json!(["anything"]))]),
            fails(
                vec![("/events", json!(["s3:ObjectCreated:Put", ""]))],
                &[("spec.minio.ev.events[1]", "unknown event ")],
            ),
        ],
    );
    kind(
        "mns",
        json!({"queue": "q", "endpoint": "http://mns"}),
        vec![
            fails(
                vec![("/queue", json!(""))],
                &[("spec.mns.ev.queue", "must specify queue name")],
            ),
            fails(
                vec![("/endpoint", json!(""))],
                &[("spec.mns.ev.endpoint", "must specify a endpoint")],
            ),
        ],
    );
}

fn validate(spec: Value) -> Vec<FieldError> {
    let es = serde_json::from_value(json!({"metadata": {"name": "es"}, "spec": spec}))
        .expect("an EventSource");
    validate_event_source(&es)
}

#[test]
fn event_names_are_unique_across_kinds() {
    let hook = json!({"endpoint": "/a", "port": "12000"});
    assert_eq!(
        validate(json!({"webhook": {"a": hook, "b": hook}})),
        vec![],
        "two names of one kind"
    );
    let errors = validate(json!({
        "webhook": {"push": hook},
        "github": {"push": {"repositories": [{"owner": "o", "names": ["r"]}], "webhook": hook}},
    }));
    assert_eq!(
        errors,
        vec![FieldError {
            path: "spec.github.push".into(),
            message: r#"more than one "push" found in the spec"#.into(),
        }]
    );
}

#[test]
fn rolling_and_recreate_kinds_do_not_mix() {
    let errors = validate(json!({
        "webhook": {"a": {"endpoint": "/a", "port": "12000"}},
        "calendar": {"b": {"interval": "1m"}},
    }));
    assert_eq!(
        errors,
        vec![FieldError {
            path: "spec".into(),
            message: "event sources with rolling update and recreate update strategy can not be put together".into(),
        }]
    );
    // Two recreate kinds, or two rolling kinds, are fine; so is an EventSource with no event.
    assert_eq!(
        validate(
            json!({"calendar": {"a": {"interval": "1m"}}, "nats": {"b": {"url": "nats://n", "subject": "s"}}})
        ),
        vec![]
    );
    assert_eq!(
        validate(
            json!({"webhook": {"a": {"endpoint": "/a", "port": "1"}}, "mns": {"b": {"queue": "q", "endpoint": "e"}}})
        ),
        vec![]
    );
    assert_eq!(validate(json!({})), vec![]);
}

#[test]
fn an_event_source_reports_every_error_with_its_path() {
    let errors = validate(json!({
        "webhook": {"a": {"port": "x"}, "b": {"endpoint": "/b", "port": "1"}},
        "sqs": {"c": {}},
    }));
    let got: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.path.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("spec.webhook.a.endpoint", "endpoint can't be empty"),
            (
                "spec.webhook.a.port",
                r#"failed to parse server port x. err: strconv.Atoi: parsing "x": invalid syntax"#
            ),
            ("spec.sqs.c.region", "must specify region"),
            ("spec.sqs.c.queue", "must specify queue name"),
        ]
    );
}
