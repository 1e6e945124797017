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
/// the ERC-721 ownership slot that minting writes anyway (see `_escrowData`). A derived contract
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
    /// @dev ETH was sent to a function that takes no payment (it could never be paid out).
    error UnexpectedValue(uint256 value);
    /// @dev An accrued amount would leave its packed field (unreachable with real money).
    error AccrualOverflow();

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A user paid for an image; providers generate it from `prompt`.
    event ImageRequested(uint256 indexed tokenId, address indexed requester, uint256 escrow, string prompt);
    /// @notice A provider delivered the image and was paid `payout`.
    event ImageDelivered(uint256 indexed tokenId, address indexed provider, bytes32 metadataDigest, uint256 payout);
    /// @notice `deliverBatch` skipped a token that was not pending (delivered by someone else,
    /// refunded, or never minted); the rest of the batch went through.
    event DeliverySkipped(uint256 indexed tokenId, address indexed provider);
    /// @notice The owner of an undelivered token took back its escrow; the token was burned.
    event Refunded(uint256 indexed tokenId, address indexed to, uint256 amount);
    /// @notice A payout push failed; `account` can pull it with `withdraw()`.
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

    uint256 internal constant _SINCE_MASK = 0xffffffffffffffff;
    uint256 internal constant _EARNINGS_SHIFT = 64;
    uint256 internal constant _FEE_SHIFT = 160;
    uint256 internal constant _MAX_96 = 0xffffffffffffffffffffffff;

    /// @notice Fee taken from each delivered token's escrow, in basis points.
    uint16 public immutable feeBps;
    /// @notice Seconds a provider has before the owner of a pending token may refund it.
    uint64 public immutable deliveryWindow;
    /// @dev Deadlines are stored as 32-bit offsets from this time (good for 136 years).
    uint64 internal immutable _epoch;

    /*//////////////////////////////////////////////////////////////
                                STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev Everything a mint reads and writes, in one slot:
    ///   bits [0..63]     price (64 bits because it is stored per token as escrow)
    ///   bits [64..127]   next token id (ids start at 1)
    ///   bits [128..135]  paused
    ///   bits [136..255]  accounted: what the contract owes in all (pending escrow, fees,
    ///                    earnings, credits); kept by `GenImTokenNFT` only, to tell its own
    ///                    money from tokens sent to it directly; always 0 in `GenImNFT`
    struct MintConfig {
        uint64 price;
        uint64 nextTokenId;
        bool paused;
        uint120 accounted;
    }

    MintConfig internal _mintConfig;

    /// @notice Delivered metadata digests; zero while pending.
    mapping(uint256 tokenId => bytes32) internal _digest;

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
        feeBps = feeBps_;
        deliveryWindow = deliveryWindow_;
        _epoch = uint64(block.timestamp);
        _mintConfig = MintConfig({price: _checkedPrice(price_), nextTokenId: 1, paused: false, accounted: 0});
        _feeAccount.recipient = feeRecipient_;
        owner = owner_;
        emit OwnershipTransferred(address(0), owner_);
    }

    /*//////////////////////////////////////////////////////////////
                                  MINT
    //////////////////////////////////////////////////////////////*/

    /// @dev Mints the next token to `to` for `prompt` with the current price as its escrow and
    /// emits `ImageRequested`; the caller takes the payment. With `account`, the escrow is added
    /// to the accounted total (`GenImTokenNFT`).
    function _mintEscrow(address to, string calldata prompt, bool account)
        internal
        returns (uint256 tokenId, uint256 escrow)
    {
        uint256 length = bytes(prompt).length;
        if (length == 0) revert EmptyPrompt();
        if (length > MAX_PROMPT_BYTES) revert PromptTooLong(length, MAX_PROMPT_BYTES);
        MintConfig memory config = _mintConfig;
        if (config.paused) revert MintingPaused();

        tokenId = config.nextTokenId;
        escrow = config.price;
        // A 64-bit counter cannot wrap: one mint per id costs far more gas than 2^64 blocks hold.
        unchecked {
            config.nextTokenId += 1;
        }
        if (account) config.accounted = _addAccounted(config.accounted, escrow);
        _mintConfig = config;
        uint256 deadlineOffset = block.timestamp + deliveryWindow - _epoch;
        // Offsets past 2^32 seconds (136 years after deployment) end minting rather than wrap.
        if (deadlineOffset > type(uint32).max) revert MintingEnded();
        // forge-lint: disable-next-line(unsafe-typecast) checked against uint32 max just above
        uint32 offset = uint32(deadlineOffset);
        _mintAndSetExtraDataUnchecked(to, tokenId, _escrowData(config.price, offset));
        emit ImageRequested(tokenId, to, escrow, prompt);
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
        uint256 provider = _provider[msg.sender];
        uint256 since = provider & _SINCE_MASK;
        if (since == 0) revert NotProvider(msg.sender);
        if (metadataDigest == bytes32(0)) revert InvalidDigest();
        (bool pending, uint256 escrow) = _pendingEscrow(tokenId);
        if (!pending) revert TokenNotPending(tokenId);
        if (tokenId < since) revert NotAuthorizedAtMint(tokenId, msg.sender);
        uint256 fee = _fee(escrow);
        uint256 payout;
        // fee <= escrow because feeBps <= 10000.
        unchecked {
            payout = escrow - fee;
        }
        _digest[tokenId] = metadataDigest;
        _provider[msg.sender] = _accrue(provider, payout, fee);
        emit ImageDelivered(tokenId, msg.sender, metadataDigest, payout);
        emit MetadataUpdate(tokenId);
    }

    /// @notice Delivers several tokens and credits the caller their escrow minus fees (see
    /// `deliver`). Tokens that are no longer
    /// pending, or that were minted before the caller was authorized, are skipped with a
    /// `DeliverySkipped` event instead of failing the batch.
    /// @param tokenIds Tokens to deliver.
    /// @param digests Their metadata digests, in the same order.
    function deliverBatch(uint256[] calldata tokenIds, bytes32[] calldata digests) external {
        uint256 provider = _provider[msg.sender];
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
            (bool pending, uint256 escrow) = _pendingEscrow(tokenId);
            if (!pending || tokenId < since) {
                emit DeliverySkipped(tokenId, msg.sender);
                continue;
            }
            uint256 fee = _fee(escrow);
            _digest[tokenId] = digest;
            // Each escrow is < 2^64 and a batch is far shorter than 2^192 entries.
            unchecked {
                totalEscrow += escrow;
                totalFee += fee;
                emit ImageDelivered(tokenId, msg.sender, digest, escrow - fee);
            }
            emit MetadataUpdate(tokenId);
        }
        // totalFee <= totalEscrow, term by term.
        unchecked {
            if (totalEscrow != 0) _provider[msg.sender] = _accrue(provider, totalEscrow - totalFee, totalFee);
        }
    }

    /*//////////////////////////////////////////////////////////////
                            REFUNDS AND PAYOUTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Burns the caller's undelivered token after its deadline and returns its full
    /// escrow to the caller (as a credit if the push fails).
    function refund(uint256 tokenId) external {
        (bool pending, uint256 escrow) = _pendingEscrow(tokenId);
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
        if (authorized && data & _SINCE_MASK == 0) {
            if (_providers.length() == MAX_PROVIDERS) revert TooManyProviders();
            _providers.add(provider);
            _provider[provider] = data | _mintConfig.nextTokenId;
        } else if (!authorized && data & _SINCE_MASK != 0) {
            _providers.remove(provider);
            // Its accrued fees move to the removed providers' pot that `withdrawFees` sweeps;
            // its earnings stay, for it to withdraw.
            _feeAccount.removedFees = _addFees(_feeAccount.removedFees, data >> _FEE_SHIFT);
            _provider[provider] = data & (_MAX_96 << _EARNINGS_SHIFT);
        }
        emit ProviderSet(provider, authorized);
    }

    /// @notice Sets the price of future mints; escrow of existing tokens is unchanged. Owner only.
    function setPrice(uint256 newPrice) external onlyOwner {
        _mintConfig.price = _checkedPrice(newPrice);
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
        _mintConfig.paused = true;
        emit PausedSet(true);
    }

    /// @notice Resumes new mints. Owner only.
    function unpause() external onlyOwner {
        _mintConfig.paused = false;
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

    /// @notice What a mint costs now, in units of `asset()`.
    function price() external view returns (uint256) {
        return _mintConfig.price;
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
        (bool pending,) = _pendingEscrow(tokenId);
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
        return _mintConfig.paused;
    }

    /// @notice Number of tokens ever minted (refunded ones included).
    function totalMinted() external view returns (uint256) {
        return _mintConfig.nextTokenId - 1;
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
        digest = _digest[tokenId];
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
        bytes32 digest = _digest[tokenId];
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

    /// @dev Per-token data in the 96 extra bits of the ERC-721 ownership slot, written by the
    /// mint for free and kept by the burn:
    ///   bits [0..31]  deadline - _epoch (seconds)
    ///   bits [32..95] escrow (units of `asset()`)
    /// The deadline offset is at least 1 (deliveryWindow >= 1), so minted tokens never read 0.
    function _escrowData(uint64 escrow, uint32 deadlineOffset) internal pure returns (uint96) {
        return (uint96(escrow) << 32) | deadlineOffset;
    }

    function _escrow(uint96 data) internal pure returns (uint64) {
        // forge-lint: disable-next-line(unsafe-typecast) bits [32..95] are exactly 64 bits
        return uint64(data >> 32);
    }

    function _deadline(uint96 data) internal view returns (uint64) {
        // forge-lint: disable-next-line(unsafe-typecast) bits [0..31] are the offset by design
        return _epoch + uint32(data);
    }

    /// @dev Pending: the token exists and has no digest. Returns the escrow it holds.
    function _pendingEscrow(uint256 tokenId) internal view returns (bool, uint256) {
        if (!_exists(tokenId) || _digest[tokenId] != bytes32(0)) return (false, 0);
        return (true, _escrow(_getExtraData(tokenId)));
    }

    function _fee(uint256 escrow) internal view returns (uint256) {
        // escrow < 2^64 and feeBps <= 10000: the product fits easily.
        unchecked {
            return escrow * feeBps / 10_000;
        }
    }

    /// @dev `accounted + amount`, reverting if the sum leaves its 120 bits (more than any real
    /// token supply).
    function _addAccounted(uint120 accounted, uint256 amount) internal pure returns (uint120) {
        uint256 sum = accounted + amount;
        if (sum > type(uint120).max) revert AccrualOverflow();
        // forge-lint: disable-next-line(unsafe-typecast) checked just above
        return uint120(sum);
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
