//! haetae-scanner: the probes, and the scope guard every connection passes.
//!
//! This crate will hold the scope guard (the only road from haetae to the
//! network: resolve once, check every address, connect only to checked
//! addresses, audit every attempt), the scan engine, and the DNS, TLS, HTTP and
//! service checks. Probes report [`haetae_findings::Observation`]s; the scanner
//! never opens the store itself.
//!
//! Nothing is implemented yet: the engine arrives with issue 3.
