//! Paying for a request: send it, and on a 402 read what both generations offer
//! ([`read_402`]), choose the first offer the payer's limits allow ([`choose`]; v2 before v1),
//! sign an EIP-3009 `TransferWithAuthorization` for exactly its amount ([`sign_payment`]), and
//! send the request again with the header of that offer's generation ([`pay`]).
//!
//! No RPC is needed when the offer carries the token's EIP-712 name and version (`extra`, as
//! every reference server sends) and the spending cap is in atomic units or the token is a
//! known USDC: the chain id comes from the network, the time from the clock (as the reference
//! clients do). Otherwise the RPC, if given, is asked for the domain or the decimals, and
//! must be on the offer's chain.

use super::wire::{
    ExactPayloadV1, ExactPayloadV2, PaymentError, PaymentPayloadV1, PaymentPayloadV2, Requirement,
    Resource, SettleResponse, Version, WireAuthorization, caip2, decode_base64,
    decode_settlement_header, encode_base64_json, headers, v1_network,
};
use crate::{
    amount::{AmountError, Asset},
    chain::{ChainError, ChainPreset, ConnectOptions, Connection},
    eip3009::{self, Authorization, Kind},
    http::{Client as HttpClient, HttpError, redact_url},
    nft::known::erc20_asset,
};
use alloy::{
    primitives::{Address, U256},
    signers::{Signer, local::PrivateKeySigner},
    sol_types::Eip712Domain,
};
use bytes::Bytes;
use reqwest::{
    Method, RequestBuilder, Response, StatusCode, Url,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use serde_json::Value;
use tokio::sync::OnceCell;
use tracing::{debug, info};

/// Largest 402 body read (requirements are a few KB).
const CHALLENGE_LIMIT: usize = 1 << 20;
/// Largest paid answer read (base64 images are a few MB).
const ANSWER_LIMIT: usize = 64 << 20;
/// How far back v1 clients date `validAfter` (x402 1.x: ten minutes, against clock skew).
const V1_VALID_AFTER_SLACK: u64 = 600;

/// One way to pay a 402, as the server offered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The generation it was offered in (and is paid in).
    pub version: Version,
    /// Its terms.
    pub requirement: Requirement,
    /// The `accepts` entry as received (v2 echoes it verbatim as `accepted`).
    pub accepted: Value,
    /// v2: the 402's `resource`, echoed verbatim in the payment.
    pub resource: Option<Value>,
}

impl Offer {
    /// The network as offered (`eip155:84532`, `base-sepolia`).
    pub fn network(&self) -> String {
        self.version
            .network(self.requirement.chain_id)
            .unwrap_or_else(|| caip2(self.requirement.chain_id))
    }
}

/// What a 402 offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    /// Offers genim can pay (EVM `exact`), v2 ones first.
    pub offers: Vec<Offer>,
    /// Entries it cannot pay, with why (another scheme, a non-EVM network...).
    pub skipped: Vec<String>,
    /// The 402's `error` (why a payment was refused, or "Payment required").
    pub error: Option<String>,
}

/// Why a request could not be paid. Nothing was paid in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    /// The HTTP exchange failed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A 402 without requirements genim can read.
    #[error("nothing was paid: the 402 of {url} carries no x402 requirements genim can pay{}", list(.skipped))]
    NotPayable { url: String, skipped: Vec<String> },
    /// No offer fits the payer's limits.
    #[error("nothing was paid: no payment option fits: {}", .reasons.join("; "))]
    NoFit { reasons: Vec<String> },
    /// The chain was needed (token domain or decimals) and failed.
    #[error("nothing was paid: {0}")]
    Chain(#[from] ChainError),
    /// The signer failed.
    #[error("nothing was paid: cannot sign the authorization: {0}")]
    Signing(String),
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(" ({})", items.join("; "))
    }
}

/// Reads the offers of a 402: the v2 `PAYMENT-REQUIRED` header and the v1 JSON body, either or
/// both.
pub fn read_402(response_headers: &HeaderMap, body: &[u8]) -> Challenge {
    let mut challenge = Challenge::default();
    if let Some(value) = response_headers.get(headers::PAYMENT_REQUIRED) {
        match value
            .to_str()
            .ok()
            .and_then(decode_base64)
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        {
            Some(v2) if v2.get("x402Version").and_then(Value::as_u64) == Some(2) => {
                challenge.error = v2.get("error").and_then(Value::as_str).map(str::to_owned);
                let resource_value = v2.get("resource").cloned();
                let resource: Resource = resource_value
                    .as_ref()
                    .and_then(|r| serde::Deserialize::deserialize(r).ok())
                    .unwrap_or_default();
                for entry in v2
                    .get("accepts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match Requirement::from_v2(entry, resource.clone()) {
                        Ok(requirement) => challenge.offers.push(Offer {
                            version: Version::V2,
                            requirement,
                            accepted: entry.clone(),
                            resource: resource_value.clone(),
                        }),
                        Err(err) => challenge.skipped.push(format!("v2 offer: {}", err.message)),
                    }
                }
            }
            _ => challenge
                .skipped
                .push("PAYMENT-REQUIRED is not base64 of x402 v2 JSON".into()),
        }
    }
    if let Ok(v1) = serde_json::from_slice::<Value>(body)
        && v1.get("x402Version").and_then(Value::as_u64) == Some(1)
    {
        if challenge.error.is_none() {
            challenge.error = v1.get("error").and_then(Value::as_str).map(str::to_owned);
        }
        for entry in v1
            .get("accepts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match Requirement::from_v1(entry) {
                Ok(requirement) => challenge.offers.push(Offer {
                    version: Version::V1,
                    requirement,
                    accepted: entry.clone(),
                    resource: None,
                }),
                Err(err) => challenge.skipped.push(format!("v1 offer: {}", err.message)),
            }
        }
    }
    challenge
}

/// The payer's limits: allow-lists (empty: anything) and a cap per payment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Chains to pay on.
    pub chains: Vec<u64>,
    /// Tokens to pay with.
    pub assets: Vec<Address>,
    /// Payees to pay.
    pub pay_to: Vec<Address>,
    /// The most to pay for one request.
    pub max: Option<Max>,
}

/// A spending cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Max {
    /// In the token's smallest unit, whatever the token.
    Atomic(U256),
    /// In whole units of the offered token (`0.05` = 0.05 USDC), converted with its decimals.
    Units(String),
}

/// Why `offer` is outside the allow-lists (`None`: inside).
pub fn outside_policy(offer: &Offer, policy: &Policy) -> Option<String> {
    let r = &offer.requirement;
    if !policy.chains.is_empty() && !policy.chains.contains(&r.chain_id) {
        return Some(format!("{} is not an allowed chain", offer.network()));
    }
    if !policy.assets.is_empty() && !policy.assets.contains(&r.asset) {
        return Some(format!("token {} is not an allowed asset", r.asset));
    }
    if !policy.pay_to.is_empty() && !policy.pay_to.contains(&r.pay_to) {
        return Some(format!("payee {} is not an allowed payTo", r.pay_to));
    }
    None
}

/// The first offer inside `policy` whose amount is at most `cap(offer)` (`Ok(None)`: no cap),
/// v2 offers before v1; a cap that cannot be worked out refuses that offer.
pub fn choose<'a>(
    offers: &'a [Offer],
    policy: &Policy,
    mut cap: impl FnMut(&Offer) -> Result<Option<U256>, String>,
) -> Result<&'a Offer, PayError> {
    let mut reasons = Vec::new();
    let ordered = offers
        .iter()
        .filter(|o| o.version == Version::V2)
        .chain(offers.iter().filter(|o| o.version == Version::V1));
    for offer in ordered {
        if let Some(why) = outside_policy(offer, policy) {
            reasons.push(why);
            continue;
        }
        match cap(offer) {
            Ok(Some(max)) if offer.requirement.amount > max => reasons.push(format!(
                "{} of {} on {} is above the maximum of {max}",
                offer.requirement.amount,
                offer.requirement.asset,
                offer.network()
            )),
            Ok(_) => return Ok(offer),
            Err(why) => reasons.push(why),
        }
    }
    if reasons.is_empty() {
        reasons.push("the 402 offers nothing".into());
    }
    reasons.dedup();
    Err(PayError::NoFit { reasons })
}

/// A signed payment, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPayment {
    /// The generation it is in.
    pub version: Version,
    /// What was signed.
    pub authorization: Authorization,
    /// The request header to send it in (`PAYMENT-SIGNATURE` or `X-PAYMENT`).
    pub header_name: &'static str,
    /// Its value (base64 JSON).
    pub header_value: String,
}

/// Signs `offer` as `signer` under `domain`, dated `now` (unix seconds): a random nonce,
/// `validBefore = now + maxTimeoutSeconds`, `validAfter` 0 (v2) or `now - 600` (v1), as the
/// reference clients sign.
pub async fn sign_payment(
    offer: &Offer,
    domain: &Eip712Domain,
    signer: &(impl Signer + Sync),
    now: u64,
) -> Result<SignedPayment, PayError> {
    let r = &offer.requirement;
    let valid_after = match offer.version {
        Version::V1 => now.saturating_sub(V1_VALID_AFTER_SLACK),
        Version::V2 => 0,
    };
    let authorization = Authorization {
        from: signer.address(),
        to: r.pay_to,
        value: r.amount,
        valid_after: U256::from(valid_after),
        valid_before: U256::from(now + r.max_timeout_seconds),
        nonce: eip3009::random_nonce(),
    };
    let signature = authorization
        .sign(Kind::Transfer, domain, signer)
        .await
        .map_err(|err| PayError::Signing(err.to_string()))?;
    let wire = WireAuthorization::from(&authorization);
    let header_value = match offer.version {
        Version::V1 => encode_base64_json(&PaymentPayloadV1 {
            x402_version: 1,
            scheme: super::wire::EXACT.into(),
            network: offer.network(),
            payload: ExactPayloadV1 {
                signature,
                authorization: wire,
            },
        }),
        Version::V2 => encode_base64_json(&PaymentPayloadV2 {
            x402_version: 2,
            payload: ExactPayloadV2 {
                authorization: wire,
                signature,
            },
            resource: offer.resource.clone(),
            accepted: offer.accepted.clone(),
            extensions: None,
        }),
    };
    Ok(SignedPayment {
        version: offer.version,
        authorization,
        header_name: offer.version.payment_header(),
        header_value,
    })
}

/// A request to send (and pay for).
#[derive(Debug, Clone)]
pub struct PayRequest {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Option<Bytes>,
}

/// How to pay.
#[derive(Debug, Clone, Default)]
pub struct PayOptions {
    /// The payer's limits.
    pub policy: Policy,
    /// An RPC of the offer's chain, asked only for what the offer and the cap do not say.
    pub rpc: Option<Url>,
}

/// The answer to a request, and what was paid for it.
#[derive(Debug, Clone)]
pub struct PayOutcome {
    /// The final HTTP status.
    pub status: u16,
    /// The final headers.
    pub headers: HeaderMap,
    /// The final body.
    pub body: Bytes,
    /// What was signed and sent, if a payment was needed.
    pub paid: Option<Paid>,
}

/// A payment sent with a request.
#[derive(Debug, Clone)]
pub struct Paid {
    /// The offer paid.
    pub offer: Offer,
    /// What was signed.
    pub authorization: Authorization,
    /// The token, when its symbol and decimals were looked up (for display).
    pub asset: Option<Asset>,
    /// The settlement header of the answer (`PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`).
    pub settlement: Option<SettleResponse>,
    /// When the answer is a 402 again: why the payment was refused.
    pub refused: Option<String>,
}

/// Sends `request`; on a 402, pays the first offer `options` allow as `signer` and sends it
/// again. Nothing is paid (no signature leaves) when no offer fits.
pub async fn pay(
    http: &HttpClient,
    request: &PayRequest,
    signer: &PrivateKeySigner,
    options: &PayOptions,
) -> Result<PayOutcome, PayError> {
    let shown = redact_url(&request.url);
    let first = http.send_any(build(http, request, None), &shown).await?;
    if first.status() != StatusCode::PAYMENT_REQUIRED {
        return finish(http, first, &shown, None).await;
    }
    let response_headers = first.headers().clone();
    let body = http.read(first, &shown, CHALLENGE_LIMIT).await?;
    let challenge = read_402(&response_headers, &body);
    if challenge.offers.is_empty() {
        return Err(PayError::NotPayable {
            url: shown,
            skipped: challenge.skipped,
        });
    }
    let chain = LazyChain::new(options.rpc.clone());
    // Caps in whole units need each candidate token's decimals, which may need the RPC: work
    // them out before choosing (the choice itself is synchronous).
    let mut caps: Vec<Result<Cap, String>> = Vec::new();
    for offer in &challenge.offers {
        if outside_policy(offer, &options.policy).is_some() {
            caps.push(Ok((None, None)));
            continue;
        }
        caps.push(cap_of(offer, options.policy.max.as_ref(), &chain).await);
    }
    let position = |offer: &Offer| {
        challenge
            .offers
            .iter()
            .position(|o| std::ptr::eq(o, offer))
            .expect("offers come from the challenge")
    };
    let offer = choose(&challenge.offers, &options.policy, |offer| {
        caps[position(offer)]
            .as_ref()
            .map(|(max, _)| *max)
            .map_err(Clone::clone)
    })?;
    let at = position(offer);
    let asset = caps[at].as_ref().ok().and_then(|(_, asset)| asset.clone());
    let domain = match offer.requirement.eip712_domain() {
        Some(domain) => domain,
        None => {
            let conn = chain.connect(offer.requirement.chain_id).await?;
            eip3009::domain(conn, offer.requirement.asset).await?
        }
    };
    let signed = sign_payment(offer, &domain, signer, crate::time::unix_now()).await?;
    info!(
        amount = %offer.requirement.amount,
        asset = %offer.requirement.asset,
        pay_to = %offer.requirement.pay_to,
        network = %offer.network(),
        version = %offer.version,
        "paying"
    );
    let header = (
        HeaderName::from_static(lowercase(signed.header_name)),
        HeaderValue::from_str(&signed.header_value).expect("base64 is a valid header value"),
    );
    let second = http
        .send_any(build(http, request, Some(header)), &shown)
        .await?;
    let paid = Paid {
        offer: offer.clone(),
        authorization: signed.authorization,
        asset,
        settlement: None,
        refused: None,
    };
    finish(http, second, &shown, Some(paid)).await
}

/// `HeaderName::from_static` wants lowercase names.
fn lowercase(name: &'static str) -> &'static str {
    match name {
        headers::PAYMENT_SIGNATURE => "payment-signature",
        headers::X_PAYMENT => "x-payment",
        other => other,
    }
}

fn build(
    http: &HttpClient,
    request: &PayRequest,
    payment: Option<(HeaderName, HeaderValue)>,
) -> RequestBuilder {
    let mut builder = http.request(request.method.clone(), request.url.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some((name, value)) = payment {
        builder = builder.header(name, value);
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    builder
}

async fn finish(
    http: &HttpClient,
    response: Response,
    shown: &str,
    mut paid: Option<Paid>,
) -> Result<PayOutcome, PayError> {
    let status = response.status().as_u16();
    let response_headers = response.headers().clone();
    let body = http.read(response, shown, ANSWER_LIMIT).await?;
    if let Some(paid) = &mut paid {
        paid.settlement = settlement_of(&response_headers);
        if status == 402 {
            let challenge = read_402(&response_headers, &body);
            paid.refused = paid
                .settlement
                .as_ref()
                .and_then(|s| s.error_reason.clone())
                .or(challenge.error)
                .or_else(|| Some("no reason given".into()));
        }
    }
    Ok(PayOutcome {
        status,
        headers: response_headers,
        body,
        paid,
    })
}

/// The settlement header of an answer, either generation.
pub fn settlement_of(response_headers: &HeaderMap) -> Option<SettleResponse> {
    let value = response_headers
        .get(headers::PAYMENT_RESPONSE)
        .or_else(|| response_headers.get(headers::X_PAYMENT_RESPONSE))?;
    match decode_settlement_header(value.to_str().ok()?) {
        Ok(settlement) => Some(settlement),
        Err(PaymentError { message, .. }) => {
            debug!(%message, "unreadable settlement header");
            None
        }
    }
}

/// A cap in atomic units (`None`: none), and the token when it was looked up.
type Cap = (Option<U256>, Option<Asset>);

/// The cap for `offer`; an error says why it cannot be worked out (or is exceeded).
async fn cap_of(offer: &Offer, max: Option<&Max>, chain: &LazyChain) -> Result<Cap, String> {
    let r = &offer.requirement;
    let asset = known_usdc(r.chain_id, r.asset);
    match max {
        None => Ok((None, asset)),
        Some(Max::Atomic(max)) => Ok((Some(*max), asset)),
        Some(Max::Units(text)) => {
            let asset = match asset {
                Some(asset) => asset,
                None => {
                    let conn = chain.connect(r.chain_id).await.map_err(|err| {
                        format!(
                            "cannot compare {} of token {} with --max {text}: its decimals are \
                             unknown ({err})",
                            r.amount, r.asset
                        )
                    })?;
                    erc20_asset(conn, r.asset)
                        .await
                        .map_err(|err| format!("cannot read token {}: {err}", r.asset))?
                }
            };
            let max = asset
                .parse(text)
                .map_err(|err: AmountError| err.to_string())?;
            if r.amount > max {
                return Err(format!(
                    "{} on {} is above --max {}",
                    asset.format(r.amount),
                    offer.network(),
                    asset.format(max)
                ));
            }
            Ok((Some(max), Some(asset)))
        }
    }
}

/// Circle's USDC on the chains genim knows (6 decimals), recognized without an RPC.
fn known_usdc(chain_id: u64, token: Address) -> Option<Asset> {
    let preset = ChainPreset::from_chain_id(chain_id)?;
    (preset.usdc() == Some(token)).then(|| Asset::Token {
        address: token,
        symbol: "USDC".into(),
        decimals: 6,
    })
}

/// An RPC connection opened on first use, checked to be on the chain asked for.
struct LazyChain {
    url: Option<Url>,
    conn: OnceCell<Connection>,
}

impl LazyChain {
    fn new(url: Option<Url>) -> Self {
        Self {
            url,
            conn: OnceCell::new(),
        }
    }

    async fn connect(&self, chain_id: u64) -> Result<&Connection, ChainError> {
        let url = self.url.clone().ok_or_else(|| ChainError::Unreachable {
            url: "(none)".into(),
            reason: "no RPC given (--rpc-url or ETH_RPC_URL)".into(),
        })?;
        let conn = self
            .conn
            .get_or_try_init(|| Connection::open(url, None, ConnectOptions::default()))
            .await?;
        if conn.chain_id != chain_id {
            return Err(ChainError::WrongChain(format!(
                "the RPC at {} is chain {}, the payment is on chain {chain_id}{}",
                redact_url(&conn.url),
                conn.chain_id,
                v1_network(chain_id)
                    .map(|name| format!(" ({name})"))
                    .unwrap_or_default()
            )));
        }
        Ok(conn)
    }
}
