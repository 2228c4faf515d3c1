//! The `argoproj.io/v1alpha1` API of Argo Events as Rust types.
//!
//! Every manifest decodes as upstream's Go controller decodes it: field names match
//! case-insensitively, unknown fields are ignored (and reported, see [`gocompat`]), scalar
//! types are strict, and defaults are applied in code ([`defaults`]), never by the decoder.
#![warn(missing_docs)]

pub mod cloudevent;
pub mod common;
pub mod crd;
pub mod cron;
pub mod defaults;
pub mod diagnostics;
pub mod duration;
pub mod eventbus;
pub mod eventsource;
pub mod gocompat;
pub mod manifest;
pub mod sensor;
pub mod watched;

pub use common::*;
pub use eventbus::*;
pub use eventsource::*;
pub use sensor::*;

/// The API group of the three kinds.
pub const GROUP: &str = "argoproj.io";
/// The only version of the API.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of the three kinds.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";

/// Whether a value equals its type's default; used to leave empty fields out when encoding.
pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
