// SPDX-License-Identifier: MIT
pragma solidity ^0.8.33;

import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";
import {GenImEscrow} from "./GenImEscrow.sol";

/// @title GenImNFT
/// @notice Pay-per-image NFTs paid in ETH. A user pays `price()` wei to mint a token with a
/// prompt; the escrow rules (delivery by providers authorized at mint, refund after the deadline,
/// fees, withdrawals) are `GenImEscrow`'s, which says whom a user trusts and with what.
/// @dev Refunds are pushed with a gas cap and credited when the receiver rejects them;
/// withdrawals and fees are sent with all gas and revert (keeping the money) on failure.
contract GenImNFT is GenImEscrow {
    /// @dev Gas forwarded with a refund push: enough for a Safe or a splitter clone to receive,
    /// too little to grief the caller. A push that fails becomes a credit.
    uint256 internal constant _PAYOUT_GAS = 100_000;

    /// @param owner_ Configures providers, price, fee recipient and pausing.
    /// @param price_ Wei per mint (at most 2^64 - 1).
    /// @param feeBps_ Share of each delivered escrow kept as fee, in basis points (<= 10000).
    /// @param feeRecipient_ Where `withdrawFees` sends the fees.
    /// @param deliveryWindow_ Seconds after a mint before its owner may refund (1 s .. 365 days).
    constructor(address owner_, uint256 price_, uint16 feeBps_, address feeRecipient_, uint64 deliveryWindow_)
        GenImEscrow(owner_, price_, feeBps_, feeRecipient_, deliveryWindow_)
    {}

    /// @notice Pays `price()` for an image of `prompt` and mints its token to the caller.
    /// Anyone may call, sending exactly `price()` wei, which is held in escrow for this token
    /// until it is delivered or refunded.
    /// @param prompt What to draw: 1 to 1000 bytes; only emitted, never stored.
    /// @return tokenId The new token.
    function mint(string calldata prompt) external payable returns (uint256 tokenId) {
        (tokenId,) = _mintEscrow(msg.sender, prompt, true, msg.value);
        // Return the id directly: the hot path skips the ABI encoder's epilogue (~60 gas).
        assembly ("memory-safe") {
            mstore(0x00, tokenId)
            return(0x00, 0x20)
        }
    }

    /// @notice `address(0)`: this contract is paid in ETH.
    function asset() external pure override returns (address) {
        return address(0);
    }

    function _push(address to, uint256 amount) internal override returns (bool) {
        return SafeTransferLib.trySafeTransferETH(to, amount, _PAYOUT_GAS);
    }

    function _send(address to, uint256 amount) internal override {
        SafeTransferLib.safeTransferETH(to, amount);
    }
}
