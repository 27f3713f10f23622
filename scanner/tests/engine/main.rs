//! The scan engine against the shared loopback lab.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod change_events;
mod cname;
mod cname_nginx;
mod dns;
mod dns_scan;
mod fakedns;
mod faults;
mod guard;
mod hostile_http;
mod http;
mod keepalive;
mod knot;
mod maildnssec;
mod openssl;
mod realweb;
mod redirect;
mod scan;
mod software;
mod support;
mod web_policy;
