// SPDX-License-Identifier: MIT
pragma solidity ^0.8.33;

import {ERC721} from "solady/tokens/ERC721.sol";
import {Base64} from "solady/utils/Base64.sol";
import {EnumerableSetLib} from "solady/utils/EnumerableSetLib.sol";
import {LibString} from "solady/utils/LibString.sol";

/// @title GenImEscrow
/// @notice The escrow rules of genim's pay-per-image NFTs, shared by `GenImNFT` (paid in ETH)
/// and `GenImTokenNFT` (paid in an ERC-20 such as USDC); they differ only in how payment comes
/// in and goes out. A user pays `price()` to mint a token with a prompt; the payment stays in
/// escrow for that token until an authorized image provider delivers the image (the sha-256
/// digest of its ERC-721 metadata JSON, stored on IPFS as a raw-leaf CIDv1). Delivery is
/// one-shot and credits the provider `escrow - fee`, which it takes with `withdraw()`. When
/// nobody delivers before the deadline, the token's owner may burn it for the full escrow.
/// Amounts are in the units of `asset()` (wei for ETH).
///
/// Whom a user trusts: paying, you trust the providers that `providers()` lists when your mint
/// executes. Any one of them may deliver your token, once, and is paid its escrow minus the fee
/// whatever it delivers; a provider authorized later never can (`canDeliver`, `deliverersOf`).
/// The owner cannot move your escrow: it sets the price of future mints, the fee recipient,
/// pausing, and the providers of future tokens. If no provider delivers before the deadline,
/// you take the full escrow back with `refund`.
/// @dev Immutable on purpose: no proxy and no owner path that moves escrow, so the rules a user
/// paid under cannot change. Gas is the user's price on an L2, so per-token state is packed into
/// the ERC-721 ownership slot that minting writes anyway (see `_escrow`). A derived contract
/// supplies the payment side: its `mint` (which calls `_mintEscrow` and takes the payment),
/// `asset`, `_push` and `_send`.
abstract contract GenImEscrow is ERC721 {
    using EnumerableSetLib for EnumerableSetLib.AddressSet;

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @dev The prompt is empty.
    error EmptyPrompt();
    /// @dev The prompt is longer than `MAX_PROMPT_BYTES`.
    error PromptTooLong(uint256 length, uint256 max);
    /// @dev New mints are paused by the owner.
    error MintingPaused();
    /// @dev Deadlines no longer fit their 32-bit field (136 years after deployment).
    error MintingEnded();
    /// @dev `MAX_PROVIDERS` providers are authorized already; remove one first.
    error TooManyProviders();
    /// @dev The caller is not an authorized image provider.
    error NotProvider(address caller);
    /// @dev `provider` was not authorized yet when `tokenId` was minted, so it may not deliver
    /// it: authorizing a provider never exposes escrow paid earlier.
    error NotAuthorizedAtMint(uint256 tokenId, address provider);
    /// @dev The token is not pending (never minted, already delivered, or refunded).
    error TokenNotPending(uint256 tokenId);
    /// @dev A zero digest cannot name any metadata.
    error InvalidDigest();
    /// @dev `deliverBatch` got arrays of different lengths.
    error LengthMismatch(uint256 tokenIds, uint256 digests);
    /// @dev Only the token's owner may refund it.
    error NotTokenOwner(uint256 tokenId, address caller);
    /// @dev The delivery deadline has not passed yet.
    error DeadlineNotReached(uint256 tokenId, uint64 deadline);
    /// @dev The caller is not the contract owner.
    error NotOwner(address caller);
    /// @dev The caller is not the pending owner.
    error NotPendingOwner(address caller);
    /// @dev An address parameter must not be zero.
    error ZeroAddress();
    /// @dev `feeBps` is above 100%.
    error FeeTooHigh(uint256 feeBps);
    /// @dev The price does not fit the 64-bit escrow field (2^64 - 1 units: about 18.4 ETH,
    /// or 18 trillion USDC).
    error PriceTooHigh(uint256 price);
    /// @dev The delivery window is zero or longer than `MAX_DELIVERY_WINDOW`.
    error InvalidDeliveryWindow(uint64 deliveryWindow);
    /// @dev There is nothing to withdraw.
    error NothingToWithdraw();
    /// @dev `msg.value` is not the current price (`GenImNFT.mint`).
    error WrongPayment(uint256 expected, uint256 sent);
    /// @dev ETH was sent to a function that takes no payment (it could never be paid out).
    error UnexpectedValue(uint256 value);
    /// @dev An accrued amount would leave its packed field (unreachable with real money).
    error AccrualOverflow();

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A user paid for an image; providers generate it from `prompt`.
    event ImageRequested(uint256 indexed tokenId, address indexed requester, uint256 escrow, string prompt);
    /// @notice A provider delivered the image and earned `payout` (see `earnings`).
    event ImageDelivered(uint256 indexed tokenId, address indexed provider, bytes32 metadataDigest, uint256 payout);
    /// @notice `deliverBatch` skipped a token that was not pending (delivered by someone else,
    /// refunded, or never minted) or was minted before the caller was authorized; the rest of
    /// the batch went through.
    event DeliverySkipped(uint256 indexed tokenId, address indexed provider);
    /// @notice The owner of an undelivered token took back its escrow; the token was burned.
    event Refunded(uint256 indexed tokenId, address indexed to, uint256 amount);
    /// @notice A refund push failed; `account` can pull it with `withdraw()`.
    event Credited(address indexed account, uint256 amount);
    /// @notice `account` pulled its credit and earnings.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice Accrued fees were sent to the fee recipient.
    event FeesWithdrawn(address indexed recipient, uint256 amount);
    /// @notice ERC-4906: the metadata of `_tokenId` changed.
    event MetadataUpdate(uint256 _tokenId);
    /// @notice The owner authorized or removed an image provider.
    event ProviderSet(address indexed provider, bool authorized);
    /// @notice The price of future mints changed.
    event PriceSet(uint256 price);
    /// @notice The fee recipient changed.
    event FeeRecipientSet(address indexed feeRecipient);
    /// @notice New mints were paused or resumed.
    event PausedSet(bool paused);
    /// @notice The owner proposed `newOwner`, who must accept.
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    /// @notice Ownership moved to `newOwner`.
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Token states returned by `tokenState`.
    uint8 public constant STATE_NONE = 0;
    uint8 public constant STATE_PENDING = 1;
    uint8 public constant STATE_DELIVERED = 2;
    uint8 public constant STATE_REFUNDED = 3;

    /// @notice Longest accepted prompt, in bytes.
    uint256 public constant MAX_PROMPT_BYTES = 1000;
    /// @notice Most providers authorized at once (bounds the `withdrawFees` sweep).
    uint256 public constant MAX_PROVIDERS = 64;
    /// @notice Longest accepted delivery window.
    uint64 public constant MAX_DELIVERY_WINDOW = 365 days;

    uint256 internal constant _MASK_64 = 0xffffffffffffffff;
    uint256 internal constant _MAX_96 = 0xffffffffffffffffffffffff;
    uint256 internal constant _MAX_120 = 0xffffffffffffffffffffffffffffff;

    /// @dev Fields of the mint config slot `_config` (layout at its declaration).
    uint256 internal constant _NEXT_ID_SHIFT = 64;
    uint256 internal constant _ONE_ID = 0x10000000000000000; // 1 in the next-id field
    uint256 internal constant _PAUSED_BIT = 1 << 128;
    uint256 internal constant _ACCOUNTED_SHIFT = 136;

    /// @dev Fields of a provider slot (layout at `_provider`); `since` is bits [0..63].
    uint256 internal constant _SINCE_MASK = _MASK_64;
    uint256 internal constant _EARNINGS_SHIFT = 64;
    uint256 internal constant _FEE_SHIFT = 160;
    /// @dev The top bit of the earnings and of the fee field: set once a field reaches 2^95.
    uint256 internal constant _HALF_FULL = (1 << 159) | (1 << 255);

    /// @dev Error selectors and event topics for the assembly hot paths (Solidity does not let
    /// assembly name `X.selector`); `test_HardcodedSelectorsMatch` checks each against its
    /// declaration.
    uint256 internal constant _EMPTY_PROMPT = 0xb8a7f219;
    uint256 internal constant _WRONG_PAYMENT = 0x0dd32d1c;
    uint256 internal constant _PROMPT_TOO_LONG = 0x3b7c8672;
    uint256 internal constant _MINTING_PAUSED = 0xeb560756;
    uint256 internal constant _MINTING_ENDED = 0xf48339e4;
    uint256 internal constant _NOT_PROVIDER = 0x1bd2224f;
    uint256 internal constant _INVALID_DIGEST = 0x3e78eb93;
    uint256 internal constant _TOKEN_NOT_PENDING = 0xb21bbedb;
    uint256 internal constant _NOT_AUTHORIZED_AT_MINT = 0x7c4b292a;
    uint256 internal constant _ACCRUAL_OVERFLOW = 0x2e678692;
    uint256 internal constant _IMAGE_REQUESTED_TOPIC =
        0xd248e1fe4930fde51771bee99308ad7d758d005a52715ad72c59c1e9c574cb43;
    uint256 internal constant _IMAGE_DELIVERED_TOPIC =
        0x0147ed71c462a579fc1deaa84d2abcaa04808dd9b2e385d1437e2e1f89d49e4f;
    uint256 internal constant _METADATA_UPDATE_TOPIC =
        0xf8e1a15aba9398e019f0b49df1a4fde98ee17ae345cb5f6b5e2c27f5033e8ce7;
    /// @dev ERC-721 `Transfer(address,address,uint256)`, as solady emits it.
    uint256 internal constant _TRANSFER_TOPIC = 0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef;

    /// @dev keccak256("genim.GenImEscrow.digests"): the base slot of the digests (see
    /// `_digestSlot`); `test_HardcodedSelectorsMatch` checks it.
    uint256 internal constant _DIGEST_BASE = 0x7bed30495e077c12e2843be659a5642f6532a9f57388c663f8941daa9b919502;

    /// @dev solady ERC721's private `_ERC721_MASTER_SLOT_SEED` (solady 0.1.26, pinned in
    /// package-lock.json), so the hot paths read a token's ownership slot with one hash. Every
    /// delivery test depends on it: a wrong seed reads no owner and reports no token pending.
    uint256 private constant _ERC721_SLOT_SEED = 0x7d8825530a5a2e7a << 192;

    /// @dev `feeBps()` and `deliveryWindow()`, kept as full words so the hot paths need no mask.
    uint256 internal immutable _feeBps;
    uint256 internal immutable _deliveryWindow;
    /// @dev Deadlines are stored as 32-bit offsets from this time (good for 136 years).
    uint256 internal immutable _epoch;
    /// @dev deliveryWindow - _epoch modulo 2^256, so a mint's deadline offset is one addition:
    /// block.timestamp + _windowFromEpoch (mod 2^256) = block.timestamp + window - epoch >= 1.
    uint256 internal immutable _windowFromEpoch;

    /*//////////////////////////////////////////////////////////////
                                STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev Everything a mint reads and writes, in one slot:
    ///   bits [0..63]     price (64 bits because it is stored per token as escrow)
    ///   bits [64..127]   next token id (ids start at 1)
    ///   bit  128         paused
    ///   bits [129..135]  unused (zero)
    ///   bits [136..255]  accounted: what the contract owes in all (pending escrow, fees,
    ///                    earnings, credits); kept by `GenImTokenNFT` only, to tell its own
    ///                    money from tokens sent to it directly; always 0 in `GenImNFT`
    uint256 internal _config;

    // Delivered metadata digests (zero while pending) are an array at a hashed base, like a
    // Solidity dynamic array: token `id`'s digest is in slot `_DIGEST_BASE + id` (see
    // `_digestSlot`), reached without a hash on the hot path.

    /// @dev Per provider, the one slot every delivery reads and writes:
    ///   bits [0..63]     since: the first token id it may deliver (the next id when it was
    ///                    authorized); 0 while not authorized
    ///   bits [64..159]   earnings: its payouts (escrow - fee) not yet withdrawn
    ///   bits [160..255]  fees accrued by its deliveries and not yet withdrawn
    /// Accruing fees and payouts here, in the slot that the authorization check reads anyway,
    /// costs one warm write per delivery instead of a cold fee counter and an ETH push.
    mapping(address account => uint256) internal _provider;

    /// @dev The providers authorized now (at most `MAX_PROVIDERS`), so `withdrawFees` can sweep
    /// their accrued fees. Removing a provider takes it out and frees its place.
    EnumerableSetLib.AddressSet internal _providers;

    /// @notice Refunds whose push failed, withdrawable by their account with `withdraw()`.
    mapping(address account => uint256) public credit;

    /// @dev The fee recipient and, in the same slot (which `withdrawFees` reads anyway), the fees
    /// accrued by providers that were removed since the last `withdrawFees`:
    ///   bits [0..159]    fee recipient (an address or a `Splitter`)
    ///   bits [160..255]  fees of removed providers
    struct FeeAccount {
        address recipient;
        uint96 removedFees;
    }

    FeeAccount internal _feeAccount;

    /// @notice The contract owner (configuration only; it cannot touch escrow).
    address public owner;

    /// @notice The proposed next owner, until it accepts.
    address public pendingOwner;

    /*//////////////////////////////////////////////////////////////
                              CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param owner_ Configures providers, price, fee recipient and pausing.
    /// @param price_ Units of `asset()` per mint (at most 2^64 - 1).
    /// @param feeBps_ Share of each delivered escrow kept as fee, in basis points (<= 10000).
    /// @param feeRecipient_ Where `withdrawFees` sends the fees.
    /// @param deliveryWindow_ Seconds after a mint before its owner may refund (1 s .. 365 days).
    constructor(address owner_, uint256 price_, uint16 feeBps_, address feeRecipient_, uint64 deliveryWindow_) {
        if (owner_ == address(0) || feeRecipient_ == address(0)) revert ZeroAddress();
        if (feeBps_ > 10_000) revert FeeTooHigh(feeBps_);
        if (deliveryWindow_ == 0 || deliveryWindow_ > MAX_DELIVERY_WINDOW) {
            revert InvalidDeliveryWindow(deliveryWindow_);
        }
        _feeBps = feeBps_;
        _deliveryWindow = deliveryWindow_;
        _epoch = block.timestamp;
        // Wraps on purpose (see `_windowFromEpoch`).
        unchecked {
            _windowFromEpoch = deliveryWindow_ - block.timestamp;
        }
        _config = _checkedPrice(price_) | _ONE_ID;
        _feeAccount.recipient = feeRecipient_;
        owner = owner_;
        emit OwnershipTransferred(address(0), owner_);
    }

    /*//////////////////////////////////////////////////////////////
                                  MINT
    //////////////////////////////////////////////////////////////*/

    /// @dev Mints the next token to `to` for `prompt` with the current price as its escrow and
    /// emits `ImageRequested`. With `paidInEth` (`GenImNFT`), `value` (its `msg.value`) must be
    /// the price; otherwise (`GenImTokenNFT`) the escrow is added to the accounted total and
    /// the caller takes the payment.
    ///
    /// The hot path, in one assembly block: it does what solady's
    /// `_mintAndSetExtraDataUnchecked` does (same slots, same checks, same `Transfer` event; this
    /// contract overrides no transfer hook) plus the config update and `ImageRequested`, for
    /// about 400 gas less than the same steps through Solidity helpers.
    function _mintEscrow(address to, string calldata prompt, bool paidInEth, uint256 value)
        internal
        returns (uint256 tokenId, uint256 escrow)
    {
        uint256 windowFromEpoch = _windowFromEpoch;
        assembly ("memory-safe") {
            let length := prompt.length
            // One test for both bounds: length - 1 wraps to 2^256 - 1 when the prompt is empty.
            if gt(sub(length, 1), sub(MAX_PROMPT_BYTES, 1)) {
                if iszero(length) {
                    mstore(0x00, _EMPTY_PROMPT) // EmptyPrompt()
                    revert(0x1c, 0x04)
                }
                mstore(0x00, _PROMPT_TOO_LONG) // PromptTooLong(length, MAX_PROMPT_BYTES)
                mstore(0x20, length)
                mstore(0x40, MAX_PROMPT_BYTES)
                revert(0x1c, 0x44)
            }
            let config := sload(_config.slot)
            if and(config, _PAUSED_BIT) {
                mstore(0x00, _MINTING_PAUSED) // MintingPaused()
                revert(0x1c, 0x04)
            }
            escrow := and(config, _MASK_64)
            tokenId := and(shr(_NEXT_ID_SHIFT, config), _MASK_64)
            // timestamp + window - epoch, exact: timestamp >= epoch (set at deployment).
            let offset := add(timestamp(), windowFromEpoch)
            // Offsets past 2^32 seconds (136 years after deployment) end minting, not wrap.
            if gt(offset, 0xffffffff) {
                mstore(0x00, _MINTING_ENDED) // MintingEnded()
                revert(0x1c, 0x04)
            }
            // The next id cannot reach 2^64 - 1 (one mint per id costs far more gas than 2^64
            // blocks hold), so adding one never carries into the paused bit.
            config := add(config, _ONE_ID)
            switch paidInEth
            case 1 {
                if iszero(eq(value, escrow)) {
                    mstore(0x00, _WRONG_PAYMENT) // WrongPayment(escrow, msg.value)
                    mstore(0x20, escrow)
                    mstore(0x40, value)
                    revert(0x1c, 0x44)
                }
            }
            default {
                // accounted (bits [136..255]) + escrow (< 2^64) must stay below 2^120.
                if gt(add(shr(_ACCOUNTED_SHIFT, config), escrow), _MAX_120) {
                    mstore(0x00, _ACCRUAL_OVERFLOW) // AccrualOverflow()
                    revert(0x1c, 0x04)
                }
                config := add(config, shl(_ACCOUNTED_SHIFT, escrow))
            }
            sstore(_config.slot, config)

            // solady ERC721 mint with extra data (escrow in bits [32..95], deadline offset in
            // bits [0..31], see `_escrow`): ownership slot = owner | extra data << 160.
            mstore(0x00, tokenId)
            mstore(0x1c, _ERC721_SLOT_SEED)
            sstore(add(tokenId, add(tokenId, keccak256(0x00, 0x20))), or(shl(160, or(shl(32, escrow), offset)), to))
            // Balance slot of `to`: balance in bits [0..31], +1; reverts for the zero address
            // or a balance overflow, with solady's errors.
            mstore(0x00, to)
            let balanceSlot := keccak256(0x0c, 0x1c)
            let balancePacked := add(sload(balanceSlot), 1)
            if iszero(mul(to, and(balancePacked, 0xffffffff))) {
                // `TransferToZeroAddress()`, `AccountBalanceOverflow()`.
                mstore(shl(2, iszero(to)), 0xea553b3401336cea)
                revert(0x1c, 0x04)
            }
            sstore(balanceSlot, balancePacked)
            log4(codesize(), 0x00, _TRANSFER_TOPIC, 0, to, tokenId)

            // emit ImageRequested(tokenId, to, escrow, prompt), ABI-encoded by hand: escrow,
            // the offset 0x40, the length and the prompt zero-padded to 32-byte words, written
            // past the free memory pointer, which stays where it is (scratch use).
            let m := mload(0x40)
            mstore(m, escrow)
            mstore(add(m, 0x20), 0x40)
            mstore(add(m, 0x40), length)
            calldatacopy(add(m, 0x60), prompt.offset, length)
            mstore(add(add(m, 0x60), length), 0)
            log3(m, add(0x60, and(add(length, 31), not(31))), _IMAGE_REQUESTED_TOPIC, tokenId, to)
        }
    }

    /*//////////////////////////////////////////////////////////////
                                DELIVERY
    //////////////////////////////////////////////////////////////*/

    /// @notice Delivers the image of pending token `tokenId` and credits the caller its escrow
    /// minus the fee as earnings, which it takes with `withdraw()`. Only providers that were
    /// already authorized when the token was minted (see `canDeliver`); once per token; also
    /// after the deadline as long as nobody refunded.
    /// @param metadataDigest sha-256 of the exact metadata JSON bytes stored on IPFS.
    function deliver(uint256 tokenId, bytes32 metadataDigest) external {
        // The hot path, in one assembly block (about 400 gas less than the same steps through
        // Solidity helpers). The same rules, in the same order, as `deliverBatch` applies through
        // `_pending` and `_accrue`: caller authorized, digest nonzero, token pending, caller
        // authorized when it was minted, fields that cannot wrap.
        uint256 bps = _feeBps;
        assembly ("memory-safe") {
            // provider := _provider[msg.sender]; since := bits [0..63], 0 = not authorized.
            mstore(0x00, caller())
            mstore(0x20, _provider.slot)
            let providerSlot := keccak256(0x00, 0x40)
            let provider := sload(providerSlot)
            let since := and(provider, _SINCE_MASK)
            if iszero(since) {
                mstore(0x00, _NOT_PROVIDER) // NotProvider(msg.sender)
                mstore(0x20, caller())
                revert(0x1c, 0x24)
            }
            if iszero(metadataDigest) {
                mstore(0x00, _INVALID_DIGEST) // InvalidDigest()
                revert(0x1c, 0x04)
            }
            // Pending: an owner in the ownership slot (solady's layout, see `_pending`) and no
            // digest yet.
            mstore(0x00, tokenId)
            mstore(0x1c, _ERC721_SLOT_SEED)
            let ownership := sload(add(tokenId, add(tokenId, keccak256(0x00, 0x20))))
            let digestSlot := add(_DIGEST_BASE, tokenId)
            if or(iszero(shl(96, ownership)), sload(digestSlot)) {
                mstore(0x00, _TOKEN_NOT_PENDING) // TokenNotPending(tokenId)
                mstore(0x20, tokenId)
                revert(0x1c, 0x24)
            }
            if lt(tokenId, since) {
                mstore(0x00, _NOT_AUTHORIZED_AT_MINT) // NotAuthorizedAtMint(tokenId, msg.sender)
                mstore(0x20, tokenId)
                mstore(0x40, caller())
                revert(0x1c, 0x44)
            }
            // Earnings (bits [64..159]) and fees (bits [160..255]) must each stay below 2^96.
            // Adding less than 2^64 to a field below 2^95 keeps it below 2^96, so one test of
            // the two fields' top bits suffices here (`_accrue` checks exactly, for batches).
            if and(provider, _HALF_FULL) {
                mstore(0x00, _ACCRUAL_OVERFLOW) // AccrualOverflow()
                revert(0x1c, 0x04)
            }
            // escrow < 2^64 and bps <= 10000: no overflow; fee <= escrow.
            let escrow := shr(192, ownership)
            let fee := div(mul(escrow, bps), 10000)
            let payout := sub(escrow, fee)
            sstore(digestSlot, metadataDigest)
            sstore(providerSlot, add(provider, add(shl(_EARNINGS_SHIFT, payout), shl(_FEE_SHIFT, fee))))
            // emit ImageDelivered(tokenId, msg.sender, metadataDigest, payout)
            mstore(0x00, metadataDigest)
            mstore(0x20, payout)
            log3(0x00, 0x40, _IMAGE_DELIVERED_TOPIC, tokenId, caller())
            // emit MetadataUpdate(tokenId) (ERC-4906)
            mstore(0x00, tokenId)
            log1(0x00, 0x20, _METADATA_UPDATE_TOPIC)
        }
    }

    /// @notice Delivers several tokens and credits the caller their escrow minus fees (see
    /// `deliver`). Tokens that are no longer
    /// pending, or that were minted before the caller was authorized, are skipped with a
    /// `DeliverySkipped` event instead of failing the batch.
    /// @param tokenIds Tokens to deliver.
    /// @param digests Their metadata digests, in the same order.
    function deliverBatch(uint256[] calldata tokenIds, bytes32[] calldata digests) external {
        (uint256 providerSlot, uint256 provider) = _providerOf(msg.sender);
        uint256 since = provider & _SINCE_MASK;
        if (since == 0) revert NotProvider(msg.sender);
        if (tokenIds.length != digests.length) {
            revert LengthMismatch(tokenIds.length, digests.length);
        }
        uint256 totalEscrow;
        uint256 totalFee;
        for (uint256 i; i < tokenIds.length; ++i) {
            uint256 tokenId = tokenIds[i];
            bytes32 digest = digests[i];
            if (digest == bytes32(0)) revert InvalidDigest();
            (bool pending, uint256 escrow, uint256 digestSlot) = _pending(tokenId);
            if (!pending || tokenId < since) {
                emit DeliverySkipped(tokenId, msg.sender);
                continue;
            }
            uint256 fee = _fee(escrow);
            assembly ("memory-safe") {
                sstore(digestSlot, digest)
            }
            // Each escrow is < 2^64 and a batch is far shorter than 2^192 entries.
            unchecked {
                totalEscrow += escrow;
                totalFee += fee;
                _emitDelivered(tokenId, digest, escrow - fee);
            }
        }
        // totalFee <= totalEscrow, term by term.
        unchecked {
            provider = _accrue(provider, totalEscrow - totalFee, totalFee);
        }
        if (totalEscrow != 0) {
            assembly ("memory-safe") {
                sstore(providerSlot, provider)
            }
        }
    }

    /*//////////////////////////////////////////////////////////////
                            REFUNDS AND PAYOUTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Burns the caller's undelivered token after its deadline and returns its full
    /// escrow to the caller (as a credit if the push fails).
    function refund(uint256 tokenId) external {
        (bool pending, uint256 escrow,) = _pending(tokenId);
        if (!pending) revert TokenNotPending(tokenId);
        if (_ownerOf(tokenId) != msg.sender) revert NotTokenOwner(tokenId, msg.sender);
        uint64 deadline = _deadline(_getExtraData(tokenId));
        // A validator can skew the timestamp by seconds; delivery windows are hours or days.
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp <= deadline) revert DeadlineNotReached(tokenId, deadline);
        _burn(tokenId);
        emit Refunded(tokenId, msg.sender, escrow);
        // A receiver that rejects the payment (a contract, a USDC-blacklisted address) never
        // blocks the refund and never loses its money: it is credited instead.
        if (escrow != 0 && !_push(msg.sender, escrow)) {
            credit[msg.sender] += escrow;
            emit Credited(msg.sender, escrow);
        }
    }

    /// @notice Sends the caller everything it is owed: its earnings as a provider (see
    /// `earnings`) and the refunds whose push failed (see `credit`). Anyone may call for itself.
    function withdraw() external {
        uint256 credited = credit[msg.sender];
        uint256 provider = _provider[msg.sender];
        uint256 earned = (provider >> _EARNINGS_SHIFT) & _MAX_96;
        if (credited == 0 && earned == 0) revert NothingToWithdraw();
        if (credited != 0) credit[msg.sender] = 0;
        if (earned != 0) _provider[msg.sender] = provider & ~(_MAX_96 << _EARNINGS_SHIFT);
        // Both are below 2^96.
        unchecked {
            emit Withdrawn(msg.sender, credited + earned);
            _send(msg.sender, credited + earned);
        }
    }

    /// @notice Sends all accrued fees to `feeRecipient`. Anyone may call; reverts (keeping
    /// the fees) if the recipient rejects them.
    function withdrawFees() external {
        FeeAccount memory feeAccount = _feeAccount;
        uint256 amount = feeAccount.removedFees;
        if (amount != 0) _feeAccount.removedFees = 0;
        address[] memory list = _providers.values();
        for (uint256 i; i < list.length; ++i) {
            address account = list[i];
            uint256 provider = _provider[account];
            if (provider >> _FEE_SHIFT == 0) continue;
            amount += provider >> _FEE_SHIFT;
            _provider[account] = provider & ~(_MAX_96 << _FEE_SHIFT);
        }
        if (amount == 0) revert NothingToWithdraw();
        address recipient = feeAccount.recipient;
        emit FeesWithdrawn(recipient, amount);
        _send(recipient, amount);
    }

    /*//////////////////////////////////////////////////////////////
                                 OWNER
    //////////////////////////////////////////////////////////////*/

    /// @notice Authorizes (`true`) or removes (`false`) an image provider. Owner only.
    /// A provider may deliver only tokens minted after its authorization: authorizing one never
    /// exposes escrow that users paid earlier, and a removed provider that is authorized again
    /// starts afresh. At most `MAX_PROVIDERS` are authorized at once; removing one frees its
    /// place, and the fees its deliveries accrued stay due to the fee recipient. Setting the
    /// current state again changes nothing.
    function setProvider(address provider, bool authorized) external onlyOwner {
        if (provider == address(0)) revert ZeroAddress();
        uint256 data = _provider[provider];
        // Membership in `_providers` and a nonzero `since` go together: `add` and `remove`
        // say whether the state changes.
        if (authorized) {
            if (_providers.add(provider)) {
                if (_providers.length() > MAX_PROVIDERS) revert TooManyProviders();
                _provider[provider] = data | _nextTokenId();
            }
        } else if (_providers.remove(provider)) {
            // Its accrued fees move to the removed providers' pot that `withdrawFees` sweeps;
            // its earnings stay, for it to withdraw.
            _feeAccount.removedFees = _addFees(_feeAccount.removedFees, data >> _FEE_SHIFT);
            _provider[provider] = data & (_MAX_96 << _EARNINGS_SHIFT);
        }
        emit ProviderSet(provider, authorized);
    }

    /// @notice Sets the price of future mints; escrow of existing tokens is unchanged. Owner only.
    function setPrice(uint256 newPrice) external onlyOwner {
        _config = (_config & ~_MASK_64) | _checkedPrice(newPrice);
        emit PriceSet(newPrice);
    }

    /// @notice Sets where future `withdrawFees` calls send the fees. Owner only.
    function setFeeRecipient(address newFeeRecipient) external onlyOwner {
        if (newFeeRecipient == address(0)) revert ZeroAddress();
        _feeAccount.recipient = newFeeRecipient;
        emit FeeRecipientSet(newFeeRecipient);
    }

    /// @notice Stops new mints. Deliveries, refunds and withdrawals go on. Owner only.
    function pause() external onlyOwner {
        _config |= _PAUSED_BIT;
        emit PausedSet(true);
    }

    /// @notice Resumes new mints. Owner only.
    function unpause() external onlyOwner {
        _config &= ~_PAUSED_BIT;
        emit PausedSet(false);
    }

    /// @notice Proposes `newOwner`; it takes over when it calls `acceptOwnership`. Owner only.
    /// Proposing `address(0)` cancels a pending transfer.
    function transferOwnership(address newOwner) external onlyOwner {
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(msg.sender, newOwner);
    }

    /// @notice Completes an ownership transfer. Pending owner only.
    function acceptOwnership() external {
        if (msg.sender != pendingOwner) revert NotPendingOwner(msg.sender);
        emit OwnershipTransferred(owner, msg.sender);
        owner = msg.sender;
        pendingOwner = address(0);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Fee taken from each delivered token's escrow, in basis points.
    function feeBps() external view returns (uint16) {
        // forge-lint: disable-next-line(unsafe-typecast) set from a uint16
        return uint16(_feeBps);
    }

    /// @notice Seconds a provider has before the owner of a pending token may refund it.
    function deliveryWindow() external view returns (uint64) {
        // forge-lint: disable-next-line(unsafe-typecast) set from a uint64
        return uint64(_deliveryWindow);
    }

    /// @notice What a mint costs now, in units of `asset()`.
    function price() external view returns (uint256) {
        return _config & _MASK_64;
    }

    /// @notice Whether `account` is an authorized provider now (it may deliver the tokens
    /// minted since, see `authorizedSince` and `canDeliver`).
    function isProvider(address account) external view returns (bool) {
        return _provider[account] & _SINCE_MASK != 0;
    }

    /// @notice Payouts of `provider`'s deliveries (escrow - fee) that it has not withdrawn yet;
    /// `withdraw()` sends them together with its `credit`.
    function earnings(address provider) external view returns (uint256) {
        return (_provider[provider] >> _EARNINGS_SHIFT) & _MAX_96;
    }

    /// @notice The first token id `account` may deliver: the id the next mint had when it was
    /// authorized; 0 while it is not authorized.
    function authorizedSince(address account) external view returns (uint256) {
        return _provider[account] & _SINCE_MASK;
    }

    /// @notice Whether `provider` may deliver `tokenId` now: the token is pending and the
    /// provider was already authorized when it was minted, and still is.
    function canDeliver(uint256 tokenId, address provider) public view returns (bool) {
        uint256 since = _provider[provider] & _SINCE_MASK;
        (bool pending,,) = _pending(tokenId);
        return pending && since != 0 && tokenId >= since;
    }

    /// @notice The providers that may deliver `tokenId` now (empty unless it is pending). A user
    /// who pays trusts exactly the providers that `providers()` lists at that moment.
    function deliverersOf(uint256 tokenId) external view returns (address[] memory list) {
        list = _providers.values();
        uint256 n;
        for (uint256 i; i < list.length; ++i) {
            if (canDeliver(tokenId, list[i])) list[n++] = list[i];
        }
        // Shrink the array in place to the `n` providers kept (n <= its length).
        assembly ("memory-safe") {
            mstore(list, n)
        }
    }

    /// @notice The providers authorized now (removed ones leave the list), in no fixed order.
    function providers() external view returns (address[] memory) {
        return _providers.values();
    }

    /// @notice Fees from delivered tokens not yet sent to `feeRecipient`.
    function accruedFees() external view returns (uint256 amount) {
        amount = _feeAccount.removedFees;
        address[] memory list = _providers.values();
        for (uint256 i; i < list.length; ++i) {
            amount += _provider[list[i]] >> _FEE_SHIFT;
        }
    }

    /// @notice Receives the fees (an address or a `Splitter`).
    function feeRecipient() external view returns (address) {
        return _feeAccount.recipient;
    }

    /// @notice Whether new mints are paused.
    function paused() external view returns (bool) {
        return _config & _PAUSED_BIT != 0;
    }

    /// @notice Number of tokens ever minted (refunded ones included).
    function totalMinted() external view returns (uint256) {
        return _nextTokenId() - 1;
    }

    /// @notice A token's lifecycle.
    /// @return state 0 none, 1 pending, 2 delivered, 3 refunded.
    /// @return escrow What the minter paid (held by the contract only while pending).
    /// @return deadline When its owner may refund it if undelivered (unix seconds).
    /// @return digest The delivered metadata digest, zero unless delivered.
    function tokenState(uint256 tokenId)
        external
        view
        returns (uint8 state, uint256 escrow, uint64 deadline, bytes32 digest)
    {
        uint96 data = _getExtraData(tokenId);
        if (data == 0) return (STATE_NONE, 0, 0, bytes32(0));
        escrow = _escrow(data);
        deadline = _deadline(data);
        digest = _digestOf(tokenId);
        if (!_exists(tokenId)) state = STATE_REFUNDED;
        else if (digest == bytes32(0)) state = STATE_PENDING;
        else state = STATE_DELIVERED;
    }

    /// @notice ERC-721 name.
    function name() public pure override returns (string memory) {
        return "GenIm";
    }

    /// @notice ERC-721 symbol.
    function symbol() public pure override returns (string memory) {
        return "GENIM";
    }

    /// @notice `ipfs://<CIDv1>` of the delivered metadata, or a JSON `data:` URI saying the
    /// image is pending. Reverts with `TokenDoesNotExist` for refunded and unminted tokens.
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        if (!_exists(tokenId)) revert TokenDoesNotExist();
        bytes32 digest = _digestOf(tokenId);
        if (digest != bytes32(0)) return string.concat("ipfs://", cidV1(digest));
        string memory id = LibString.toString(tokenId);
        return string.concat(
            "data:application/json;base64,",
            Base64.encode(
                bytes(
                    string.concat(
                        '{"name":"GenIm #',
                        id,
                        '","description":"Image pending: an image provider has not delivered it yet.",',
                        '"attributes":[{"trait_type":"state","value":"pending"}]}'
                    )
                )
            )
        );
    }

    /// @notice The CIDv1 (raw codec, sha2-256, base32 lower) of content whose sha-256 is
    /// `digest`: what `ipfs add --cid-version=1` prints for a file up to 256 KiB.
    function cidV1(bytes32 digest) public pure returns (string memory) {
        // Multibase 'b' + base32(0x01 0x55 0x12 0x20 || digest): 36 bytes -> 58 characters.
        bytes memory raw = abi.encodePacked(bytes4(0x01551220), digest);
        bytes memory alphabet = "abcdefghijklmnopqrstuvwxyz234567";
        bytes memory out = new bytes(59);
        out[0] = "b";
        uint256 buffer;
        uint256 bits;
        uint256 j = 1;
        for (uint256 i; i < 36; ++i) {
            buffer = (buffer << 8) | uint8(raw[i]);
            bits += 8;
            while (bits >= 5) {
                bits -= 5;
                out[j++] = alphabet[(buffer >> bits) & 31];
            }
        }
        // 288 bits leave 3; pad them with zeros on the right (RFC 4648, no '=' padding).
        out[j] = alphabet[(buffer << (5 - bits)) & 31];
        return string(out);
    }

    /// @notice ERC-721 `approve`. Rejects ETH: solady declares it `payable`, and ETH sent here
    /// would be locked, since no escrow, credit or fee accounts for it.
    function approve(address account, uint256 id) public payable override {
        _rejectValue();
        super.approve(account, id);
    }

    /// @notice ERC-721 `transferFrom`; rejects ETH (see `approve`).
    function transferFrom(address from, address to, uint256 id) public payable override {
        _rejectValue();
        super.transferFrom(from, to, id);
    }

    /// @notice ERC-721 `safeTransferFrom`; rejects ETH (see `approve`).
    function safeTransferFrom(address from, address to, uint256 id) public payable override {
        _rejectValue();
        super.safeTransferFrom(from, to, id);
    }

    /// @notice ERC-721 `safeTransferFrom` with data; rejects ETH (see `approve`).
    function safeTransferFrom(address from, address to, uint256 id, bytes calldata data) public payable override {
        _rejectValue();
        super.safeTransferFrom(from, to, id, data);
    }

    /// @notice ERC-165: ERC-721, its metadata extension and ERC-4906.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == 0x49064906 || super.supportsInterface(interfaceId);
    }

    /*//////////////////////////////////////////////////////////////
                         PAYMENT SIDE (DERIVED)
    //////////////////////////////////////////////////////////////*/

    /// @notice The asset that prices, escrow and payouts are in: `address(0)` for ETH, else
    /// the ERC-20 token, so tools can tell the contracts apart.
    function asset() external view virtual returns (address);

    /// @dev Tries to pay `amount` to `to` (a refund) and says whether it arrived. Must not
    /// revert for a receiver that rejects it: the caller credits it instead.
    function _push(address to, uint256 amount) internal virtual returns (bool);

    /// @dev Pays `amount` to `to` (withdrawals and fees) or reverts.
    function _send(address to, uint256 amount) internal virtual;

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    // Per-token data lives in the 96 extra bits of the ERC-721 ownership slot, written by the
    // mint for free (`_mintEscrow`) and kept by the burn:
    //   bits [0..31]   deadline - _epoch (seconds)
    //   bits [32..95]  escrow (units of `asset()`)
    // The deadline offset is at least 1 (deliveryWindow >= 1), so minted tokens never read 0.

    function _escrow(uint96 data) internal pure returns (uint64) {
        // forge-lint: disable-next-line(unsafe-typecast) bits [32..95] are exactly 64 bits
        return uint64(data >> 32);
    }

    function _deadline(uint96 data) internal view returns (uint64) {
        // A timestamp plus a 32-bit offset fits 64 bits for the next 500 billion years.
        // forge-lint: disable-next-line(unsafe-typecast) bits [0..31] are the offset by design
        return uint64(_epoch + uint32(data));
    }

    /// @dev The ERC-721 ownership slot of `tokenId` in solady's layout: owner in bits [0..159],
    /// our extra data in bits [160..255] (so the escrow is bits [192..255]).
    function _ownershipSlot(uint256 tokenId) internal pure returns (uint256 slot) {
        assembly ("memory-safe") {
            mstore(0x00, tokenId)
            mstore(0x1c, _ERC721_SLOT_SEED)
            slot := add(tokenId, add(tokenId, keccak256(0x00, 0x20)))
        }
    }

    /// @dev Where `tokenId`'s delivered digest is stored: `_DIGEST_BASE + tokenId`. Minted ids
    /// are below 2^64, so the digests of all tokens ever minted fill one run of slots at a
    /// keccak-chosen base, as far from every other slot (all keccak-derived, or small) as a
    /// Solidity dynamic array's elements are. An id that was never minted may alias any slot
    /// (the sum wraps), but such an id is never pending, so its digest slot is never written.
    function _digestSlot(uint256 tokenId) internal pure returns (uint256 slot) {
        // Wraps on purpose for ids that cannot exist (see above).
        unchecked {
            slot = _DIGEST_BASE + tokenId;
        }
    }

    /// @dev `tokenId`'s delivered metadata digest; zero while pending.
    function _digestOf(uint256 tokenId) internal view returns (bytes32 digest) {
        uint256 slot = _digestSlot(tokenId);
        assembly ("memory-safe") {
            digest := sload(slot)
        }
    }

    /// @dev Whether `tokenId` is pending (it exists and has no digest), the escrow it holds,
    /// and its digest slot.
    function _pending(uint256 tokenId) internal view returns (bool pending, uint256 escrow, uint256 digestSlot) {
        uint256 ownershipSlot = _ownershipSlot(tokenId);
        digestSlot = _digestSlot(tokenId);
        assembly ("memory-safe") {
            let ownership := sload(ownershipSlot)
            pending := and(iszero(iszero(shl(96, ownership))), iszero(sload(digestSlot)))
            escrow := mul(pending, shr(192, ownership))
        }
    }

    /// @dev `account`'s provider slot and its content.
    function _providerOf(address account) internal view returns (uint256 slot, uint256 data) {
        assembly ("memory-safe") {
            mstore(0x00, account)
            mstore(0x20, _provider.slot)
            slot := keccak256(0x00, 0x40)
            data := sload(slot)
        }
    }

    /// @dev emit ImageDelivered(tokenId, msg.sender, digest, payout) and ERC-4906's
    /// MetadataUpdate(tokenId), encoded in scratch space.
    function _emitDelivered(uint256 tokenId, bytes32 digest, uint256 payout) internal {
        bytes32 delivered = ImageDelivered.selector;
        bytes32 updated = MetadataUpdate.selector;
        assembly ("memory-safe") {
            mstore(0x00, digest)
            mstore(0x20, payout)
            log3(0x00, 0x40, delivered, tokenId, caller())
            mstore(0x00, tokenId)
            log1(0x00, 0x20, updated)
        }
    }

    function _nextTokenId() internal view returns (uint256) {
        return (_config >> _NEXT_ID_SHIFT) & _MASK_64;
    }

    function _fee(uint256 escrow) internal view returns (uint256) {
        // escrow < 2^64 and feeBps <= 10000: the product fits easily.
        unchecked {
            return escrow * _feeBps / 10_000;
        }
    }

    /// @dev `pot + fees`, reverting if the sum leaves 96 bits. Unreachable in practice (2^96 wei
    /// is more ETH than exists, and as many units of a token are rarely minted), but fees must
    /// never wrap.
    function _addFees(uint96 pot, uint256 fees) internal pure returns (uint96) {
        uint256 sum = pot + fees;
        if (sum > type(uint96).max) revert AccrualOverflow();
        // forge-lint: disable-next-line(unsafe-typecast) checked just above
        return uint96(sum);
    }

    /// @dev The provider slot `provider` with `payout` more earnings and `fee` more fees;
    /// reverts rather than let a field wrap into the next.
    function _accrue(uint256 provider, uint256 payout, uint256 fee) internal pure returns (uint256) {
        // Each field is < 2^96 and each addend < 2^160: the sums cannot overflow 256 bits.
        unchecked {
            if (((provider >> _EARNINGS_SHIFT) & _MAX_96) + payout > _MAX_96) revert AccrualOverflow();
            if ((provider >> _FEE_SHIFT) + fee > _MAX_96) revert AccrualOverflow();
            return provider + (payout << _EARNINGS_SHIFT) + (fee << _FEE_SHIFT);
        }
    }

    function _rejectValue() internal view {
        if (msg.value != 0) revert UnexpectedValue(msg.value);
    }

    function _checkedPrice(uint256 value) internal pure returns (uint64) {
        if (value > type(uint64).max) revert PriceTooHigh(value);
        // forge-lint: disable-next-line(unsafe-typecast) checked just above
        return uint64(value);
    }
}
