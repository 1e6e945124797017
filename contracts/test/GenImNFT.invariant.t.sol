// SPDX-License-Identifier: MIT
pragma solidity ^0.8.33;

import {GenImEscrow} from "../GenImEscrow.sol";
import {GenImNFT} from "../GenImNFT.sol";
import {Test} from "./utils/Test.sol";
import {Receiver} from "./utils/Mocks.sol";

/// @dev Drives random mints, deliveries, batch deliveries, refunds, withdrawals, price changes,
/// provider changes, transfers and time, and keeps a ghost ledger of what must be true.
/// Every call that may revert is made with try/catch and the revert is checked to be the
/// expected one, so the campaign can run with `fail_on_revert`.
contract GenImHandler is Test {
    GenImNFT public immutable nft;
    address public immutable owner;
    uint16 public immutable feeBps;

    address[] public users;
    address[] public providerAccounts; // EOAs and one contract that may refuse ETH
    Receiver public contractProvider;
    Receiver public contractUser;
    address public attacker;

    uint256[] public ids;
    mapping(uint256 id => uint256) public escrowOf;
    mapping(uint256 id => uint256) public deliveries;
    mapping(uint256 id => uint256) public refunds;
    mapping(address account => bool) public authorized;
    mapping(address account => uint256) public sinceOf; // first token id it may deliver
    address[] public creditors;
    mapping(address account => bool) internal _isCreditor;

    uint256 public ghostFees; // fees of delivered tokens not yet withdrawn
    bool public unauthorizedDelivery;
    bool public payoutMismatch;
    bool public unexpectedRevert;

    constructor(GenImNFT nft_, address owner_) {
        nft = nft_;
        owner = owner_;
        feeBps = nft_.feeBps();
        for (uint256 i; i < 4; ++i) {
            users.push(makeAddr(string.concat("user", _digit(i))));
        }
        contractUser = new Receiver(nft_, true);
        users.push(address(contractUser));
        providerAccounts.push(makeAddr("providerA"));
        providerAccounts.push(makeAddr("providerB"));
        contractProvider = new Receiver(nft_, true);
        providerAccounts.push(address(contractProvider));
        attacker = makeAddr("attacker");
        for (uint256 i; i < providerAccounts.length; ++i) {
            vm.prank(owner_);
            nft_.setProvider(providerAccounts[i], true);
            authorized[providerAccounts[i]] = true;
            sinceOf[providerAccounts[i]] = 1;
            _trackCreditor(providerAccounts[i]);
        }
        _trackCreditor(address(contractUser));
    }

    function _digit(uint256 i) internal pure returns (string memory) {
        // forge-lint: disable-next-line(unsafe-typecast) i < 10: a single digit
        return string(abi.encodePacked(bytes1(uint8(48 + i))));
    }

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    function creditorCount() external view returns (uint256) {
        return creditors.length;
    }

    function _trackCreditor(address account) internal {
        if (!_isCreditor[account]) {
            _isCreditor[account] = true;
            creditors.push(account);
        }
    }

    /// Picks a minted token most of the time, sometimes an id that was never minted.
    function _pickId(uint256 seed) internal view returns (uint256) {
        if (ids.length == 0 || seed % 10 == 0) return bound(seed, 1, 1000);
        return ids[seed % ids.length];
    }

    function _pending(uint256 id) internal view returns (bool) {
        (uint8 state,,,) = nft.tokenState(id);
        return state == 1;
    }

    function _checkRevert(bytes memory got, bytes memory expected) internal {
        if (keccak256(got) != keccak256(expected)) unexpectedRevert = true;
    }

    /*//////////////////////////////////////////////////////////////
                                ACTIONS
    //////////////////////////////////////////////////////////////*/

    function mint(uint256 userSeed, uint256 promptLength) external {
        address user = users[userSeed % users.length];
        uint256 price = nft.price();
        promptLength = bound(promptLength, 1, 80);
        vm.deal(user, user.balance + price);
        vm.prank(user);
        uint256 id = nft.mint{value: price}(string(new bytes(promptLength)));
        ids.push(id);
        escrowOf[id] = price;
    }

    function deliver(uint256 providerSeed, uint256 idSeed, bytes32 digest) external {
        address p = providerAccounts[providerSeed % providerAccounts.length];
        uint256 id = _pickId(idSeed);
        if (digest == bytes32(0)) digest = keccak256(abi.encode(id));
        bool pending = _pending(id);
        uint256 earnedBefore = nft.earnings(p);

        vm.prank(p);
        try nft.deliver(id, digest) {
            if (!authorized[p] || !pending || id < sinceOf[p]) unauthorizedDelivery = true;
            deliveries[id] += 1;
            uint256 fee = escrowOf[id] * feeBps / 10_000;
            ghostFees += fee;
            if (nft.earnings(p) - earnedBefore != escrowOf[id] - fee) payoutMismatch = true;
        } catch (bytes memory reason) {
            if (!authorized[p]) {
                _checkRevert(reason, abi.encodeWithSelector(GenImEscrow.NotProvider.selector, p));
            } else if (!pending) {
                _checkRevert(reason, abi.encodeWithSelector(GenImEscrow.TokenNotPending.selector, id));
            } else {
                _checkRevert(reason, abi.encodeWithSelector(GenImEscrow.NotAuthorizedAtMint.selector, id, p));
            }
        }
    }

    function deliverBatch(uint256 providerSeed, uint256[4] calldata idSeeds) external {
        address p = providerAccounts[providerSeed % providerAccounts.length];
        uint256[] memory batch = new uint256[](idSeeds.length);
        bytes32[] memory digests = new bytes32[](idSeeds.length);
        bool[] memory willDeliver = new bool[](idSeeds.length);
        uint256 expected;
        for (uint256 i; i < idSeeds.length; ++i) {
            batch[i] = _pickId(idSeeds[i]);
            digests[i] = keccak256(abi.encode(batch[i], i));
            willDeliver[i] = _pending(batch[i]) && batch[i] >= sinceOf[p];
            for (uint256 j; j < i; ++j) {
                if (batch[j] == batch[i]) willDeliver[i] = false; // second time in the batch
            }
            if (willDeliver[i]) {
                expected += escrowOf[batch[i]] - escrowOf[batch[i]] * feeBps / 10_000;
            }
        }
        uint256 earnedBefore = nft.earnings(p);

        vm.prank(p);
        try nft.deliverBatch(batch, digests) {
            if (!authorized[p]) unauthorizedDelivery = true;
            for (uint256 i; i < batch.length; ++i) {
                if (!willDeliver[i]) continue;
                deliveries[batch[i]] += 1;
                ghostFees += escrowOf[batch[i]] * feeBps / 10_000;
            }
            if (nft.earnings(p) - earnedBefore != expected) payoutMismatch = true;
        } catch (bytes memory reason) {
            if (authorized[p]) unexpectedRevert = true;
            _checkRevert(reason, abi.encodeWithSelector(GenImEscrow.NotProvider.selector, p));
        }
    }

    /// The upstream attack: a non-provider tries to deliver (empty or not) and take the payout.
    function attackerDeliver(uint256 idSeed, bytes32 digest) external {
        uint256 id = _pickId(idSeed);
        vm.prank(attacker);
        try nft.deliver(id, digest) {
            unauthorizedDelivery = true;
        } catch (bytes memory reason) {
            _checkRevert(reason, abi.encodeWithSelector(GenImEscrow.NotProvider.selector, attacker));
        }
    }

    function refund(uint256 idSeed, uint256 wait) external {
        if (ids.length == 0) return;
        uint256 id = ids[idSeed % ids.length];
        vm.warp(block.timestamp + bound(wait, 0, 2 days));
        (uint8 state,, uint64 deadline,) = nft.tokenState(id);
        if (state != 1) return;
        address holder = nft.ownerOf(id);
        uint256 before = holder.balance + nft.credit(holder);
        vm.prank(holder);
        try nft.refund(id) {
            // forge-lint: disable-next-line(block-timestamp) the rule under test
            if (block.timestamp <= deadline) unexpectedRevert = true;
            refunds[id] += 1;
            if (holder.balance + nft.credit(holder) - before != escrowOf[id]) {
                payoutMismatch = true;
            }
        } catch (bytes memory reason) {
            _checkRevert(reason, abi.encodeWithSelector(GenImEscrow.DeadlineNotReached.selector, id, deadline));
        }
    }

    function withdraw(uint256 seed) external {
        address account = creditors[seed % creditors.length];
        uint256 owed = nft.credit(account) + nft.earnings(account);
        if (account == address(contractProvider) || account == address(contractUser)) {
            Receiver(payable(account)).setAccepting(true);
        }
        uint256 before = account.balance;
        vm.prank(account);
        try nft.withdraw() {
            if (account.balance - before != owed) payoutMismatch = true;
        } catch (bytes memory reason) {
            _checkRevert(reason, abi.encodeWithSelector(GenImEscrow.NothingToWithdraw.selector));
        }
    }

    function withdrawFees() external {
        address recipient = nft.feeRecipient();
        uint256 before = recipient.balance;
        uint256 expected = nft.accruedFees();
        try nft.withdrawFees() {
            if (recipient.balance - before != expected) payoutMismatch = true;
            ghostFees = 0;
        } catch (bytes memory reason) {
            _checkRevert(reason, abi.encodeWithSelector(GenImEscrow.NothingToWithdraw.selector));
        }
    }

    function setPrice(uint256 newPrice) external {
        vm.prank(owner);
        nft.setPrice(bound(newPrice, 0, 1 ether));
    }

    function toggleProvider(uint256 seed) external {
        address p = providerAccounts[seed % providerAccounts.length];
        authorized[p] = !authorized[p];
        if (authorized[p]) sinceOf[p] = nft.totalMinted() + 1;
        vm.prank(owner);
        nft.setProvider(p, authorized[p]);
    }

    function toggleRefusal(bool refuse) external {
        contractProvider.setAccepting(!refuse);
        contractUser.setAccepting(!refuse);
    }

    function transfer(uint256 idSeed, uint256 toSeed) external {
        if (ids.length == 0) return;
        uint256 id = ids[idSeed % ids.length];
        (uint8 state,,,) = nft.tokenState(id);
        if (state == 0 || state == 3) return;
        address from = nft.ownerOf(id);
        address to = users[toSeed % users.length];
        vm.prank(from);
        nft.transferFrom(from, to, id);
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 3 days));
    }
}

contract GenImNFTInvariantTest is Test {
    GenImNFT internal nft;
    GenImHandler internal handler;

    function setUp() public {
        address owner = makeAddr("owner");
        nft = new GenImNFT(owner, 0.00003 ether, 500, makeAddr("treasury"), 1 days);
        handler = new GenImHandler(nft, owner);
        targetContract(address(handler));
    }

    /// The contract holds exactly what it owes: escrow of pending tokens, accrued fees, credits
    /// and provider earnings.
    function invariant_BalanceEqualsLiabilities() public view {
        uint256 pendingEscrow;
        for (uint256 i; i < handler.idCount(); ++i) {
            uint256 id = handler.ids(i);
            (uint8 state, uint256 escrow,,) = nft.tokenState(id);
            if (state == 1) pendingEscrow += escrow;
        }
        uint256 owed; // credits and provider earnings
        for (uint256 i; i < handler.creditorCount(); ++i) {
            owed += nft.credit(handler.creditors(i)) + nft.earnings(handler.creditors(i));
        }
        assertEq(nft.accruedFees(), handler.ghostFees(), "accrued fees");
        assertEq(address(nft).balance, pendingEscrow + nft.accruedFees() + owed, "balance");
    }

    /// Each token is delivered or refunded at most once, never both, and its on-chain state
    /// agrees with what happened.
    function invariant_DeliveredOrRefundedAtMostOnce() public view {
        for (uint256 i; i < handler.idCount(); ++i) {
            uint256 id = handler.ids(i);
            uint256 d = handler.deliveries(id);
            uint256 r = handler.refunds(id);
            assertLe(d + r, 1, "delivered/refunded more than once");
            (uint8 state,,,) = nft.tokenState(id);
            if (d == 1) assertEq(state, 2, "delivered state");
            else if (r == 1) assertEq(state, 3, "refunded state");
            else assertEq(state, 1, "pending state");
        }
    }

    /// Only authorized providers ever delivered; every revert was the expected one.
    function invariant_OnlyProvidersDelivered() public view {
        assertEq(handler.unauthorizedDelivery(), false, "unauthorized delivery");
        assertEq(handler.unexpectedRevert(), false, "unexpected revert");
    }

    /// Every payout was its token's escrow minus the fee (refunds: the full escrow).
    function invariant_PayoutIsEscrowMinusFee() public view {
        assertEq(handler.payoutMismatch(), false, "payout mismatch");
    }
}
