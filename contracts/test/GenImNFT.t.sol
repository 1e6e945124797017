// SPDX-License-Identifier: MIT
pragma solidity ^0.8.33;

import {ERC721} from "solady/tokens/ERC721.sol";
import {Base64} from "solady/utils/Base64.sol";
import {GenImEscrow} from "../GenImEscrow.sol";
import {GenImNFT} from "../GenImNFT.sol";
import {Test} from "./utils/Test.sol";
import {GenImNFTHarness, Receiver, ReentrantProvider} from "./utils/Mocks.sol";

contract GenImNFTTest is Test {
    GenImNFT internal nft;

    address internal owner = makeAddr("owner");
    address internal treasury = makeAddr("treasury");
    address internal provider = makeAddr("provider");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal attacker = makeAddr("attacker");

    uint256 internal constant PRICE = 0.00003 ether;
    uint16 internal constant FEE_BPS = 500;
    uint64 internal constant WINDOW = 1 days;
    bytes32 internal constant DIGEST = keccak256("metadata");
    /// sha256 of the empty file and its CID as `ipfs add --cid-version=1` prints it (Kubo).
    bytes32 internal constant EMPTY_SHA256 = 0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855;
    string internal constant EMPTY_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

    function setUp() public {
        nft = new GenImNFT(owner, PRICE, FEE_BPS, treasury, WINDOW);
        vm.prank(owner);
        nft.setProvider(provider, true);
        vm.deal(alice, 10 ether);
        vm.deal(bob, 10 ether);
        vm.deal(attacker, 10 ether);
    }

    function _mint(address user) internal returns (uint256 id) {
        vm.prank(user);
        id = nft.mint{value: PRICE}("a fox in the snow");
    }

    function _state(uint256 id) internal view returns (uint8 state) {
        (state,,,) = nft.tokenState(id);
    }

    /*//////////////////////////////////////////////////////////////
                              CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    function test_Constructor() public view {
        assertEq(nft.owner(), owner);
        assertEq(nft.price(), PRICE);
        assertEq(nft.feeBps(), FEE_BPS);
        assertEq(nft.feeRecipient(), treasury);
        assertEq(nft.deliveryWindow(), WINDOW);
        assertEq(nft.isProvider(provider), true);
        assertEq(nft.paused(), false);
        assertEq(nft.totalMinted(), 0);
        assertEq(nft.name(), "GenIm");
        assertEq(nft.symbol(), "GENIM");
    }

    function test_AssetIsEth() public view {
        assertEq(nft.asset(), address(0));
    }

    function test_RevertWhen_ConstructorZeroOwner() public {
        vm.expectRevert(GenImEscrow.ZeroAddress.selector);
        new GenImNFT(address(0), PRICE, FEE_BPS, treasury, WINDOW);
    }

    function test_RevertWhen_ConstructorZeroFeeRecipient() public {
        vm.expectRevert(GenImEscrow.ZeroAddress.selector);
        new GenImNFT(owner, PRICE, FEE_BPS, address(0), WINDOW);
    }

    function test_RevertWhen_ConstructorFeeTooHigh() public {
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.FeeTooHigh.selector, 10_001));
        new GenImNFT(owner, PRICE, 10_001, treasury, WINDOW);
    }

    function test_RevertWhen_ConstructorZeroWindow() public {
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.InvalidDeliveryWindow.selector, 0));
        new GenImNFT(owner, PRICE, FEE_BPS, treasury, 0);
    }

    function test_RevertWhen_ConstructorWindowTooLong() public {
        uint64 tooLong = 365 days + 1;
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.InvalidDeliveryWindow.selector, tooLong));
        new GenImNFT(owner, PRICE, FEE_BPS, treasury, tooLong);
    }

    function test_RevertWhen_ConstructorPriceTooHigh() public {
        uint256 tooHigh = uint256(type(uint64).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.PriceTooHigh.selector, tooHigh));
        new GenImNFT(owner, tooHigh, FEE_BPS, treasury, WINDOW);
    }

    /*//////////////////////////////////////////////////////////////
                                  MINT
    //////////////////////////////////////////////////////////////*/

    function test_Mint() public {
        vm.expectEmit(true, true, true, true, address(nft));
        emit ERC721.Transfer(address(0), alice, 1);
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.ImageRequested(1, alice, PRICE, "a fox in the snow");
        uint256 id = _mint(alice);

        assertEq(id, 1);
        assertEq(nft.ownerOf(1), alice);
        assertEq(nft.balanceOf(alice), 1);
        assertEq(address(nft).balance, PRICE);
        assertEq(nft.totalMinted(), 1);
        (uint8 state, uint256 escrow, uint64 deadline, bytes32 digest) = nft.tokenState(1);
        assertEq(state, nft.STATE_PENDING());
        assertEq(escrow, PRICE);
        assertEq(deadline, block.timestamp + WINDOW);
        assertEq(digest, bytes32(0));
        assertEq(_mint(alice), 2, "ids are sequential");
    }

    function test_MintLongestPrompt() public {
        bytes memory prompt = new bytes(1000);
        for (uint256 i; i < prompt.length; ++i) {
            prompt[i] = "x";
        }
        vm.prank(alice);
        assertEq(nft.mint{value: PRICE}(string(prompt)), 1);
    }

    function test_MintAtPriceZero() public {
        vm.prank(owner);
        nft.setPrice(0);
        vm.prank(alice);
        uint256 id = nft.mint("free image");
        assertEq(_state(id), nft.STATE_PENDING());
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        assertEq(_state(id), nft.STATE_DELIVERED());
    }

    function test_RevertWhen_MintUnderpaid() public {
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.WrongPayment.selector, PRICE, PRICE - 1));
        vm.prank(alice);
        nft.mint{value: PRICE - 1}("fox");
    }

    function test_RevertWhen_MintOverpaid() public {
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.WrongPayment.selector, PRICE, PRICE + 1));
        vm.prank(alice);
        nft.mint{value: PRICE + 1}("fox");
    }

    function test_RevertWhen_MintEmptyPrompt() public {
        vm.expectRevert(GenImEscrow.EmptyPrompt.selector);
        vm.prank(alice);
        nft.mint{value: PRICE}("");
    }

    function test_RevertWhen_MintPromptTooLong() public {
        bytes memory prompt = new bytes(1001);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.PromptTooLong.selector, 1001, 1000));
        vm.prank(alice);
        nft.mint{value: PRICE}(string(prompt));
    }

    function test_RevertWhen_MintPaused() public {
        vm.prank(owner);
        nft.pause();
        vm.expectRevert(GenImEscrow.MintingPaused.selector);
        vm.prank(alice);
        nft.mint{value: PRICE}("fox");
    }

    function test_RevertWhen_MintAfterDeadlineFieldEnds() public {
        vm.warp(block.timestamp + uint256(type(uint32).max));
        vm.expectRevert(GenImEscrow.MintingEnded.selector);
        vm.prank(alice);
        nft.mint{value: PRICE}("fox");
    }

    function testFuzz_Mint(uint256 price, uint256 promptLength, address user) public {
        price = bound(price, 0, type(uint64).max);
        promptLength = bound(promptLength, 1, 1000);
        vm.assume(user.code.length == 0 && user != address(0) && uint160(user) > 0xff);
        vm.prank(owner);
        nft.setPrice(price);
        vm.deal(user, price);
        vm.prank(user);
        uint256 id = nft.mint{value: price}(string(new bytes(promptLength)));
        (uint8 state, uint256 escrow,,) = nft.tokenState(id);
        assertEq(state, nft.STATE_PENDING());
        assertEq(escrow, price);
        assertEq(nft.ownerOf(id), user);
    }

    /*//////////////////////////////////////////////////////////////
                                DELIVER
    //////////////////////////////////////////////////////////////*/

    function test_Deliver() public {
        uint256 id = _mint(alice);
        uint256 fee = PRICE * FEE_BPS / 10_000;
        uint256 before = provider.balance;

        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.ImageDelivered(id, provider, DIGEST, PRICE - fee);
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.MetadataUpdate(id);
        vm.prank(provider);
        nft.deliver(id, DIGEST);

        assertEq(nft.earnings(provider), PRICE - fee, "provider earned escrow - fee");
        assertEq(provider.balance, before, "accrued, not pushed");
        assertEq(nft.accruedFees(), fee);
        assertEq(address(nft).balance, PRICE);

        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.Withdrawn(provider, PRICE - fee);
        vm.prank(provider);
        nft.withdraw();
        assertEq(provider.balance - before, PRICE - fee, "provider paid escrow - fee");
        assertEq(nft.earnings(provider), 0);
        assertEq(address(nft).balance, fee);
        (uint8 state, uint256 escrow,, bytes32 digest) = nft.tokenState(id);
        assertEq(state, nft.STATE_DELIVERED());
        assertEq(escrow, PRICE);
        assertEq(digest, DIGEST);
    }

    function test_DeliverAfterDeadline() public {
        uint256 id = _mint(alice);
        vm.warp(block.timestamp + WINDOW + 1 days);
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        assertEq(_state(id), nft.STATE_DELIVERED());
    }

    function test_DeliverPaysEscrowNotCurrentPrice() public {
        uint256 id = _mint(alice);
        vm.prank(owner);
        nft.setPrice(PRICE * 10);
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        assertEq(nft.earnings(provider), PRICE - PRICE * FEE_BPS / 10_000);
    }

    /// Upstream v1-v3: anyone could "deliver" an empty URL first, take the payout and leave the
    /// token empty forever. Here only providers deliver, the digest cannot be empty, and the
    /// honest delivery still goes through.
    function test_RevertWhen_FrontRunnerDelivers() public {
        uint256 id = _mint(alice);
        uint256 attackerBefore = attacker.balance;

        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotProvider.selector, attacker));
        vm.prank(attacker);
        nft.deliver(id, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotProvider.selector, attacker));
        vm.prank(attacker);
        nft.deliver(id, DIGEST);
        uint256[] memory ids = new uint256[](1);
        bytes32[] memory digests = new bytes32[](1);
        ids[0] = id;
        digests[0] = DIGEST;
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotProvider.selector, attacker));
        vm.prank(attacker);
        nft.deliverBatch(ids, digests);

        assertEq(attacker.balance, attackerBefore, "attacker earned nothing");
        assertEq(_state(id), nft.STATE_PENDING());
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        assertEq(_state(id), nft.STATE_DELIVERED());
    }

    /// Finding 1 of the review: a newly authorized provider (or the owner authorizing itself,
    /// or a stolen key authorized anew) could deliver junk for every pending token and take
    /// every escrow minus fees. A token can now be delivered only by a provider that was
    /// already authorized when it was minted.
    function test_RevertWhen_NewProviderDeliversEarlierToken() public {
        uint256 id = _mint(alice);
        address newcomer = makeAddr("newcomer");
        vm.prank(owner);
        nft.setProvider(newcomer, true);
        assertEq(nft.canDeliver(id, newcomer), false);
        assertEq(nft.canDeliver(id, provider), true);

        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotAuthorizedAtMint.selector, id, newcomer));
        vm.prank(newcomer);
        nft.deliver(id, DIGEST);

        // Tokens minted after its authorization are its to deliver.
        uint256 later = _mint(bob);
        assertEq(nft.canDeliver(later, newcomer), true);
        vm.prank(newcomer);
        nft.deliver(later, DIGEST);
        assertEq(_state(later), nft.STATE_DELIVERED());
        assertEq(_state(id), nft.STATE_PENDING(), "the earlier token waits for its own providers");
    }

    /// The review's attack in full: the owner authorizes itself and batch-delivers junk digests
    /// for all pending tokens. Every one is skipped, nothing is paid, and the refunds work.
    function test_RevertWhen_OwnerDeliversPendingEscrowToItself() public {
        uint256[] memory ids = new uint256[](3);
        bytes32[] memory junk = new bytes32[](3);
        for (uint256 i; i < 3; ++i) {
            ids[i] = _mint(i == 1 ? bob : alice);
            junk[i] = bytes32(i + 1);
        }
        uint256 ownerBefore = owner.balance;
        vm.startPrank(owner);
        nft.setProvider(owner, true);
        for (uint256 i; i < 3; ++i) {
            vm.expectEmit(true, true, true, true, address(nft));
            emit GenImEscrow.DeliverySkipped(ids[i], owner);
        }
        nft.deliverBatch(ids, junk);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotAuthorizedAtMint.selector, ids[0], owner));
        nft.deliver(ids[0], junk[0]);
        vm.stopPrank();

        assertEq(owner.balance, ownerBefore, "owner took nothing");
        assertEq(nft.earnings(owner), 0, "and earned nothing");
        assertEq(nft.accruedFees(), 0);
        assertEq(address(nft).balance, 3 * PRICE, "all escrow still held");
        vm.warp(block.timestamp + WINDOW + 1);
        for (uint256 i; i < 3; ++i) {
            vm.prank(nft.ownerOf(ids[i]));
            nft.refund(ids[i]);
        }
        assertEq(address(nft).balance, 0);
    }

    /// A removed provider that is authorized again starts afresh: what was minted while it was
    /// away, or before, is not its to deliver.
    function test_RevertWhen_ReauthorizedProviderDeliversEarlierToken() public {
        uint256 before = _mint(alice);
        vm.startPrank(owner);
        nft.setProvider(provider, false);
        nft.setProvider(provider, true);
        vm.stopPrank();
        assertEq(nft.authorizedSince(provider), before + 1);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotAuthorizedAtMint.selector, before, provider));
        vm.prank(provider);
        nft.deliver(before, DIGEST);
    }

    function test_CanDeliverAndDeliverersOf() public {
        address second = makeAddr("second");
        address third = makeAddr("third");
        uint256 first = _mint(alice);
        vm.prank(owner);
        nft.setProvider(second, true);
        uint256 next = _mint(bob);
        vm.prank(owner);
        nft.setProvider(third, true);

        assertEq(nft.authorizedSince(provider), 1);
        assertEq(nft.authorizedSince(second), 2);
        assertEq(nft.authorizedSince(third), 3);
        assertEq(nft.authorizedSince(alice), 0);
        address[] memory a = nft.deliverersOf(first);
        assertEq(a.length, 1);
        assertEq(a[0], provider);
        a = nft.deliverersOf(next);
        assertEq(a.length, 2);
        assertEq(nft.canDeliver(next, second), true);
        assertEq(nft.canDeliver(next, third), false);
        assertEq(nft.canDeliver(next, alice), false, "not a provider");
        assertEq(nft.deliverersOf(99).length, 0, "unminted");

        vm.prank(owner);
        nft.setProvider(provider, false);
        assertEq(nft.canDeliver(first, provider), false, "removed");
        assertEq(nft.deliverersOf(first).length, 0);
        vm.prank(second);
        nft.deliver(next, DIGEST);
        assertEq(nft.canDeliver(next, second), false, "delivered");
        assertEq(nft.deliverersOf(next).length, 0);
    }

    function testFuzz_ProviderDeliversOnlyTokensMintedAfterItsAuthorization(uint8 earlier, uint8 later) public {
        earlier = uint8(bound(earlier, 0, 20));
        later = uint8(bound(later, 1, 20));
        for (uint256 i; i < earlier; ++i) {
            _mint(alice);
        }
        address newcomer = makeAddr("newcomer");
        vm.prank(owner);
        nft.setProvider(newcomer, true);
        for (uint256 i; i < later; ++i) {
            _mint(bob);
        }
        uint256 total = uint256(earlier) + later;
        uint256[] memory ids = new uint256[](total);
        bytes32[] memory digests = new bytes32[](total);
        for (uint256 i; i < total; ++i) {
            (ids[i], digests[i]) = (i + 1, DIGEST);
            assertEq(nft.canDeliver(i + 1, newcomer), i >= earlier);
        }
        vm.prank(newcomer);
        nft.deliverBatch(ids, digests);
        assertEq(nft.earnings(newcomer), later * (PRICE - PRICE * FEE_BPS / 10_000), "paid for its own only");
        for (uint256 i; i < total; ++i) {
            assertEq(_state(i + 1), i < earlier ? nft.STATE_PENDING() : nft.STATE_DELIVERED());
        }
    }

    function test_RevertWhen_DeliverEmptyDigest() public {
        uint256 id = _mint(alice);
        vm.expectRevert(GenImEscrow.InvalidDigest.selector);
        vm.prank(provider);
        nft.deliver(id, bytes32(0));
    }

    function test_RevertWhen_DeliverTwice() public {
        uint256 id = _mint(alice);
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.TokenNotPending.selector, id));
        vm.prank(provider);
        nft.deliver(id, keccak256("other"));
    }

    function test_RevertWhen_DeliverUnminted() public {
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.TokenNotPending.selector, 7));
        vm.prank(provider);
        nft.deliver(7, DIGEST);
    }

    function test_RevertWhen_DeliverRefunded() public {
        uint256 id = _mint(alice);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.prank(alice);
        nft.refund(id);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.TokenNotPending.selector, id));
        vm.prank(provider);
        nft.deliver(id, DIGEST);
    }

    function test_RevertWhen_DeliverByRemovedProvider() public {
        uint256 id = _mint(alice);
        vm.prank(owner);
        nft.setProvider(provider, false);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotProvider.selector, provider));
        vm.prank(provider);
        nft.deliver(id, DIGEST);
    }

    function test_RejectingProviderStillDeliversAndKeepsEarnings() public {
        Receiver rejecting = new Receiver(nft, false);
        vm.prank(owner);
        nft.setProvider(address(rejecting), true);
        uint256 id = _mint(alice);
        uint256 payout = PRICE - PRICE * FEE_BPS / 10_000;

        rejecting.deliver(id, DIGEST);
        assertEq(_state(id), nft.STATE_DELIVERED(), "delivery went through");
        assertEq(nft.earnings(address(rejecting)), payout);

        vm.expectRevert(); // its own withdrawal fails while it refuses ETH, and keeps the earnings
        rejecting.withdraw();
        assertEq(nft.earnings(address(rejecting)), payout);

        rejecting.setAccepting(true);
        rejecting.withdraw();
        assertEq(address(rejecting).balance, payout);
        assertEq(nft.earnings(address(rejecting)), 0);
    }

    /// A provider re-entering from its withdrawal can neither withdraw twice nor deliver again.
    function test_ReentrantProviderCannotWithdrawOrDeliverTwice() public {
        ReentrantProvider reentrant = new ReentrantProvider(nft);
        vm.prank(owner);
        nft.setProvider(address(reentrant), true);
        uint256 id = _mint(alice);
        reentrant.deliverAndWithdraw(id, DIGEST);
        assertEq(reentrant.reentrySucceeded(), false);
        assertEq(reentrant.reentryAttempts(), 2);
        (,,, bytes32 digest) = nft.tokenState(id);
        assertEq(digest, DIGEST, "first digest kept");
        assertEq(address(reentrant).balance, PRICE - PRICE * FEE_BPS / 10_000, "paid once");
        assertEq(nft.earnings(address(reentrant)), 0);
    }

    /// `withdraw` pays a provider's earnings and its credits (refunds whose push failed) at once.
    function test_WithdrawPaysEarningsAndCredit() public {
        Receiver both = new Receiver(nft, false);
        vm.prank(owner);
        nft.setProvider(address(both), true);
        uint256 own = both.mint{value: PRICE}("its own image");
        uint256 id = _mint(alice);
        both.deliver(id, DIGEST);
        vm.warp(block.timestamp + WINDOW + 1);
        both.refund(own); // the push fails: credited
        uint256 payout = PRICE - PRICE * FEE_BPS / 10_000;
        assertEq(nft.credit(address(both)), PRICE);
        assertEq(nft.earnings(address(both)), payout);

        both.setAccepting(true);
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.Withdrawn(address(both), PRICE + payout);
        both.withdraw();
        assertEq(address(both).balance, PRICE + payout);
        assertEq(nft.credit(address(both)), 0);
        assertEq(nft.earnings(address(both)), 0);
        assertEq(nft.isProvider(address(both)), true, "still a provider");
    }

    function test_RemovedProviderKeepsEarnings() public {
        uint256 id = _mint(alice);
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        vm.prank(owner);
        nft.setProvider(provider, false);
        uint256 payout = PRICE - PRICE * FEE_BPS / 10_000;
        assertEq(nft.earnings(provider), payout);
        uint256 before = provider.balance;
        vm.prank(provider);
        nft.withdraw();
        assertEq(provider.balance - before, payout);
    }

    /// The assembly hot paths name errors, events and the digest base by hardcoded values.
    function test_HardcodedSelectorsMatch() public {
        uint256[15] memory c = new GenImNFTHarness(owner).hardcoded();
        bytes4[10] memory errors = [
            GenImEscrow.EmptyPrompt.selector,
            GenImEscrow.WrongPayment.selector,
            GenImEscrow.PromptTooLong.selector,
            GenImEscrow.MintingPaused.selector,
            GenImEscrow.MintingEnded.selector,
            GenImEscrow.NotProvider.selector,
            GenImEscrow.InvalidDigest.selector,
            GenImEscrow.TokenNotPending.selector,
            GenImEscrow.NotAuthorizedAtMint.selector,
            GenImEscrow.AccrualOverflow.selector
        ];
        for (uint256 i; i < errors.length; ++i) {
            assertEq(c[i], uint256(uint32(errors[i])), "error selector");
        }
        assertEq(bytes32(c[10]), GenImEscrow.ImageRequested.selector, "ImageRequested");
        assertEq(bytes32(c[11]), GenImEscrow.ImageDelivered.selector, "ImageDelivered");
        assertEq(bytes32(c[12]), GenImEscrow.MetadataUpdate.selector, "MetadataUpdate");
        assertEq(bytes32(c[13]), ERC721.Transfer.selector, "Transfer");
        assertEq(bytes32(c[14]), keccak256("genim.GenImEscrow.digests"), "digest base");
    }

    /// `deliver` refuses once a provider's earnings or fees reach 2^95 (a cheap, conservative
    /// form of the exact 2^96 check that `deliverBatch` makes); withdrawing makes room again.
    function test_RevertWhen_DeliverWouldOverflowAccrual() public {
        GenImNFTHarness harness = new GenImNFTHarness(owner);
        vm.prank(owner);
        harness.setProvider(provider, true);
        uint256 since = harness.providerData(provider);
        vm.prank(alice);
        uint256 id = harness.mint{value: 1}("fox");
        harness.setProviderData(provider, since | (uint256(1) << 159));
        vm.expectRevert(GenImEscrow.AccrualOverflow.selector);
        vm.prank(provider);
        harness.deliver(id, DIGEST);
        harness.setProviderData(provider, since | (uint256(1) << 255));
        vm.expectRevert(GenImEscrow.AccrualOverflow.selector);
        vm.prank(provider);
        harness.deliver(id, DIGEST);
        harness.setProviderData(provider, since | (uint256(1) << 158) | (uint256(1) << 254));
        vm.prank(provider);
        harness.deliver(id, DIGEST);
        assertEq(harness.earnings(provider), (uint256(1) << 94) + 1);
    }

    function test_RevertWhen_AccrualOverflows() public {
        GenImNFTHarness harness = new GenImNFTHarness(owner);
        uint256 max96 = type(uint96).max;
        // Earnings field full.
        vm.expectRevert(GenImEscrow.AccrualOverflow.selector);
        harness.accrue(max96 << 64, 1, 0);
        // Fee field full.
        vm.expectRevert(GenImEscrow.AccrualOverflow.selector);
        harness.accrue(max96 << 160, 0, 1);
        // Just fits, and neither spills into the other.
        uint256 slot = harness.accrue(((max96 - 1) << 64) | ((max96 - 2) << 160) | 7, 1, 2);
        assertEq(slot, (max96 << 64) | (max96 << 160) | 7);
        vm.expectRevert(GenImEscrow.AccrualOverflow.selector);
        harness.addFees(type(uint96).max, 1);
    }

    function testFuzz_DeliverPaysEscrowMinusFee(uint256 price, uint16 feeBps) public {
        price = bound(price, 0, type(uint64).max);
        feeBps = uint16(bound(feeBps, 0, 10_000));
        GenImNFT custom = new GenImNFT(owner, price, feeBps, treasury, WINDOW);
        vm.prank(owner);
        custom.setProvider(provider, true);
        vm.deal(alice, price);
        vm.prank(alice);
        uint256 id = custom.mint{value: price}("fox");
        uint256 before = provider.balance;
        vm.prank(provider);
        custom.deliver(id, DIGEST);
        uint256 fee = price * feeBps / 10_000;
        assertEq(custom.earnings(provider), price - fee, "payout");
        assertEq(custom.accruedFees(), fee, "fee");
        if (price - fee != 0) {
            vm.prank(provider);
            custom.withdraw();
        }
        assertEq(provider.balance - before, price - fee, "payout withdrawn");
        assertEq(address(custom).balance, fee, "only the fee stays");
    }

    /*//////////////////////////////////////////////////////////////
                             DELIVER BATCH
    //////////////////////////////////////////////////////////////*/

    function test_DeliverBatch() public {
        uint256[] memory ids = new uint256[](3);
        bytes32[] memory digests = new bytes32[](3);
        for (uint256 i; i < 3; ++i) {
            ids[i] = _mint(i == 1 ? bob : alice);
            digests[i] = keccak256(abi.encode(i));
        }
        vm.prank(provider);
        nft.deliverBatch(ids, digests);
        uint256 fee = PRICE * FEE_BPS / 10_000;
        assertEq(nft.earnings(provider), 3 * (PRICE - fee));
        assertEq(nft.accruedFees(), 3 * fee);
        for (uint256 i; i < 3; ++i) {
            (uint8 state,,, bytes32 digest) = nft.tokenState(ids[i]);
            assertEq(state, nft.STATE_DELIVERED());
            assertEq(digest, digests[i]);
        }
    }

    function test_DeliverBatchSkipsNonPending() public {
        uint256 delivered = _mint(alice);
        uint256 refunded = _mint(bob);
        vm.prank(provider);
        nft.deliver(delivered, DIGEST);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.prank(bob);
        nft.refund(refunded);
        uint256 fresh = _mint(alice);

        uint256[] memory ids = new uint256[](4);
        bytes32[] memory digests = new bytes32[](4);
        (ids[0], ids[1], ids[2], ids[3]) = (delivered, refunded, 99, fresh);
        for (uint256 i; i < 4; ++i) {
            digests[i] = keccak256(abi.encode(i));
        }

        uint256 before = nft.earnings(provider);
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.DeliverySkipped(delivered, provider);
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.DeliverySkipped(refunded, provider);
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.DeliverySkipped(99, provider);
        vm.prank(provider);
        nft.deliverBatch(ids, digests);

        assertEq(nft.earnings(provider) - before, PRICE - PRICE * FEE_BPS / 10_000, "paid for one");
        (,,, bytes32 kept) = nft.tokenState(delivered);
        assertEq(kept, DIGEST, "delivered digest untouched");
        assertEq(_state(fresh), nft.STATE_DELIVERED());
        assertEq(_state(refunded), nft.STATE_REFUNDED());
    }

    function test_DeliverBatchAllSkippedPaysNothing() public {
        uint256[] memory ids = new uint256[](1);
        bytes32[] memory digests = new bytes32[](1);
        ids[0] = 42;
        digests[0] = DIGEST;
        vm.prank(provider);
        nft.deliverBatch(ids, digests);
        assertEq(nft.earnings(provider), 0);
        assertEq(nft.accruedFees(), 0);
    }

    function test_DeliverBatchToRejectingProviderAccrues() public {
        Receiver rejecting = new Receiver(nft, false);
        vm.prank(owner);
        nft.setProvider(address(rejecting), true);
        uint256[] memory ids = new uint256[](2);
        bytes32[] memory digests = new bytes32[](2);
        ids[0] = _mint(alice);
        ids[1] = _mint(bob);
        digests[0] = DIGEST;
        digests[1] = DIGEST;
        rejecting.deliverBatch(ids, digests);
        assertEq(nft.earnings(address(rejecting)), 2 * (PRICE - PRICE * FEE_BPS / 10_000));
        assertEq(nft.credit(address(rejecting)), 0, "credit is for failed refunds only");
    }

    function test_RevertWhen_DeliverBatchLengthMismatch() public {
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.LengthMismatch.selector, 2, 1));
        vm.prank(provider);
        nft.deliverBatch(new uint256[](2), new bytes32[](1));
    }

    function test_RevertWhen_DeliverBatchEmptyDigest() public {
        uint256[] memory ids = new uint256[](1);
        ids[0] = _mint(alice);
        vm.expectRevert(GenImEscrow.InvalidDigest.selector);
        vm.prank(provider);
        nft.deliverBatch(ids, new bytes32[](1));
    }

    /*//////////////////////////////////////////////////////////////
                                 REFUND
    //////////////////////////////////////////////////////////////*/

    function test_Refund() public {
        uint256 id = _mint(alice);
        vm.warp(block.timestamp + WINDOW + 1);
        uint256 before = alice.balance;
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.Refunded(id, alice, PRICE);
        vm.prank(alice);
        nft.refund(id);

        assertEq(alice.balance - before, PRICE, "full escrow back");
        assertEq(address(nft).balance, 0);
        assertEq(nft.balanceOf(alice), 0);
        (uint8 state, uint256 escrow,,) = nft.tokenState(id);
        assertEq(state, nft.STATE_REFUNDED());
        assertEq(escrow, PRICE);
        vm.expectRevert(ERC721.TokenDoesNotExist.selector);
        nft.tokenURI(id);
        vm.expectRevert(ERC721.TokenDoesNotExist.selector);
        nft.ownerOf(id);
    }

    function test_RefundByNewOwnerAfterTransfer() public {
        uint256 id = _mint(alice);
        vm.prank(alice);
        nft.transferFrom(alice, bob, id);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotTokenOwner.selector, id, alice));
        vm.prank(alice);
        nft.refund(id);
        uint256 before = bob.balance;
        vm.prank(bob);
        nft.refund(id);
        assertEq(bob.balance - before, PRICE);
    }

    function test_RefundToRejectingOwnerCredits() public {
        Receiver holder = new Receiver(nft, false);
        uint256 id = holder.mint{value: PRICE}("fox");
        vm.warp(block.timestamp + WINDOW + 1);
        holder.refund(id);
        assertEq(_state(id), nft.STATE_REFUNDED());
        assertEq(nft.credit(address(holder)), PRICE);
        holder.setAccepting(true);
        holder.withdraw();
        assertEq(address(holder).balance, PRICE);
    }

    function test_RevertWhen_RefundBeforeDeadline() public {
        uint256 id = _mint(alice);
        uint64 deadline = uint64(block.timestamp + WINDOW);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.DeadlineNotReached.selector, id, deadline));
        vm.prank(alice);
        nft.refund(id);
    }

    function test_RevertWhen_RefundByStranger() public {
        uint256 id = _mint(alice);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotTokenOwner.selector, id, bob));
        vm.prank(bob);
        nft.refund(id);
    }

    function test_RevertWhen_RefundDelivered() public {
        uint256 id = _mint(alice);
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.TokenNotPending.selector, id));
        vm.prank(alice);
        nft.refund(id);
    }

    function test_RevertWhen_RefundTwice() public {
        uint256 id = _mint(alice);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.prank(alice);
        nft.refund(id);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.TokenNotPending.selector, id));
        vm.prank(alice);
        nft.refund(id);
    }

    function testFuzz_RefundReturnsFullEscrow(uint256 price, uint256 wait) public {
        price = bound(price, 0, type(uint64).max);
        wait = bound(wait, WINDOW + 1, 3650 days);
        vm.prank(owner);
        nft.setPrice(price);
        vm.deal(alice, price);
        vm.prank(alice);
        uint256 id = nft.mint{value: price}("fox");
        vm.warp(block.timestamp + wait);
        vm.prank(alice);
        nft.refund(id);
        assertEq(alice.balance, price);
        assertEq(address(nft).balance, 0);
    }

    /*//////////////////////////////////////////////////////////////
                          WITHDRAWALS AND FEES
    //////////////////////////////////////////////////////////////*/

    function test_RevertWhen_WithdrawWithoutCredit() public {
        vm.expectRevert(GenImEscrow.NothingToWithdraw.selector);
        vm.prank(provider);
        nft.withdraw();
    }

    function test_WithdrawFees() public {
        uint256 id = _mint(alice);
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        uint256 fee = PRICE * FEE_BPS / 10_000;
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.FeesWithdrawn(treasury, fee);
        vm.prank(bob); // anyone may trigger it; the money goes to the fee recipient
        nft.withdrawFees();
        assertEq(treasury.balance, fee);
        assertEq(nft.accruedFees(), 0);
        assertEq(address(nft).balance, PRICE - fee, "the provider's earnings stay");
        assertEq(nft.earnings(provider), PRICE - fee, "untouched by withdrawFees");
    }

    function test_WithdrawFeesFromSeveralProviders() public {
        address second = makeAddr("second");
        vm.startPrank(owner);
        nft.setProvider(second, true);
        nft.setProvider(second, false); // removed providers keep their accrued fees
        nft.setProvider(second, true);
        vm.stopPrank();
        assertEq(nft.providers().length, 2, "listed once");
        uint256 a = _mint(alice);
        uint256 b = _mint(bob);
        vm.prank(provider);
        nft.deliver(a, DIGEST);
        vm.prank(second);
        nft.deliver(b, DIGEST);
        vm.prank(owner);
        nft.setProvider(second, false);
        assertEq(nft.providers().length, 1, "removed ones leave the list");
        uint256 fee = PRICE * FEE_BPS / 10_000;
        assertEq(nft.accruedFees(), 2 * fee, "the removed provider's fee is kept");
        nft.withdrawFees();
        assertEq(treasury.balance, 2 * fee);
        assertEq(nft.accruedFees(), 0);
        assertEq(nft.isProvider(second), false, "flags kept after the sweep");
        assertEq(nft.isProvider(provider), true, "flags kept after the sweep");
    }

    function test_RevertWhen_WithdrawFeesWithNone() public {
        vm.expectRevert(GenImEscrow.NothingToWithdraw.selector);
        nft.withdrawFees();
    }

    function test_RevertWhen_FeeRecipientRejects() public {
        Receiver rejecting = new Receiver(nft, false);
        vm.prank(owner);
        nft.setFeeRecipient(address(rejecting));
        uint256 id = _mint(alice);
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        uint256 fee = nft.accruedFees();
        vm.expectRevert();
        nft.withdrawFees();
        assertEq(nft.accruedFees(), fee, "fees kept");
        vm.prank(owner);
        nft.setFeeRecipient(treasury);
        nft.withdrawFees();
        assertEq(treasury.balance, fee);
    }

    /// No owner path moves escrow: after every owner action the escrow is still all there and
    /// still refundable by its owner.
    function test_OwnerCannotMoveEscrow() public {
        uint256 id = _mint(alice);
        vm.startPrank(owner);
        nft.setFeeRecipient(owner);
        nft.setPrice(1);
        nft.pause();
        nft.setProvider(owner, true);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotAuthorizedAtMint.selector, id, owner));
        nft.deliver(id, DIGEST);
        vm.expectRevert(GenImEscrow.NothingToWithdraw.selector);
        nft.withdrawFees();
        vm.expectRevert(GenImEscrow.NothingToWithdraw.selector);
        nft.withdraw();
        vm.stopPrank();
        assertEq(address(nft).balance, PRICE);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.prank(alice);
        nft.refund(id);
        assertEq(alice.balance, 10 ether);
    }

    /// Finding 2 of the review: solady's `approve`, `transferFrom` and `safeTransferFrom` are
    /// `payable`; ETH sent with them was locked in the contract forever (no escrow, credit or
    /// fee accounts for it) and broke the balance invariant. They now reject any value.
    function test_RevertWhen_EtherSentWithErc721Functions() public {
        uint256 id = _mint(alice);
        uint256 held = address(nft).balance;
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.UnexpectedValue.selector, 1));
        nft.approve{value: 1}(bob, id);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.UnexpectedValue.selector, 1));
        nft.transferFrom{value: 1}(alice, bob, id);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.UnexpectedValue.selector, 1));
        nft.safeTransferFrom{value: 1}(alice, bob, id);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.UnexpectedValue.selector, 1));
        nft.safeTransferFrom{value: 1}(alice, bob, id, "");
        vm.stopPrank();
        assertEq(address(nft).balance, held, "no ETH taken");

        // Without value they work as before.
        vm.startPrank(alice);
        nft.approve(bob, id);
        nft.safeTransferFrom(alice, bob, id);
        vm.stopPrank();
        vm.prank(bob);
        nft.safeTransferFrom(bob, alice, id, "");
        vm.prank(alice);
        nft.transferFrom(alice, bob, id);
        assertEq(nft.ownerOf(id), bob);
    }

    /*//////////////////////////////////////////////////////////////
                                 OWNER
    //////////////////////////////////////////////////////////////*/

    function test_SetProvider() public {
        address p = makeAddr("p");
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.ProviderSet(p, true);
        vm.prank(owner);
        nft.setProvider(p, true);
        assertEq(nft.isProvider(p), true);
        vm.prank(owner);
        nft.setProvider(p, false);
        assertEq(nft.isProvider(p), false);
    }

    function test_RevertWhen_SetProviderZero() public {
        vm.expectRevert(GenImEscrow.ZeroAddress.selector);
        vm.prank(owner);
        nft.setProvider(address(0), true);
    }

    function test_RevertWhen_TooManyProviders() public {
        vm.startPrank(owner);
        for (uint160 i = 1; i < 64; ++i) {
            nft.setProvider(address(i), true);
        }
        nft.setProvider(address(1), true); // authorizing again changes nothing
        assertEq(nft.providers().length, 64);
        vm.expectRevert(GenImEscrow.TooManyProviders.selector);
        nft.setProvider(address(64), true);
        nft.setProvider(address(1), false); // removing one frees its place
        nft.setProvider(address(64), true);
        vm.stopPrank();
        assertEq(nft.providers().length, 64);
        assertEq(nft.isProvider(address(64)), true);
    }

    /// Finding 3 of the review: the provider list only grew and capped at 64, and removing a
    /// never-authorized address took a place too; after enough key rotations no provider could
    /// ever be authorized again, and this immutable contract was dead. Now removal frees the
    /// place and removing a stranger takes none.
    function test_ProviderRotationsNeverFillTheList() public {
        vm.startPrank(owner);
        for (uint160 i = 1; i <= 100; ++i) {
            nft.setProvider(address(i), false); // never authorized: no place taken
        }
        for (uint160 i = 1000; i < 2000; ++i) {
            nft.setProvider(address(i), true);
            nft.setProvider(address(i), false);
        }
        vm.stopPrank();
        assertEq(nft.providers().length, 1, "only the original provider is left");
        assertEq(nft.providers()[0], provider);

        // A fresh key can still be authorized and paid.
        address fresh = makeAddr("fresh provider");
        vm.prank(owner);
        nft.setProvider(fresh, true);
        uint256 id = _mint(alice);
        vm.prank(fresh);
        nft.deliver(id, DIGEST);
        assertEq(_state(id), nft.STATE_DELIVERED());
    }

    function test_RemovedProviderKeepsAccruedFees() public {
        uint256 id = _mint(alice);
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        uint256 fee = PRICE * FEE_BPS / 10_000;
        vm.prank(owner);
        nft.setProvider(provider, false);
        assertEq(nft.providers().length, 0);
        assertEq(nft.accruedFees(), fee, "fee kept after removal");
        vm.prank(owner);
        nft.setProvider(provider, true);
        assertEq(nft.accruedFees(), fee, "and not counted twice after re-authorization");
        nft.withdrawFees();
        assertEq(treasury.balance, fee);
        assertEq(nft.accruedFees(), 0);
        vm.expectRevert(GenImEscrow.NothingToWithdraw.selector);
        nft.withdrawFees();
    }

    function test_SetPriceFutureMintsOnly() public {
        uint256 id = _mint(alice);
        vm.prank(owner);
        nft.setPrice(2 * PRICE);
        assertEq(nft.price(), 2 * PRICE);
        (, uint256 escrow,,) = nft.tokenState(id);
        assertEq(escrow, PRICE, "existing escrow unchanged");
        vm.prank(bob);
        uint256 next = nft.mint{value: 2 * PRICE}("fox");
        (, escrow,,) = nft.tokenState(next);
        assertEq(escrow, 2 * PRICE);
    }

    function test_RevertWhen_SetPriceTooHigh() public {
        uint256 tooHigh = uint256(type(uint64).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.PriceTooHigh.selector, tooHigh));
        vm.prank(owner);
        nft.setPrice(tooHigh);
    }

    function test_SetFeeRecipient() public {
        vm.prank(owner);
        nft.setFeeRecipient(bob);
        assertEq(nft.feeRecipient(), bob);
    }

    function test_RevertWhen_SetFeeRecipientZero() public {
        vm.expectRevert(GenImEscrow.ZeroAddress.selector);
        vm.prank(owner);
        nft.setFeeRecipient(address(0));
    }

    function test_PauseStopsOnlyMints() public {
        uint256 id = _mint(alice);
        vm.prank(owner);
        nft.pause();
        assertEq(nft.paused(), true);
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        uint256 other = 0;
        vm.prank(owner);
        nft.unpause();
        other = _mint(bob);
        vm.prank(owner);
        nft.pause();
        vm.warp(block.timestamp + WINDOW + 1);
        vm.prank(bob);
        nft.refund(other);
        assertEq(_state(other), nft.STATE_REFUNDED());
    }

    function test_RevertWhen_NonOwnerConfigures() public {
        bytes[] memory calls = new bytes[](6);
        calls[0] = abi.encodeCall(GenImEscrow.setProvider, (attacker, true));
        calls[1] = abi.encodeCall(GenImEscrow.setPrice, (0));
        calls[2] = abi.encodeCall(GenImEscrow.setFeeRecipient, (attacker));
        calls[3] = abi.encodeCall(GenImEscrow.pause, ());
        calls[4] = abi.encodeCall(GenImEscrow.unpause, ());
        calls[5] = abi.encodeCall(GenImEscrow.transferOwnership, (attacker));
        for (uint256 i; i < calls.length; ++i) {
            vm.prank(attacker);
            (bool ok, bytes memory data) = address(nft).call(calls[i]);
            assertEq(ok, false, "non-owner call succeeded");
            assertEq(
                keccak256(data),
                keccak256(abi.encodeWithSelector(GenImEscrow.NotOwner.selector, attacker)),
                "wrong error"
            );
        }
    }

    function test_TwoStepOwnershipTransfer() public {
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.OwnershipTransferStarted(owner, bob);
        vm.prank(owner);
        nft.transferOwnership(bob);
        assertEq(nft.owner(), owner, "not yet");
        assertEq(nft.pendingOwner(), bob);

        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotPendingOwner.selector, attacker));
        vm.prank(attacker);
        nft.acceptOwnership();

        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.OwnershipTransferred(owner, bob);
        vm.prank(bob);
        nft.acceptOwnership();
        assertEq(nft.owner(), bob);
        assertEq(nft.pendingOwner(), address(0));

        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotOwner.selector, owner));
        vm.prank(owner);
        nft.pause();
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    function test_TokenStateNone() public view {
        (uint8 state, uint256 escrow, uint64 deadline, bytes32 digest) = nft.tokenState(0);
        assertEq(state, nft.STATE_NONE());
        assertEq(escrow, 0);
        assertEq(deadline, 0);
        assertEq(digest, bytes32(0));
        (state,,,) = nft.tokenState(12345);
        assertEq(state, nft.STATE_NONE());
    }

    function test_TokenURIDelivered() public {
        uint256 id = _mint(alice);
        vm.prank(provider);
        nft.deliver(id, EMPTY_SHA256);
        assertEq(nft.tokenURI(id), string.concat("ipfs://", EMPTY_CID));
    }

    function test_CidV1MatchesKubo() public view {
        assertEq(nft.cidV1(EMPTY_SHA256), EMPTY_CID);
        // sha256("hello world\n"): a second, independently computed raw-leaf CIDv1.
        assertEq(
            nft.cidV1(0xa948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447),
            "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
        );
    }

    function testFuzz_CidV1Shape(bytes32 digest) public view {
        bytes memory cid = bytes(nft.cidV1(digest));
        assertEq(cid.length, 59);
        assertEq(string(abi.encodePacked(cid[0], cid[1], cid[2], cid[3], cid[4], cid[5], cid[6])), "bafkrei");
        for (uint256 i = 1; i < cid.length; ++i) {
            bytes1 c = cid[i];
            assertTrue((c >= "a" && c <= "z") || (c >= "2" && c <= "7"), "base32 lower alphabet");
        }
    }

    function test_TokenURIPending() public {
        uint256 id = _mint(alice);
        string memory json =
            '{"name":"GenIm #1","description":"Image pending: an image provider has not delivered it yet.","attributes":[{"trait_type":"state","value":"pending"}]}';
        assertEq(nft.tokenURI(id), string.concat("data:application/json;base64,", Base64.encode(bytes(json))));
    }

    function test_RevertWhen_TokenURIUnminted() public {
        vm.expectRevert(ERC721.TokenDoesNotExist.selector);
        nft.tokenURI(1);
    }

    function test_SupportsInterface() public view {
        assertEq(nft.supportsInterface(0x01ffc9a7), true, "ERC-165");
        assertEq(nft.supportsInterface(0x80ac58cd), true, "ERC-721");
        assertEq(nft.supportsInterface(0x5b5e139f), true, "ERC-721 metadata");
        assertEq(nft.supportsInterface(0x49064906), true, "ERC-4906");
        assertEq(nft.supportsInterface(0xffffffff), false);
    }
}
