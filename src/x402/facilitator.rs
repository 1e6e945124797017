//! genim's own x402 facilitator: [`Facilitator`] verifies and settles payments from one relayer
//! key, in process (what `genim serve` calls) and over HTTP ([`router`]: `POST /verify`,
//! `POST /settle`, `GET /supported`, as the reference `@x402/express` and `x402-express`
//! servers call them).
//!
//! HTTP answers: 200 with `isValid: false` / `success: false` and the standard reason when the
//! payment is refused; 400 with the same shape and `invalid_payload`, `invalid_x402_version`
//! or `invalid_payment_requirements` when the request itself cannot be read; 503 with
//! `unexpected_verify_error` / `unexpected_settle_error` when the chain does not answer. Never a
//! 500 for a caller's mistake.

use super::{
    settle::{SettleError, Settled, Settler},
    verify::{self, Mode, Verified, VerifyError},
    wire::{
        EXACT, FacilitatorRequest, Payment, PaymentError, Reason, Requirement, Resource,
        SettleResponse, SupportedKind, SupportedResponse, VerifyResponse, Version, caip2,
        decode_payment_value, v1_network,
    },
};
use crate::chain::{ChainError, Connection};
use alloy::primitives::Address;
use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::Value;
use std::{collections::BTreeMap, sync::Arc};
use tracing::{debug, info};

/// Largest request body accepted: a payment and its requirements are about 2 KB.
const BODY_LIMIT: usize = 64 << 10;

/// Verifies and settles x402 `exact` payments on one chain from one relayer key.
#[derive(Debug)]
pub struct Facilitator {
    settler: Settler,
    relayer: Address,
    assets: Option<Vec<Address>>,
}

impl Facilitator {
    /// A facilitator on `conn`'s chain, relaying (and paying gas) from `conn`'s signer, for
    /// any EIP-3009 token.
    pub fn new(conn: Connection) -> Result<Self, ChainError> {
        let relayer = conn.signer()?;
        Ok(Self {
            settler: Settler::new(conn),
            relayer,
            assets: None,
        })
    }

    /// Accepts payments only in these tokens.
    pub fn with_assets(mut self, assets: Vec<Address>) -> Self {
        self.assets = Some(assets);
        self
    }

    /// Searches this many blocks back for executions of used authorizations.
    pub fn with_lookback(mut self, blocks: u64) -> Self {
        self.settler = self.settler.with_lookback(blocks);
        self
    }

    /// The connection it reads and sends through.
    pub fn connection(&self) -> &Connection {
        self.settler.connection()
    }

    /// Its settler (one per relayer key: the server settles its own payments through it too).
    pub fn settler(&self) -> &Settler {
        &self.settler
    }

    /// The chain it serves.
    pub fn chain_id(&self) -> u64 {
        self.connection().chain_id
    }

    /// The account that submits settlements and pays their gas.
    pub fn relayer(&self) -> Address {
        self.relayer
    }

    /// The networks and schemes it serves, for `GET /supported`: `exact` on
    /// `eip155:<chain id>` (v2) and on the chain's v1 name when it has one.
    pub fn supported(&self) -> SupportedResponse {
        let chain_id = self.chain_id();
        let mut kinds = vec![SupportedKind {
            x402_version: 2,
            scheme: EXACT.into(),
            network: caip2(chain_id),
            extra: None,
        }];
        if let Some(name) = v1_network(chain_id) {
            kinds.push(SupportedKind {
                x402_version: 1,
                scheme: EXACT.into(),
                network: name.into(),
                extra: None,
            });
        }
        SupportedResponse {
            kinds,
            extensions: Vec::new(),
            signers: BTreeMap::from([(
                "eip155:*".to_owned(),
                vec![self.relayer.to_checksum(None)],
            )]),
        }
    }

    /// Checks that this facilitator serves `requirement` (its chain and asset).
    fn serves(&self, requirement: &Requirement) -> Result<(), PaymentError> {
        if requirement.chain_id != self.chain_id() {
            return Err(PaymentError::new(
                Reason::InvalidNetwork,
                format!(
                    "chain {} is not served by this facilitator (chain {})",
                    requirement.chain_id,
                    self.chain_id()
                ),
            ));
        }
        if let Some(assets) = &self.assets
            && !assets.contains(&requirement.asset)
        {
            return Err(PaymentError::new(
                Reason::InvalidPaymentRequirements,
                format!(
                    "token {} is not accepted by this facilitator",
                    requirement.asset
                ),
            ));
        }
        Ok(())
    }

    /// Verifies `payment` for `requirement` (see [`verify::verify`]); its settlement then
    /// reuses the simulation's gas.
    pub async fn verify(
        &self,
        requirement: &Requirement,
        payment: &Payment,
        mode: &Mode,
    ) -> Result<Verified, VerifyError> {
        self.serves(requirement)?;
        let verified = verify::verify(self.connection(), requirement, payment, mode).await?;
        self.settler.expect(&verified);
        Ok(verified)
    }

    /// Settles `payment` for `requirement`, at most once per authorization (see
    /// [`Settler::settle`]).
    pub async fn settle(
        &self,
        requirement: &Requirement,
        payment: &Payment,
        mode: &Mode,
    ) -> Result<Settled, SettleError> {
        self.serves(requirement)?;
        self.settler.settle(requirement, payment, mode).await
    }
}

/// The facilitator's HTTP API: `POST /verify`, `POST /settle`, `GET /supported` (mount it
/// under a prefix with `Router::nest`).
pub fn router(facilitator: Arc<Facilitator>) -> Router {
    Router::new()
        .route("/verify", post(verify_route))
        .route("/settle", post(settle_route))
        .route("/supported", get(supported_route))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(facilitator)
}

async fn supported_route(State(facilitator): State<Arc<Facilitator>>) -> Json<SupportedResponse> {
    Json(facilitator.supported())
}

async fn verify_route(State(facilitator): State<Arc<Facilitator>>, body: Bytes) -> Response {
    let (requirement, payment) = match read_request(&body) {
        Ok(parsed) => parsed,
        Err(refusal) => {
            let status = refusal.status();
            return (
                status,
                Json(VerifyResponse {
                    is_valid: false,
                    invalid_reason: Some(refusal.error.reason.for_version(refusal.version).into()),
                    invalid_message: Some(refusal.error.message),
                    payer: refusal.payer.map(|p| p.to_checksum(None)),
                }),
            )
                .into_response();
        }
    };
    let payer = Some(payment.payer().to_checksum(None));
    match facilitator
        .verify(&requirement, &payment, &Mode::Direct)
        .await
    {
        Ok(verified) => {
            debug!(payer = %verified.payer, "verified");
            Json(VerifyResponse {
                is_valid: true,
                invalid_reason: None,
                invalid_message: None,
                payer,
            })
            .into_response()
        }
        Err(err) => {
            let status = match &err {
                VerifyError::Rejected(_) => StatusCode::OK,
                VerifyError::Chain(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            info!(payer = %payment.payer(), reason = %err.reason(), error = %err, "payment refused at verify");
            let message = match &err {
                VerifyError::Rejected(refusal) => refusal.message.clone(),
                VerifyError::Chain(chain) => chain.to_string(),
            };
            (
                status,
                Json(VerifyResponse {
                    is_valid: false,
                    invalid_reason: Some(err.reason().for_version(payment.version).into()),
                    invalid_message: Some(message),
                    payer,
                }),
            )
                .into_response()
        }
    }
}

async fn settle_route(State(facilitator): State<Arc<Facilitator>>, body: Bytes) -> Response {
    let (requirement, payment) = match read_request(&body) {
        Ok(parsed) => parsed,
        Err(refusal) => {
            let status = refusal.status();
            return (
                status,
                Json(SettleResponse {
                    success: false,
                    error_reason: Some(refusal.error.reason.for_version(refusal.version).into()),
                    error_message: Some(refusal.error.message),
                    payer: refusal.payer.map(|p| p.to_checksum(None)),
                    transaction: String::new(),
                    network: refusal.network,
                }),
            )
                .into_response();
        }
    };
    match facilitator
        .settle(&requirement, &payment, &Mode::Direct)
        .await
    {
        Ok(settled) => Json(settled.response(payment.version)).into_response(),
        Err(err) => {
            info!(payer = %payment.payer(), reason = %err.reason(), error = %err, "settlement failed");
            let status = match &err {
                SettleError::Chain(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::OK,
            };
            let response = err.response(payment.version, requirement.chain_id, payment.payer());
            (status, Json(response)).into_response()
        }
    }
}

/// A request the facilitator cannot take, and how to answer it.
struct Refusal {
    error: PaymentError,
    version: Version,
    payer: Option<Address>,
    network: String,
}

impl Refusal {
    fn new(error: PaymentError) -> Self {
        Self {
            error,
            version: Version::V2,
            payer: None,
            network: String::new(),
        }
    }

    /// 400 when the request cannot be read; 200 (with `isValid: false`) when it can but names
    /// a scheme or network this facilitator does not serve.
    fn status(&self) -> StatusCode {
        match self.error.reason {
            Reason::InvalidPayload
            | Reason::InvalidX402Version
            | Reason::InvalidPaymentRequirements => StatusCode::BAD_REQUEST,
            _ => StatusCode::OK,
        }
    }
}

/// Reads `{x402Version, paymentPayload, paymentRequirements}` into a requirement and a payment.
fn read_request(body: &[u8]) -> Result<(Requirement, Payment), Refusal> {
    let request: FacilitatorRequest = serde_json::from_slice(body).map_err(|err| {
        Refusal::new(PaymentError::new(
            Reason::InvalidPayload,
            format!("the body is not {{x402Version, paymentPayload, paymentRequirements}}: {err}"),
        ))
    })?;
    let payment = decode_payment_value(request.payment_payload).map_err(Refusal::new)?;
    let refuse = |error: PaymentError| Refusal {
        error,
        version: payment.version,
        payer: Some(payment.payer()),
        network: payment
            .version
            .network(payment.chain_id)
            .unwrap_or_default(),
    };
    if let Some(version) = &request.x402_version
        && version.as_u64() != Some(u64::from(payment.version.number()))
    {
        return Err(refuse(PaymentError::new(
            Reason::InvalidX402Version,
            format!(
                "x402Version {version} does not match the payment's {}",
                payment.version.number()
            ),
        )));
    }
    let requirement = match payment.version {
        Version::V1 => Requirement::from_v1(&request.payment_requirements),
        Version::V2 => {
            let resource = payment
                .raw
                .get("resource")
                .and_then(lenient_resource)
                .unwrap_or_default();
            Requirement::from_v2(&request.payment_requirements, resource)
        }
    }
    .map_err(refuse)?;
    Ok((requirement, payment))
}

/// A resource object as clients echo it; `None` when it does not fit (it is only shown).
fn lenient_resource(value: &Value) -> Option<Resource> {
    serde::Deserialize::deserialize(value).ok()
}
