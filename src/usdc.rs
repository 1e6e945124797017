//! Real USDC on a local chain: Circle's `FiatTokenV2_2` bytecode (see `abi/usdc/README.md`),
//! deployed behind its `FiatTokenProxy` as on Base, initialized as Circle does, and minted to
//! the accounts that need it. Payments on anvil then run against the token users pay with.

use crate::chain::{ChainError, Connection};
use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, U256, address, hex},
    rpc::types::TransactionRequest,
    sol_types::SolValue,
};
use serde::Serialize;
use tracing::info;

const SIGNATURE_CHECKER: &str = include_str!("../abi/usdc/SignatureChecker.hex");
const FIAT_TOKEN_V2_2: &str = include_str!("../abi/usdc/FiatTokenV2_2.hex");
const FIAT_TOKEN_PROXY: &str = include_str!("../abi/usdc/FiatTokenProxy.hex");
/// Where FiatTokenV2_2 links its `SignatureChecker` library.
const LIBRARY_PLACEHOLDER: &str = "__$715109b5d747ea58b675c6ea3f0dba8c60$__";
/// The proxy's admin: an account nobody holds, since a FiatTokenProxy admin may not call the
/// token itself and a local chain never upgrades it.
const PROXY_ADMIN: Address = address!("0x000000000000000000000000000000000000dEaD");

/// The Solidity types and calls, generated (their call builders take every parameter).
#[allow(clippy::too_many_arguments)]
mod sol {
    alloy::sol! {
        /// FiatTokenV2_2's set-up and admin functions.
        #[sol(rpc)]
        interface IFiatTokenAdmin {
            function initialize(string tokenName, string tokenSymbol, string tokenCurrency, uint8 tokenDecimals, address newMasterMinter, address newPauser, address newBlacklister, address newOwner) external;
            function initializeV2(string newName) external;
            function initializeV2_1(address lostAndFound) external;
            function initializeV2_2(address[] accountsToBlacklist, string newSymbol) external;
            function configureMinter(address minter, uint256 minterAllowedAmount) external returns (bool);
            function mint(address to, uint256 amount) external returns (bool);
            function blacklist(address account) external;
            function changeAdmin(address newAdmin) external;
        }
    }
}
use sol::IFiatTokenAdmin;

/// How to set up the local USDC.
#[derive(Debug, Clone)]
pub struct UsdcOptions {
    /// The EIP-712 domain name (`initializeV2`): "USD Coin" as on Base and Ethereum, "USDC" as
    /// on Base Sepolia.
    pub name: String,
    /// Behind a `FiatTokenProxy`, as deployed on Base (`false`: the bare implementation).
    pub proxied: bool,
    /// Accounts to mint USDC to.
    pub holders: Vec<Address>,
    /// USDC (6 decimals) each holder gets.
    pub amount_each: U256,
}

impl Default for UsdcOptions {
    fn default() -> Self {
        Self {
            name: "USD Coin".into(),
            proxied: true,
            holders: Vec::new(),
            amount_each: U256::from(1_000_000_000u64), // 1000 USDC
        }
    }
}

/// A deployed local USDC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalUsdc {
    /// The token (the proxy when proxied).
    pub address: Address,
    /// The FiatTokenV2_2 implementation.
    pub implementation: Address,
    /// Its EIP-712 domain name.
    pub name: String,
}

/// Deploys and initializes USDC from `owner` (its master minter, pauser, blacklister and owner)
/// and mints to the holders. Multicall3 comes along, as on every chain with real USDC (direct
/// x402 settlements are batched through it).
pub async fn deploy(owner: &Connection, options: &UsdcOptions) -> Result<LocalUsdc, ChainError> {
    let me = owner.signer()?;
    crate::chain::multicall3::install(owner).await?;
    let library = create(owner, decode(SIGNATURE_CHECKER)).await?;
    let linked = FIAT_TOKEN_V2_2.replace(LIBRARY_PLACEHOLDER, &hex::encode(library));
    let implementation = create(owner, decode(&linked)).await?;
    let address = if options.proxied {
        let mut code = decode(FIAT_TOKEN_PROXY).to_vec();
        code.extend(implementation.abi_encode());
        let proxy = create(owner, code.into()).await?;
        let admin = IFiatTokenAdmin::new(proxy, owner.provider.clone());
        owner
            .send(admin.changeAdmin(PROXY_ADMIN).into_transaction_request())
            .await?;
        proxy
    } else {
        implementation
    };
    let token = IFiatTokenAdmin::new(address, owner.provider.clone());
    let steps = [
        token
            .initialize(
                "USD Coin".into(),
                "USDC".into(),
                "USD".into(),
                6,
                me,
                me,
                me,
                me,
            )
            .into_transaction_request(),
        token
            .initializeV2(options.name.clone())
            .into_transaction_request(),
        token.initializeV2_1(me).into_transaction_request(),
        token
            .initializeV2_2(Vec::new(), "USDC".into())
            .into_transaction_request(),
        token
            .configureMinter(me, U256::MAX)
            .into_transaction_request(),
    ];
    for step in steps {
        owner.send(step).await?;
    }
    for holder in &options.holders {
        owner
            .send(
                token
                    .mint(*holder, options.amount_each)
                    .into_transaction_request(),
            )
            .await?;
    }
    info!(usdc = %address, %implementation, name = %options.name, "deployed USDC");
    Ok(LocalUsdc {
        address,
        implementation,
        name: options.name.clone(),
    })
}

/// Mints `amount` more to `to` (the owner is the master minter).
pub async fn mint(
    owner: &Connection,
    usdc: Address,
    to: Address,
    amount: U256,
) -> Result<(), ChainError> {
    let token = IFiatTokenAdmin::new(usdc, owner.provider.clone());
    owner
        .send(token.mint(to, amount).into_transaction_request())
        .await?;
    Ok(())
}

fn decode(text: &str) -> Bytes {
    hex::decode(text.trim())
        .expect("embedded USDC bytecode is hex")
        .into()
}

async fn create(conn: &Connection, code: Bytes) -> Result<Address, ChainError> {
    let receipt = conn
        .send(TransactionRequest::default().with_deploy_code(code))
        .await?;
    receipt
        .contract_address
        .ok_or_else(|| ChainError::Reverted("the USDC deployment created no contract".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_bytecode_links() {
        assert_eq!(FIAT_TOKEN_V2_2.matches(LIBRARY_PLACEHOLDER).count(), 2);
        let linked = FIAT_TOKEN_V2_2.replace(LIBRARY_PLACEHOLDER, &hex::encode(Address::ZERO));
        assert!(decode(&linked).len() > 20_000);
        assert!(!decode(SIGNATURE_CHECKER).is_empty() && !decode(FIAT_TOKEN_PROXY).is_empty());
    }
}
