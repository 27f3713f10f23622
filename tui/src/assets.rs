//! The Assets view's rows: one per host, from what the store recorded
//! (addresses, certificates, open ports) and the findings table.

use std::collections::{BTreeMap, BTreeSet};

use haetae_findings::{AssetRecord, ChangeKind, Timestamp};

use crate::row::Row;

/// One host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssetRow {
    /// Host name.
    pub host: String,
    /// Addresses it resolved to last.
    pub addresses: Vec<String>,
    /// Open ports.
    pub ports: BTreeSet<u16>,
    /// The soonest expiry among its certificates, with the port.
    pub cert_expiry: Option<(Timestamp, u16)>,
    /// Open or confirmed findings.
    pub open_findings: usize,
}

/// Rows for every host the records or the findings mention, sorted by host.
pub(crate) fn asset_rows(records: &[AssetRecord], rows: &[Row]) -> Vec<AssetRow> {
    let mut hosts: BTreeMap<&str, AssetRow> = BTreeMap::new();
    let entry = |h: &str| AssetRow { host: h.to_owned(), ..AssetRow::default() };
    for r in records {
        let a = hosts.entry(r.host.as_str()).or_insert_with(|| entry(&r.host));
        match (r.kind, r.port) {
            (ChangeKind::Addresses, _) => {
                a.addresses = r.value.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect();
            }
            (ChangeKind::Port, Some(p)) => {
                a.ports.insert(p);
            }
            (ChangeKind::Certificate, Some(p)) => {
                if let Some(exp) = r.expires
                    && a.cert_expiry.is_none_or(|(e, _)| exp < e)
                {
                    a.cert_expiry = Some((exp, p));
                }
            }
            _ => {}
        }
    }
    for row in rows {
        let a = hosts.entry(row.host.as_str()).or_insert_with(|| entry(&row.host));
        if row.state.is_active() && !row.suppressed {
            a.open_findings += 1;
        }
    }
    hosts.into_values().collect()
}
