//! The PostgreSQL backend (docs/scale-out.md, "Running more than one relay"): the contract suite that
//! runs on both backends, what only a shared database does (one budget, one pause for the
//! fleet), and the fleet test with real processes. The tests start their own throwaway
//! cluster; without PostgreSQL installed they say they were skipped, and with
//! `TALK_RELAY_REQUIRE_POSTGRES=1` (as `.ci/run` sets) a skip is a failure.

mod cluster;
mod contract;
mod faults;
mod fleet;
mod shared;

pub(crate) use cluster::database;
