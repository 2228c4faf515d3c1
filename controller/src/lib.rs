//! The controller: pure desired-state and status builders with a thin apply shell. Built by the
//! controller issue; nothing lives here yet.
