//! Integration tests of the findings crate: lifecycle, store, crash safety.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod backup;
mod changes;
mod crash;
mod lifecycle;
mod pg_concurrency;
mod pg_kv;
mod pg_queue;
mod pg_tls;
mod properties;
mod store;
mod support;
