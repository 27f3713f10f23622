//! The notification outbox: messages waiting to be delivered, kept in the
//! store so that a message that could not be delivered survives a restart
//! and is retried, never silently dropped.
//!
//! The store knows nothing about notification formats: a message is a
//! channel name, an endpoint label (for listings), and an opaque payload that
//! the notifier wrote. Keys of the `outbox` tree are sled-generated ids (big
//! endian), so the tree lists oldest first. A delivered message is kept for
//! [`DELIVERED_KEPT_DAYS`] days (at most [`DELIVERED_KEPT`] of them) for
//! `haetae notify status`; an undelivered one is kept until it is delivered.
//!
//! The `notified` tree remembers what was notified once and must not be
//! again (an SLA breach per finding): key → time.

use serde::{Deserialize, Serialize};

use super::keys::{decode, encode, show_key};
use super::spaces::{Space, Spaces};
use crate::error::StoreError;
use crate::time::Timestamp;

/// Delivered messages older than this are pruned.
pub const DELIVERED_KEPT_DAYS: i64 = 7;
/// At most this many delivered messages are kept.
pub const DELIVERED_KEPT: usize = 200;

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutboxState {
    /// Not delivered yet: waiting for its first attempt, or for a retry
    /// after a failed one (`attempts > 0`).
    Queued,
    /// Delivered (the endpoint accepted it).
    Delivered,
}

/// One message of the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Its id (increasing).
    pub id: u64,
    /// The channel it goes to (`webhook`, `slack`, `email`).
    pub channel: String,
    /// Where, as shown in listings (no secret in it).
    pub endpoint: String,
    /// What the notifier stored: opaque to the store.
    pub payload: String,
    /// When it was queued.
    pub created: Timestamp,
    /// Attempts made.
    pub attempts: u32,
    /// Not attempted again before this time.
    pub next_attempt: Timestamp,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Queued or delivered.
    pub state: OutboxState,
    /// When it was delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Timestamp>,
}

impl OutboxItem {
    /// Not delivered and at least one attempt failed.
    pub fn is_failed(&self) -> bool {
        self.state == OutboxState::Queued && self.attempts > 0
    }
}

/// Messages by state (for `/metrics` and `haetae notify status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    /// Waiting for their first attempt.
    pub queued: u64,
    /// Not delivered, at least one attempt failed (retried with backoff).
    pub failed: u64,
    /// Delivered and still kept.
    pub delivered: u64,
}

/// What is wrong with an outbox record, if anything (for `Store::check`):
/// an unreadable message would stop every delivery.
pub(super) fn outbox_problem(key: &[u8], value: &[u8]) -> Option<String> {
    let Ok(k) = <[u8; 8]>::try_from(key) else {
        return Some("its key is not 8 bytes".to_owned());
    };
    match decode::<OutboxItem>(value) {
        Err(why) => Some(format!("it is unreadable: {why}")),
        Ok(item) if item.id != u64::from_be_bytes(k) => Some(format!("it holds message {}", item.id)),
        Ok(_) => None,
    }
}

/// The outbox, on either backend.
pub(crate) trait Outbox: Spaces {
    /// Queue a message for `channel`; it is due at once. Returns its id.
    fn outbox_enqueue(&self, channel: &str, endpoint: &str, payload: &str) -> Result<u64, StoreError> {
        self.reading(|| {
            let id = self.kv_next_id()?;
            let now = Timestamp::now();
            let item = OutboxItem {
                id,
                channel: channel.to_owned(),
                endpoint: endpoint.to_owned(),
                payload: payload.to_owned(),
                created: now,
                attempts: 0,
                next_attempt: now,
                last_error: None,
                state: OutboxState::Queued,
                delivered: None,
            };
            self.kv_put(Space::Outbox, &id.to_be_bytes(), &encode(&item))?;
            self.durable()?;
            Ok(id)
        })
    }

    /// Every message kept, oldest first. An unreadable record is an error
    /// (it would otherwise be a message silently lost).
    fn outbox(&self) -> Result<Vec<OutboxItem>, StoreError> {
        self.reading(|| {
            let mut out = Vec::new();
            for (k, v) in self.kv_range(Space::Outbox, &[], None)? {
                out.push(decode::<OutboxItem>(&v).map_err(|reason| StoreError::Corrupt {
                    dir: self.label().to_owned(),
                    tree: "outbox",
                    key: show_key(&k),
                    reason,
                })?);
            }
            Ok(out)
        })
    }

    /// Undelivered messages due at `now` (all undelivered ones with
    /// `ignore_backoff`, as at a restart).
    fn outbox_due(&self, now: Timestamp, ignore_backoff: bool) -> Result<Vec<OutboxItem>, StoreError> {
        Ok(self
            .outbox()?
            .into_iter()
            .filter(|i| i.state == OutboxState::Queued && (ignore_backoff || i.next_attempt <= now))
            .collect())
    }

    /// When the next undelivered message is due.
    fn outbox_next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.outbox()?.into_iter().filter(|i| i.state == OutboxState::Queued).map(|i| i.next_attempt).min())
    }

    /// Record an attempt: `Ok(())` delivered; `Err(why)` failed, tried again
    /// from `retry_at`. Delivered messages past their keeping are pruned.
    fn outbox_record(
        &self,
        id: u64,
        result: Result<(), String>,
        now: Timestamp,
        retry_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.locked(|| {
            let key = id.to_be_bytes();
            let Some(v) = self.kv_get(Space::Outbox, &key)? else {
                return Ok(());
            };
            let mut item = decode::<OutboxItem>(&v).map_err(|reason| StoreError::Corrupt {
                dir: self.label().to_owned(),
                tree: "outbox",
                key: show_key(&key),
                reason,
            })?;
            item.attempts = item.attempts.saturating_add(1);
            match result {
                Ok(()) => {
                    item.state = OutboxState::Delivered;
                    item.delivered = Some(now);
                }
                Err(why) => {
                    item.last_error = Some(why);
                    item.next_attempt = retry_at;
                }
            }
            self.kv_put(Space::Outbox, &key, &encode(&item))?;
            self.prune_delivered(now)?;
            self.durable()
        })
    }

    /// Drop delivered messages past their keeping.
    fn prune_delivered(&self, now: Timestamp) -> Result<(), StoreError> {
        let mut delivered = Vec::new();
        for (k, v) in self.kv_range(Space::Outbox, &[], None)? {
            if let Ok(i) = decode::<OutboxItem>(&v)
                && i.state == OutboxState::Delivered
            {
                delivered.push((k, i.delivered.unwrap_or(i.created)));
            }
        }
        let excess = delivered.len().saturating_sub(DELIVERED_KEPT);
        for (n, (k, at)) in delivered.into_iter().enumerate() {
            if n < excess || now.days_since(at) >= DELIVERED_KEPT_DAYS {
                self.kv_remove(Space::Outbox, &k)?;
            }
        }
        Ok(())
    }

    /// Messages by state.
    fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let mut c = OutboxCounts::default();
        for i in self.outbox()? {
            match i.state {
                OutboxState::Delivered => c.delivered += 1,
                OutboxState::Queued if i.attempts > 0 => c.failed += 1,
                OutboxState::Queued => c.queued += 1,
            }
        }
        Ok(c)
    }

    /// Whether `key` was notified before.
    fn was_notified(&self, key: &str) -> Result<bool, StoreError> {
        self.reading(|| Ok(self.kv_get(Space::Notified, key.as_bytes())?.is_some()))
    }

    /// Remember `key` as notified; `true` the first time only (atomic: of
    /// two processes racing, one gets `true`).
    fn notify_once(&self, key: &str) -> Result<bool, StoreError> {
        self.reading(|| {
            let first = self.kv_insert_new(Space::Notified, key.as_bytes(), &encode(&Timestamp::now()))?;
            if first {
                self.durable()?;
            }
            Ok(first)
        })
    }
}

impl<T: Spaces> Outbox for T {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::SledStore;
    use super::*;

    fn store(dir: &std::path::Path) -> SledStore {
        SledStore::open(dir, Arc::new(super::super::Keep)).unwrap()
    }

    #[test]
    fn queued_failed_delivered_and_kept_across_reopen() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let a = s.outbox_enqueue("webhook", "http://127.0.0.1:9/hook", "{\"a\":1}").unwrap();
        let b = s.outbox_enqueue("slack", "http://127.0.0.1:9/s", "{}").unwrap();
        assert!(a < b);
        assert_eq!(s.outbox_counts().unwrap(), OutboxCounts { queued: 2, failed: 0, delivered: 0 });
        let now = Timestamp::now();
        let later = Timestamp::from_unix(now.unix() + 30);
        s.outbox_record(a, Err("HTTP 500".into()), now, later).unwrap();
        s.outbox_record(b, Ok(()), now, now).unwrap();
        assert_eq!(s.outbox_counts().unwrap(), OutboxCounts { queued: 0, failed: 1, delivered: 1 });
        assert!(s.outbox_due(now, false).unwrap().is_empty());
        assert_eq!(s.outbox_next_due().unwrap(), Some(later));
        drop(s);
        let s = store(d.path());
        let due = s.outbox_due(later, false).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].id, due[0].attempts, due[0].last_error.as_deref()), (a, 1, Some("HTTP 500")));
        assert_eq!(due[0].payload, "{\"a\":1}");
        assert_eq!(s.outbox_due(now, true).unwrap().len(), 1);
    }

    #[test]
    fn delivered_messages_are_pruned_after_their_keeping_undelivered_never() {
        let s = SledStore::temporary(Arc::new(super::super::Keep)).unwrap();
        let old = s.outbox_enqueue("webhook", "e", "p").unwrap();
        let stuck = s.outbox_enqueue("webhook", "e", "p").unwrap();
        let t0 = Timestamp::now();
        s.outbox_record(old, Ok(()), t0, t0).unwrap();
        let late = t0.plus_days(DELIVERED_KEPT_DAYS + 1);
        s.outbox_record(stuck, Err("refused".into()), late, late).unwrap();
        let left = s.outbox().unwrap();
        assert_eq!(left.iter().map(|i| i.id).collect::<Vec<_>>(), [stuck]);
        assert!(left[0].is_failed());
    }

    #[test]
    fn notify_once_is_true_only_the_first_time() {
        let s = SledStore::temporary(Arc::new(super::super::Keep)).unwrap();
        assert!(!s.was_notified("sla:abc").unwrap());
        assert!(s.notify_once("sla:abc").unwrap());
        assert!(s.was_notified("sla:abc").unwrap());
        assert!(!s.notify_once("sla:abc").unwrap());
        assert!(s.notify_once("sla:abd").unwrap());
    }
}
