//! The rules of each event source kind (upstream `pkg/eventsources/sources/<kind>/validate.go`),
//! each called with the event's path (`spec.<kind>.<event name>`): webhook-style kinds in
//! [`hooks`], broker consumers in [`brokers`], timers, watchers and cloud queues here.

mod brokers;
mod hooks;

pub(super) use brokers::*;
pub(super) use hooks::*;

use argo_events_api::*;

use super::common::{go_duration, watch_path};
use super::cron::parse_cron;
use super::{Errors, at, idx};

/// Reports `message` at `base.field` when `missing`.
fn need(errors: &mut Errors, missing: bool, base: &str, field: &str, message: &str) {
    if missing {
        errors.push(at(base, field), message);
    }
}

pub(super) fn calendar(s: &CalendarEventSource, path: &str, errors: &mut Errors) {
    if !s.schedule.is_empty() {
        if let Err(e) = parse_cron(&s.schedule) {
            errors.push(
                at(path, "schedule"),
                format!(
                    "failed to parse schedule {} from calendar event. Cause: {e}",
                    s.schedule
                ),
            );
        }
    } else if !s.interval.is_empty() {
        if let Err(e) = go_duration(&s.interval) {
            errors.push(
                at(path, "interval"),
                format!(
                    "failed to parse interval {} from calendar event. Cause: {e}",
                    s.interval
                ),
            );
        }
    } else {
        errors.push(
            at(path, "schedule"),
            "must have either schedule or interval",
        );
    }
}

pub(super) fn resource(s: &ResourceEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.version.is_empty(),
        path,
        "version",
        "version must be specified",
    );
    need(
        errors,
        s.resource.is_empty(),
        path,
        "resource",
        "resource must be specified",
    );
    need(
        errors,
        s.event_types.is_empty(),
        path,
        "eventTypes",
        "event types must be specified",
    );
    if let Some(filter) = &s.filter {
        // Upstream accepts any selector operation; only the key is required.
        for (field, selectors) in [("labels", &filter.labels), ("fields", &filter.fields)] {
            for (i, selector) in selectors.iter().enumerate() {
                need(
                    errors,
                    selector.key.is_empty(),
                    &idx(&at(path, &format!("filter.{field}")), i),
                    "key",
                    "key can't be empty for selector",
                );
            }
        }
    }
}

pub(super) fn file(s: &FileEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.event_type.is_empty(),
        path,
        "eventType",
        "type must be specified",
    );
    watch_path(&s.watch_path_config, &at(path, "watchPathConfig"), errors);
}

pub(super) fn sftp(s: &SFTPEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.event_type.is_empty(),
        path,
        "eventType",
        "type must be specified",
    );
    watch_path(&s.watch_path_config, &at(path, "watchPathConfig"), errors);
}

/// fsnotify operation names `hdfs.type` may combine with `|`.
const FS_OPS: &[&str] = &["CREATE", "WRITE", "REMOVE", "RENAME", "CHMOD"];

pub(super) fn hdfs(s: &HDFSEventSource, path: &str, errors: &mut Errors) {
    if s.type_.is_empty() {
        errors.push(at(path, "type"), "type is required");
    } else if !s.type_.split('|').any(|op| FS_OPS.contains(&op)) {
        errors.push(at(path, "type"), "type is invalid");
    }
    if !s.check_interval.is_empty() && go_duration(&s.check_interval).is_err() {
        errors.push(at(path, "checkInterval"), "failed to parse interval");
    }
    // The watched path is inlined in the hdfs source.
    watch_path(&s.watch_path_config(), path, errors);
    need(
        errors,
        s.addresses.is_empty(),
        path,
        "addresses",
        "addresses is required",
    );
    let ccache = s.krb_c_cache_secret.is_some();
    let keytab = s.krb_keytab_secret.is_some();
    need(
        errors,
        s.hdfs_user.is_empty() && !ccache && !keytab,
        path,
        "hdfsUser",
        "either hdfsUser, krbCCacheSecret or krbKeytabSecret is required",
    );
    let kerberos_base =
        s.krb_service_principal_name.is_empty() || s.krb_config_config_map.is_none();
    need(
        errors,
        keytab && (kerberos_base || s.krb_username.is_empty() || s.krb_realm.is_empty()),
        path,
        "krbKeytabSecret",
        "krbServicePrincipalName, krbConfigConfigMap, krbUsername and krbRealm are required with krbKeytabSecret",
    );
    need(
        errors,
        ccache && kerberos_base,
        path,
        "krbCCacheSecret",
        "krbServicePrincipalName and krbConfigConfigMap are required with krbCCacheSecret",
    );
}

pub(super) fn sqs(s: &SQSEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.region.is_empty(),
        path,
        "region",
        "must specify region",
    );
    need(
        errors,
        s.queue.is_empty(),
        path,
        "queue",
        "must specify queue name",
    );
}

pub(super) fn pub_sub(s: &PubSubEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        !s.topic_project_id.is_empty() && s.topic.is_empty(),
        path,
        "topicProjectID",
        "you can't specify topicProjectID if you don't specify topic",
    );
    need(
        errors,
        s.topic.is_empty() && s.subscription_id.is_empty(),
        path,
        "topic",
        "must specify topic or subscriptionID",
    );
}

pub(super) fn azure_events_hub(s: &AzureEventsHubEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.fqdn.is_empty(),
        path,
        "fqdn",
        "FQDN is not specified",
    );
    need(
        errors,
        s.hub_name.is_empty(),
        path,
        "hubName",
        "hub name/path is not specified",
    );
    if s.shared_access_key.is_none() != s.shared_access_key_name.is_none() {
        let missing = if s.shared_access_key.is_none() {
            "sharedAccessKey"
        } else {
            "sharedAccessKeyName"
        };
        errors.push(
            at(path, missing),
            "SharedAccessKey or SharedAccessKeyName is not specified. If one is set then both must be set",
        );
    }
}

pub(super) fn azure_service_bus(s: &AzureServiceBusEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.connection_string.is_none() && s.fully_qualified_namespace.is_empty(),
        path,
        "connectionString",
        "ConnectionString or fullyQualifiedNamespace must be specified",
    );
    let (queue, topic, subscription) = (
        !s.queue_name.is_empty(),
        !s.topic_name.is_empty(),
        !s.subscription_name.is_empty(),
    );
    need(
        errors,
        !queue && (!topic || !subscription),
        path,
        "queueName",
        "QueueName or TopicName/SubscriptionName must be specified",
    );
    need(
        errors,
        queue && (topic || subscription),
        path,
        "queueName",
        "QueueName and TopicName/SubscriptionName cannot be specified at the same time",
    );
    need(
        errors,
        !topic && subscription,
        path,
        "topicName",
        "TopicName must be specified when SubscriptionName is specified",
    );
    need(
        errors,
        topic && !subscription,
        path,
        "subscriptionName",
        "SubscriptionName must be specified when TopicName is specified",
    );
}

pub(super) fn azure_queue_storage(
    s: &AzureQueueStorageEventSource,
    path: &str,
    errors: &mut Errors,
) {
    need(
        errors,
        s.connection_string.is_none() && s.storage_account_name.is_empty(),
        path,
        "connectionString",
        "must specify connection string or storageAccountName",
    );
    need(
        errors,
        s.queue_name.is_empty(),
        path,
        "queueName",
        "must specify queue name",
    );
}

pub(super) fn minio(s: &S3Artifact, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.access_key.is_none(),
        path,
        "accessKey",
        "access key can't be empty",
    );
    need(
        errors,
        s.secret_key.is_none(),
        path,
        "secretKey",
        "secret key can't be empty",
    );
    need(
        errors,
        s.endpoint.is_empty(),
        path,
        "endpoint",
        "endpoint url can't be empty",
    );
    need(
        errors,
        s.bucket.as_ref().is_some_and(|b| b.name.is_empty()),
        path,
        "bucket.name",
        "bucket name can't be empty",
    );
    // Upstream converts each name to a notification type, which only fails for "".
    for (i, event) in s.events.iter().enumerate() {
        if event.is_empty() {
            errors.push(idx(&at(path, "events"), i), "unknown event ");
        }
    }
}

pub(super) fn mns(s: &MNSEventSource, path: &str, errors: &mut Errors) {
    need(
        errors,
        s.queue.is_empty(),
        path,
        "queue",
        "must specify queue name",
    );
    need(
        errors,
        s.endpoint.is_empty(),
        path,
        "endpoint",
        "must specify a endpoint",
    );
}
