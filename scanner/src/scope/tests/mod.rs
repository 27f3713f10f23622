//! Scope tests: parsing and validation errors (with positions), the decisions,
//! and property tests of the invariants the guard relies on.

mod checks;
mod parse;
mod props;

use std::path::Path;

use super::Scope;

/// The example from SPEC.md, "scope.toml — the authorization", verbatim.
pub(super) const SPEC_EXAMPLE: &str = r#"[engagement]
id = "KR-2026-0142"            # required; stamped on every finding, export and audit record
agency = "Ministry of Example"
contact = "whitehat@example.org" # sent in the User-Agent so operators can reach the team
not_before = 2026-11-01T00:00:00Z  # scans refused outside this window (clear error, exit 3)
not_after  = 2026-12-31T23:59:59Z

[scope]
domains = ["agency.test"]        # the name and every subdomain
cidrs = ["127.77.0.0/20"]        # addresses that may be contacted; empty = any address a scoped name resolves to
ports = [22, 80, 443, 2375, 6379, 8080, 8443, 9200]   # or "top-100"
exclude_domains = ["payments.agency.test"]
exclude_cidrs = []
exclude_paths = ["/logout"]
seeds = ["agency.test", "www.agency.test"]   # where discovery starts

[limits]
max_rps = 100        # whole scan
per_host_rps = 20
concurrency = 128
timeout_ms = 5000

[[migration]]        # optional: known legacy origins of a host that moved to the cloud
host = "portal.agency.test"
legacy_addresses = ["127.77.1.21"]
"#;

pub(super) fn parse(text: &str) -> Scope {
    match Scope::parse(Path::new("scope.toml"), text) {
        Ok(s) => s,
        Err(e) => panic!("{e}\n--- text ---\n{text}"),
    }
}

pub(super) fn spec() -> Scope {
    parse(SPEC_EXAMPLE)
}
