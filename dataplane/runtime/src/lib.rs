//! The pod runtime (`eventsource run`, `sensor run`) and trigger execution. Built by the
//! event-path issue; nothing lives here yet.
