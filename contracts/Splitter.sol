// SPDX-License-Identifier: MIT
pragma solidity ^0.8.33;

import {FixedPointMathLib} from "solady/utils/FixedPointMathLib.sol";
import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";

/// @title Splitter
/// @notice Shares everything it receives, ETH and any ERC-20, among fixed recipients by fixed
/// shares (for example 5 marketplace / 10 creator / 85 seller). Anyone may release an account's
/// part to it; an account that cannot receive only holds up its own part.
/// @dev Deployed directly with its recipients, or as an EIP-1167 clone by `SplitterFactory`,
/// which initializes the clone in the same transaction. The split never changes afterwards.
///
/// Accounting is by balance: whatever arrived since the last allocation (plain transfers, and
/// later EIP-3009 USDC authorizations settled into this contract) is allocated by share when
/// anyone releases or calls `allocate`. Each allocation's rounding remainder (less than one wei
/// per recipient) goes to the first recipient, so no dust is ever stuck.
///
/// Supported ERC-20s are the ordinary ones (USDC, EURC, WETH, ...). Two kinds need a word:
/// - A token whose balance can shrink without a transfer (negative rebase, slashing): the split
///   keeps working and never reverts for arithmetic; what was already allocated stays owed, a
///   release pays at most the balance, and new income first covers the shortfall before anything
///   new is allocated. Who releases first is paid first, so the loss falls on later releasers.
/// - A token reachable through two addresses that share one balance ("double-entry" tokens,
///   such as legacy TrueUSD or Synthetix proxies) is NOT supported: the books are kept per token
///   address, so each entry allocates the same balance again and a recipient can release its
///   share through both. Do not send such tokens to a Splitter.
contract Splitter {
    /// @dev Recipients and shares differ in length, or there are none or too many.
    error InvalidSplit();
    /// @dev A recipient is the zero address or listed twice.
    error InvalidRecipient(address recipient);
    /// @dev A share is zero.
    error ZeroShare(address recipient);
    /// @dev The split is already set.
    error AlreadyInitialized();
    /// @dev `account` is not a recipient.
    error NotRecipient(address account);
    /// @dev `account` has nothing to release in this asset.
    error NothingToRelease(address token, address account);

    /// @notice The split was set.
    event SplitInitialized(address[] recipients, uint256[] shares);
    /// @notice ETH arrived.
    event PaymentReceived(address indexed from, uint256 amount);
    /// @notice `amount` of `token` (address(0) for ETH) was sent to `account`.
    event PaymentReleased(address indexed token, address indexed account, uint256 amount);

    /// @notice The most recipients a split may have (bounds the allocation loop).
    uint256 public constant MAX_RECIPIENTS = 32;

    /// @dev The asset key for ETH.
    address internal constant _ETH = address(0);

    address[] internal _recipients;
    /// @notice Shares of each recipient (zero for non-recipients).
    mapping(address account => uint256) public shares;
    /// @notice Sum of all shares.
    uint256 public totalShares;
    bool internal _initialized;

    /// @dev Per asset, cumulative counters: allocated to and released to each account, and their
    /// totals. Owed = allocated - released. Cumulative counters never return to zero, so steady
    /// state writes are nonzero-to-nonzero (5k gas instead of 22k).
    mapping(address token => uint256) internal _totalAllocated;
    mapping(address token => mapping(address account => uint256)) internal _allocated;
    /// @notice Per asset (address(0) for ETH): released in total.
    mapping(address token => uint256) public totalReleased;
    /// @notice Per asset (address(0) for ETH): released to `account`.
    mapping(address token => mapping(address account => uint256)) public released;

    /// @param recipients_ Who shares the revenue; empty only for the factory's implementation,
    /// which is then locked.
    /// @param shares_ Their shares, same order.
    constructor(address[] memory recipients_, uint256[] memory shares_) {
        if (recipients_.length == 0 && shares_.length == 0) {
            _initialized = true;
            return;
        }
        _initialize(recipients_, shares_);
    }

    /// @notice Sets the split of a fresh clone. Called by the factory in the deploying
    /// transaction; afterwards (and on directly deployed splitters) it reverts.
    function initialize(address[] calldata recipients_, uint256[] calldata shares_) external {
        _initialize(recipients_, shares_);
    }

    /// @notice Accepts ETH.
    receive() external payable {
        emit PaymentReceived(msg.sender, msg.value);
    }

    /// @notice Sends `account` its part of the ETH received. Anyone may call.
    function release(address account) external {
        _release(_ETH, account);
    }

    /// @notice Sends `account` its part of ERC-20 `token` received. Anyone may call.
    function release(address token, address account) external {
        if (token == _ETH) revert InvalidRecipient(token);
        _release(token, account);
    }

    /// @notice Allocates what arrived since the last allocation, without sending anything.
    /// Anyone may call; `release` does it too.
    function allocate(address token) external {
        _allocate(token);
    }

    /// @notice ETH `account` would get from `release(account)` now.
    function releasable(address account) external view returns (uint256) {
        return _releasable(_ETH, account);
    }

    /// @notice Amount of `token` that `account` would get from `release(token, account)` now.
    function releasable(address token, address account) external view returns (uint256) {
        return _releasable(token, account);
    }

    /// @notice The recipients, in order (the first one also receives rounding remainders).
    function recipients() external view returns (address[] memory) {
        return _recipients;
    }

    function _initialize(address[] memory recipients_, uint256[] memory shares_) internal {
        if (_initialized) revert AlreadyInitialized();
        uint256 n = recipients_.length;
        if (n == 0 || n != shares_.length || n > MAX_RECIPIENTS) revert InvalidSplit();
        _initialized = true;
        uint256 total;
        for (uint256 i; i < n; ++i) {
            address account = recipients_[i];
            if (account == address(0) || shares[account] != 0) revert InvalidRecipient(account);
            if (shares_[i] == 0) revert ZeroShare(account);
            shares[account] = shares_[i];
            _recipients.push(account);
            total += shares_[i];
        }
        totalShares = total;
        emit SplitInitialized(recipients_, shares_);
    }

    function _release(address token, address account) internal {
        if (shares[account] == 0) revert NotRecipient(account);
        _allocate(token);
        // What is owed, but never more than is held (a balance may have shrunk, see above).
        uint256 amount = FixedPointMathLib.min(_allocated[token][account] - released[token][account], _balance(token));
        if (amount == 0) revert NothingToRelease(token, account);
        released[token][account] += amount;
        totalReleased[token] += amount;
        emit PaymentReleased(token, account, amount);
        if (token == _ETH) SafeTransferLib.safeTransferETH(account, amount);
        else SafeTransferLib.safeTransfer(token, account, amount);
    }

    /// @dev What arrived since the last allocation: the balance plus everything released,
    /// minus everything allocated. Zero while a shrunken balance (negative rebase) does not even
    /// cover what was allocated and not yet released: new income first fills that shortfall.
    function _unallocated(address token) internal view returns (uint256) {
        uint256 received = _balance(token) + totalReleased[token];
        uint256 allocated = _totalAllocated[token];
        return received > allocated ? received - allocated : 0;
    }

    /// @dev `unallocated` split by share; the first recipient also gets the rounding remainder,
    /// so the parts add up to exactly `unallocated`.
    function _part(uint256 unallocated, uint256 index) internal view returns (uint256 part) {
        uint256 total = totalShares;
        if (index != 0) return FixedPointMathLib.fullMulDiv(unallocated, shares[_recipients[index]], total);
        uint256 n = _recipients.length;
        part = unallocated;
        for (uint256 i = 1; i < n; ++i) {
            part -= FixedPointMathLib.fullMulDiv(unallocated, shares[_recipients[i]], total);
        }
    }

    function _allocate(address token) internal {
        uint256 unallocated = _unallocated(token);
        if (unallocated == 0) return;
        uint256 n = _recipients.length;
        for (uint256 i; i < n; ++i) {
            _allocated[token][_recipients[i]] += _part(unallocated, i);
        }
        _totalAllocated[token] += unallocated;
    }

    function _releasable(address token, address account) internal view returns (uint256 amount) {
        if (shares[account] == 0) return 0;
        amount = _allocated[token][account] - released[token][account];
        uint256 unallocated = _unallocated(token);
        // No new income: what is owed, capped by a balance that may have shrunk.
        if (unallocated == 0) return FixedPointMathLib.min(amount, _balance(token));
        // New income means the balance covers everything owed plus `unallocated`.
        uint256 n = _recipients.length;
        for (uint256 i; i < n; ++i) {
            if (_recipients[i] == account) return amount + _part(unallocated, i);
        }
    }

    function _balance(address token) internal view returns (uint256) {
        return token == _ETH ? address(this).balance : SafeTransferLib.balanceOf(token, address(this));
    }
}
