// SPDX-License-Identifier: MIT
pragma solidity ^0.8.33;

import {GenImEscrow} from "../GenImEscrow.sol";
import {GenImTokenNFT} from "../GenImTokenNFT.sol";
import {IFiatToken, UsdcTest} from "./utils/Usdc.sol";

/// @dev Drives GenImTokenNFT paid in real USDC (behind its proxy): mints by approval, gasless
/// mints relayed by providers (random nonces) and by anyone (prompt-committed nonces, Transfer
/// and Receive), authorizations executed directly on USDC and minted for later by a provider,
/// cancelled-authorization attacks, deliveries, refunds to blacklisted owners, withdrawals,
/// fees, donations, provider and price changes, and time. It keeps a ghost ledger; every
/// revert is caught and checked to be the expected one.
contract TokenHandler is UsdcTest {
    struct Auth {
        address from;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        bytes signature;
    }

    IFiatToken public immutable usdc;
    GenImTokenNFT public immutable nft;
    address public immutable owner;
    address public immutable usdcAdmin;
    uint16 public immutable feeBps;

    uint256[] internal _keys;
    address[] public users;
    address public steadyProvider; // always authorized: it mints for front-run payments
    address public rotatingProvider;
    address public relayer;
    uint256 internal _attackerKey;

    uint256[] public ids;
    mapping(uint256 id => uint256) public escrowOf;
    mapping(uint256 id => uint256) public deliveries;
    mapping(uint256 id => uint256) public refunds;
    mapping(address account => bool) public authorized;
    mapping(address account => uint256) public sinceOf;
    mapping(address account => bool) public blacklisted;

    Auth[] internal _frontRun; // executed directly on USDC, not minted for yet
    uint256 public frontRunPending; // their total value
    uint256 public donations;
    uint256 public ghostFees;
    uint256 internal _nonce;

    bool public unexpectedRevert;
    bool public unauthorizedDelivery;
    bool public payoutMismatch;
    bool public stranded; // a front-run payment a provider could not mint for
    bool public stolen; // a cancelled authorization was minted for

    constructor(IFiatToken usdc_, GenImTokenNFT nft_, address owner_, address usdcAdmin_) {
        usdc = usdc_;
        nft = nft_;
        owner = owner_;
        usdcAdmin = usdcAdmin_;
        feeBps = nft_.feeBps();
        for (uint256 i; i < 3; ++i) {
            uint256 key = uint256(keccak256(abi.encode("token user", i)));
            _keys.push(key);
            users.push(vm.addr(key));
            vm.prank(usdcAdmin_);
            usdc_.mint(vm.addr(key), 1e15);
        }
        steadyProvider = makeAddr("steady provider");
        rotatingProvider = makeAddr("rotating provider");
        relayer = makeAddr("relayer");
        _attackerKey = uint256(keccak256("token attacker"));
        address[2] memory ps = [steadyProvider, rotatingProvider];
        for (uint256 i; i < 2; ++i) {
            vm.prank(owner_);
            nft_.setProvider(ps[i], true);
            authorized[ps[i]] = true;
            sinceOf[ps[i]] = 1;
        }
    }

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    function userCount() external view returns (uint256) {
        return users.length;
    }

    function _checkRevert(bytes memory got, bytes memory expected) internal {
        if (keccak256(got) != keccak256(expected)) unexpectedRevert = true;
    }

    function _pending(uint256 id) internal view returns (bool) {
        (uint8 state,,,) = nft.tokenState(id);
        return state == 1;
    }

    function _pickId(uint256 seed) internal view returns (uint256) {
        if (ids.length == 0 || seed % 10 == 0) return bound(seed, 1, 1000);
        return ids[seed % ids.length];
    }

    function _auth(uint256 key, bytes32 typehash, bytes32 nonce, uint256 validBefore)
        internal
        view
        returns (Auth memory a)
    {
        a.from = vm.addr(key);
        a.value = nft.price();
        a.validBefore = validBefore;
        a.nonce = nonce;
        a.signature =
            _sign(key, _authorizationDigest(usdc, typehash, a.from, address(nft), a.value, 0, validBefore, nonce));
    }

    function _record(uint256 id) internal {
        ids.push(id);
        (, uint256 escrow,,) = nft.tokenState(id);
        escrowOf[id] = escrow;
    }

    /*//////////////////////////////////////////////////////////////
                                ACTIONS
    //////////////////////////////////////////////////////////////*/

    function mintApproved(uint256 userSeed) external {
        address user = users[userSeed % users.length];
        if (blacklisted[user]) return;
        vm.startPrank(user);
        usdc.approve(address(nft), nft.price());
        uint256 id = nft.mint("an approved mint");
        vm.stopPrank();
        _record(id);
    }

    /// x402: a random nonce, relayed by a provider.
    function mintRelayedByProvider(uint256 userSeed, bool receive_) external {
        uint256 key = _keys[userSeed % _keys.length];
        if (blacklisted[vm.addr(key)]) return;
        Auth memory a = _auth(
            key, receive_ ? RECEIVE_TYPEHASH : TRANSFER_TYPEHASH, keccak256(abi.encode(++_nonce)), block.timestamp + 60
        );
        vm.prank(steadyProvider);
        try nft.mintWithAuthorization("relayed", a.from, 0, a.validBefore, a.nonce, a.signature) returns (uint256 id) {
            _record(id);
        } catch {
            unexpectedRevert = true;
        }
    }

    /// A nonce that commits to the prompt, relayed by anyone.
    function mintCommitted(uint256 userSeed, bool receive_) external {
        uint256 key = _keys[userSeed % _keys.length];
        address from = vm.addr(key);
        if (blacklisted[from]) return;
        uint256 validBefore = block.timestamp + 1000 + ++_nonce;
        bytes32 nonce = nft.promptNonce("committed", from, 0, validBefore);
        Auth memory a = _auth(key, receive_ ? RECEIVE_TYPEHASH : TRANSFER_TYPEHASH, nonce, validBefore);
        vm.prank(relayer);
        try nft.mintWithAuthorization("committed", from, 0, validBefore, nonce, a.signature) returns (uint256 id) {
            _record(id);
        } catch {
            unexpectedRevert = true;
        }
    }

    /// Someone executes a user's x402 authorization directly on USDC.
    function frontRun(uint256 userSeed) external {
        uint256 key = _keys[userSeed % _keys.length];
        if (blacklisted[vm.addr(key)]) return;
        Auth memory a = _auth(key, TRANSFER_TYPEHASH, keccak256(abi.encode("front", ++_nonce)), block.timestamp + 60);
        usdc.transferWithAuthorization(a.from, address(nft), a.value, 0, a.validBefore, a.nonce, a.signature);
        _frontRun.push(a);
        frontRunPending += a.value;
    }

    /// A provider mints for a front-run payment: it must always succeed.
    function mintForFrontRun(uint256 seed) external {
        if (_frontRun.length == 0) return;
        uint256 i = seed % _frontRun.length;
        Auth memory a = _frontRun[i];
        vm.prank(steadyProvider);
        try nft.mintWithAuthorization("front-run", a.from, 0, a.validBefore, a.nonce, a.signature) returns (
            uint256 id
        ) {
            _record(id);
            frontRunPending -= a.value;
            _frontRun[i] = _frontRun[_frontRun.length - 1];
            _frontRun.pop();
        } catch {
            stranded = true;
        }
    }

    /// The attacker cancels its own authorization and asks for a token for it.
    function cancelAttack() external {
        bytes32 nonce = nft.promptNonce("stolen", vm.addr(_attackerKey), 0, block.timestamp + 60 + ++_nonce);
        Auth memory a = _auth(_attackerKey, TRANSFER_TYPEHASH, nonce, block.timestamp + 60 + _nonce);
        usdc.cancelAuthorization(a.from, nonce, _signCancel(usdc, _attackerKey, nonce));
        vm.prank(a.from);
        try nft.mintWithAuthorization("stolen", a.from, 0, a.validBefore, nonce, a.signature) {
            stolen = true;
        } catch (bytes memory reason) {
            _checkRevert(
                reason, abi.encodeWithSelector(GenImTokenNFT.AuthorizationUsedElsewhere.selector, a.from, nonce)
            );
        }
    }

    function deliver(uint256 providerSeed, uint256 idSeed) external {
        address p = providerSeed % 2 == 0 ? steadyProvider : rotatingProvider;
        uint256 id = _pickId(idSeed);
        bool pending = _pending(id);
        uint256 earnedBefore = nft.earnings(p);
        vm.prank(p);
        try nft.deliver(id, keccak256(abi.encode(id))) {
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

    function deliverBatch(uint256[3] calldata idSeeds) external {
        address p = steadyProvider;
        uint256[] memory batch = new uint256[](3);
        bytes32[] memory digests = new bytes32[](3);
        bool[] memory will = new bool[](3);
        uint256 expected;
        for (uint256 i; i < 3; ++i) {
            batch[i] = _pickId(idSeeds[i]);
            digests[i] = keccak256(abi.encode(batch[i], i));
            will[i] = _pending(batch[i]);
            for (uint256 j; j < i; ++j) {
                if (batch[j] == batch[i]) will[i] = false;
            }
            if (will[i]) expected += escrowOf[batch[i]] - escrowOf[batch[i]] * feeBps / 10_000;
        }
        uint256 earnedBefore = nft.earnings(p);
        vm.prank(p);
        nft.deliverBatch(batch, digests);
        for (uint256 i; i < 3; ++i) {
            if (!will[i]) continue;
            deliveries[batch[i]] += 1;
            ghostFees += escrowOf[batch[i]] * feeBps / 10_000;
        }
        if (nft.earnings(p) - earnedBefore != expected) payoutMismatch = true;
    }

    function refund(uint256 idSeed, uint256 wait) external {
        if (ids.length == 0) return;
        uint256 id = ids[idSeed % ids.length];
        vm.warp(block.timestamp + bound(wait, 0, 2 days));
        (uint8 state,, uint64 deadline,) = nft.tokenState(id);
        if (state != 1) return;
        address holder = nft.ownerOf(id);
        uint256 creditBefore = nft.credit(holder);
        uint256 before = usdc.balanceOf(holder) + creditBefore;
        vm.prank(holder);
        try nft.refund(id) {
            // forge-lint: disable-next-line(block-timestamp) the rule under test
            if (block.timestamp <= deadline) unexpectedRevert = true;
            refunds[id] += 1;
            if (usdc.balanceOf(holder) + nft.credit(holder) - before != escrowOf[id]) payoutMismatch = true;
            // A blacklisted holder cannot receive: its refund is credited in full.
            if (blacklisted[holder] && nft.credit(holder) - creditBefore != escrowOf[id]) payoutMismatch = true;
        } catch (bytes memory reason) {
            _checkRevert(reason, abi.encodeWithSelector(GenImEscrow.DeadlineNotReached.selector, id, deadline));
        }
    }

    function withdraw(uint256 seed) external {
        address account = seed % 4 == 3 ? steadyProvider : users[seed % users.length];
        if (seed % 7 == 0) account = rotatingProvider;
        uint256 owed = nft.credit(account) + nft.earnings(account);
        uint256 before = usdc.balanceOf(account);
        vm.prank(account);
        try nft.withdraw() {
            if (usdc.balanceOf(account) - before != owed) payoutMismatch = true;
        } catch (bytes memory reason) {
            if (owed == 0) _checkRevert(reason, abi.encodeWithSelector(GenImEscrow.NothingToWithdraw.selector));
            else if (!blacklisted[account]) unexpectedRevert = true;
        }
    }

    function withdrawFees() external {
        uint256 expected = nft.accruedFees();
        try nft.withdrawFees() {
            ghostFees = 0;
            if (expected == 0) unexpectedRevert = true;
        } catch (bytes memory reason) {
            _checkRevert(reason, abi.encodeWithSelector(GenImEscrow.NothingToWithdraw.selector));
        }
    }

    /// USDC sent to the contract directly.
    function donate(uint256 amount) external {
        amount = bound(amount, 1, 1e9);
        address user = users[0];
        if (blacklisted[user]) return;
        vm.prank(user);
        assertTrue(usdc.transfer(address(nft), amount), "donation");
        donations += amount;
    }

    function toggleBlacklist(uint256 userSeed) external {
        address user = users[userSeed % users.length];
        blacklisted[user] = !blacklisted[user];
        vm.prank(usdcAdmin);
        if (blacklisted[user]) usdc.blacklist(user);
        else usdc.unBlacklist(user);
    }

    /// Price changes only while no front-run payment waits (its signature names the price).
    function setPrice(uint256 newPrice) external {
        if (_frontRun.length != 0) return;
        vm.prank(owner);
        nft.setPrice(bound(newPrice, 0, 1e9));
    }

    function toggleRotatingProvider() external {
        address p = rotatingProvider;
        authorized[p] = !authorized[p];
        if (authorized[p]) sinceOf[p] = nft.totalMinted() + 1;
        vm.prank(owner);
        nft.setProvider(p, authorized[p]);
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 3 days));
    }
}

contract GenImTokenNFTInvariantTest is UsdcTest {
    IFiatToken internal usdc;
    GenImTokenNFT internal nft;
    TokenHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        usdc = _deployUsdc(true);
        address owner = makeAddr("owner");
        nft = new GenImTokenNFT(owner, address(usdc), 10_000, 500, makeAddr("treasury"), 1 days);
        handler = new TokenHandler(usdc, nft, owner, usdcOwner);
        targetContract(address(handler));
    }

    /// What the contract owes is exactly pending escrow + accrued fees + credits + earnings, and
    /// its USDC balance is that plus donations plus front-run payments awaiting their token.
    function invariant_BalanceEqualsAccountedPlusUnclaimed() public view {
        uint256 pendingEscrow;
        for (uint256 i; i < handler.idCount(); ++i) {
            (uint8 state, uint256 escrow,,) = nft.tokenState(handler.ids(i));
            if (state == 1) pendingEscrow += escrow;
        }
        uint256 owed = nft.accruedFees();
        for (uint256 i; i < handler.userCount(); ++i) {
            owed += nft.credit(handler.users(i)) + nft.earnings(handler.users(i));
        }
        owed += nft.earnings(handler.steadyProvider()) + nft.earnings(handler.rotatingProvider());
        owed += nft.credit(handler.steadyProvider()) + nft.credit(handler.rotatingProvider());
        assertEq(nft.accruedFees(), handler.ghostFees(), "accrued fees");
        assertEq(nft.accounted(), pendingEscrow + owed, "accounted");
        assertEq(
            usdc.balanceOf(address(nft)), nft.accounted() + handler.donations() + handler.frontRunPending(), "balance"
        );
    }

    /// Each token is delivered or refunded at most once, never both, and its state agrees.
    /// Front-run payments are never stranded nor stolen by a cancelled authorization; only
    /// providers authorized at mint delivered; payouts were exact; every revert was expected.
    /// (One invariant function, so one campaign: each costs about a minute on two cores.)
    function invariant_OnceNothingStrandedStolenOrUnexpected() public view {
        assertEq(handler.stranded(), false, "front-run payment stranded");
        assertEq(handler.stolen(), false, "cancelled authorization minted for");
        assertEq(handler.unauthorizedDelivery(), false, "unauthorized delivery");
        assertEq(handler.payoutMismatch(), false, "payout mismatch");
        assertEq(handler.unexpectedRevert(), false, "unexpected revert");
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
}
