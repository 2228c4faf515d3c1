//! What the cluster suite's kubelet stand-in (`tests/tests/cluster/kubelet.rs`) decides, as pure
//! functions, so they are tested without a cluster: which lines a `containerLogs` request
//! returns and how ([`logs`], kubelet's rules), the Pod status it reports ([`status`], kubelet's
//! shape and phase rules) and the address it gives pods ([`address`]).

pub mod address;
pub mod logs;
pub mod status;
