// SPDX-License-Identifier: MIT
pragma solidity ^0.8.33;

import {ERC20} from "solady/tokens/ERC20.sol";
import {SignatureCheckerLib} from "solady/utils/SignatureCheckerLib.sol";
import {GenImNFT} from "../../GenImNFT.sol";

/// @dev A provider, token owner or recipient that is a contract and can refuse ETH.
contract Receiver {
    bool public accepting;
    GenImNFT public nft;

    constructor(GenImNFT nft_, bool accepting_) {
        nft = nft_;
        accepting = accepting_;
    }

    function setAccepting(bool value) external {
        accepting = value;
    }

    receive() external payable {
        require(accepting, "Receiver: refusing ETH");
    }

    function mint(string calldata prompt) external payable returns (uint256) {
        return nft.mint{value: msg.value}(prompt);
    }

    function deliver(uint256 tokenId, bytes32 digest) external {
        nft.deliver(tokenId, digest);
    }

    function deliverBatch(uint256[] calldata ids, bytes32[] calldata digests) external {
        nft.deliverBatch(ids, digests);
    }

    function refund(uint256 tokenId) external {
        nft.refund(tokenId);
    }

    function withdraw() external {
        nft.withdraw();
    }
}

/// @dev A provider that re-enters from its withdrawal: it tries to withdraw again and to
/// deliver the same token again. Both must fail; the outer withdrawal then goes through.
contract ReentrantProvider {
    GenImNFT public immutable nft;
    uint256 public reentryTokenId;
    uint256 public reentryAttempts;
    bool public reentrySucceeded;

    constructor(GenImNFT nft_) {
        nft = nft_;
    }

    function deliverAndWithdraw(uint256 tokenId, bytes32 digest) external {
        reentryTokenId = tokenId;
        nft.deliver(tokenId, digest);
        nft.withdraw();
    }

    receive() external payable {
        try nft.withdraw() {
            reentrySucceeded = true;
        } catch {
            ++reentryAttempts;
        }
        try nft.deliver(reentryTokenId, keccak256("again")) {
            reentrySucceeded = true;
        } catch {
            ++reentryAttempts;
        }
    }
}

/// @dev Exposes GenImNFT's packed-field arithmetic, whose overflow guards no real amount reaches.
contract GenImNFTHarness is GenImNFT {
    constructor(address owner_) GenImNFT(owner_, 1, 500, owner_, 1 days) {}

    function accrue(uint256 provider, uint256 payout, uint256 fee) external pure returns (uint256) {
        return _accrue(provider, payout, fee);
    }

    function addFees(uint96 pot, uint256 fees) external pure returns (uint96) {
        return _addFees(pot, fees);
    }

    /// Overwrites a provider's slot (to reach the overflow guards without 2^32 deliveries).
    function setProviderData(address provider, uint256 data) external {
        _provider[provider] = data;
    }

    function providerData(address provider) external view returns (uint256) {
        return _provider[provider];
    }

    /// The constants the assembly hot paths use instead of `X.selector`.
    function hardcoded() external pure returns (uint256[15] memory c) {
        c = [
            _EMPTY_PROMPT,
            _WRONG_PAYMENT,
            _PROMPT_TOO_LONG,
            _MINTING_PAUSED,
            _MINTING_ENDED,
            _NOT_PROVIDER,
            _INVALID_DIGEST,
            _TOKEN_NOT_PENDING,
            _NOT_AUTHORIZED_AT_MINT,
            _ACCRUAL_OVERFLOW,
            _IMAGE_REQUESTED_TOPIC,
            _IMAGE_DELIVERED_TOPIC,
            _METADATA_UPDATE_TOPIC,
            _TRANSFER_TOPIC,
            _DIGEST_BASE
        ];
    }
}

/// @dev A plain ERC-20 for the splitter tests.
contract MockToken is ERC20 {
    function name() public pure override returns (string memory) {
        return "Mock USD";
    }

    function symbol() public pure override returns (string memory) {
        return "mUSD";
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// Takes `amount` from `account` without a transfer by it: a negative rebase or a slashing,
    /// which real USDC never does.
    function slash(address account, uint256 amount) external {
        _burn(account, amount);
    }
}

/// @dev A token with two entry addresses sharing one balance (as legacy TrueUSD had): this one
/// and `secondEntry`, whose `transfer` moves the caller's balance here.
contract DoubleEntryToken is MockToken {
    address public immutable secondEntry;

    constructor() {
        secondEntry = address(new SecondEntry(this));
    }

    function entryTransfer(address from, address to, uint256 amount) external {
        require(msg.sender == secondEntry, "DoubleEntryToken: entry only");
        _transfer(from, to, amount);
    }
}

/// @dev The second address of `DoubleEntryToken`.
contract SecondEntry {
    DoubleEntryToken public immutable main;

    constructor(DoubleEntryToken main_) {
        main = main_;
    }

    function balanceOf(address account) external view returns (uint256) {
        return main.balanceOf(account);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        main.entryTransfer(msg.sender, to, amount);
        return true;
    }
}

/// @dev An ERC-1271 smart wallet (a Safe, a Coinbase Smart Wallet): signatures by `owner` are
/// its signatures, unless it is switched to refuse them.
contract SmartWallet {
    address public immutable owner;
    bool public refusing;

    constructor(address owner_) {
        owner = owner_;
    }

    function setRefusing(bool value) external {
        refusing = value;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (!refusing && SignatureCheckerLib.isValidSignatureNowCalldata(owner, hash, signature)) {
            return 0x1626ba7e;
        }
        return 0xffffffff;
    }
}

/// @dev A token that keeps 1% of every transfer as a fee, which real USDC never does.
contract FeeOnTransferToken is MockToken {
    function transferFrom(address from, address to, uint256 amount) public override returns (bool) {
        uint256 fee = amount / 100;
        _burn(from, fee);
        return super.transferFrom(from, to, amount - fee);
    }
}
