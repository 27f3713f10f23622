//! One [`AuditLog`] per path and process: two open handles on one log would
//! each continue the chain from what they read and break it. Tasks that
//! write the same log at the same time (a scheduled scan and the
//! notification deliveries of a daemon) share the handle from here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::{AuditError, AuditLog};

fn open_logs() -> &'static Mutex<HashMap<PathBuf, Weak<AuditLog>>> {
    static LOGS: OnceLock<Mutex<HashMap<PathBuf, Weak<AuditLog>>>> = OnceLock::new();
    LOGS.get_or_init(|| Mutex::new(HashMap::new()))
}

impl AuditLog {
    /// The log at `path`, shared with every other holder in this process
    /// (opened as [`AuditLog::open`] does when nobody holds it).
    pub fn open_shared(path: &Path) -> Result<Arc<AuditLog>, AuditError> {
        let key = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let mut logs = open_logs().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(log) = logs.get(&key).and_then(Weak::upgrade) {
            return Ok(log);
        }
        logs.retain(|_, w| w.strong_count() > 0);
        let log = Arc::new(AuditLog::open(path)?);
        logs.insert(key, Arc::downgrade(&log));
        Ok(log)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::audit::{AuditEntry, AuditLog, Protocol, Verdict, verify};

    #[test]
    fn two_holders_share_one_chain() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("audit.jsonl");
        let a = AuditLog::open_shared(&path).unwrap();
        let b = AuditLog::open_shared(&path).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let entry = AuditEntry {
            engagement: "e".into(),
            target: "127.0.0.1".into(),
            address: None,
            port: Some(25),
            protocol: Protocol::Smtp,
            probe: "notify.email".into(),
            verdict: Verdict::Allowed,
            reason: "r".into(),
            outcome: "o".into(),
        };
        a.append(entry.clone()).unwrap();
        b.append(entry).unwrap();
        b.sync().unwrap();
        drop((a, b));
        let report = verify(&path).unwrap();
        assert!(report.is_ok() && report.records == 2, "{report:?}");
    }
}
