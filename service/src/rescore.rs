//! Re-scoring stored findings with the rules file as it is now.

use std::path::Path;

use anyhow::{Result, anyhow};
use haetae_findings::Store;

use crate::scan::BadRequest;

/// Load `rules`, make it the store's prioritizer (a daemon holding the store
/// scores with it from now on) and re-score every finding; how many changed.
/// A rules file with errors is a [`BadRequest`] listing each (with
/// file:line:col), and the rules in force stay.
pub fn apply(store: &Store, rules: &Path) -> Result<usize> {
    let set = haetae_rules::RuleSet::load(rules).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow!(BadRequest(format!("{} error(s) in {}:\n{}", list.len(), rules.display(), list.join("\n"))))
    })?;
    store.set_prioritizer(std::sync::Arc::new(set));
    Ok(store.reprioritize()?)
}
