//! The web page (interim: replaced by the web branch).

use crate::{chain::Connection, nft::Nft, store::Store};
use axum::Router;
use std::sync::Arc;

/// What the page needs.
#[derive(Debug)]
pub struct WebState;

impl WebState {
    /// Builds the page's state.
    pub async fn new(
        _conn: Connection,
        _nft: Nft,
        _store: Arc<dyn Store>,
        _from_block: Option<u64>,
    ) -> eyre::Result<Self> {
        Ok(Self)
    }
}

/// The page's routes.
pub fn router(_state: Arc<WebState>) -> Router {
    Router::new()
}
