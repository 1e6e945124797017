//! `genim serve`: images sold over x402 (v1 and v2), a facilitator for others, and a web page.
//!
//! ```text
//!  client ──POST /v1/images/generations──> images::generate ──402 (price)──> client signs
//!     └──── retry with X-PAYMENT / PAYMENT-SIGNATURE ──> ledger.claim (one inference per
//!           authorization, replay for retries) ─> x402 verify (simulated) ─> pipeline
//!           (generate, store) ─> x402 settle (direct: transferWithAuthorization to a Splitter;
//!           escrow: mintWithAuthorization + deliver) ─> ledger.complete ─> 200 + PAYMENT-RESPONSE
//! ```
//!
//! One router built in [`router`] from one shared [`AppState`]; handlers are thin and the work
//! lives in the library (`x402`, `pipeline`, `nft`). Errors map to HTTP statuses in one place
//! per module, never a 500 for the client's mistake.

pub mod files;
pub mod health;
pub mod images;
pub mod ledger;
pub mod local;
pub mod metrics;
pub mod openai;
pub mod pricing;
pub mod server;
pub mod web;

pub use server::{ServeOptions, Server};

use crate::{amount::Asset, chain::Connection, nft::Nft, pipeline::Pipeline, x402};
use alloy::primitives::Address;
use axum::{Router, routing::get};
use ledger::Ledger;
use metrics::Metrics;
use pricing::Pricing;
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tower_http::{limit::RequestBodyLimitLayer, trace::TraceLayer};
use tracing::info;

/// Largest request body accepted (an images request is a prompt and a few fields).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where x402 payments go.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Settled with `transferWithAuthorization` to `pay_to` (a Splitter) once the image exists.
    Direct { pay_to: Address },
    /// `mintWithAuthorization` on a token-priced escrow NFT, then delivery: the image or the
    /// money back.
    Escrow { nft: Nft },
}

impl Mode {
    /// The x402 `payTo`.
    pub fn pay_to(&self) -> Address {
        match self {
            Self::Direct { pay_to } => *pay_to,
            Self::Escrow { nft } => nft.address,
        }
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The server's connection; its signer relays, settles and delivers.
    pub conn: Connection,
    /// The EIP-3009 token payments are made in (none: no x402 API, page only).
    pub asset: Option<Asset>,
    /// Where x402 payments go (none: no x402 API).
    pub mode: Option<Mode>,
    pub pricing: Pricing,
    pub pipeline: Pipeline,
    pub ledger: Arc<dyn Ledger>,
    pub metrics: Metrics,
    /// Verifies and settles (the routes under `/facilitator`, and this server's own payments).
    pub facilitator: Arc<x402::Facilitator>,
    /// The payment token's EIP-712 name and version (x402's `extra`).
    pub token_domain: Option<x402::wire::TokenDomain>,
    /// This instance's id, owner of its ledger leases.
    pub instance: String,
    /// The base URL clients reach this server at (for `url` responses and x402 resources).
    pub public_url: Option<String>,
    /// The web page's state, when there is a contract to show.
    pub web: Option<Arc<web::WebState>>,
    /// Tokens the handler is delivering: the embedded provider loop leaves them alone.
    pub claims: crate::provide::claims::Claims,
    /// How long a paid request may wait for another request holding the same payment.
    pub wait_for_duplicate: Duration,
}

/// The whole HTTP surface.
pub fn router(state: Arc<AppState>) -> Router {
    let mut app = Router::new()
        .route(
            "/v1/images/generations",
            axum::routing::post(images::generate),
        )
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/images/{cid}", get(files::image))
        .with_state(state.clone())
        .nest("/facilitator", x402::router(state.facilitator.clone()));
    if let Some(web) = &state.web {
        app = app.merge(web::router(web.clone()));
    }
    app.layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
}

/// Serves `state` on `listener` until `shutdown` completes, then lets in-flight requests (paid
/// ones settle) finish for up to `grace`.
pub async fn run(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    info!(%addr, "serving");
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(async move {
        shutdown.await;
        info!("shutting down: finishing requests in flight");
        let _ = stopped_tx.send(());
    });
    let serving = tokio::spawn(server.into_future());
    let _ = stopped_rx.await;
    match tokio::time::timeout(grace, serving).await {
        Ok(joined) => joined.map_err(std::io::Error::other)?,
        Err(_) => {
            tracing::warn!(
                seconds = grace.as_secs(),
                "requests still in flight after the shutdown grace; their payments stay in the \
                 ledger and are finished by a retry or a restart"
            );
            Ok(())
        }
    }
}
