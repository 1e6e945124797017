// SPDX-License-Identifier: MIT
pragma solidity ^0.8.33;

import {ERC721} from "solady/tokens/ERC721.sol";
import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";
import {GenImEscrow} from "../GenImEscrow.sol";
import {GenImTokenNFT} from "../GenImTokenNFT.sol";
import {Splitter} from "../Splitter.sol";
import {SplitterFactory} from "../SplitterFactory.sol";
import {IFiatToken, UsdcTest} from "./utils/Usdc.sol";
import {FeeOnTransferToken, SmartWallet} from "./utils/Mocks.sol";

/// @dev GenImTokenNFT paid in Circle's real FiatTokenV2_2 behind its FiatTokenProxy, as USDC is
/// deployed on Base and Ethereum.
contract GenImTokenNFTTest is UsdcTest {
    IFiatToken internal usdc;
    GenImTokenNFT internal nft;

    address internal owner = makeAddr("owner");
    address internal treasury = makeAddr("treasury");
    address internal provider = makeAddr("provider");
    address internal relayer = makeAddr("relayer"); // anyone: not a provider
    address internal attacker = makeAddr("attacker");
    uint256 internal aliceKey = uint256(keccak256("alice"));
    uint256 internal bobKey = uint256(keccak256("bob"));
    uint256 internal attackerKey = uint256(keccak256("attacker"));
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    uint256 internal constant PRICE = 10_000; // 0.01 USDC
    uint16 internal constant FEE_BPS = 500;
    uint64 internal constant WINDOW = 1 days;
    uint256 internal constant FEE = PRICE * FEE_BPS / 10_000;
    bytes32 internal constant DIGEST = keccak256("metadata");
    string internal constant PROMPT = "a fox in the snow";

    /// An EIP-3009 authorization as a client hands it over.
    struct Auth {
        address from;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        bytes signature;
    }

    uint256 internal _nonces;

    function setUp() public {
        vm.warp(1_750_000_000);
        usdc = _deployUsdc(true);
        nft = new GenImTokenNFT(owner, address(usdc), PRICE, FEE_BPS, treasury, WINDOW);
        vm.prank(owner);
        nft.setProvider(provider, true);
        _fund(usdc, alice, 1000e6);
        _fund(usdc, bob, 1000e6);
    }

    /// What an x402 "exact" client signs: a TransferWithAuthorization of the price to the
    /// contract with a random nonce, valid from 10 minutes ago for a minute.
    function _x402(uint256 key) internal returns (Auth memory a) {
        a.from = vm.addr(key);
        a.validAfter = block.timestamp - 600;
        a.validBefore = block.timestamp + 60;
        a.nonce = keccak256(abi.encode("random", ++_nonces));
        a.signature = _signAuth(key, TRANSFER_TYPEHASH, address(nft), PRICE, a);
    }

    /// An authorization whose nonce commits to `prompt`, so anyone may relay it.
    function _committed(uint256 key, bytes32 typehash, string memory prompt) internal view returns (Auth memory a) {
        a.from = vm.addr(key);
        a.validAfter = 0;
        a.validBefore = block.timestamp + 3600;
        a.nonce = nft.promptNonce(prompt, a.from, a.validAfter, a.validBefore);
        a.signature = _signAuth(key, typehash, address(nft), PRICE, a);
    }

    function _signAuth(uint256 key, bytes32 typehash, address to, uint256 value, Auth memory a)
        internal
        view
        returns (bytes memory)
    {
        return _sign(key, _authorizationDigest(usdc, typehash, a.from, to, value, a.validAfter, a.validBefore, a.nonce));
    }

    function _relay(address by, string memory prompt, Auth memory a) internal returns (uint256) {
        vm.prank(by);
        return nft.mintWithAuthorization(prompt, a.from, a.validAfter, a.validBefore, a.nonce, a.signature);
    }

    /// Executes `a` (a TransferWithAuthorization to the contract) directly on USDC, as a
    /// front-runner or an x402 facilitator would.
    function _executeDirectly(Auth memory a) internal {
        vm.prank(attacker);
        usdc.transferWithAuthorization(a.from, address(nft), PRICE, a.validAfter, a.validBefore, a.nonce, a.signature);
    }

    function _approveAndMint(address user) internal returns (uint256 id) {
        vm.startPrank(user);
        usdc.approve(address(nft), PRICE);
        id = nft.mint(PROMPT);
        vm.stopPrank();
    }

    function _state(uint256 id) internal view returns (uint8 state) {
        (state,,,) = nft.tokenState(id);
    }

    function _assertBacked() internal view {
        assertEq(usdc.balanceOf(address(nft)), nft.accounted(), "balance == accounted");
    }

    /*//////////////////////////////////////////////////////////////
                              CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    function test_Constructor() public view {
        assertEq(nft.token(), address(usdc));
        assertEq(nft.asset(), address(usdc));
        assertEq(nft.owner(), owner);
        assertEq(nft.price(), PRICE);
        assertEq(nft.feeBps(), FEE_BPS);
        assertEq(nft.deliveryWindow(), WINDOW);
        assertEq(nft.feeRecipient(), treasury);
        assertEq(nft.accounted(), 0);
        assertEq(nft.isProvider(provider), true);
        assertEq(nft.name(), "GenIm");
        assertEq(nft.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(), TRANSFER_TYPEHASH, "FiatTokenV2_2's Transfer typehash");
        assertEq(nft.RECEIVE_WITH_AUTHORIZATION_TYPEHASH(), RECEIVE_TYPEHASH, "and its Receive typehash");
    }

    /// The domain the contract checks signatures under is USDC's, recomputed per EIP-712:
    /// name "USD Coin" (Base, Ethereum), version "2", this chain, the proxy's address.
    function test_UsdcDomainIsEip712() public view {
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("USD Coin"),
                keccak256("2"),
                block.chainid,
                address(usdc)
            )
        );
        assertEq(usdc.DOMAIN_SEPARATOR(), expected);
        assertEq(usdc.version(), "2");
    }

    function test_RevertWhen_ConstructorTokenHasNoCode() public {
        vm.expectRevert(abi.encodeWithSelector(GenImTokenNFT.InvalidToken.selector, address(0x1234)));
        new GenImTokenNFT(owner, address(0x1234), PRICE, FEE_BPS, treasury, WINDOW);
    }

    function test_RevertWhen_ConstructorZeroOwner() public {
        vm.expectRevert(GenImEscrow.ZeroAddress.selector);
        new GenImTokenNFT(address(0), address(usdc), PRICE, FEE_BPS, treasury, WINDOW);
    }

    /*//////////////////////////////////////////////////////////////
                          MINT (APPROVE + PULL)
    //////////////////////////////////////////////////////////////*/

    function test_Mint() public {
        vm.prank(alice);
        usdc.approve(address(nft), PRICE);
        vm.expectEmit(true, true, true, true, address(nft));
        emit ERC721.Transfer(address(0), alice, 1);
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.ImageRequested(1, alice, PRICE, PROMPT);
        vm.prank(alice);
        uint256 id = nft.mint(PROMPT);

        assertEq(id, 1);
        assertEq(nft.ownerOf(id), alice);
        assertEq(usdc.balanceOf(alice), 1000e6 - PRICE);
        assertEq(usdc.balanceOf(address(nft)), PRICE);
        assertEq(nft.accounted(), PRICE);
        (uint8 state, uint256 escrow, uint64 deadline,) = nft.tokenState(id);
        assertEq(state, nft.STATE_PENDING());
        assertEq(escrow, PRICE);
        assertEq(deadline, block.timestamp + WINDOW);
    }

    function test_RevertWhen_MintWithoutApproval() public {
        vm.expectRevert(SafeTransferLib.TransferFromFailed.selector);
        vm.prank(alice);
        nft.mint(PROMPT);
    }

    function test_RevertWhen_EtherSentToMint() public {
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        (bool ok,) = address(nft).call{value: 1}(abi.encodeCall(GenImTokenNFT.mint, (PROMPT)));
        assertEq(ok, false, "mint is not payable");
        assertEq(address(nft).balance, 0);
    }

    function test_MintAtPriceZero() public {
        vm.prank(owner);
        nft.setPrice(0);
        vm.prank(alice);
        uint256 id = nft.mint(PROMPT);
        assertEq(_state(id), nft.STATE_PENDING());
        assertEq(nft.accounted(), 0);
        // Gasless at price zero: an authorization of 0 still proves the user asked.
        Auth memory a = _x402(bobKey);
        a.signature = _signAuth(bobKey, TRANSFER_TYPEHASH, address(nft), 0, a);
        assertEq(nft.ownerOf(_relay(provider, PROMPT, a)), bob);
    }

    /// A token that keeps a fee on transfer delivers less than the escrow: the mint reverts.
    function test_RevertWhen_MintPaidWithFeeOnTransferToken() public {
        FeeOnTransferToken taxed = new FeeOnTransferToken();
        GenImTokenNFT taxedNft = new GenImTokenNFT(owner, address(taxed), PRICE, FEE_BPS, treasury, WINDOW);
        taxed.mint(alice, PRICE);
        vm.startPrank(alice);
        taxed.approve(address(taxedNft), PRICE);
        vm.expectRevert(abi.encodeWithSelector(GenImTokenNFT.PaymentNotReceived.selector, PRICE - PRICE / 100, PRICE));
        taxedNft.mint(PROMPT);
        vm.stopPrank();
    }

    function test_RevertWhen_MintPaused() public {
        vm.prank(owner);
        nft.pause();
        Auth memory a = _x402(aliceKey);
        vm.expectRevert(GenImEscrow.MintingPaused.selector);
        _relay(provider, PROMPT, a);
        vm.expectRevert(GenImEscrow.MintingPaused.selector);
        vm.prank(alice);
        nft.mint(PROMPT);
    }

    /*//////////////////////////////////////////////////////////////
                         MINT WITH AUTHORIZATION
    //////////////////////////////////////////////////////////////*/

    /// The x402 shape: the user signs a TransferWithAuthorization with a random nonce and hands
    /// it with the prompt to a provider's server, which relays it.
    function test_MintWithAuthorizationRelayedByProvider() public {
        Auth memory a = _x402(aliceKey);
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.ImageRequested(1, alice, PRICE, PROMPT);
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImTokenNFT.PaidByAuthorization(1, alice, a.nonce, true);
        uint256 id = _relay(provider, PROMPT, a);

        assertEq(nft.ownerOf(id), alice, "minted to the payer, not the relayer");
        assertEq(usdc.balanceOf(alice), 1000e6 - PRICE);
        assertEq(usdc.balanceOf(provider), 0, "the relayer paid only gas");
        assertEq(usdc.authorizationState(alice, a.nonce), true);
        assertEq(nft.mintedByAuthorization(alice, a.nonce), id);
        assertEq(nft.accounted(), PRICE);
        _assertBacked();

        // The usual escrow rules follow.
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        vm.prank(provider);
        nft.withdraw();
        assertEq(usdc.balanceOf(provider), PRICE - FEE);
        nft.withdrawFees();
        assertEq(usdc.balanceOf(treasury), FEE);
        assertEq(usdc.balanceOf(address(nft)), 0);
        assertEq(nft.accounted(), 0);
    }

    /// Anyone may relay an authorization whose nonce commits to the prompt.
    function test_MintWithAuthorizationCommittedByAnyone() public {
        Auth memory a = _committed(aliceKey, TRANSFER_TYPEHASH, PROMPT);
        uint256 id = _relay(relayer, PROMPT, a);
        assertEq(nft.ownerOf(id), alice);
        assertEq(usdc.balanceOf(relayer), 0);
        _assertBacked();
        // The same prompt again: another validBefore gives another nonce.
        Auth memory again = _committed(aliceKey, TRANSFER_TYPEHASH, PROMPT);
        again.validBefore += 1;
        again.nonce = nft.promptNonce(PROMPT, alice, again.validAfter, again.validBefore);
        again.signature = _signAuth(aliceKey, TRANSFER_TYPEHASH, address(nft), PRICE, again);
        assertEq(_relay(relayer, PROMPT, again), id + 1);
    }

    /// ReceiveWithAuthorization, which only the payee (this contract) can execute, so nobody
    /// can front-run it.
    function test_MintWithReceiveAuthorization() public {
        Auth memory a = _committed(aliceKey, RECEIVE_TYPEHASH, PROMPT);
        vm.expectRevert(bytes("FiatTokenV2: caller must be the payee"));
        vm.prank(attacker);
        usdc.receiveWithAuthorization(a.from, address(nft), PRICE, a.validAfter, a.validBefore, a.nonce, a.signature);
        uint256 id = _relay(relayer, PROMPT, a);
        assertEq(nft.ownerOf(id), alice);
        assertEq(usdc.authorizationState(alice, a.nonce), true);
        _assertBacked();

        Auth memory random = _x402(bobKey);
        random.signature = _signAuth(bobKey, RECEIVE_TYPEHASH, address(nft), PRICE, random);
        assertEq(nft.ownerOf(_relay(provider, PROMPT, random)), bob, "providers relay it too");
    }

    /// Prompt swap: a relayer that is not a provider cannot change the prompt, nor relay an
    /// authorization that does not commit to one.
    function test_RevertWhen_RelayerSwapsThePrompt() public {
        Auth memory a = _committed(aliceKey, TRANSFER_TYPEHASH, PROMPT);
        bytes32 swapped = nft.promptNonce("something else", alice, a.validAfter, a.validBefore);
        vm.expectRevert(abi.encodeWithSelector(GenImTokenNFT.PromptNotCommitted.selector, a.nonce, swapped));
        _relay(relayer, "something else", a);

        Auth memory random = _x402(aliceKey);
        bytes32 expected = nft.promptNonce(PROMPT, alice, random.validAfter, random.validBefore);
        vm.expectRevert(abi.encodeWithSelector(GenImTokenNFT.PromptNotCommitted.selector, random.nonce, expected));
        _relay(relayer, PROMPT, random);
        assertEq(usdc.balanceOf(alice), 1000e6, "nothing moved");
    }

    /// promptNonce is exactly the published definition (what Rust and browser clients compute).
    function testFuzz_PromptNonce(string calldata prompt, address from, uint256 validAfter, uint256 validBefore)
        public
        view
    {
        assertEq(
            nft.promptNonce(prompt, from, validAfter, validBefore),
            keccak256(abi.encode(address(nft), from, keccak256(bytes(prompt)), validAfter, validBefore))
        );
    }

    /// A fixed vector for the Rust and browser clients that compute the nonce: the contract at
    /// anvil's first deployment address, anvil's second account, the prompt "a fox in the snow".
    function test_PromptNonceVector() public {
        address clone = 0x5FbDB2315678afecb367f032d93F642f64180aa3;
        vm.etch(clone, address(nft).code);
        assertEq(
            GenImTokenNFT(clone)
                .promptNonce("a fox in the snow", 0x70997970C51812dc3A010C7d01b50e0d17dc79C8, 0, 1750003600),
            0x45e5641bb06f9dedc8f149678a57debaedf6670c026a90bd90199734d921d06d
        );
    }

    /// Front-running: someone executes the user's TransferWithAuthorization directly on USDC
    /// first. The money is then in the contract without a token; the provider's same call
    /// still mints for it, once, after checking the signature itself.
    function test_FrontRunAuthorizationStillMints() public {
        Auth memory a = _x402(aliceKey);
        _executeDirectly(a);
        assertEq(usdc.balanceOf(address(nft)), PRICE, "paid");
        assertEq(nft.accounted(), 0, "but not accounted yet");

        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImTokenNFT.PaidByAuthorization(1, alice, a.nonce, false);
        uint256 id = _relay(provider, PROMPT, a);
        assertEq(nft.ownerOf(id), alice);
        assertEq(usdc.balanceOf(alice), 1000e6 - PRICE, "charged once");
        _assertBacked();

        vm.expectRevert(abi.encodeWithSelector(GenImTokenNFT.AuthorizationAlreadyMinted.selector, alice, a.nonce, id));
        _relay(provider, PROMPT, a);
    }

    /// A front-run authorization that commits to its prompt, relayed by a non-provider: the
    /// contract cannot tell a front-run payment from a cancelled authorization, so it refuses
    /// and a provider mints for it (nothing is stranded).
    function test_RevertWhen_FrontRunAuthorizationRelayedByNonProvider() public {
        Auth memory a = _committed(aliceKey, TRANSFER_TYPEHASH, PROMPT);
        _executeDirectly(a);
        vm.expectRevert(abi.encodeWithSelector(GenImTokenNFT.AuthorizationUsedElsewhere.selector, alice, a.nonce));
        _relay(relayer, PROMPT, a);
        uint256 id = _relay(provider, PROMPT, a);
        assertEq(nft.ownerOf(id), alice);
        _assertBacked();
    }

    /// The flaw in minting for any used authorization: EIP-3009's cancelAuthorization also
    /// marks a nonce used, without moving money. An attacker who cancels its own authorization
    /// cannot have a token minted against someone else's front-run payment.
    function test_RevertWhen_CancelledAuthorizationClaimsFrontRunPayment() public {
        Auth memory victim = _x402(aliceKey);
        _executeDirectly(victim); // alice's payment waits in the contract for its token

        Auth memory own = _committed(attackerKey, TRANSFER_TYPEHASH, PROMPT);
        usdc.cancelAuthorization(attacker, own.nonce, _signCancel(usdc, attackerKey, own.nonce));
        assertEq(usdc.authorizationState(attacker, own.nonce), true, "used, but nothing paid");
        vm.expectRevert(abi.encodeWithSelector(GenImTokenNFT.AuthorizationUsedElsewhere.selector, attacker, own.nonce));
        _relay(attacker, PROMPT, own);

        assertEq(nft.ownerOf(_relay(provider, PROMPT, victim)), alice, "alice's payment is still hers");
        _assertBacked();
    }

    /// Even a provider cannot mint against accounted money: a cancelled authorization with no
    /// payment behind it fails the backing check.
    function test_RevertWhen_ProviderMintsForCancelledAuthorization() public {
        uint256 paid = _approveAndMint(bob); // accounted escrow in the contract
        Auth memory a = _x402(aliceKey);
        usdc.cancelAuthorization(alice, a.nonce, _signCancel(usdc, aliceKey, a.nonce));
        vm.expectRevert(abi.encodeWithSelector(GenImTokenNFT.PaymentNotReceived.selector, PRICE, 2 * PRICE));
        _relay(provider, PROMPT, a);
        assertEq(_state(paid), nft.STATE_PENDING());
        _assertBacked();
    }

    function test_RevertWhen_FrontRunRecoveryWithForeignSignature() public {
        Auth memory a = _x402(aliceKey);
        _executeDirectly(a);
        a.signature = _signAuth(bobKey, TRANSFER_TYPEHASH, address(nft), PRICE, a);
        vm.expectRevert(GenImTokenNFT.InvalidSignature.selector);
        _relay(provider, PROMPT, a);
    }

    /// Replay: one authorization mints once, whoever relays it again.
    function test_RevertWhen_AuthorizationReplayed() public {
        Auth memory a = _committed(aliceKey, TRANSFER_TYPEHASH, PROMPT);
        uint256 id = _relay(relayer, PROMPT, a);
        vm.expectRevert(abi.encodeWithSelector(GenImTokenNFT.AuthorizationAlreadyMinted.selector, alice, a.nonce, id));
        _relay(relayer, PROMPT, a);
        vm.expectRevert(abi.encodeWithSelector(GenImTokenNFT.AuthorizationAlreadyMinted.selector, alice, a.nonce, id));
        _relay(provider, PROMPT, a);
        assertEq(usdc.balanceOf(alice), 1000e6 - PRICE, "charged once");
    }

    function test_RevertWhen_AuthorizationExpired() public {
        Auth memory a = _x402(aliceKey);
        vm.warp(a.validBefore);
        vm.expectRevert(bytes("FiatTokenV2: authorization is expired"));
        _relay(provider, PROMPT, a);
    }

    function test_RevertWhen_AuthorizationNotYetValid() public {
        Auth memory a = _x402(aliceKey);
        a.validAfter = block.timestamp + 10;
        a.signature = _signAuth(aliceKey, TRANSFER_TYPEHASH, address(nft), PRICE, a);
        vm.expectRevert(bytes("FiatTokenV2: authorization is not yet valid"));
        _relay(provider, PROMPT, a);
    }

    function test_RevertWhen_AuthorizationHasWrongValue() public {
        Auth memory a = _x402(aliceKey);
        a.signature = _signAuth(aliceKey, TRANSFER_TYPEHASH, address(nft), PRICE - 1, a);
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        _relay(provider, PROMPT, a);
    }

    /// After a price change, an authorization signed at the old price no longer pays.
    function test_RevertWhen_PriceChangedAfterSigning() public {
        Auth memory a = _x402(aliceKey);
        vm.prank(owner);
        nft.setPrice(2 * PRICE);
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        _relay(provider, PROMPT, a);
    }

    function test_RevertWhen_AuthorizationHasWrongPayee() public {
        Auth memory a = _x402(aliceKey);
        a.signature = _signAuth(aliceKey, TRANSFER_TYPEHASH, attacker, PRICE, a);
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        _relay(provider, PROMPT, a);
        // Executed to its real payee, it leaves nothing here to mint for.
        vm.prank(attacker);
        usdc.transferWithAuthorization(alice, attacker, PRICE, a.validAfter, a.validBefore, a.nonce, a.signature);
        vm.expectRevert(GenImTokenNFT.InvalidSignature.selector);
        _relay(provider, PROMPT, a);
    }

    function test_RevertWhen_AuthorizationSignedBySomeoneElse() public {
        Auth memory a = _x402(aliceKey);
        a.signature = _signAuth(bobKey, TRANSFER_TYPEHASH, address(nft), PRICE, a);
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        _relay(provider, PROMPT, a);
        assertEq(usdc.balanceOf(alice), 1000e6);
    }

    /// A smart-wallet payer (ERC-1271): relayed, committed, and front-run then recovered.
    function test_MintWithAuthorizationFromSmartWallet() public {
        SmartWallet wallet = new SmartWallet(alice);
        _fund(usdc, address(wallet), 10 * PRICE);
        Auth memory a = _x402(aliceKey);
        a.from = address(wallet);
        a.signature = _signAuth(aliceKey, TRANSFER_TYPEHASH, address(nft), PRICE, a);
        assertEq(nft.ownerOf(_relay(provider, PROMPT, a)), address(wallet));

        Auth memory c = _committed(aliceKey, RECEIVE_TYPEHASH, PROMPT);
        c.from = address(wallet);
        c.nonce = nft.promptNonce(PROMPT, address(wallet), c.validAfter, c.validBefore);
        c.signature = _signAuth(aliceKey, RECEIVE_TYPEHASH, address(nft), PRICE, c);
        assertEq(nft.ownerOf(_relay(relayer, PROMPT, c)), address(wallet));

        Auth memory f = _x402(aliceKey);
        f.from = address(wallet);
        f.signature = _signAuth(aliceKey, TRANSFER_TYPEHASH, address(nft), PRICE, f);
        _executeDirectly(f);
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImTokenNFT.PaidByAuthorization(3, address(wallet), f.nonce, false);
        _relay(provider, PROMPT, f);
        assertEq(usdc.balanceOf(address(wallet)), 7 * PRICE);
        _assertBacked();
    }

    function test_RevertWhen_SmartWalletRefusesSignature() public {
        SmartWallet wallet = new SmartWallet(alice);
        _fund(usdc, address(wallet), PRICE);
        Auth memory a = _x402(aliceKey);
        a.from = address(wallet);
        a.signature = _signAuth(aliceKey, TRANSFER_TYPEHASH, address(nft), PRICE, a);
        wallet.setRefusing(true);
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        _relay(provider, PROMPT, a);
        // Executed while it accepted, then refused: the recovery's own check refuses too.
        wallet.setRefusing(false);
        _executeDirectly(a);
        wallet.setRefusing(true);
        vm.expectRevert(GenImTokenNFT.InvalidSignature.selector);
        _relay(provider, PROMPT, a);
    }

    /*//////////////////////////////////////////////////////////////
                     ESCROW RULES, PAID IN USDC
    //////////////////////////////////////////////////////////////*/

    /// Finding 1, for the token contract: a provider authorized after a mint cannot deliver it.
    function test_RevertWhen_NewProviderDeliversEarlierToken() public {
        uint256 id = _relay(provider, PROMPT, _x402(aliceKey));
        vm.prank(owner);
        nft.setProvider(owner, true);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.NotAuthorizedAtMint.selector, id, owner));
        vm.prank(owner);
        nft.deliver(id, DIGEST);
        assertEq(nft.deliverersOf(id).length, 1);
        assertEq(nft.deliverersOf(id)[0], provider);
    }

    function test_DeliverBatchAndWithdraw() public {
        uint256[] memory ids = new uint256[](3);
        bytes32[] memory digests = new bytes32[](3);
        for (uint256 i; i < 3; ++i) {
            ids[i] = _relay(provider, PROMPT, _x402(i == 1 ? bobKey : aliceKey));
            digests[i] = keccak256(abi.encode(i));
        }
        vm.prank(provider);
        nft.deliverBatch(ids, digests);
        assertEq(nft.earnings(provider), 3 * (PRICE - FEE));
        assertEq(nft.accruedFees(), 3 * FEE);
        _assertBacked();
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.Withdrawn(provider, 3 * (PRICE - FEE));
        vm.prank(provider);
        nft.withdraw();
        assertEq(usdc.balanceOf(provider), 3 * (PRICE - FEE));
        assertEq(nft.accounted(), 3 * FEE);
        _assertBacked();
    }

    function test_Refund() public {
        uint256 id = _approveAndMint(alice);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.Refunded(id, alice, PRICE);
        vm.prank(alice);
        nft.refund(id);
        assertEq(usdc.balanceOf(alice), 1000e6);
        assertEq(nft.accounted(), 0);
        assertEq(_state(id), nft.STATE_REFUNDED());
        _assertBacked();
    }

    /// A USDC-blacklisted receiver never blocks a refund: the refund is credited instead, and
    /// paid once the address is cleared.
    function test_RefundToBlacklistedOwnerIsCredited() public {
        uint256 id = _relay(provider, PROMPT, _x402(aliceKey));
        vm.prank(usdcOwner);
        usdc.blacklist(alice);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectEmit(true, true, true, true, address(nft));
        emit GenImEscrow.Credited(alice, PRICE);
        vm.prank(alice);
        nft.refund(id);
        assertEq(_state(id), nft.STATE_REFUNDED());
        assertEq(nft.credit(alice), PRICE);
        assertEq(nft.accounted(), PRICE, "a credit is still owed");
        _assertBacked();

        vm.expectRevert(SafeTransferLib.TransferFailed.selector);
        vm.prank(alice);
        nft.withdraw();
        vm.prank(usdcOwner);
        usdc.unBlacklist(alice);
        vm.prank(alice);
        nft.withdraw();
        assertEq(usdc.balanceOf(alice), 1000e6);
        assertEq(nft.accounted(), 0);
        _assertBacked();
    }

    /// While USDC is paused, deliveries go on and refunds are credited.
    function test_PausedUsdcBlocksNoDeliveryOrRefund() public {
        uint256 a = _relay(provider, PROMPT, _x402(aliceKey));
        uint256 b = _relay(provider, PROMPT, _x402(bobKey));
        vm.prank(usdcOwner);
        usdc.pause();
        vm.prank(provider);
        nft.deliver(a, DIGEST);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.prank(bob);
        nft.refund(b);
        assertEq(nft.credit(bob), PRICE);
        _assertBacked();
    }

    /// A blacklisted provider still delivers (nothing is pushed); its earnings wait.
    function test_BlacklistedProviderStillDelivers() public {
        uint256 id = _relay(provider, PROMPT, _x402(aliceKey));
        vm.prank(usdcOwner);
        usdc.blacklist(provider);
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        assertEq(nft.earnings(provider), PRICE - FEE);
        vm.expectRevert(SafeTransferLib.TransferFailed.selector);
        vm.prank(provider);
        nft.withdraw();
        assertEq(nft.earnings(provider), PRICE - FEE, "kept");
    }

    function test_WithdrawFeesToSplitter() public {
        SplitterFactory factory = new SplitterFactory();
        address[] memory recipients = new address[](2);
        (recipients[0], recipients[1]) = (treasury, bob);
        uint256[] memory shares = new uint256[](2);
        (shares[0], shares[1]) = (1, 3);
        Splitter splitter = Splitter(payable(factory.createSplitter(recipients, shares, 0)));
        vm.prank(owner);
        nft.setFeeRecipient(address(splitter));
        for (uint256 i; i < 4; ++i) {
            uint256 id = _relay(provider, PROMPT, _x402(aliceKey));
            vm.prank(provider);
            nft.deliver(id, DIGEST);
        }
        nft.withdrawFees();
        assertEq(usdc.balanceOf(address(splitter)), 4 * FEE);
        splitter.release(address(usdc), bob);
        assertEq(usdc.balanceOf(bob), 1000e6 + 3 * FEE);
        _assertBacked();
    }

    function test_RevertWhen_FeeRecipientBlacklisted() public {
        uint256 id = _relay(provider, PROMPT, _x402(aliceKey));
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        vm.prank(usdcOwner);
        usdc.blacklist(treasury);
        vm.expectRevert(SafeTransferLib.TransferFailed.selector);
        nft.withdrawFees();
        assertEq(nft.accruedFees(), FEE, "kept");
        vm.prank(owner);
        nft.setFeeRecipient(bob);
        nft.withdrawFees();
        assertEq(usdc.balanceOf(bob), 1000e6 + FEE);
    }

    /// USDC sent to the contract directly is not owed to anyone: the contract keeps counting
    /// only what it owes, the balance stays above it, and no function moves the difference.
    function test_DonationIsNotAccounted() public {
        uint256 id = _approveAndMint(alice);
        vm.prank(bob);
        assertTrue(usdc.transfer(address(nft), 5 * PRICE), "donation");
        assertEq(nft.accounted(), PRICE);
        assertEq(usdc.balanceOf(address(nft)), 6 * PRICE);
        vm.prank(provider);
        nft.deliver(id, DIGEST);
        vm.prank(provider);
        nft.withdraw();
        nft.withdrawFees();
        assertEq(nft.accounted(), 0);
        assertEq(usdc.balanceOf(address(nft)), 5 * PRICE, "the donation stays");
    }

    /// The accounted total has 120 bits; a mint that would overflow it reverts (unreachable
    /// with real money: the config slot, storage slot 0, is set by hand here).
    function test_RevertWhen_AccountedWouldOverflow() public {
        uint256 config = uint256(vm.load(address(nft), bytes32(0)));
        assertEq(config & type(uint64).max, PRICE, "slot 0 is the mint config");
        vm.store(address(nft), bytes32(0), bytes32(config | (uint256(type(uint120).max - PRICE + 1) << 136)));
        Auth memory a = _x402(aliceKey);
        vm.expectRevert(GenImEscrow.AccrualOverflow.selector);
        _relay(provider, PROMPT, a);
    }

    function test_RevertWhen_MintWithAuthorizationToZeroAddress() public {
        Auth memory a = _x402(aliceKey);
        a.from = address(0);
        vm.expectRevert(ERC721.TransferToZeroAddress.selector);
        _relay(provider, PROMPT, a);
    }

    function test_RevertWhen_EtherSentWithErc721Functions() public {
        uint256 id = _approveAndMint(alice);
        vm.deal(alice, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(GenImEscrow.UnexpectedValue.selector, 1));
        vm.prank(alice);
        nft.transferFrom{value: 1}(alice, bob, id);
    }
}

/// @dev The same contract with USDC deployed without its proxy (as on a test chain).
contract GenImTokenNFTUnproxiedTest is UsdcTest {
    function test_MintWithAuthorizationUnproxied() public {
        vm.warp(1_750_000_000);
        IFiatToken usdc = _deployUsdc(false);
        address owner = makeAddr("owner");
        GenImTokenNFT nft = new GenImTokenNFT(owner, address(usdc), 10_000, 500, owner, 1 days);
        vm.prank(owner);
        nft.setProvider(owner, true);
        uint256 key = uint256(keccak256("carol"));
        address carol = vm.addr(key);
        _fund(usdc, carol, 10_000);
        bytes32 nonce = keccak256("x402");
        bytes memory sig = _sign(
            key,
            _authorizationDigest(usdc, TRANSFER_TYPEHASH, carol, address(nft), 10_000, 0, block.timestamp + 60, nonce)
        );
        vm.prank(owner);
        uint256 id = nft.mintWithAuthorization("fox", carol, 0, block.timestamp + 60, nonce, sig);
        assertEq(nft.ownerOf(id), carol);
        assertEq(usdc.balanceOf(address(nft)), 10_000);
    }
}
