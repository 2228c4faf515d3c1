//! Label keys, label values, annotations, finalizers, environment variable names, ports and
//! mount paths shared by everything the controller builds (upstream's `common` constants).

/// Label naming the controller that owns a generated object.
pub const LABEL_CONTROLLER: &str = "controller";
/// Label carrying the EventSource name on its Deployment, Service and pods.
pub const LABEL_EVENT_SOURCE_NAME: &str = "eventsource-name";
/// Label carrying the Sensor name on its Deployment and pods.
pub const LABEL_SENSOR_NAME: &str = "sensor-name";
/// Label carrying the EventBus name on its StatefulSet, Service, ConfigMap, Secrets and pods.
pub const LABEL_EVENT_BUS_NAME: &str = "eventbus-name";
/// Label carrying the owner's name on every generated object.
pub const LABEL_OWNER_NAME: &str = "owner-name";

/// `controller` label value on EventSource children.
pub const CONTROLLER_EVENT_SOURCE: &str = "eventsource-controller";
/// `controller` label value on Sensor children.
pub const CONTROLLER_SENSOR: &str = "sensor-controller";
/// `controller` label value on EventBus children.
pub const CONTROLLER_EVENT_BUS: &str = "eventbus-controller";

/// Annotation holding the hash of the desired object; an update happens only when it changes.
pub const ANNOTATION_RESOURCE_SPEC_HASH: &str = "resource-spec-hash";
/// Annotation on an EventSource or Sensor whose value is passed to pods as `LEADER_ELECTION`.
pub const ANNOTATION_LEADER_ELECTION: &str = "events.argoproj.io/leader-election";

/// Finalizer the controller puts on EventBus objects.
pub const FINALIZER_EVENT_BUS: &str = "eventbus-controller";
/// Finalizer the controller puts on EventSource objects.
pub const FINALIZER_EVENT_SOURCE: &str = "eventsource-controller";
/// Finalizer the controller puts on Sensor objects.
pub const FINALIZER_SENSOR: &str = "sensor-controller";

/// Env var with the base64 JSON of `{metadata{name,namespace}, spec}` of the EventSource.
pub const ENV_EVENT_SOURCE_OBJECT: &str = "EVENTSOURCE_OBJECT";
/// Env var with the base64 JSON of `{metadata{name,namespace}, spec}` of the Sensor.
pub const ENV_SENSOR_OBJECT: &str = "SENSOR_OBJECT";
/// Env var with the base64 JSON of the EventBus `status.config`.
pub const ENV_EVENT_BUS_CONFIG: &str = "EVENTBUS_CONFIG";
/// Env var with the bus subject, `eventbus-<namespace>`.
pub const ENV_EVENT_BUS_SUBJECT: &str = "EVENTBUS_SUBJECT";
/// Env var with the pod's own name (a `fieldRef` to `metadata.name`).
pub const ENV_POD_NAME: &str = "POD_NAME";
/// Env var with the value of the leader-election annotation (possibly empty).
pub const ENV_LEADER_ELECTION: &str = "LEADER_ELECTION";

/// Container port (named `metrics`) where EventSource and Sensor pods serve `/metrics`.
pub const METRICS_PORT: i32 = 7777;
/// Name of the metrics container port.
pub const METRICS_PORT_NAME: &str = "metrics";
/// Name of the single container of EventSource and Sensor pods.
pub const MAIN_CONTAINER: &str = "main";

/// Mount path of the bus credentials volume (file `auth.yaml` inside).
pub const EVENT_BUS_AUTH_MOUNT_PATH: &str = "/etc/eventbus/auth";
/// File name of the bus credentials inside [`EVENT_BUS_AUTH_MOUNT_PATH`].
pub const EVENT_BUS_AUTH_FILE: &str = "auth.yaml";
/// Directory under which each referenced Secret is mounted as `<dir>/<name>`.
pub const SECRETS_MOUNT_DIR: &str = "/argo-events/secrets";
/// Directory under which each referenced ConfigMap is mounted as `<dir>/<name>`.
pub const CONFIG_MAPS_MOUNT_DIR: &str = "/argo-events/config";
/// Mount path of the `tmp` emptyDir.
pub const TMP_MOUNT_PATH: &str = "/tmp";

/// API version of the owner references pointing at our objects.
pub const OWNER_API_VERSION: &str = "argoproj.io/v1alpha1";
