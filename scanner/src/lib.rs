//! haetae-scanner: the probes, and the scope guard every connection passes.
//!
//! - [`scope::Scope`]: the authorization (scope.toml), and in/out decisions with reasons.
//! - [`guard::ScopeGuard`]: the only road to the network. It resolves each name
//!   once, checks every address, connects only to checked addresses, applies the
//!   rate limits and writes every attempt to the audit log.
//! - [`engine::run`]: seeds → DNS → discovery → ports → probes, reporting
//!   [`engine::ScanEvent`]s on a bounded channel. The scanner never opens the store.
//! - [`checks`]: the protocol checks implemented in code.
//! - [`dns`]: the DNS wire format behind our own types.

pub mod checks;
pub mod dns;
pub mod engine;
pub mod guard;
pub mod http;
pub mod scope;
pub mod software;
pub mod templates;
pub mod tls;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod test_support;
