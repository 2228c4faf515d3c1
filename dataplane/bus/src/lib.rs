//! The EventBus transport: JetStream stream, subject and consumer naming as pure functions, and
//! the NATS adapter. Built by the event-path issue; nothing lives here yet.
