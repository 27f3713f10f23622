//! The hook through which the rules engine gives every finding a priority.
//!
//! `findings` does not know any rules; the `haetae-rules` crate implements
//! [`Prioritizer`] and the binary hands it to the [`crate::Store`], which calls it
//! whenever a finding is created or changed, so no finding is ever stored
//! without a priority.

use crate::model::Finding;
use crate::time::Timestamp;

/// Sets `score`, `priority`, `rules` and `suppressed` on a finding.
pub trait Prioritizer: Send + Sync {
    /// Score `finding` as of `now`. Must be deterministic for the same inputs.
    fn prioritize(&self, finding: &mut Finding, now: Timestamp);
}
