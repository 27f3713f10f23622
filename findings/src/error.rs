//! Errors of the findings crate.

use std::path::PathBuf;

use crate::lifecycle::TransitionError;

/// Anything the [`crate::Store`] can fail with. Every variant says where.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store.
    #[error(
        "the store {dir} is in use by another haetae process (a daemon, a scan or the TUI); stop it or use --store to pick another directory"
    )]
    Locked {
        /// Store directory.
        dir: PathBuf,
    },
    /// The store was written by a newer haetae.
    #[error(
        "the store {dir} has schema version {found}, but this haetae understands up to {supported}; upgrade haetae to open it"
    )]
    NewerSchema {
        /// Store directory.
        dir: PathBuf,
        /// Version on disk.
        found: u32,
        /// Newest version this build reads.
        supported: u32,
    },
    /// The storage engine failed.
    #[error("store {dir}: {message}")]
    Engine {
        /// Store directory.
        dir: PathBuf,
        /// What the engine said.
        message: String,
    },
    /// A record could not be decoded.
    #[error("store {dir}: record {key} in {tree} is corrupt: {reason}")]
    Corrupt {
        /// Store directory.
        dir: PathBuf,
        /// Which keyspace.
        tree: &'static str,
        /// The record's key, printable.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No finding has this id.
    #[error("no finding with id `{id}` in {dir}")]
    NotFound {
        /// Store directory.
        dir: PathBuf,
        /// The id asked for.
        id: String,
    },
    /// An id prefix matches more than one finding.
    #[error("id prefix `{prefix}` is ambiguous: it matches {matches}")]
    Ambiguous {
        /// The prefix.
        prefix: String,
        /// Some of the ids it matches.
        matches: String,
    },
    /// No scan run has this id.
    #[error("no scan run {id} in {dir}")]
    NoScan {
        /// Store directory.
        dir: PathBuf,
        /// Scan id.
        id: u64,
    },
    /// The lifecycle refused a transition.
    #[error(transparent)]
    Transition(#[from] TransitionError),
}
