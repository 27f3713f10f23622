//! End-to-end tests of the `haetae` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod api;
mod changes;
mod daemon;
mod data;
mod export;
mod findings;
mod init;
mod lab;
mod lifecycle;
mod notify;
mod recovery;
mod rules;
mod scan;
mod small;
mod stop;
mod store;
mod support;
mod triage;
mod tui;
mod workers;
