//! talk-relay: website forms and form-tool webhooks into Ortto Talk conversations.
//!
//! Every intake request walks guard → parse → clean → map → record → respond; delivery to
//! Ortto happens in the background from the durable log (README, "How a submission flows").

pub mod alerts;
pub mod clean;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod files;
pub mod guard;
pub mod http;
pub mod intake;
pub mod mapping;
pub mod metrics;
pub mod ops;
pub mod ortto;
pub mod outbound;
pub mod pages;
pub mod person;
pub mod refusals;
pub mod spam;
pub mod starter;
pub mod startup;
pub mod state;
pub mod store;
pub mod talk_session;
pub mod telemetry;
pub mod traces;
