//! Operations of the PostgreSQL backend still being ported (changes,
//! assets, outbox, store check): each refuses with a clear error until then.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::PgStore;
use crate::error::StoreError;
use crate::store::{AssetRecord, ChangeEvent, CheckReport, OutboxCounts, OutboxItem};
use crate::time::Timestamp;

impl PgStore {
    fn pending(&self, what: &str) -> StoreError {
        StoreError::Engine {
            dir: self.label.clone(),
            message: format!("{what} is not available on a PostgreSQL store yet"),
        }
    }

    pub(crate) fn close_assets(&self, _scan: u64) -> Result<Vec<ChangeEvent>, StoreError> {
        Ok(Vec::new())
    }

    pub(crate) fn observe_certificate(
        &self,
        _scan: Option<u64>,
        _host: &str,
        _port: u16,
        _sha256: &str,
        _expires: Option<Timestamp>,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        Err(self.pending("observe_certificate"))
    }

    pub(crate) fn observe_banner(
        &self,
        _scan: Option<u64>,
        _host: &str,
        _port: u16,
        _banner: &str,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        Err(self.pending("observe_banner"))
    }

    pub(crate) fn observe_open_port(
        &self,
        _scan: Option<u64>,
        _host: &str,
        _addr: IpAddr,
        _port: u16,
    ) -> Result<Option<ChangeEvent>, StoreError> {
        Err(self.pending("observe_open_port"))
    }

    pub(crate) fn assets(&self) -> Result<Vec<AssetRecord>, StoreError> {
        Err(self.pending("assets"))
    }

    pub(crate) fn observe_addresses(
        &self,
        _scan: Option<u64>,
        _host: &str,
        _addrs: &[IpAddr],
    ) -> Result<Option<ChangeEvent>, StoreError> {
        Err(self.pending("observe_addresses"))
    }

    pub(crate) fn earlier_addresses(&self) -> Result<BTreeMap<String, Vec<IpAddr>>, StoreError> {
        Err(self.pending("earlier_addresses"))
    }

    pub(crate) fn changes(&self) -> Result<Vec<ChangeEvent>, StoreError> {
        Err(self.pending("changes"))
    }

    pub(crate) fn changes_since(&self, _since: Option<Timestamp>) -> Result<Vec<ChangeEvent>, StoreError> {
        Err(self.pending("changes_since"))
    }

    pub(crate) fn changes_of_scan(&self, _scan: u64) -> Result<Vec<ChangeEvent>, StoreError> {
        Err(self.pending("changes_of_scan"))
    }

    pub(crate) fn check(&self) -> Result<CheckReport, StoreError> {
        Err(self.pending("check"))
    }

    pub(crate) fn check_integrity(&self) -> Result<Vec<String>, StoreError> {
        Err(self.pending("check_integrity"))
    }

    pub(crate) fn outbox_enqueue(&self, _channel: &str, _endpoint: &str, _payload: &str) -> Result<u64, StoreError> {
        Err(self.pending("outbox_enqueue"))
    }

    pub(crate) fn outbox(&self) -> Result<Vec<OutboxItem>, StoreError> {
        Err(self.pending("outbox"))
    }

    pub(crate) fn outbox_due(&self, _now: Timestamp, _ignore_backoff: bool) -> Result<Vec<OutboxItem>, StoreError> {
        Err(self.pending("outbox_due"))
    }

    pub(crate) fn outbox_next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        Err(self.pending("outbox_next_due"))
    }

    pub(crate) fn outbox_record(
        &self,
        _id: u64,
        _result: Result<(), String>,
        _now: Timestamp,
        _retry_at: Timestamp,
    ) -> Result<(), StoreError> {
        Err(self.pending("outbox_record"))
    }

    pub(crate) fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        Err(self.pending("outbox_counts"))
    }

    pub(crate) fn was_notified(&self, _key: &str) -> Result<bool, StoreError> {
        Err(self.pending("was_notified"))
    }

    pub(crate) fn notify_once(&self, _key: &str) -> Result<bool, StoreError> {
        Err(self.pending("notify_once"))
    }
}
