//! `Source`: where the TUI reads findings and sends triage. Today the store
//! itself (one process holds it); the daemon's local API will be another
//! implementation, so nothing else in the TUI knows which one it talks to.

use haetae_findings::{AssetRecord, Finding, ScanRun, Store, StoreError, Transition};

use crate::row::Row;

/// Findings, assets and scans to show; triage to record.
pub trait Source {
    /// Every finding as a table row (any order).
    fn rows(&self) -> Result<Vec<Row>, StoreError>;
    /// One finding, whole.
    fn finding(&self, id: &str) -> Result<Option<Finding>, StoreError>;
    /// Apply a triage transition to findings; returns them as stored.
    fn triage(&self, ids: &[String], t: &Transition) -> Result<Vec<Finding>, StoreError>;
    /// What is known of hosts: addresses, certificates, open ports.
    fn assets(&self) -> Result<Vec<AssetRecord>, StoreError>;
    /// Scan runs, oldest first.
    fn scans(&self) -> Result<Vec<ScanRun>, StoreError>;
}

impl Source for Store {
    fn rows(&self) -> Result<Vec<Row>, StoreError> {
        // Unreadable records are left out of the table; `haetae findings`
        // reports them.
        let mut rows = self.list_all_as::<Row>()?.0;
        // The filter text, built on every core.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 16);
        let part = rows.len().div_ceil(cores).max(1024);
        std::thread::scope(|s| {
            for chunk in rows.chunks_mut(part) {
                s.spawn(move || chunk.iter_mut().for_each(Row::index));
            }
        });
        Ok(rows)
    }

    fn finding(&self, id: &str) -> Result<Option<Finding>, StoreError> {
        self.get(id)
    }

    fn triage(&self, ids: &[String], t: &Transition) -> Result<Vec<Finding>, StoreError> {
        Store::triage(self, ids, t)
    }

    fn assets(&self) -> Result<Vec<AssetRecord>, StoreError> {
        Store::assets(self)
    }

    fn scans(&self) -> Result<Vec<ScanRun>, StoreError> {
        Store::scans(self)
    }
}
