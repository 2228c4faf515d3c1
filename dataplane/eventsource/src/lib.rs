//! EventSource adapters, one per source kind behind one trait. Built by the event-path issue;
//! nothing lives here yet.
