// SPDX-License-Identifier: MIT
pragma solidity ^0.8.33;

import {FixedPointMathLib} from "solady/utils/FixedPointMathLib.sol";
import {LibClone} from "solady/utils/LibClone.sol";
import {Splitter} from "../Splitter.sol";
import {SplitterFactory} from "../SplitterFactory.sol";
import {Test} from "./utils/Test.sol";
import {DoubleEntryToken, MockToken, Receiver} from "./utils/Mocks.sol";
import {GenImNFT} from "../GenImNFT.sol";

contract SplitterTest is Test {
    SplitterFactory internal factory;
    Splitter internal splitter;
    MockToken internal token;

    address internal marketplace = makeAddr("marketplace");
    address internal creator = makeAddr("creator");
    address internal seller = makeAddr("seller");

    function _accounts() internal view returns (address[] memory a) {
        a = new address[](3);
        (a[0], a[1], a[2]) = (marketplace, creator, seller);
    }

    function _shares(uint256 x, uint256 y, uint256 z) internal pure returns (uint256[] memory s) {
        s = new uint256[](3);
        (s[0], s[1], s[2]) = (x, y, z);
    }

    function setUp() public {
        factory = new SplitterFactory();
        splitter = Splitter(payable(factory.createSplitter(_accounts(), _shares(5, 10, 85), 0)));
        token = new MockToken();
    }

    function _pay(uint256 amount) internal {
        (bool ok,) = address(splitter).call{value: amount}("");
        assertTrue(ok, "payment failed");
    }

    /*//////////////////////////////////////////////////////////////
                                 SPLITS
    //////////////////////////////////////////////////////////////*/

    function test_CreateSplitterAtPredictedAddress() public {
        bytes32 salt = keccak256("model-a");
        address predicted = factory.predictSplitter(_accounts(), _shares(1, 2, 3), salt);
        vm.expectEmit(true, true, true, true, address(factory));
        emit SplitterFactory.SplitterCreated(predicted, _accounts(), _shares(1, 2, 3), salt);
        address created = factory.createSplitter(_accounts(), _shares(1, 2, 3), salt);
        assertEq(created, predicted);
        assertEq(Splitter(payable(created)).totalShares(), 6);
        assertEq(Splitter(payable(created)).shares(creator), 2);
        assertEq(Splitter(payable(created)).recipients().length, 3);
        assertTrue(created.code.length < 100, "a minimal proxy");
    }

    function test_FundPredictedAddressBeforeCreation() public {
        bytes32 salt = keccak256("prefunded");
        address predicted = factory.predictSplitter(_accounts(), _shares(5, 10, 85), salt);
        (bool ok,) = predicted.call{value: 1 ether}("");
        assertTrue(ok, "send to future address");
        Splitter s = Splitter(payable(factory.createSplitter(_accounts(), _shares(5, 10, 85), salt)));
        assertEq(s.releasable(seller), 0.85 ether);
        s.release(seller);
        assertEq(seller.balance, 0.85 ether);
    }

    function test_RevertWhen_SameSplitTwice() public {
        vm.expectRevert(LibClone.DeploymentFailed.selector);
        factory.createSplitter(_accounts(), _shares(5, 10, 85), 0);
    }

    function test_DirectDeployment() public {
        Splitter direct = new Splitter(_accounts(), _shares(1, 1, 1));
        assertEq(direct.totalShares(), 3);
        vm.expectRevert(Splitter.AlreadyInitialized.selector);
        direct.initialize(_accounts(), _shares(1, 1, 1));
    }

    function test_RevertWhen_InitializeClone() public {
        vm.expectRevert(Splitter.AlreadyInitialized.selector);
        splitter.initialize(_accounts(), _shares(1, 1, 1));
    }

    function test_RevertWhen_InitializeImplementation() public {
        Splitter impl = Splitter(payable(factory.implementation()));
        vm.expectRevert(Splitter.AlreadyInitialized.selector);
        impl.initialize(_accounts(), _shares(1, 1, 1));
    }

    function test_RevertWhen_LengthMismatch() public {
        vm.expectRevert(Splitter.InvalidSplit.selector);
        new Splitter(_accounts(), new uint256[](2));
    }

    function test_RevertWhen_NoRecipients() public {
        vm.expectRevert(Splitter.InvalidSplit.selector);
        factory.createSplitter(new address[](0), new uint256[](0), 0);
    }

    function test_RevertWhen_TooManyRecipients() public {
        address[] memory many = new address[](33);
        uint256[] memory shares = new uint256[](33);
        for (uint256 i; i < 33; ++i) {
            (many[i], shares[i]) = (makeAddr(string(abi.encode(i))), 1);
        }
        vm.expectRevert(Splitter.InvalidSplit.selector);
        new Splitter(many, shares);
    }

    function test_RevertWhen_ZeroRecipient() public {
        address[] memory a = _accounts();
        a[1] = address(0);
        vm.expectRevert(abi.encodeWithSelector(Splitter.InvalidRecipient.selector, address(0)));
        new Splitter(a, _shares(1, 1, 1));
    }

    function test_RevertWhen_DuplicateRecipient() public {
        address[] memory a = _accounts();
        a[2] = a[0];
        vm.expectRevert(abi.encodeWithSelector(Splitter.InvalidRecipient.selector, marketplace));
        new Splitter(a, _shares(1, 1, 1));
    }

    function test_RevertWhen_ZeroShare() public {
        vm.expectRevert(abi.encodeWithSelector(Splitter.ZeroShare.selector, creator));
        new Splitter(_accounts(), _shares(1, 0, 1));
    }

    /*//////////////////////////////////////////////////////////////
                                RELEASE
    //////////////////////////////////////////////////////////////*/

    function test_ReleaseEth() public {
        vm.expectEmit(true, true, true, true, address(splitter));
        emit Splitter.PaymentReceived(address(this), 1 ether);
        _pay(1 ether);
        assertEq(splitter.releasable(marketplace), 0.05 ether);
        assertEq(splitter.releasable(creator), 0.1 ether);
        assertEq(splitter.releasable(seller), 0.85 ether);

        vm.expectEmit(true, true, true, true, address(splitter));
        emit Splitter.PaymentReleased(address(0), seller, 0.85 ether);
        vm.prank(makeAddr("anyone"));
        splitter.release(seller);
        splitter.release(creator);
        splitter.release(marketplace);
        assertEq(seller.balance, 0.85 ether);
        assertEq(creator.balance, 0.1 ether);
        assertEq(marketplace.balance, 0.05 ether);
        assertEq(splitter.totalReleased(address(0)), 1 ether);
        assertEq(splitter.released(address(0), seller), 0.85 ether);
        assertEq(address(splitter).balance, 0);
    }

    function test_ReleaseAcrossPayments() public {
        _pay(1 ether);
        splitter.release(seller);
        _pay(3 ether);
        assertEq(splitter.releasable(seller), 2.55 ether);
        assertEq(splitter.releasable(creator), 0.4 ether);
        splitter.release(seller);
        splitter.release(creator);
        splitter.release(marketplace);
        assertEq(seller.balance, 3.4 ether);
        assertEq(address(splitter).balance, 0);
    }

    function test_DustGoesToFirstRecipient() public {
        Splitter thirds = Splitter(payable(factory.createSplitter(_accounts(), _shares(1, 1, 1), keccak256("3"))));
        (bool ok,) = address(thirds).call{value: 7}("");
        assertTrue(ok, "pay");
        assertEq(thirds.releasable(marketplace), 3);
        assertEq(thirds.releasable(creator), 2);
        assertEq(thirds.releasable(seller), 2);
        thirds.release(seller);
        thirds.release(creator);
        thirds.release(marketplace);
        assertEq(address(thirds).balance, 0, "no dust left");
    }

    function test_ReleaseToken() public {
        token.mint(address(splitter), 1_000_000);
        assertEq(splitter.releasable(address(token), seller), 850_000);
        splitter.release(address(token), seller);
        splitter.release(address(token), creator);
        splitter.release(address(token), marketplace);
        assertEq(token.balanceOf(seller), 850_000);
        assertEq(token.balanceOf(creator), 100_000);
        assertEq(token.balanceOf(marketplace), 50_000);
        assertEq(splitter.totalReleased(address(token)), 1_000_000);
    }

    function test_RejectingRecipientBlocksNoOne() public {
        Receiver stubborn = new Receiver(GenImNFT(address(0)), false);
        address[] memory a = _accounts();
        a[0] = address(stubborn);
        Splitter s = Splitter(payable(factory.createSplitter(a, _shares(5, 10, 85), keccak256("r"))));
        (bool ok,) = address(s).call{value: 1 ether}("");
        assertTrue(ok, "pay");
        vm.expectRevert();
        s.release(address(stubborn));
        s.release(seller);
        s.release(creator);
        assertEq(seller.balance, 0.85 ether);
        assertEq(creator.balance, 0.1 ether);
        assertEq(s.releasable(address(stubborn)), 0.05 ether, "kept for later");
        stubborn.setAccepting(true);
        s.release(address(stubborn));
        assertEq(address(stubborn).balance, 0.05 ether);
    }

    function test_AllocateWithoutReleasing() public {
        _pay(1 ether);
        splitter.allocate(address(0));
        splitter.allocate(address(0)); // nothing new: no-op
        assertEq(splitter.releasable(seller), 0.85 ether);
        assertEq(address(splitter).balance, 1 ether);
    }

    function test_ReleasableOfStrangerIsZero() public {
        _pay(1 ether);
        assertEq(splitter.releasable(address(this)), 0);
        assertEq(splitter.releasable(address(token), address(this)), 0);
    }

    function test_RevertWhen_ReleaseToStranger() public {
        _pay(1 ether);
        vm.expectRevert(abi.encodeWithSelector(Splitter.NotRecipient.selector, address(this)));
        splitter.release(address(this));
    }

    function test_RevertWhen_NothingToRelease() public {
        vm.expectRevert(abi.encodeWithSelector(Splitter.NothingToRelease.selector, address(0), seller));
        splitter.release(seller);
    }

    function test_RevertWhen_ReleaseTokenZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(Splitter.InvalidRecipient.selector, address(0)));
        splitter.release(address(0), seller);
    }

    /// Finding 4 of the review: with a token whose balance can shrink (negative rebase), the
    /// unallocated amount underflowed and every `release`/`releasable` of it panicked, for all
    /// recipients. Now what is owed stays owed, releases pay at most the balance, and new income
    /// first covers the shortfall.
    function test_ShrinkingBalanceNeverPanics() public {
        token.mint(address(splitter), 1_000_000);
        splitter.release(address(token), seller); // 850,000 out; 150,000 owed to the others
        token.slash(address(splitter), 100_000); // a negative rebase: 50,000 left for 150,000 owed

        assertEq(splitter.releasable(address(token), marketplace), 50_000, "owed, within the balance");
        assertEq(splitter.releasable(address(token), creator), 50_000, "capped by the balance");
        assertEq(splitter.releasable(address(token), seller), 0);
        splitter.allocate(address(token)); // nothing new: no-op, no panic
        splitter.release(address(token), creator);
        assertEq(token.balanceOf(creator), 50_000, "paid what is there");
        assertEq(splitter.releasable(address(token), marketplace), 0);
        vm.expectRevert(abi.encodeWithSelector(Splitter.NothingToRelease.selector, address(token), marketplace));
        splitter.release(address(token), marketplace);

        // New income first covers the 100,000 shortfall (creator 50,000 and marketplace 50,000
        // still owed), then is split as usual.
        token.mint(address(splitter), 300_000);
        assertEq(splitter.releasable(address(token), creator), 50_000 + 20_000);
        assertEq(splitter.releasable(address(token), marketplace), 50_000 + 10_000);
        assertEq(splitter.releasable(address(token), seller), 170_000);
        splitter.release(address(token), creator);
        splitter.release(address(token), marketplace);
        splitter.release(address(token), seller);
        assertEq(token.balanceOf(creator), 120_000);
        assertEq(token.balanceOf(marketplace), 60_000);
        assertEq(token.balanceOf(seller), 1_020_000);
        assertEq(token.balanceOf(address(splitter)), 0, "all paid out");
    }

    function testFuzz_ShrinkingBalanceNeverPanics(uint256 paid, uint256 slashed, uint256 more) public {
        paid = bound(paid, 1, 1e30);
        slashed = bound(slashed, 0, paid);
        more = bound(more, 0, 1e30);
        token.mint(address(splitter), paid);
        if (splitter.releasable(address(token), seller) != 0) splitter.release(address(token), seller);
        token.slash(address(splitter), FixedPointMathLib.min(slashed, token.balanceOf(address(splitter))));
        token.mint(address(splitter), more);
        address[] memory a = _accounts();
        for (uint256 i; i < a.length; ++i) {
            uint256 releasable = splitter.releasable(address(token), a[i]);
            assertLe(releasable, token.balanceOf(address(splitter)), "never more than held");
            if (releasable != 0) splitter.release(address(token), a[i]);
        }
        assertLe(
            token.balanceOf(marketplace) + token.balanceOf(creator) + token.balanceOf(seller),
            paid + more,
            "never more than arrived"
        );
    }

    /// Finding 5 of the review: a token with two entry addresses sharing one balance lets a
    /// recipient release its share through each entry, at the others' expense. Such tokens are
    /// documented as unsupported (Splitter NatSpec); this test pins that documented behaviour so
    /// that a change to it is noticed and the documentation updated.
    function test_DoubleEntryTokenIsUnsupported() public {
        DoubleEntryToken doubleEntry = new DoubleEntryToken();
        address second = doubleEntry.secondEntry();
        doubleEntry.mint(address(splitter), 1_000_000);
        splitter.release(address(doubleEntry), seller);
        assertEq(doubleEntry.balanceOf(seller), 850_000, "its share through the first entry");
        // The second entry's books start empty and see the 150,000 left as new income.
        assertEq(splitter.releasable(second, seller), 127_500, "and again through the second");
        splitter.release(second, seller);
        assertEq(doubleEntry.balanceOf(seller), 977_500, "more than its 85%");
        // The others are short; the splitter stays solvent per entry and never panics.
        assertEq(splitter.releasable(address(doubleEntry), creator), 22_500, "capped by the balance");
    }

    function test_ReceivesGenImFees() public {
        GenImNFT nft = new GenImNFT(address(this), 1 ether, 1000, address(splitter), 1 days);
        nft.setProvider(address(this), true);
        uint256 id = nft.mint{value: 1 ether}("fox");
        nft.deliver(id, keccak256("m"));
        nft.withdrawFees();
        assertEq(splitter.releasable(seller), 0.085 ether);
    }

    receive() external payable {}

    /// Whatever arrives, in any number of payments and releases, is paid out exactly: nothing
    /// more, and (after everyone released) nothing stuck.
    function testFuzz_ConservesValue(uint256[3] memory shares, uint64[4] memory payments) public {
        uint256[] memory s = _shares(bound(shares[0], 1, 1e18), bound(shares[1], 1, 1e18), bound(shares[2], 1, 1e18));
        Splitter fuzzed = Splitter(payable(factory.createSplitter(_accounts(), s, keccak256("f"))));
        uint256 total;
        address[] memory a = _accounts();
        for (uint256 i; i < payments.length; ++i) {
            (bool ok,) = address(fuzzed).call{value: payments[i]}("");
            assertTrue(ok, "pay");
            total += payments[i];
            address who = a[i % 3];
            if (fuzzed.releasable(who) != 0) fuzzed.release(who);
        }
        for (uint256 i; i < 3; ++i) {
            if (fuzzed.releasable(a[i]) != 0) fuzzed.release(a[i]);
        }
        assertEq(marketplace.balance + creator.balance + seller.balance, total, "all paid out");
        assertEq(address(fuzzed).balance, 0, "no dust stuck");
        // Each got its share, within the rounding of 4 allocations.
        assertLe(seller.balance, total * s[2] / (s[0] + s[1] + s[2]) + 1, "seller not overpaid");
        assertLe(total * s[2] / (s[0] + s[1] + s[2]), seller.balance + 4, "seller not underpaid");
    }
}
