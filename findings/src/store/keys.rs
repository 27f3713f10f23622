//! Key and value encodings. Keys are ordered bytes; values carry a version byte.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{Finding, Priority, State};

/// Version byte in front of every record value.
pub(crate) const RECORD_VERSION: u8 = 1;

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![RECORD_VERSION];
    // Serializing our own plain structs to JSON cannot fail (no maps with
    // non-string keys, no foreign Serialize impls that error).
    if serde_json::to_writer(&mut out, value).is_err() {
        out.truncate(1);
    }
    out
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        None => Err("empty record".to_owned()),
        Some((&RECORD_VERSION, body)) => serde_json::from_slice(body).map_err(|e| e.to_string()),
        Some((v, _)) => Err(format!("record version {v} is not supported (expected {RECORD_VERSION})")),
    }
}

pub(crate) fn state_byte(s: State) -> u8 {
    match s {
        State::Open => 0,
        State::Confirmed => 1,
        State::FalsePositive => 2,
        State::AcceptedRisk => 3,
        State::Fixed => 4,
    }
}

pub(crate) fn priority_byte(p: Priority) -> u8 {
    match p {
        Priority::P1 => 1,
        Priority::P2 => 2,
        Priority::P3 => 3,
        Priority::P4 => 4,
    }
}

/// `host \0` — prefix of the host index.
pub(crate) fn host_prefix(host: &str) -> Vec<u8> {
    let mut k = host.as_bytes().to_vec();
    k.push(0);
    k
}

/// `check \0 host \0 port \0` — a (check, asset) pair, as journaled in `coverage`.
pub(crate) fn asset_prefix(check: &str, host: &str, port: Option<u16>) -> Vec<u8> {
    let mut k = Vec::with_capacity(check.len() + host.len() + 8);
    k.extend_from_slice(check.as_bytes());
    k.push(0);
    k.extend_from_slice(host.as_bytes());
    k.push(0);
    match port {
        Some(p) => k.extend_from_slice(p.to_string().as_bytes()),
        None => k.push(b'-'),
    }
    k.push(0);
    k
}

/// The id at the end of an index key.
pub(crate) fn id_after(key: &[u8], prefix_len: usize) -> String {
    String::from_utf8_lossy(key.get(prefix_len..).unwrap_or_default()).into_owned()
}

/// `state ‖ priority ‖ id`: one index serves listings by state (prefix
/// `state`) and by priority (prefixes `state ‖ priority` for each state).
pub(crate) fn status_key(state: State, priority: Priority, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + id.len());
    k.push(state_byte(state));
    k.push(priority_byte(priority));
    k.extend_from_slice(id.as_bytes());
    k
}

/// Every index entry a finding owns, by keyspace.
pub(crate) struct IndexKeys {
    pub(crate) status: Vec<u8>,
    pub(crate) host: Vec<u8>,
}

impl IndexKeys {
    pub(crate) fn of(f: &Finding) -> Self {
        let mut host = host_prefix(&f.host);
        host.extend_from_slice(f.id.as_bytes());
        IndexKeys { status: status_key(f.state, f.priority, &f.id), host }
    }
}

/// Printable form of a key for error messages.
pub(crate) fn show_key(key: &[u8]) -> String {
    key.iter().map(|&b| if b.is_ascii_graphic() { char::from(b).to_string() } else { format!("\\x{b:02x}") }).collect()
}
