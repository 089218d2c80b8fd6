//! One test binary: every behaviour through a bound port and a real SQLite file.

mod helpers;

mod cleaning;
mod cli;
mod forms;
mod mapping;
mod redirects;
mod responses;
