// SPDX-License-Identifier: MIT
pragma solidity ^0.8.33;

import {LibClone} from "solady/utils/LibClone.sol";
import {Splitter} from "./Splitter.sol";

/// @title SplitterFactory
/// @notice Deploys `Splitter`s as EIP-1167 clones at addresses that follow from their split:
/// one call per split (for example per model: marketplace / creator / seller), and the address
/// can be known, and funded, before it exists.
contract SplitterFactory {
    /// @notice A split was deployed at `splitter`.
    event SplitterCreated(address indexed splitter, address[] recipients, uint256[] shares, bytes32 salt);

    /// @notice The locked `Splitter` every clone delegates to.
    address public immutable implementation;

    constructor() {
        implementation = address(new Splitter(new address[](0), new uint256[](0)));
    }

    /// @notice Deploys and initializes a clone for this split. Anyone may call; the address
    /// depends on `recipients`, `shares` and `salt`, so nobody can take it with another split.
    /// @return splitter The new clone.
    function createSplitter(address[] calldata recipients, uint256[] calldata shares, bytes32 salt)
        external
        returns (address splitter)
    {
        splitter = LibClone.cloneDeterministic(implementation, _salt(recipients, shares, salt));
        Splitter(payable(splitter)).initialize(recipients, shares);
        emit SplitterCreated(splitter, recipients, shares, salt);
    }

    /// @notice Where `createSplitter(recipients, shares, salt)` deploys (or deployed) its clone.
    function predictSplitter(address[] calldata recipients, uint256[] calldata shares, bytes32 salt)
        external
        view
        returns (address)
    {
        return LibClone.predictDeterministicAddress(implementation, _salt(recipients, shares, salt), address(this));
    }

    function _salt(address[] calldata recipients, uint256[] calldata shares, bytes32 salt)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(recipients, shares, salt));
    }
}
