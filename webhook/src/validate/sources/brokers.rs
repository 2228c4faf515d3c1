//! Sources that consume from message brokers: Kafka, NATS, AMQP, MQTT, NSQ, Emitter, Redis
//! (pub/sub and streams), Pulsar, and user-provided gRPC servers (`generic`).
//!
//! Where upstream returns the result of a TLS check (`if tls != nil { return
//! ValidateTLSConfig(tls) }`), the checks after it never run when `tls` is set; that is kept.

use argo_events_api::*;

use super::need;
use crate::validate::common::{basic_auth, sasl, tls};
use crate::validate::{Errors, at};

pub(in crate::validate) fn kafka(s: &KafkaEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.url.is_empty(),
        path,
        "url",
        "url must be specified",
    );
    need(
        errors,
        s.topic.is_empty(),
        path,
        "topic",
        "topic must be specified",
    );
    need(
        errors,
        s.partition.is_empty() && s.consumer_group.is_none(),
        path,
        "partition",
        "consumerGroup or partition must be specified",
    );
    if let Some(t) = &s.tls {
        tls(t, &at(path, "tls"), errors);
    } else if let Some(config) = &s.sasl {
        sasl(config, &at(path, "sasl"), errors);
    } else if let Some(iam) = &s.aws_msk_iam_auth {
        need(
            errors,
            iam.region.is_empty(),
            path,
            "awsMskIamAuth.region",
            "awsMskIamAuth.region must be specified",
        );
    }
}

pub(in crate::validate) fn nats(s: &NATSEventsSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.url.is_empty(),
        path,
        "url",
        "url must be specified",
    );
    need(
        errors,
        s.subject.is_empty(),
        path,
        "subject",
        "subject must be specified",
    );
    if let Some(t) = &s.tls {
        tls(t, &at(path, "tls"), errors);
    } else {
        need(
            errors,
            s.queue.as_deref() == Some(""),
            path,
            "queue",
            "queue group cannot be empty if specified",
        );
    }
}

pub(in crate::validate) fn amqp(s: &AMQPEventSource, path: &str, errors: &mut Errors) {
    match (s.url.is_empty(), s.url_secret.is_some()) {
        (true, false) => errors.push(at(path, "url"), "either url or urlSecret must be specified"),
        (false, true) => errors.push(
            at(path, "urlSecret"),
            "only one of url or urlSecret can be specified",
        ),
        _ => {}
    }
    need(
        errors,
        s.routing_key.is_empty(),
        path,
        "routingKey",
        "routing key must be specified",
    );
    need(
        errors,
        s.exchange_type.is_empty(),
        path,
        "exchangeType",
        "exchange type must be specified",
    );
    if let Some(t) = &s.tls {
        tls(t, &at(path, "tls"), errors);
    } else if let Some(auth) = &s.auth {
        basic_auth(auth, &at(path, "auth"), errors);
    }
}

pub(in crate::validate) fn mqtt(s: &MQTTEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.url.is_empty(),
        path,
        "url",
        "url must be specified",
    );
    need(
        errors,
        s.topic.is_empty(),
        path,
        "topic",
        "topic must be specified",
    );
    need(
        errors,
        s.client_id.is_empty(),
        path,
        "clientId",
        "client id must be specified",
    );
    if let Some(t) = &s.tls {
        tls(t, &at(path, "tls"), errors);
    } else if let Some(auth) = &s.auth {
        basic_auth(auth, &at(path, "auth"), errors);
    }
}

pub(in crate::validate) fn nsq(s: &NSQEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.host_address.is_empty(),
        path,
        "hostAddress",
        "host address must be specified",
    );
    need(
        errors,
        s.topic.is_empty(),
        path,
        "topic",
        "topic must be specified",
    );
    need(
        errors,
        s.channel.is_empty(),
        path,
        "channel",
        "channel must be specified",
    );
    if let Some(t) = &s.tls {
        tls(t, &at(path, "tls"), errors);
    }
}

pub(in crate::validate) fn emitter(s: &EmitterEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.broker.is_empty(),
        path,
        "broker",
        "broker url must be specified",
    );
    need(
        errors,
        s.channel_name.is_empty(),
        path,
        "channelName",
        "channel name must be specified",
    );
    need(
        errors,
        s.channel_key.is_empty(),
        path,
        "channelKey",
        "channel key secret selector must be specified",
    );
    if let Some(t) = &s.tls {
        tls(t, &at(path, "tls"), errors);
    }
}

pub(in crate::validate) fn redis(s: &RedisEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.host_address.is_empty(),
        path,
        "hostAddress",
        "host address must be specified",
    );
    need(
        errors,
        s.channels.is_empty(),
        path,
        "channels",
        "channel/s must be specified",
    );
    need(
        errors,
        s.password.is_some() && s.namespace.is_empty(),
        path,
        "namespace",
        "namespace must be defined in order to retrieve the password from the secret",
    );
    if let Some(t) = &s.tls {
        tls(t, &at(path, "tls"), errors);
    }
}

pub(in crate::validate) fn redis_stream(
    s: &RedisStreamEventSource,
    path: &str,
    errors: &mut Errors,
) {
    need(
        errors,
        s.host_address.is_empty(),
        path,
        "hostAddress",
        "host address must be specified",
    );
    need(
        errors,
        s.streams.is_empty(),
        path,
        "streams",
        "stream/streams must be specified",
    );
    if let Some(t) = &s.tls {
        tls(t, &at(path, "tls"), errors);
    }
}

pub(in crate::validate) fn pulsar(s: &PulsarEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.topics.is_empty(),
        path,
        "topics",
        "topics can't be empty list",
    );
    need(
        errors,
        s.url.is_empty(),
        path,
        "url",
        "url must be provided",
    );
    need(
        errors,
        !matches!(s.type_.as_str(), "exclusive" | "shared"),
        path,
        "type",
        "subscription type must be either exclusive or shared",
    );
}

pub(in crate::validate) fn generic(s: &GenericEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.url.is_empty(),
        path,
        "url",
        "server url can't be empty",
    );
    need(
        errors,
        s.config.is_empty(),
        path,
        "config",
        "config can't be empty",
    );
}
