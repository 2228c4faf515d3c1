//! EventSource rules (upstream `pkg/reconciler/eventsource/validate.go`): event names unique
//! across all kinds, no mixing of rolling-update and recreate kinds, and each event's own
//! source rules ([`super::sources`]). An EventSource without any event is not an error upstream.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use argo_events_api::{EventSource, EventSourceSpec};

use super::{Errors, sources};

use argo_events_api::eventsource::RECREATE_KINDS;

pub(super) fn validate(es: &EventSource, errors: &mut Errors) {
    let spec = &es.spec;
    let mut seen = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for (kind, name) in spec.event_names() {
        kinds.insert(kind);
        if !seen.insert(name) {
            errors.push(
                format!("spec.{kind}.{name}"),
                format!("more than one {name:?} found in the spec"),
            );
        }
    }
    validate_each(spec, errors);
    let recreate = kinds.iter().any(|k| RECREATE_KINDS.contains(k));
    let rolling = kinds.iter().any(|k| !RECREATE_KINDS.contains(k));
    if recreate && rolling {
        errors.push(
            "spec",
            "event sources with rolling update and recreate update strategy can not be put together",
        );
    }
}

/// Runs `check` on every event of one kind, with the event's path.
fn each<T>(
    key: &str,
    map: &BTreeMap<String, T>,
    errors: &mut Errors,
    check: fn(&T, &str, &mut Errors),
) {
    for (name, source) in map {
        check(source, &format!("spec.{key}.{name}"), errors);
    }
}

fn validate_each(spec: &EventSourceSpec, errors: &mut Errors) {
    each("minio", &spec.minio, errors, sources::minio);
    each("calendar", &spec.calendar, errors, sources::calendar);
    each("file", &spec.file, errors, sources::file);
    each("resource", &spec.resource, errors, sources::resource);
    each("webhook", &spec.webhook, errors, sources::webhook);
    each("amqp", &spec.amqp, errors, sources::amqp);
    each("kafka", &spec.kafka, errors, sources::kafka);
    each("mqtt", &spec.mqtt, errors, sources::mqtt);
    each("nats", &spec.nats, errors, sources::nats);
    each("sns", &spec.sns, errors, sources::sns);
    each("sqs", &spec.sqs, errors, sources::sqs);
    each("pubSub", &spec.pub_sub, errors, sources::pub_sub);
    each("github", &spec.github, errors, sources::github);
    each("gitlab", &spec.gitlab, errors, sources::gitlab);
    each("hdfs", &spec.hdfs, errors, sources::hdfs);
    each("slack", &spec.slack, errors, sources::slack);
    each(
        "storageGrid",
        &spec.storage_grid,
        errors,
        sources::storage_grid,
    );
    each(
        "azureEventsHub",
        &spec.azure_events_hub,
        errors,
        sources::azure_events_hub,
    );
    each("stripe", &spec.stripe, errors, sources::stripe);
    each("emitter", &spec.emitter, errors, sources::emitter);
    each("redis", &spec.redis, errors, sources::redis);
    each("nsq", &spec.nsq, errors, sources::nsq);
    each("pulsar", &spec.pulsar, errors, sources::pulsar);
    each("generic", &spec.generic, errors, sources::generic);
    each(
        "redisStream",
        &spec.redis_stream,
        errors,
        sources::redis_stream,
    );
    each(
        "bitbucketserver",
        &spec.bitbucketserver,
        errors,
        sources::bitbucket_server,
    );
    each("bitbucket", &spec.bitbucket, errors, sources::bitbucket);
    each(
        "azureServiceBus",
        &spec.azure_service_bus,
        errors,
        sources::azure_service_bus,
    );
    each(
        "azureQueueStorage",
        &spec.azure_queue_storage,
        errors,
        sources::azure_queue_storage,
    );
    each("sftp", &spec.sftp, errors, sources::sftp);
    each("gerrit", &spec.gerrit, errors, sources::gerrit);
    each("mns", &spec.mns, errors, sources::mns);
}
