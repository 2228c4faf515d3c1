//! The Sensor engine: filters, conditions, parameters, transforms and trigger rendering as a
//! pure state machine. Built by the Sensor-engine issue; nothing lives here yet.
