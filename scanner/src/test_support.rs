//! Helpers shared by the crate's unit tests: a scope guard over loopback.

use std::path::Path;
use std::sync::Arc;

use haetae_findings::Timestamp;
use haetae_findings::audit::AuditLog;

use crate::guard::{GuardConfig, ScopeGuard};
use crate::scope::Scope;

/// A guard over 127.0.0.0/8 and one port, with a per-operation timeout.
pub(crate) fn loopback_guard(port: u16, timeout_ms: u64) -> (ScopeGuard, tempfile::TempDir) {
    guard_for(&scope_text(port, timeout_ms, "2999-01-01T00:00:00Z"))
}

/// A scope over 127.0.0.0/8 and one port.
pub(crate) fn scope_text(port: u16, timeout_ms: u64, not_after: &str) -> String {
    format!(
        r#"
[engagement]
id = "KR-SVC"
contact = "team@agency.test"
not_before = 2000-01-01T00:00:00Z
not_after = {not_after}
[scope]
domains = ["agency.test"]
cidrs = ["127.0.0.0/8"]
ports = [{port}]
[limits]
max_rps = 1000
per_host_rps = 1000
timeout_ms = {timeout_ms}
"#
    )
}

/// A guard (and its audit log's directory) for a scope's text.
pub(crate) fn guard_for(scope: &str) -> (ScopeGuard, tempfile::TempDir) {
    let scope = Arc::new(Scope::parse(Path::new("scope.toml"), scope).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let audit = Arc::new(AuditLog::open(&dir.path().join("audit.jsonl")).unwrap());
    let clock: crate::guard::Clock = Arc::new(Timestamp::now);
    let nameservers = vec!["127.0.0.1:53".parse().unwrap()];
    (ScopeGuard::new(GuardConfig { scope, nameservers, audit, clock }).unwrap(), dir)
}
