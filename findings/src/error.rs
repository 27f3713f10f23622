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
    /// The store's files are damaged: the engine found corrupted data, or
    /// failed while recovering or reading them. haetae writes nothing more to it.
    #[error(
        "the store {dir} is damaged: {detail}. Run `haetae store check` to see what is wrong; to recover, move the directory aside and restore a backup into an empty directory with `haetae store restore FILE`"
    )]
    Damaged {
        /// Store directory.
        dir: PathBuf,
        /// What is wrong, as a clause (e.g. "its data file db is cut short").
        detail: String,
    },
    /// A file of a backup or restore could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, e.g. `"create"`, `"read"`, `"fsync"`.
        action: &'static str,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A backup file is not usable: cut short, changed, from a newer haetae, or not a backup.
    #[error("{path} is not a usable haetae store backup: {reason}; nothing was restored")]
    BadBackup {
        /// The backup file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Restore refuses a directory that already holds something.
    #[error(
        "cannot restore into {dir}: it is not empty (it holds {entry}); restore only into an empty or absent directory, after moving the current store aside"
    )]
    NotEmpty {
        /// The target directory.
        dir: PathBuf,
        /// One entry found in it.
        entry: String,
    },
    /// The lifecycle refused a transition.
    #[error(transparent)]
    Transition(#[from] TransitionError),
}
