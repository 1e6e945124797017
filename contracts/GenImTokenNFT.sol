// SPDX-License-Identifier: MIT
pragma solidity ^0.8.33;

import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";
import {SignatureCheckerLib} from "solady/utils/SignatureCheckerLib.sol";
import {GenImEscrow} from "./GenImEscrow.sol";

/// @dev The EIP-3009 and EIP-712 parts of an ERC-20 such as Circle's FiatTokenV2_2 (USDC, EURC)
/// that `GenImTokenNFT` uses. The `bytes signature` overloads accept EOA signatures (r, s, v)
/// and ERC-1271 smart-wallet signatures alike.
interface IERC3009 {
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external;

    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external;

    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);

    // forge-lint: disable-next-line(mixed-case-function) the EIP-712 name
    function DOMAIN_SEPARATOR() external view returns (bytes32);
}

/// @title GenImTokenNFT
/// @notice Pay-per-image NFTs paid in an ERC-20 with EIP-3009 authorizations (USDC, EURC).
/// The escrow rules (delivery by providers authorized at mint, refund after the deadline, fees,
/// withdrawals) are `GenImEscrow`'s, exactly as in the ETH-paid `GenImNFT`, which says whom a
/// user trusts and with what; amounts are in the token's units. Payment comes in two ways:
/// - `mint(prompt)`, for a user with gas: after `approve`, it pulls `price()`.
/// - `mintWithAuthorization(...)`, gasless for the user: anyone relays the user's signed
///   EIP-3009 authorization of exactly `price()` to this contract, and the token is minted to
///   the user. Standard x402 "exact" clients sign a `TransferWithAuthorization` with a random
///   nonce: only this contract's providers may relay those (the user sent them the prompt).
///   Anyone may relay an authorization whose nonce commits to the prompt (`promptNonce`), so a
///   relayer cannot change what the user asked for.
///
/// Tokens that reach this contract without `mint` or an authorization (a direct `transfer`, or
/// an authorization someone executed on the token instead of relaying it here) are not owed to
/// anyone: `accounted()` tracks what is, and the balance never falls below it. There is no
/// sweep of the difference, on purpose: a user's authorization executed directly on the token
/// (front-running) lands in that difference until a provider mints for it, and a sweep would
/// take it; only providers may mint against it, and nobody can touch accounted money.
///
/// Supported tokens move exactly the amount asked and have no transfer hooks (USDC, EURC).
/// Tokens that charge a transfer fee make mints revert (`PaymentNotReceived`); tokens whose
/// balance can shrink or that call the receiver are not supported.
/// @dev Refunds are pushed and credited when the transfer fails (a USDC-blacklisted or paused
/// receiver never blocks a refund); withdrawals and fees are sent or revert.
contract GenImTokenNFT is GenImEscrow {
    using SafeTransferLib for address;

    /// @dev `token` has no code.
    error InvalidToken(address token);
    /// @dev Someone other than a provider relayed an authorization whose nonce does not commit
    /// to the prompt: it must be `promptNonce(prompt, from, validAfter, validBefore)`.
    error PromptNotCommitted(bytes32 nonce, bytes32 expected);
    /// @dev A token was already minted for this authorization (its id is `tokenId`).
    error AuthorizationAlreadyMinted(address from, bytes32 nonce, uint256 tokenId);
    /// @dev The authorization was already used on the token (executed directly, or cancelled by
    /// its signer) and the caller is not a provider: only a provider may mint for it, after
    /// checking off-chain that the payment arrived.
    error AuthorizationUsedElsewhere(address from, bytes32 nonce);
    /// @dev The signature is not `from`'s `TransferWithAuthorization` of `price()` to this
    /// contract with these window and nonce.
    error InvalidSignature();
    /// @dev After the payment, the token balance is below what the contract owes: the tokens
    /// did not arrive (or a transfer fee took part of them).
    error PaymentNotReceived(uint256 balance, uint256 accounted);

    /// @notice Token `tokenId` was minted to `from` for its EIP-3009 authorization `nonce`;
    /// `executedHere` is false when the authorization had been executed directly on the token
    /// and a provider minted for the payment that arrived that way.
    event PaidByAuthorization(uint256 indexed tokenId, address indexed from, bytes32 indexed nonce, bool executedHere);

    /// @notice EIP-3009 `TransferWithAuthorization` typehash, as FiatTokenV2_2 defines it.
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    /// @notice EIP-3009 `ReceiveWithAuthorization` typehash, as FiatTokenV2_2 defines it.
    bytes32 public constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );

    /// @notice The ERC-20 that prices, escrow and payouts are in.
    address public immutable token;

    /// @notice The token minted for each EIP-3009 authorization `(from, nonce)` (0: none yet).
    mapping(address from => mapping(bytes32 nonce => uint256 tokenId)) public mintedByAuthorization;

    /// @param owner_ Configures providers, price, fee recipient and pausing.
    /// @param token_ The ERC-20 with EIP-3009 (USDC, EURC; the proxy when proxied).
    /// @param price_ Token units per mint (at most 2^64 - 1).
    /// @param feeBps_ Share of each delivered escrow kept as fee, in basis points (<= 10000).
    /// @param feeRecipient_ Where `withdrawFees` sends the fees (an address or a `Splitter`).
    /// @param deliveryWindow_ Seconds after a mint before its owner may refund (1 s .. 365 days).
    constructor(
        address owner_,
        address token_,
        uint256 price_,
        uint16 feeBps_,
        address feeRecipient_,
        uint64 deliveryWindow_
    ) GenImEscrow(owner_, price_, feeBps_, feeRecipient_, deliveryWindow_) {
        if (token_.code.length == 0) revert InvalidToken(token_);
        token = token_;
    }

    /*//////////////////////////////////////////////////////////////
                                  MINT
    //////////////////////////////////////////////////////////////*/

    /// @notice Pays `price()` for an image of `prompt` and mints its token to the caller.
    /// Anyone may call, after approving this contract for `price()`; the payment is pulled
    /// with `transferFrom` and held in escrow for this token until it is delivered or refunded.
    /// @param prompt What to draw: 1 to 1000 bytes; only emitted, never stored.
    /// @return tokenId The new token.
    function mint(string calldata prompt) external returns (uint256 tokenId) {
        uint256 escrow;
        (tokenId, escrow) = _mintEscrow(msg.sender, prompt, false, 0);
        if (escrow != 0) token.safeTransferFrom(msg.sender, address(this), escrow);
        _requireBacked();
    }

    /// @notice Mints a token to `from` for `prompt`, paid by `from`'s EIP-3009 authorization of
    /// exactly `price()` to this contract: gasless for `from`, whoever submits it.
    /// Who may call: an authorized provider may relay any authorization (the user sent it the
    /// prompt, as to `genim serve`); anyone else only one whose nonce is
    /// `promptNonce(prompt, from, validAfter, validBefore)`, so the prompt cannot be swapped.
    /// Accepted: a `TransferWithAuthorization` (what x402 "exact" clients sign) or a
    /// `ReceiveWithAuthorization` (which only this contract can execute), signed by an EOA or
    /// an ERC-1271 wallet. If someone executed the `TransferWithAuthorization` directly on the
    /// token first, the money is here without a token: a provider's call still mints for it,
    /// once, after checking the signature itself (EIP-712 under the token's domain).
    /// Pays nothing; the payment is held in escrow like any mint's.
    /// @param prompt What to draw: 1 to 1000 bytes; only emitted, never stored.
    /// @param from The payer, who receives the token.
    /// @param validAfter The authorization is valid after this time (unix seconds).
    /// @param validBefore The authorization is valid before this time (unix seconds).
    /// @param nonce The authorization's nonce.
    /// @param signature `from`'s signature: r || s || v for an EOA, anything its ERC-1271
    /// `isValidSignature` accepts for a contract.
    /// @return tokenId The new token.
    function mintWithAuthorization(
        string calldata prompt,
        address from,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external returns (uint256 tokenId) {
        bool byProvider = _provider[msg.sender] & _SINCE_MASK != 0;
        if (!byProvider) {
            bytes32 expected = _promptNonce(prompt, from, validAfter, validBefore);
            if (nonce != expected) revert PromptNotCommitted(nonce, expected);
        }
        uint256 minted = mintedByAuthorization[from][nonce];
        if (minted != 0) revert AuthorizationAlreadyMinted(from, nonce, minted);

        // Effects first: the token and its escrow exist before the token contract is called.
        uint256 escrow;
        (tokenId, escrow) = _mintEscrow(from, prompt, false, 0);
        mintedByAuthorization[from][nonce] = tokenId;

        bool executedHere = _executeAuthorization(from, escrow, validAfter, validBefore, nonce, signature);
        if (!executedHere) {
            // Used already: executed directly on the token (front-running), which left the
            // payment here, or cancelled by its signer, which did not. The contract cannot
            // tell them apart, so only a provider (who checks the token's logs) may mint, and
            // `_requireBacked` below keeps accounted money out of reach either way.
            if (!byProvider) revert AuthorizationUsedElsewhere(from, nonce);
            bytes32 digest = _authorizationDigest(
                TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, escrow, validAfter, validBefore, nonce
            );
            if (!SignatureCheckerLib.isValidSignatureNowCalldata(from, digest, signature)) {
                revert InvalidSignature();
            }
        }
        emit PaidByAuthorization(tokenId, from, nonce, executedHere);
        _requireBacked();
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The nonce that commits an authorization to `prompt`, so that anyone may relay
    /// it: keccak256(abi.encode(address(this), from, keccak256(bytes(prompt)), validAfter,
    /// validBefore)). A user minting the same prompt twice varies `validBefore`.
    function promptNonce(string calldata prompt, address from, uint256 validAfter, uint256 validBefore)
        external
        view
        returns (bytes32)
    {
        return _promptNonce(prompt, from, validAfter, validBefore);
    }

    /// @notice What the contract owes in all: escrow of pending tokens, accrued fees, provider
    /// earnings and credits. Its token balance is at least this; more only if tokens were sent
    /// to it outside `mint` and `mintWithAuthorization` (see the contract notes).
    function accounted() external view returns (uint256) {
        return _config >> _ACCOUNTED_SHIFT;
    }

    /// @notice The ERC-20 this contract is paid in (`token()`); `GenImNFT` answers address(0).
    function asset() external view override returns (address) {
        return token;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _promptNonce(string calldata prompt, address from, uint256 validAfter, uint256 validBefore)
        internal
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(address(this), from, keccak256(bytes(prompt)), validAfter, validBefore));
    }

    /// @dev The EIP-712 digest of an authorization of `value` from `from` to this contract,
    /// under the token's domain (its chain id read now, as the token does).
    function _authorizationDigest(
        bytes32 typehash,
        address from,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(typehash, from, address(this), value, validAfter, validBefore, nonce));
        return keccak256(abi.encodePacked("\x19\x01", IERC3009(token).DOMAIN_SEPARATOR(), structHash));
    }

    /// @dev Executes `from`'s authorization of `value` to this contract on the token, as a
    /// `TransferWithAuthorization` or else a `ReceiveWithAuthorization`. Returns false when
    /// the authorization was used already; otherwise bubbles up the token's reason (expired,
    /// not yet valid, invalid signature, ...).
    function _executeAuthorization(
        address from,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) internal returns (bool) {
        bytes memory args = abi.encode(from, address(this), value, validAfter, validBefore, nonce, signature);
        (bool ok,) = token.call(bytes.concat(IERC3009.transferWithAuthorization.selector, args));
        if (ok) return true;
        bytes memory reason;
        (ok, reason) = token.call(bytes.concat(IERC3009.receiveWithAuthorization.selector, args));
        if (ok) return true;
        if (IERC3009(token).authorizationState(from, nonce)) return false;
        assembly ("memory-safe") {
            revert(add(reason, 0x20), mload(reason))
        }
    }

    /// @dev Reverts unless the token balance covers everything the contract owes.
    function _requireBacked() internal view {
        uint256 balance = token.balanceOf(address(this));
        uint256 owed = _config >> _ACCOUNTED_SHIFT;
        if (balance < owed) revert PaymentNotReceived(balance, owed);
    }

    /// @dev Lowers the accounted total by `amount` paid out (never below zero: everything paid
    /// out was accounted).
    function _paidOut(uint256 amount) internal {
        _config -= amount << _ACCOUNTED_SHIFT;
    }

    function _push(address to, uint256 amount) internal override returns (bool ok) {
        address asset_ = token;
        assembly ("memory-safe") {
            mstore(0x14, to)
            mstore(0x34, amount)
            mstore(0x00, 0xa9059cbb000000000000000000000000) // `transfer(address,uint256)`.
            ok := call(gas(), asset_, 0, 0x10, 0x44, 0x00, 0x20)
            // Success: true returned, or nothing returned by a contract (non-standard ERC-20).
            if iszero(and(eq(mload(0x00), 1), ok)) {
                ok := lt(or(iszero(extcodesize(asset_)), returndatasize()), ok)
            }
            mstore(0x34, 0) // Restore the part of the free memory pointer that was overwritten.
        }
        if (ok) _paidOut(amount);
    }

    function _send(address to, uint256 amount) internal override {
        _paidOut(amount);
        token.safeTransfer(to, amount);
    }
}
