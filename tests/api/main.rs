//! One test binary: every behaviour through a bound port and a real SQLite file (or a
//! PostgreSQL database in a cluster the tests start themselves: `postgres`).

mod call;
mod commands;
mod fake_ortto;
mod helpers;

mod cleaning;
mod cli;
mod crash;
mod delivery;
mod deploy;
mod docs;
mod faults;
mod files;
mod forms;
mod guard;
mod hardening;
mod hooks;
mod inbox;
mod mapping;
mod ops;
mod postgres;
mod properties;
mod readme;
mod redirects;
mod redteam;
mod responses;
mod secrets;
mod senders;
mod sessions;
mod spam;
mod switching;
mod traces;
mod visitors;
