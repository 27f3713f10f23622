//! Errors of the findings crate.

use std::io;
use std::path::{Path, PathBuf};

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
    /// The disk holding the store is full; what was acknowledged before is intact.
    #[error(
        "cannot write to the store in {dir}: no space left on device; free space on that disk and run the command again (`haetae scan --resume` continues a scan)"
    )]
    NoSpace {
        /// Store directory.
        dir: PathBuf,
    },
}

impl StoreError {
    /// The error for a failure of the storage engine in `dir`: a full disk is
    /// said as such, anything else with the engine's words.
    pub(crate) fn engine(dir: &Path, e: &sled::Error) -> StoreError {
        match e {
            sled::Error::Io(io) if is_no_space(io) => StoreError::NoSpace { dir: dir.to_owned() },
            sled::Error::Io(io) => StoreError::Engine { dir: dir.to_owned(), message: io_reason(io) },
            other => StoreError::Engine { dir: dir.to_owned(), message: other.to_string() },
        }
    }
}

/// Whether `e` says the disk is full (ENOSPC), also when it reached us as
/// another library's copy of the error that kept only its debug text.
pub fn is_no_space(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) || {
        let text = e.to_string();
        text.contains("StorageFull") || text.contains("No space left on device")
    }
}

/// What went wrong in `e`, as words for a sentence: "no space left on
/// device", "permission denied", without Rust's `(os error N)` or a debug
/// structure such as `Os { code: 5, kind: .., message: ".." }` (sled copies
/// I/O errors that way).
pub fn io_reason(e: &io::Error) -> String {
    if is_no_space(e) {
        return "no space left on device".to_owned();
    }
    let text = e.to_string();
    let text = match text.split_once("message: \"") {
        Some((_, rest)) if text.starts_with("Os {") => rest.split('"').next().unwrap_or_default().to_owned(),
        _ => text,
    };
    let text = match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text.get(..i).unwrap_or_default().to_owned(),
        _ => text,
    };
    // System messages start with a capital; inside a sentence they should not.
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_ascii_uppercase() && !second.is_ascii_uppercase() => {
            first.to_ascii_lowercase().to_string() + text.get(1..).unwrap_or_default()
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_reads_as_a_sentence() {
        let enospc = io::Error::from_raw_os_error(28);
        assert!(is_no_space(&enospc));
        assert_eq!(io_reason(&enospc), "no space left on device");
        // sled's copy of an I/O error keeps the kind and the debug text.
        let copied = io::Error::new(enospc.kind(), format!("{enospc:?}"));
        assert_eq!(io_reason(&copied), "no space left on device");
        let e = StoreError::engine(Path::new("/w/.haetae"), &sled::Error::Io(copied));
        assert_eq!(
            e.to_string().split(';').next(),
            Some("cannot write to the store in /w/.haetae: no space left on device")
        );
    }

    #[test]
    fn other_io_errors_lose_the_rust_decoration() {
        let eio = io::Error::from_raw_os_error(5);
        assert!(!is_no_space(&eio));
        assert_eq!(io_reason(&eio), "input/output error");
        let copied = io::Error::other(format!("{eio:?}"));
        assert_eq!(io_reason(&copied), "input/output error");
        assert_eq!(io_reason(&io::Error::from_raw_os_error(13)), "permission denied");
        assert_eq!(io_reason(&io::Error::other("TLS failed")), "TLS failed");
        let e = StoreError::engine(Path::new("/w"), &sled::Error::Io(eio));
        assert_eq!(e.to_string(), "store /w: input/output error");
    }
}
