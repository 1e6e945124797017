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

use serde::Serialize;
use std::fmt;

mod facilitator;
mod payment;
mod reason;
mod requirement;

pub use facilitator::*;
pub use payment::*;
pub use reason::*;
pub use requirement::*;

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
