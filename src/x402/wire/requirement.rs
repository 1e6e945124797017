//! The price of a resource ([`Requirement`]) and the 402 that carries it in both generations.

use super::*;
use crate::{
    amount::decimal,
    eip3009::{self},
};
use alloy::{
    primitives::{Address, U256},
    sol_types::Eip712Domain,
};
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

/// The token's EIP-712 domain name and version (x402's `extra: {name, version}`); the chain id
/// and the token address complete the domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDomain {
    /// `name()`: "USD Coin" on Base and Ethereum, "USDC" on Base Sepolia.
    pub name: String,
    /// `version()`: "2" for FiatTokenV2_2.
    pub version: String,
}

/// What is sold: x402's `resource`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// The URL paid for. v2 keeps the query string; v1 shows the URL without it.
    pub url: String,
    /// For people.
    #[serde(default)]
    pub description: String,
    /// What a paid request answers with (`application/json`).
    #[serde(default)]
    pub mime_type: String,
}

/// The price of a resource, whatever the generation: scheme `exact` (an EIP-3009
/// `TransferWithAuthorization` of exactly `amount` of `asset` to `pay_to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The chain the token lives on.
    pub chain_id: u64,
    /// The EIP-3009 token (USDC; the proxy when proxied).
    pub asset: Address,
    /// Who receives the payment: any address, a Splitter, or a GenImTokenNFT (escrow mode).
    pub pay_to: Address,
    /// The price in the token's smallest unit; the authorization must be for exactly this.
    pub amount: U256,
    /// How long an authorization may stay valid (clients sign `validBefore = now + this`).
    pub max_timeout_seconds: u64,
    /// The token's EIP-712 name and version, sent as `extra`; `None` only when read from a
    /// requirement that lacks them.
    pub domain: Option<TokenDomain>,
    /// What is sold.
    pub resource: Resource,
}

impl Requirement {
    /// The EIP-712 domain a payer signs under: the token's name and version, this chain, the
    /// token.
    pub fn eip712_domain(&self) -> Option<Eip712Domain> {
        self.domain.as_ref().map(|domain| {
            eip3009::domain_of(
                domain.name.clone(),
                domain.version.clone(),
                self.chain_id,
                self.asset,
            )
        })
    }

    /// `extra` on the wire: `{name, version}`.
    fn extra(&self) -> Option<Value> {
        self.domain
            .as_ref()
            .map(|domain| serde_json::json!({ "name": domain.name, "version": domain.version }))
    }

    /// The v2 `accepts` entry.
    pub fn to_v2(&self) -> RequirementsV2 {
        RequirementsV2 {
            scheme: EXACT.into(),
            network: caip2(self.chain_id),
            amount: self.amount,
            asset: self.asset,
            pay_to: self.pay_to,
            max_timeout_seconds: self.max_timeout_seconds,
            extra: self.extra(),
        }
    }

    /// The v1 `accepts` entry, when the chain has a v1 name x402 1.x clients know.
    pub fn to_v1(&self) -> Option<RequirementsV1> {
        let network = v1_network(self.chain_id)?;
        Some(RequirementsV1 {
            scheme: EXACT.into(),
            network: network.into(),
            max_amount_required: self.amount,
            // x402-express 1.2.0 names the resource without its query string.
            resource: strip_query(&self.resource.url),
            description: self.resource.description.clone(),
            mime_type: self.resource.mime_type.clone(),
            pay_to: self.pay_to,
            max_timeout_seconds: self.max_timeout_seconds,
            asset: self.asset,
            output_schema: None,
            extra: self.extra(),
        })
    }

    /// Reads a v2 `accepts` entry (or a facilitator's v2 `paymentRequirements`); `resource`
    /// comes from the surrounding message.
    pub fn from_v2(value: &Value, resource: Resource) -> Result<Self, PaymentError> {
        let object = value.as_object().ok_or_else(|| {
            PaymentError::new(Reason::InvalidPaymentRequirements, "not a JSON object")
        })?;
        check_scheme(object.get("scheme"))?;
        let network = object.get("network").and_then(Value::as_str).unwrap_or("");
        let chain_id = parse_caip2(network).ok_or_else(|| {
            PaymentError::new(
                Reason::InvalidNetwork,
                format!("network '{network}' is not eip155:<chain id>"),
            )
        })?;
        let wire: RequirementsV2 = from_value(value, Reason::InvalidPaymentRequirements)?;
        Ok(Self {
            chain_id,
            asset: wire.asset,
            pay_to: wire.pay_to,
            amount: wire.amount,
            max_timeout_seconds: wire.max_timeout_seconds,
            domain: domain_from_extra(wire.extra.as_ref()),
            resource,
        })
    }

    /// Reads a v1 `accepts` entry (or a facilitator's v1 `paymentRequirements`).
    pub fn from_v1(value: &Value) -> Result<Self, PaymentError> {
        let object = value.as_object().ok_or_else(|| {
            PaymentError::new(Reason::InvalidPaymentRequirements, "not a JSON object")
        })?;
        check_scheme(object.get("scheme"))?;
        let network = object.get("network").and_then(Value::as_str).unwrap_or("");
        let chain_id = v1_chain_id(network).ok_or_else(|| {
            PaymentError::new(
                Reason::InvalidNetwork,
                format!("'{network}' is not an x402 v1 EVM network"),
            )
        })?;
        let wire: RequirementsV1 = from_value(value, Reason::InvalidPaymentRequirements)?;
        Ok(Self {
            chain_id,
            asset: wire.asset,
            pay_to: wire.pay_to,
            amount: wire.max_amount_required,
            max_timeout_seconds: wire.max_timeout_seconds,
            domain: domain_from_extra(wire.extra.as_ref()),
            resource: Resource {
                url: wire.resource,
                description: wire.description,
                mime_type: wire.mime_type,
            },
        })
    }
}

/// `extra: {name, version}` when both are strings.
pub(super) fn domain_from_extra(extra: Option<&Value>) -> Option<TokenDomain> {
    let extra = extra?;
    Some(TokenDomain {
        name: extra.get("name")?.as_str()?.to_owned(),
        version: extra.get("version")?.as_str()?.to_owned(),
    })
}

pub(super) fn check_scheme(scheme: Option<&Value>) -> Result<(), PaymentError> {
    match scheme.and_then(Value::as_str) {
        Some(EXACT) => Ok(()),
        Some(other) => Err(PaymentError::new(
            Reason::InvalidScheme,
            format!("scheme '{other}' is not supported (only 'exact')"),
        )),
        None => Err(PaymentError::new(Reason::InvalidScheme, "no scheme given")),
    }
}

/// `url` without its query string and fragment.
pub(super) fn strip_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).to_owned()
}

/// Deserializes a wire struct out of `value`, refusing with `reason` and serde's explanation.
pub(super) fn from_value<T: DeserializeOwned>(
    value: &Value,
    reason: Reason,
) -> Result<T, PaymentError> {
    T::deserialize(value).map_err(|err| PaymentError::new(reason, err.to_string()))
}

/// Addresses as the reference packages write them: EIP-55 checksummed (any case is read).
pub mod checksummed {
    use alloy::primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `0xAbC...`.
    pub fn serialize<S: Serializer>(address: &Address, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&address.to_checksum(None))
    }

    /// Reads `0x` and 40 hex digits, any case.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        Address::deserialize(deserializer)
    }
}

/// A v2 `accepts` entry: `{scheme, network, amount, asset, payTo, maxTimeoutSeconds, extra}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequirementsV2 {
    pub scheme: String,
    pub network: String,
    #[serde(with = "decimal")]
    pub amount: U256,
    #[serde(with = "checksummed")]
    pub asset: Address,
    #[serde(with = "checksummed")]
    pub pay_to: Address,
    pub max_timeout_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

/// A v1 `accepts` entry: `{scheme, network, maxAmountRequired, resource, description, mimeType,
/// payTo, maxTimeoutSeconds, asset, outputSchema?, extra?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequirementsV1 {
    pub scheme: String,
    pub network: String,
    #[serde(with = "decimal")]
    pub max_amount_required: U256,
    pub resource: String,
    #[serde(default)]
    pub description: String,
    // x402 1.2.0 clients require a string here (their zod schema), even an empty one.
    #[serde(default)]
    pub mime_type: String,
    #[serde(with = "checksummed")]
    pub pay_to: Address,
    pub max_timeout_seconds: u64,
    #[serde(with = "checksummed")]
    pub asset: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

/// The v2 402, carried base64-encoded in `PAYMENT-REQUIRED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequiredV2 {
    pub x402_version: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub resource: Resource,
    pub accepts: Vec<RequirementsV2>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Value>,
}

/// The v1 402 body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequiredV1 {
    pub x402_version: u8,
    pub error: String,
    pub accepts: Vec<RequirementsV1>,
    /// Who tried to pay, on refusals after a payment (x402-express adds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
}

/// A 402 carrying both generations: `PAYMENT-REQUIRED` (v2) and, when any requirement's
/// chain has a v1 name, the v1 JSON body (else `{}`, as v2 servers send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequired {
    /// The v2 requirements.
    pub v2: PaymentRequiredV2,
    /// The v1 body, if any requirement can be offered in v1.
    pub v1: Option<PaymentRequiredV1>,
}

/// Renders the 402 for `requirements` (all for the same resource: v2 has one `resource`, taken
/// from the first). `error`: why a payment was refused (a [`Reason`] string), `None` when none
/// was sent; `payer`: who tried, if known.
pub fn payment_required(
    requirements: &[Requirement],
    error: Option<&str>,
    payer: Option<Address>,
) -> PaymentRequired {
    let resource = requirements
        .first()
        .map(|r| r.resource.clone())
        .unwrap_or_default();
    let v1_accepts: Vec<RequirementsV1> = requirements.iter().filter_map(|r| r.to_v1()).collect();
    PaymentRequired {
        v2: PaymentRequiredV2 {
            x402_version: 2,
            error: Some(error.unwrap_or(V2_PAYMENT_REQUIRED).to_owned()),
            resource,
            accepts: requirements.iter().map(Requirement::to_v2).collect(),
            extensions: None,
        },
        v1: (!v1_accepts.is_empty()).then(|| PaymentRequiredV1 {
            x402_version: 1,
            error: error.unwrap_or(V1_PAYMENT_REQUIRED).to_owned(),
            accepts: v1_accepts,
            payer: payer.map(|p| p.to_checksum(None)),
        }),
    }
}

impl PaymentRequired {
    /// The `PAYMENT-REQUIRED` header value (base64 of the v2 JSON).
    pub fn header_value(&self) -> String {
        encode_base64_json(&self.v2)
    }

    /// The body: the v1 JSON when there is one, else `{}`.
    pub fn body(&self) -> String {
        match &self.v1 {
            Some(v1) => serde_json::to_string(v1).expect("x402 JSON serializes"),
            None => "{}".into(),
        }
    }
}

/// 402 with `PAYMENT-REQUIRED`, `Cache-Control: no-store` and the JSON body.
impl IntoResponse for PaymentRequired {
    fn into_response(self) -> Response {
        let header_value =
            HeaderValue::from_str(&self.header_value()).expect("base64 is a valid header value");
        (
            StatusCode::PAYMENT_REQUIRED,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            [(headers::PAYMENT_REQUIRED, header_value)],
            self.body(),
        )
            .into_response()
    }
}
