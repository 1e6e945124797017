//! x402 on the wire, both generations, as the pinned reference packages send it (x402 1.2.0
//! for v1, @x402/* 2.27.0 for v2; see `tests/x402/README.md`):
//!
//! | | v1 | v2 |
//! |---|---|---|
//! | 402 | JSON body `{x402Version:1, error, accepts}` | header `PAYMENT-REQUIRED` (base64 JSON), body `{}` |
//! | payment | header `X-PAYMENT` | header `PAYMENT-SIGNATURE` (servers also read `X-PAYMENT`) |
//! | settlement | header `X-PAYMENT-RESPONSE` | header `PAYMENT-RESPONSE` |
//! | network | closed list of names (`base-sepolia`) | CAIP-2 (`eip155:84532`) |
//!
//! [`Requirement`] is the generation-agnostic price of a resource; [`payment_required`] renders
//! one 402 that carries both generations (v1 only when the chain has a v1 name), and
//! [`decode_payment_header`] turns any incoming payment header into a [`Payment`], or into a
//! [`PaymentError`] carrying the standard [`Reason`], never a panic. Key orders follow the
//! reference packages, so that our JSON is byte-comparable with theirs.

use crate::{
    amount::decimal,
    eip3009::{self, Authorization},
};
use alloy::{
    primitives::{Address, B256, Bytes, TxHash, U256},
    sol_types::Eip712Domain,
};
use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use std::{collections::BTreeMap, fmt, str::FromStr};

/// The only scheme genim speaks: an EIP-3009 `TransferWithAuthorization` of exactly the price.
pub const EXACT: &str = "exact";

/// Header names, as the reference packages write them (HTTP header names are case-insensitive).
pub mod headers {
    /// v2 402: the base64 JSON requirements.
    pub const PAYMENT_REQUIRED: &str = "PAYMENT-REQUIRED";
    /// v2 payment.
    pub const PAYMENT_SIGNATURE: &str = "PAYMENT-SIGNATURE";
    /// v1 payment (v2 servers read it too).
    pub const X_PAYMENT: &str = "X-PAYMENT";
    /// v2 settlement.
    pub const PAYMENT_RESPONSE: &str = "PAYMENT-RESPONSE";
    /// v1 settlement.
    pub const X_PAYMENT_RESPONSE: &str = "X-PAYMENT-RESPONSE";
}

/// What the v1 402 says when no payment was sent (x402-express 1.2.0).
pub const V1_PAYMENT_REQUIRED: &str = "X-PAYMENT header is required";
/// What the v2 402 says when no payment was sent (@x402/core 2.27.0).
pub const V2_PAYMENT_REQUIRED: &str = "Payment required";

/// An x402 protocol generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// x402 1.x: network names, `X-PAYMENT`, requirements in the 402 body.
    V1,
    /// x402 2.x: CAIP-2 networks, `PAYMENT-SIGNATURE`, requirements in a header.
    V2,
}

impl Version {
    /// `x402Version` on the wire.
    pub fn number(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    /// The generation of an `x402Version` value.
    pub fn from_number(number: u64) -> Option<Self> {
        match number {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }

    /// The request header a client of this generation pays with.
    pub fn payment_header(self) -> &'static str {
        match self {
            Self::V1 => headers::X_PAYMENT,
            Self::V2 => headers::PAYMENT_SIGNATURE,
        }
    }

    /// The response header that carries the settlement to a client of this generation.
    pub fn response_header(self) -> &'static str {
        match self {
            Self::V1 => headers::X_PAYMENT_RESPONSE,
            Self::V2 => headers::PAYMENT_RESPONSE,
        }
    }

    /// The network of `chain_id` as this generation names it (`None`: v1 has no name for it).
    pub fn network(self, chain_id: u64) -> Option<String> {
        match self {
            Self::V1 => v1_network(chain_id).map(str::to_owned),
            Self::V2 => Some(caip2(chain_id)),
        }
    }

    /// The chain id of a network named the way this generation names it.
    pub fn chain_id(self, network: &str) -> Option<u64> {
        match self {
            Self::V1 => v1_chain_id(network),
            Self::V2 => parse_caip2(network),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.number())
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.number())
    }
}

/// v1 network names of EVM chains: @x402/evm 2.27.0's `EVM_NETWORK_CHAIN_ID_MAP`. The flag
/// marks the names x402 1.2.0 knows too: its clients validate every `accepts` entry against
/// that closed list and throw on any other name, so a v1 402 only ever offers those.
const V1_NETWORKS: &[(&str, u64, bool)] = &[
    ("abstract", 2741, true),
    ("abstract-testnet", 11124, true),
    ("base-sepolia", 84532, true),
    ("base", 8453, true),
    ("avalanche-fuji", 43113, true),
    ("avalanche", 43114, true),
    ("iotex", 4689, true),
    ("sei", 1329, true),
    ("sei-testnet", 1328, true),
    ("polygon", 137, true),
    ("polygon-amoy", 80002, true),
    ("peaq", 3338, true),
    ("story", 1514, true),
    ("educhain", 41923, true),
    ("skale-base-sepolia", 324_705_682, true),
    ("ethereum", 1, false),
    ("sepolia", 11_155_111, false),
    ("megaeth", 4326, false),
    ("monad", 143, false),
    ("stable", 988, false),
    ("stable-testnet", 2201, false),
    ("celo", 42220, false),
    ("flare", 14, false),
];

/// The v1 name genim offers for `chain_id`: only names x402 1.2.0 clients accept
/// (`base-sepolia` for 84532); `None` means a 402 for this chain is v2 only.
pub fn v1_network(chain_id: u64) -> Option<&'static str> {
    V1_NETWORKS
        .iter()
        .find(|(_, id, known_to_1x)| *id == chain_id && *known_to_1x)
        .map(|(name, _, _)| *name)
}

/// The chain id of a v1 network name (any name the 2.27.0 reference knows).
pub fn v1_chain_id(name: &str) -> Option<u64> {
    V1_NETWORKS
        .iter()
        .find(|(known, _, _)| *known == name)
        .map(|(_, id, _)| *id)
}

/// `eip155:<chain id>`.
pub fn caip2(chain_id: u64) -> String {
    format!("eip155:{chain_id}")
}

/// The chain id of `eip155:<decimal>` (no sign, no leading zero), else `None`.
pub fn parse_caip2(network: &str) -> Option<u64> {
    let digits = network.strip_prefix("eip155:")?;
    let canonical = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

/// The standard reasons a payment is refused, with their exact strings. The strings are those
/// of the pinned reference facilitator (@x402/evm 2.27.0, which serves both generations);
/// [`Reason::from_str`] also reads x402 1.x's older names (`invalid_exact_evm_payload_signature`,
/// `invalid_exact_evm_payload_authorization_value`, `invalid_exact_evm_payload_recipient_mismatch`,
/// `insufficient_funds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The payment header or request is not what x402 says (base64, JSON, fields).
    InvalidPayload,
    /// `x402Version` is missing or neither 1 nor 2.
    InvalidX402Version,
    /// A scheme other than `exact`.
    InvalidScheme,
    /// A network this server or facilitator does not serve.
    InvalidNetwork,
    /// The requirements are malformed, or the payment is for other requirements (another
    /// token).
    InvalidPaymentRequirements,
    /// The payment's network is not the requirement's.
    NetworkMismatch,
    /// The requirement lacks the token's EIP-712 name and version (`extra`).
    MissingEip712Domain,
    /// The authorization pays someone other than the requirement's `payTo`.
    RecipientMismatch,
    /// The signature is not the payer's over this authorization and token.
    InvalidSignature,
    /// `validBefore` is past, or too close (less than 6 s away).
    ValidBefore,
    /// `validAfter` is in the future.
    ValidAfter,
    /// The authorized value is not exactly the price.
    ValueMismatch,
    /// The authorization's nonce was used (or cancelled) already.
    NonceAlreadyUsed,
    /// The payer holds less than the price.
    InsufficientBalance,
    /// The token's `name()` is not the requirement's EIP-712 name.
    TokenNameMismatch,
    /// The token's `version()` is not the requirement's EIP-712 version.
    TokenVersionMismatch,
    /// The settlement would revert for another reason.
    SimulationFailed,
    /// The settlement transaction failed.
    TransactionFailed,
    /// The settlement was sent but not mined in time; the transaction hash says which.
    SettlementPending,
    /// Verification could not run (the chain did not answer).
    UnexpectedVerifyError,
    /// Settlement could not run (the chain did not answer).
    UnexpectedSettleError,
}

impl Reason {
    /// Every reason (for tests and documentation).
    pub const ALL: [Self; 21] = [
        Self::InvalidPayload,
        Self::InvalidX402Version,
        Self::InvalidScheme,
        Self::InvalidNetwork,
        Self::InvalidPaymentRequirements,
        Self::NetworkMismatch,
        Self::MissingEip712Domain,
        Self::RecipientMismatch,
        Self::InvalidSignature,
        Self::ValidBefore,
        Self::ValidAfter,
        Self::ValueMismatch,
        Self::NonceAlreadyUsed,
        Self::InsufficientBalance,
        Self::TokenNameMismatch,
        Self::TokenVersionMismatch,
        Self::SimulationFailed,
        Self::TransactionFailed,
        Self::SettlementPending,
        Self::UnexpectedVerifyError,
        Self::UnexpectedSettleError,
    ];

    /// The string on the wire (v2; see [`Reason::for_version`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidPayload => "invalid_payload",
            Self::InvalidX402Version => "invalid_x402_version",
            Self::InvalidScheme => "invalid_scheme",
            Self::InvalidNetwork => "invalid_network",
            Self::InvalidPaymentRequirements => "invalid_payment_requirements",
            Self::NetworkMismatch => "invalid_exact_evm_network_mismatch",
            Self::MissingEip712Domain => "invalid_exact_evm_missing_eip712_domain",
            Self::RecipientMismatch => "invalid_exact_evm_recipient_mismatch",
            Self::InvalidSignature => "invalid_exact_evm_signature",
            Self::ValidBefore => "invalid_exact_evm_payload_authorization_valid_before",
            Self::ValidAfter => "invalid_exact_evm_payload_authorization_valid_after",
            Self::ValueMismatch => "invalid_exact_evm_payload_authorization_value_mismatch",
            Self::NonceAlreadyUsed => "invalid_exact_evm_nonce_already_used",
            Self::InsufficientBalance => "invalid_exact_evm_insufficient_balance",
            Self::TokenNameMismatch => "invalid_exact_evm_token_name_mismatch",
            Self::TokenVersionMismatch => "invalid_exact_evm_token_version_mismatch",
            Self::SimulationFailed => "invalid_exact_evm_transaction_simulation_failed",
            Self::TransactionFailed => "invalid_exact_evm_transaction_failed",
            Self::SettlementPending => "settlement_pending",
            Self::UnexpectedVerifyError => "unexpected_verify_error",
            Self::UnexpectedSettleError => "unexpected_settle_error",
        }
    }

    /// The string the reference facilitator sends for a payment of `version`: the same as
    /// [`Reason::as_str`] except a wrong value in v1, which @x402/evm's v1 scheme calls
    /// `invalid_exact_evm_authorization_value`.
    pub fn for_version(self, version: Version) -> &'static str {
        match (self, version) {
            (Self::ValueMismatch, Version::V1) => "invalid_exact_evm_authorization_value",
            _ => self.as_str(),
        }
    }

    /// Whether the reason is the payer's doing (as opposed to the server's configuration or
    /// the chain): a server answers these with 402 and the requirements.
    pub fn is_payment_problem(self) -> bool {
        !matches!(
            self,
            Self::SettlementPending | Self::UnexpectedVerifyError | Self::UnexpectedSettleError
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reason string no version of x402 uses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown x402 reason '{0}'")]
pub struct UnknownReason(pub String);

impl FromStr for Reason {
    type Err = UnknownReason;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(reason) = Self::ALL.into_iter().find(|r| r.as_str() == text) {
            return Ok(reason);
        }
        // Older (x402 1.x) and per-generation names of the same reasons.
        Ok(match text {
            "invalid_exact_evm_payload_signature" => Self::InvalidSignature,
            "invalid_exact_evm_payload_authorization_value"
            | "invalid_exact_evm_authorization_value" => Self::ValueMismatch,
            "invalid_exact_evm_payload_recipient_mismatch" => Self::RecipientMismatch,
            "insufficient_funds" => Self::InsufficientBalance,
            "invalid_exact_evm_scheme" | "unsupported_scheme" => Self::InvalidScheme,
            "payment_expired" => Self::ValidBefore,
            _ => return Err(UnknownReason(text.to_owned())),
        })
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A payment refused, with its standard reason and a sentence for people. Never contains a
/// secret: it quotes only what the payer sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct PaymentError {
    /// The standard reason.
    pub reason: Reason,
    /// What exactly is wrong.
    pub message: String,
}

impl PaymentError {
    /// A refusal for `reason`.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

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
fn domain_from_extra(extra: Option<&Value>) -> Option<TokenDomain> {
    let extra = extra?;
    Some(TokenDomain {
        name: extra.get("name")?.as_str()?.to_owned(),
        version: extra.get("version")?.as_str()?.to_owned(),
    })
}

fn check_scheme(scheme: Option<&Value>) -> Result<(), PaymentError> {
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
fn strip_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).to_owned()
}

/// Deserializes a wire struct out of `value`, refusing with `reason` and serde's explanation.
fn from_value<T: DeserializeOwned>(value: &Value, reason: Reason) -> Result<T, PaymentError> {
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

/// The signed authorization, as both generations send it: checksummed addresses, decimal
/// strings, a 32-byte hex nonce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireAuthorization {
    #[serde(with = "checksummed")]
    pub from: Address,
    #[serde(with = "checksummed")]
    pub to: Address,
    #[serde(with = "decimal")]
    pub value: U256,
    #[serde(with = "decimal")]
    pub valid_after: U256,
    #[serde(with = "decimal")]
    pub valid_before: U256,
    pub nonce: B256,
}

impl From<&Authorization> for WireAuthorization {
    fn from(auth: &Authorization) -> Self {
        Self {
            from: auth.from,
            to: auth.to,
            value: auth.value,
            valid_after: auth.valid_after,
            valid_before: auth.valid_before,
            nonce: auth.nonce,
        }
    }
}

impl From<WireAuthorization> for Authorization {
    fn from(wire: WireAuthorization) -> Self {
        Self {
            from: wire.from,
            to: wire.to,
            value: wire.value,
            valid_after: wire.valid_after,
            valid_before: wire.valid_before,
            nonce: wire.nonce,
        }
    }
}

/// v1 `payload`: `{signature, authorization}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactPayloadV1 {
    pub signature: Bytes,
    pub authorization: WireAuthorization,
}

/// v2 `payload`: `{authorization, signature}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactPayloadV2 {
    pub authorization: WireAuthorization,
    pub signature: Bytes,
}

/// What `X-PAYMENT` carries (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayloadV1 {
    pub x402_version: u8,
    pub scheme: String,
    pub network: String,
    pub payload: ExactPayloadV1,
}

/// What `PAYMENT-SIGNATURE` carries (v2). `resource` and `accepted` are the 402's, verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayloadV2 {
    pub x402_version: u8,
    pub payload: ExactPayloadV2,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Value>,
    pub accepted: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Value>,
}

/// An incoming payment, decoded and checked for form (not yet against a requirement or the
/// chain: see [`crate::x402::verify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The generation the client used: the settlement goes back in the same.
    pub version: Version,
    /// The chain it pays on (v1: its network name's; v2: `accepted.network`'s).
    pub chain_id: u64,
    /// What the payer signed.
    pub authorization: Authorization,
    /// The payer's signature (65 bytes r‖s‖v from an EOA; anything from a smart wallet).
    pub signature: Bytes,
    /// v2: the requirement the client says it accepted.
    pub accepted: Option<RequirementsV2>,
    /// The decoded JSON object as received (a facilitator's `paymentPayload`).
    pub raw: Value,
}

impl Payment {
    /// The payer (`authorization.from`).
    pub fn payer(&self) -> Address {
        self.authorization.from
    }

    /// The header value that carries this payment (base64 of `raw`).
    pub fn header_value(&self) -> String {
        encode_base64_json(&self.raw)
    }
}

/// The payment header of a request: `PAYMENT-SIGNATURE`, else `X-PAYMENT` (v2 servers read
/// both, and either may carry either generation: the JSON's `x402Version` decides).
pub fn payment_header(headers: &HeaderMap) -> Option<&HeaderValue> {
    headers
        .get(headers::PAYMENT_SIGNATURE)
        .or_else(|| headers.get(headers::X_PAYMENT))
}

/// Decodes the payment header of a request, if it has one.
pub fn decode_payment(request_headers: &HeaderMap) -> Option<Result<Payment, PaymentError>> {
    let value = payment_header(request_headers)?;
    Some(match value.to_str() {
        Ok(text) => decode_payment_header(text),
        Err(_) => Err(PaymentError::new(
            Reason::InvalidPayload,
            "the payment header is not ASCII base64",
        )),
    })
}

/// Decodes a payment header value: base64 (standard, padding optional; URL-safe accepted) of a
/// JSON object of either generation.
pub fn decode_payment_header(value: &str) -> Result<Payment, PaymentError> {
    let bytes = decode_base64(value).ok_or_else(|| {
        PaymentError::new(Reason::InvalidPayload, "the payment header is not base64")
    })?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|_| {
        PaymentError::new(
            Reason::InvalidPayload,
            "the payment header is not base64 of JSON",
        )
    })?;
    decode_payment_value(json)
}

/// Checks and decodes a payment payload object (the decoded header, or a facilitator's
/// `paymentPayload`).
pub fn decode_payment_value(raw: Value) -> Result<Payment, PaymentError> {
    let object = raw.as_object().ok_or_else(|| {
        PaymentError::new(Reason::InvalidPayload, "the payment is not a JSON object")
    })?;
    let version = match object.get("x402Version") {
        None => {
            return Err(PaymentError::new(
                Reason::InvalidX402Version,
                "the payment has no x402Version",
            ));
        }
        Some(number) => number
            .as_u64()
            .and_then(Version::from_number)
            .ok_or_else(|| {
                PaymentError::new(
                    Reason::InvalidX402Version,
                    format!("x402Version {number} is not supported (1 or 2)"),
                )
            })?,
    };
    let (chain_id, accepted, authorization, signature) = match version {
        Version::V1 => {
            check_scheme(object.get("scheme"))?;
            let network = object.get("network").and_then(Value::as_str).unwrap_or("");
            let chain_id = v1_chain_id(network).ok_or_else(|| {
                PaymentError::new(
                    Reason::InvalidNetwork,
                    format!("'{network}' is not an x402 v1 EVM network"),
                )
            })?;
            let payload: ExactPayloadV1 = from_value(
                object.get("payload").unwrap_or(&Value::Null),
                Reason::InvalidPayload,
            )
            .map_err(|err| payload_error(&err))?;
            (chain_id, None, payload.authorization, payload.signature)
        }
        Version::V2 => {
            let accepted_value = object.get("accepted").ok_or_else(|| {
                PaymentError::new(Reason::InvalidPayload, "the v2 payment has no 'accepted'")
            })?;
            if !accepted_value.is_object() {
                return Err(PaymentError::new(
                    Reason::InvalidPayload,
                    "'accepted' is not an object",
                ));
            }
            check_scheme(accepted_value.get("scheme"))?;
            let network = accepted_value
                .get("network")
                .and_then(Value::as_str)
                .unwrap_or("");
            let chain_id = parse_caip2(network).ok_or_else(|| {
                PaymentError::new(
                    Reason::InvalidNetwork,
                    format!("network '{network}' is not eip155:<chain id>"),
                )
            })?;
            let accepted: RequirementsV2 = from_value(accepted_value, Reason::InvalidPayload)
                .map_err(|err| {
                    PaymentError::new(err.reason, format!("accepted: {}", err.message))
                })?;
            let payload: ExactPayloadV2 = from_value(
                object.get("payload").unwrap_or(&Value::Null),
                Reason::InvalidPayload,
            )
            .map_err(|err| payload_error(&err))?;
            (
                chain_id,
                Some(accepted),
                payload.authorization,
                payload.signature,
            )
        }
    };
    Ok(Payment {
        version,
        chain_id,
        authorization: authorization.into(),
        signature,
        accepted,
        raw,
    })
}

fn payload_error(err: &PaymentError) -> PaymentError {
    PaymentError::new(err.reason, format!("payload: {}", err.message))
}

/// A facilitator's `/verify` and `/settle` request (what both reference servers send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FacilitatorRequest {
    /// Usually the payload's `x402Version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x402_version: Option<Value>,
    /// The decoded payment header.
    pub payment_payload: Value,
    /// The requirement the server matched it to.
    pub payment_requirements: Value,
}

/// A facilitator's `/verify` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    pub is_valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
}

/// A facilitator's `/settle` answer; also what the settlement headers carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// The settlement transaction; `""` when none was sent.
    #[serde(default)]
    pub transaction: String,
    /// As the payment's generation names it.
    #[serde(default)]
    pub network: String,
}

impl SettleResponse {
    /// The transaction hash, when there is one.
    pub fn transaction_hash(&self) -> Option<TxHash> {
        self.transaction.parse().ok()
    }
}

/// `PAYMENT-RESPONSE` (v2): `{success, payer, transaction, network}` (+ reasons on failure).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentResponseV2<'a> {
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    payer: Option<&'a str>,
    transaction: &'a str,
    network: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
}

/// `X-PAYMENT-RESPONSE` (v1): `{success, transaction, network, payer}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentResponseV1<'a> {
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_reason: Option<&'a str>,
    transaction: &'a str,
    network: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payer: Option<&'a str>,
}

/// The settlement header for a client of `version`: its name and base64 value.
pub fn settlement_header(version: Version, response: &SettleResponse) -> (&'static str, String) {
    let value = match version {
        Version::V2 => encode_base64_json(&PaymentResponseV2 {
            success: response.success,
            payer: response.payer.as_deref(),
            transaction: &response.transaction,
            network: &response.network,
            error_reason: response.error_reason.as_deref(),
            error_message: response.error_message.as_deref(),
        }),
        Version::V1 => encode_base64_json(&PaymentResponseV1 {
            success: response.success,
            error_reason: response.error_reason.as_deref(),
            transaction: &response.transaction,
            network: &response.network,
            payer: response.payer.as_deref(),
        }),
    };
    (version.response_header(), value)
}

/// Decodes a settlement header of either generation (`PAYMENT-RESPONSE`, `X-PAYMENT-RESPONSE`).
pub fn decode_settlement_header(value: &str) -> Result<SettleResponse, PaymentError> {
    let bytes = decode_base64(value).ok_or_else(|| {
        PaymentError::new(
            Reason::InvalidPayload,
            "the settlement header is not base64",
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|err| {
        PaymentError::new(
            Reason::InvalidPayload,
            format!("the settlement header is not x402 JSON: {err}"),
        )
    })
}

/// One payment kind a facilitator serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedKind {
    pub x402_version: u8,
    pub scheme: String,
    pub network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

/// A facilitator's `/supported` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportedResponse {
    pub kinds: Vec<SupportedKind>,
    #[serde(default)]
    pub extensions: Vec<String>,
    /// `{"eip155:*": [relayer]}`.
    #[serde(default)]
    pub signers: BTreeMap<String, Vec<String>>,
}

/// Base64 (standard, padded: what `btoa` and Node's `Buffer` write) of `value`'s JSON.
pub fn encode_base64_json(value: &impl Serialize) -> String {
    data_encoding::BASE64.encode(&serde_json::to_vec(value).expect("x402 JSON serializes"))
}

/// Base64 as clients write it: standard or URL-safe alphabet, padded or not; surrounding
/// whitespace ignored.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().as_bytes();
    [
        &data_encoding::BASE64,
        &data_encoding::BASE64_NOPAD,
        &data_encoding::BASE64URL,
        &data_encoding::BASE64URL_NOPAD,
    ]
    .into_iter()
    .find_map(|encoding| encoding.decode(text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_both_ways() {
        assert_eq!(v1_network(84532), Some("base-sepolia"));
        assert_eq!(v1_network(31337), None);
        // Known to the 2.x reference but not to x402 1.2.0 clients: not offered, but read.
        assert_eq!(v1_network(1), None);
        assert_eq!(v1_chain_id("ethereum"), Some(1));
        assert_eq!(parse_caip2("eip155:84532"), Some(84532));
        for bad in [
            "eip155:",
            "eip155:084532",
            "eip155:-1",
            "base",
            "solana:5eyk",
        ] {
            assert_eq!(parse_caip2(bad), None, "{bad}");
        }
        assert_eq!(caip2(31337), "eip155:31337");
    }

    #[test]
    fn reasons_round_trip_and_read_old_names() {
        for reason in Reason::ALL {
            assert_eq!(reason.as_str().parse::<Reason>().unwrap(), reason);
        }
        assert_eq!(
            "invalid_exact_evm_payload_signature"
                .parse::<Reason>()
                .unwrap(),
            Reason::InvalidSignature
        );
        assert_eq!(
            Reason::ValueMismatch.for_version(Version::V1),
            "invalid_exact_evm_authorization_value"
        );
        assert!("nope".parse::<Reason>().is_err());
    }

    #[test]
    fn base64_variants() {
        let json = br#"{"a":"??>"}"#;
        for encoded in [
            data_encoding::BASE64.encode(json),
            data_encoding::BASE64_NOPAD.encode(json),
            data_encoding::BASE64URL.encode(json),
        ] {
            assert_eq!(decode_base64(&encoded).as_deref(), Some(&json[..]));
        }
        assert_eq!(decode_base64("!!!"), None);
    }
}
