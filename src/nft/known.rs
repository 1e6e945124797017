//! Recognizing genim's contracts by their code. A deployment holds the runtime bytecode of the
//! bindings except where the constructor wrote immutables (fee, window, epoch, token): genim
//! compares everything else, so a lookalike that only answers the same calls is refused.

use super::NftError;
use crate::{
    amount::Asset,
    bindings::{gen_im_nft, gen_im_token_nft},
    chain::{ChainError, Connection},
};
use alloy::primitives::Address;
use serde::Serialize;

/// Which of genim's escrow contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NftKind {
    /// `GenImNFT`: priced in ETH.
    Eth,
    /// `GenImTokenNFT`: priced in an EIP-3009 token such as USDC.
    Token,
}

alloy::sol! {
    #[sol(rpc)]
    interface IAsset {
        function asset() external view returns (address);
    }
    /// The ERC-20 calls genim makes on a token it is paid in.
    #[sol(rpc)]
    interface IERC20 {
        function symbol() external view returns (string);
        function decimals() external view returns (uint8);
        function balanceOf(address account) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
        function approve(address spender, uint256 amount) external returns (bool);
    }
}

/// What `code` is, or why it is none of genim's contracts.
pub fn identify(code: &[u8]) -> Result<NftKind, String> {
    if matches_template(
        code,
        &gen_im_nft::GenImNFT::DEPLOYED_BYTECODE,
        gen_im_nft::IMMUTABLE_RANGES,
    ) {
        return Ok(NftKind::Eth);
    }
    if matches_template(
        code,
        &gen_im_token_nft::GenImTokenNFT::DEPLOYED_BYTECODE,
        gen_im_token_nft::IMMUTABLE_RANGES,
    ) {
        return Ok(NftKind::Token);
    }
    Err(format!(
        "its {} bytes of code are neither GenImNFT's nor GenImTokenNFT's (a contract of \
         another genim version, or another contract)",
        code.len()
    ))
}

/// Whether `code` equals `template` outside the immutable `ranges`.
fn matches_template(code: &[u8], template: &[u8], ranges: &[(usize, usize)]) -> bool {
    if code.len() != template.len() {
        return false;
    }
    let mut at = 0;
    for &(start, len) in ranges {
        if start < at || start + len > code.len() || code[at..start] != template[at..start] {
            return false;
        }
        at = start + len;
    }
    code[at..] == template[at..]
}

/// The ERC-20 a token-priced contract takes, with its symbol and decimals.
pub async fn token_asset(conn: &Connection, nft: Address) -> Result<Asset, NftError> {
    let address = IAsset::new(nft, conn.provider.clone())
        .asset()
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    Ok(erc20_asset(conn, address).await?)
}

/// An ERC-20 with its symbol and decimals.
pub async fn erc20_asset(conn: &Connection, address: Address) -> Result<Asset, ChainError> {
    conn.contract_code(address).await?;
    let token = IERC20::new(address, conn.provider.clone());
    let symbol = token
        .symbol()
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    let decimals = token
        .decimals()
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    Ok(Asset::Token {
        address,
        symbol,
        decimals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_matching_masks_only_the_immutables() {
        let template = [1u8, 2, 0, 0, 5, 6, 0, 8];
        let ranges = [(2, 2), (6, 1)];
        assert!(matches_template(
            &[1, 2, 9, 9, 5, 6, 7, 8],
            &template,
            &ranges
        ));
        assert!(!matches_template(
            &[1, 3, 9, 9, 5, 6, 7, 8],
            &template,
            &ranges
        ));
        assert!(!matches_template(
            &[1, 2, 9, 9, 5, 6, 7],
            &template,
            &ranges
        ));
        assert!(!matches_template(
            &[1, 2, 9, 9, 5, 6, 7, 9],
            &template,
            &ranges
        ));
    }

    #[test]
    fn genim_nft_is_recognized_and_others_are_not() {
        let code = gen_im_nft::GenImNFT::DEPLOYED_BYTECODE.to_vec();
        assert_eq!(identify(&code), Ok(NftKind::Eth));
        let err = identify(&[0x60, 0x00, 0xf3]).unwrap_err();
        assert!(err.starts_with("its 3 bytes of code are neither"), "{err}");
        let code = gen_im_token_nft::GenImTokenNFT::DEPLOYED_BYTECODE.to_vec();
        assert_eq!(identify(&code), Ok(NftKind::Token));
    }
}
