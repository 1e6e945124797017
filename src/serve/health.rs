//! `GET /healthz` (the RPC, the store, the generator and the ledger answer) and `GET /metrics`.

use super::AppState;
use crate::http::excerpt;
use alloy::providers::Provider;
use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use std::{sync::Arc, time::Duration};

/// How long each dependency may take to answer a health check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// One dependency's health.
#[derive(Debug, Serialize)]
pub struct Check {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `/healthz` body: 200 when every check passes, else 503.
#[derive(Debug, Serialize)]
pub struct Health {
    pub ok: bool,
    pub rpc: Check,
    pub store: Check,
    pub generator: Check,
    pub ledger: Check,
}

async fn check<E: std::fmt::Display>(work: impl Future<Output = Result<(), E>>) -> Check {
    match tokio::time::timeout(CHECK_TIMEOUT, work).await {
        Ok(Ok(())) => Check {
            ok: true,
            error: None,
        },
        Ok(Err(err)) => Check {
            ok: false,
            error: Some(excerpt(&crate::logging::redact(&err.to_string()))),
        },
        Err(_) => Check {
            ok: false,
            error: Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        },
    }
}

/// Checks every dependency at once.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let rpc = check(async {
        state
            .conn
            .provider
            .get_block_number()
            .await
            .map(drop)
            .map_err(|err| state.conn.rpc_error(err))
    });
    let store = check(state.pipeline.store().health());
    let generator = check(state.pipeline.generator().health());
    let ledger = check(state.ledger.health());
    let (rpc, store, generator, ledger) = tokio::join!(rpc, store, generator, ledger);
    let ok = rpc.ok && store.ok && generator.ok && ledger.ok;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Health {
            ok,
            rpc,
            store,
            generator,
            ledger,
        }),
    )
        .into_response()
}

/// Prometheus text format; the relayer's gas balance is read fresh.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    if let Some(relayer) = state.conn.signer_address()
        && let Ok(balance) = state.conn.provider.get_balance(relayer).await
    {
        // f64 keeps 15 significant digits: plenty for a balance to watch.
        state
            .metrics
            .relayer_balance_wei
            .set(balance.to_string().parse().unwrap_or(f64::NAN));
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
