//! EIP-3009 authorizations: a token holder signs a transfer that anyone (a relayer, a
//! facilitator, genim's escrow contract) can submit, so the holder pays no gas. Used by gasless
//! mints, the x402 client and server, and the tests.
//!
//! The EIP-712 domain is the token's: its `name()` (Base and Ethereum USDC: "USD Coin", Base
//! Sepolia: "USDC"), its `version()` ("2" for FiatTokenV2_2), the chain id and the token address.

use crate::chain::{ChainError, Connection};
use alloy::{
    primitives::{Address, B256, Bytes, U256},
    signers::Signer,
    sol_types::{Eip712Domain, SolStruct},
};
use serde::{Deserialize, Serialize};

/// The Solidity types and calls, generated (their call builders take every parameter).
#[allow(clippy::too_many_arguments)]
mod sol {
    alloy::sol! {
        /// `TransferWithAuthorization`: anyone may submit it; moves `value` from `from` to `to`.
        #[derive(Debug, PartialEq, Eq)]
        struct TransferWithAuthorization {
            address from;
            address to;
            uint256 value;
            uint256 validAfter;
            uint256 validBefore;
            bytes32 nonce;
        }

        /// `ReceiveWithAuthorization`: only `to` may submit it (front-running cannot move it).
        #[derive(Debug, PartialEq, Eq)]
        struct ReceiveWithAuthorization {
            address from;
            address to;
            uint256 value;
            uint256 validAfter;
            uint256 validBefore;
            bytes32 nonce;
        }

        /// The EIP-3009 and metadata calls genim makes on a token (FiatTokenV2_2's names).
        #[sol(rpc)]
        interface IEIP3009 {
            function name() external view returns (string);
            function version() external view returns (string);
            function symbol() external view returns (string);
            function decimals() external view returns (uint8);
            function balanceOf(address account) external view returns (uint256);
            function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
            function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature) external;
            function receiveWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature) external;
            event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
            event Transfer(address indexed from, address indexed to, uint256 value);
        }
    }
}
pub use sol::{IEIP3009, ReceiveWithAuthorization, TransferWithAuthorization};

/// Which of the two EIP-3009 authorizations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// `TransferWithAuthorization` (what x402 "exact" clients sign).
    Transfer,
    /// `ReceiveWithAuthorization` (only the payee can submit it).
    Receive,
}

/// The fields a holder signs (x402's `authorization` object, with decimal-string amounts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    pub from: Address,
    pub to: Address,
    #[serde(with = "crate::amount::decimal")]
    pub value: U256,
    #[serde(with = "crate::amount::decimal")]
    pub valid_after: U256,
    #[serde(with = "crate::amount::decimal")]
    pub valid_before: U256,
    pub nonce: B256,
}

impl Authorization {
    /// The EIP-712 hash the holder signs.
    pub fn signing_hash(&self, kind: Kind, domain: &Eip712Domain) -> B256 {
        match kind {
            Kind::Transfer => TransferWithAuthorization {
                from: self.from,
                to: self.to,
                value: self.value,
                validAfter: self.valid_after,
                validBefore: self.valid_before,
                nonce: self.nonce,
            }
            .eip712_signing_hash(domain),
            Kind::Receive => ReceiveWithAuthorization {
                from: self.from,
                to: self.to,
                value: self.value,
                validAfter: self.valid_after,
                validBefore: self.valid_before,
                nonce: self.nonce,
            }
            .eip712_signing_hash(domain),
        }
    }

    /// Signs as `signer` (which must be `from`): 65 bytes r‖s‖v, v 27 or 28.
    pub async fn sign(
        &self,
        kind: Kind,
        domain: &Eip712Domain,
        signer: &(impl Signer + Sync),
    ) -> Result<Bytes, alloy::signers::Error> {
        let signature = signer.sign_hash(&self.signing_hash(kind, domain)).await?;
        Ok(Bytes::copy_from_slice(&signature.as_bytes()))
    }

    /// Whether `signature` is an EOA signature of `from` over this authorization (smart-wallet
    /// signatures are checked on chain instead, by simulation).
    pub fn signed_by_from(&self, kind: Kind, domain: &Eip712Domain, signature: &[u8]) -> bool {
        let Ok(signature) = alloy::primitives::Signature::try_from(signature) else {
            return false;
        };
        signature
            .recover_address_from_prehash(&self.signing_hash(kind, domain))
            .is_ok_and(|signer| signer == self.from)
    }
}

/// A random 32-byte nonce, as x402 clients use.
pub fn random_nonce() -> B256 {
    B256::random()
}

/// The token's EIP-712 domain, read from the chain (`name()`, `version()`).
pub async fn domain(conn: &Connection, token: Address) -> Result<Eip712Domain, ChainError> {
    let contract = IEIP3009::new(token, conn.provider.clone());
    let name = contract
        .name()
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    let version = contract
        .version()
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    Ok(domain_of(name, version, conn.chain_id, token))
}

/// An EIP-712 domain from its parts.
pub fn domain_of(name: String, version: String, chain_id: u64, token: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(name.into()),
        Some(version.into()),
        Some(U256::from(chain_id)),
        Some(token),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::signers::local::PrivateKeySigner;

    #[tokio::test]
    async fn signs_and_recovers() {
        let signer = PrivateKeySigner::random();
        let auth = Authorization {
            from: signer.address(),
            to: Address::repeat_byte(2),
            value: U256::from(50_000),
            valid_after: U256::ZERO,
            valid_before: U256::from(u64::MAX),
            nonce: random_nonce(),
        };
        let domain = domain_of("USD Coin".into(), "2".into(), 8453, Address::repeat_byte(3));
        let signature = auth.sign(Kind::Transfer, &domain, &signer).await.unwrap();
        assert_eq!(signature.len(), 65);
        assert!(matches!(signature[64], 27 | 28));
        assert!(auth.signed_by_from(Kind::Transfer, &domain, &signature));
        // The other type, another domain or another payee do not verify.
        assert!(!auth.signed_by_from(Kind::Receive, &domain, &signature));
        let other = domain_of("USDC".into(), "2".into(), 8453, Address::repeat_byte(3));
        assert!(!auth.signed_by_from(Kind::Transfer, &other, &signature));
        let changed = Authorization {
            to: Address::repeat_byte(9),
            ..auth.clone()
        };
        assert!(!changed.signed_by_from(Kind::Transfer, &domain, &signature));
    }

    #[test]
    fn typehashes_are_circles() {
        // FiatTokenV2_2's TRANSFER_WITH_AUTHORIZATION_TYPEHASH and RECEIVE_... constants.
        assert_eq!(
            TransferWithAuthorization::eip712_type_hash(&TransferWithAuthorization {
                from: Address::ZERO,
                to: Address::ZERO,
                value: U256::ZERO,
                validAfter: U256::ZERO,
                validBefore: U256::ZERO,
                nonce: B256::ZERO,
            }),
            "0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267"
                .parse::<B256>()
                .unwrap()
        );
        assert_eq!(
            ReceiveWithAuthorization::eip712_type_hash(&ReceiveWithAuthorization {
                from: Address::ZERO,
                to: Address::ZERO,
                value: U256::ZERO,
                validAfter: U256::ZERO,
                validBefore: U256::ZERO,
                nonce: B256::ZERO,
            }),
            "0xd099cc98ef71107a616c4f0f941f04c322d8e254fe26b3c6668db87aae413de8"
                .parse::<B256>()
                .unwrap()
        );
    }
}
