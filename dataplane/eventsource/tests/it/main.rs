//! Integration tests of the EventSource adapters, through `run`, with test doubles for the
//! bus, the state store, the observer and the clock, real HTTP on loopback and a real
//! nats-server (on PATH; `scripts/test` installs it).

// clippy.toml allows unwrap in tests; helpers outside `#[test]` functions need saying so.
#![allow(clippy::unwrap_used)]

mod calendar;
mod github;
mod gitlab;
mod nats;
mod resource;
mod support;
mod supported;
mod webhook;
