//! A running daemon (or `haetae scan`) holds the store: commands then go
//! through its local API (`haetae_service::client`) instead of failing on
//! the store's lock. Without one they open the store themselves.

use std::future::Future;

use anyhow::{Context as _, Result};
use haetae_service::client::ApiClient;

use crate::config::Workspace;

/// A small runtime for one command's requests.
pub(crate) fn block<T>(f: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}

/// The API of the process holding the workspace's store, if one serves.
pub(crate) fn find(ws: &Workspace) -> Result<Option<ApiClient>> {
    if !ws.store.is_dir() {
        return Ok(None);
    }
    block(ApiClient::find(&ws.store))
}
