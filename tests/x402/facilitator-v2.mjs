#!/usr/bin/env node
// The reference x402 facilitator (@x402/core x402Facilitator + @x402/evm exact scheme, EIP-3009)
// over HTTP: POST /verify, POST /settle, GET /supported. @x402/* ships no HTTP facilitator server,
// so this is the express wrapper of upstream's examples/typescript/facilitator/basic, EVM only.
// Prints {"url","relayer","chainId","networks"} once listening.
import { x402Facilitator } from '@x402/core/facilitator'
import { toFacilitatorEvmSigner } from '@x402/evm'
import { ExactEvmScheme } from '@x402/evm/exact/facilitator'
import { ExactEvmSchemeV1 } from '@x402/evm/exact/v1/facilitator'
import { EVM_NETWORK_CHAIN_ID_MAP } from '@x402/evm/v1'
import express from 'express'
import { createWalletClient, defineChain, http, nonceManager, publicActions } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { args, emit, envKey, errorLine, int, log, onShutdown, rpcUrl, run } from './lib.mjs'

const usage = `
Usage: FACILITATOR_PRIVATE_KEY=0x.. node facilitator-v2.mjs [options]

Serves the reference facilitator for the chain behind --rpc: v2 kind "exact" on eip155:<chainId>,
and v1 "exact" on the v1 network name with that chain id, if any (84532 -> base-sepolia).

Options:
  --port P             listen port (default 4022; 0 = any free port)
  --host H             listen address (default 127.0.0.1)
  --rpc URL            JSON-RPC endpoint (default $ETH_RPC_URL or http://127.0.0.1:8545)
  --plain-nonces       no viem nonce manager, exactly like upstream's example (concurrent settles
                       then race for the relayer's nonce; default: viem's nonceManager)
  --poll-ms MS         receipt polling interval (default 100; viem's default for a chain without
                       a block time is 4000, which only matters with anvil --block-time)
  --quiet              no per-request log lines

Env: FACILITATOR_PRIVATE_KEY (required): the relayer that submits transferWithAuthorization and
pays its gas.
`

const opts = args(usage, {
  port: { type: 'string', default: '4022' },
  host: { type: 'string', default: '127.0.0.1' },
  rpc: { type: 'string' },
  'plain-nonces': { type: 'boolean', default: false },
  'poll-ms': { type: 'string', default: '100' },
  quiet: { type: 'boolean', default: false },
})

run(async () => {
  const url = rpcUrl(opts.rpc)
  const key = envKey('FACILITATOR_PRIVATE_KEY')
  const account = privateKeyToAccount(key, opts['plain-nonces'] ? {} : { nonceManager })
  const chainId = await createWalletClient({ transport: http(url) })
    .getChainId()
    .catch((err) => Promise.reject(new Error(`cannot read the chain id from ${url}: ${errorLine(err)}`)))
  const chain = defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [url] } },
  })
  const viemClient = createWalletClient({
    account,
    chain,
    transport: http(url),
    pollingInterval: int(opts['poll-ms'], 'poll-ms'),
  }).extend(publicActions)

  // Same adapter as upstream's example: each signer method forwards to the viem client.
  const evmSigner = toFacilitatorEvmSigner({
    address: account.address,
    getCode: (a) => viemClient.getCode(a),
    readContract: (a) => viemClient.readContract({ ...a, args: a.args || [] }),
    verifyTypedData: (a) => viemClient.verifyTypedData(a),
    writeContract: (a) => viemClient.writeContract({ ...a, args: a.args || [] }),
    sendTransaction: (a) => viemClient.sendTransaction(a),
    waitForTransactionReceipt: (a) => viemClient.waitForTransactionReceipt(a),
  })

  const v2Network = `eip155:${chainId}`
  const v1Networks = Object.entries(EVM_NETWORK_CHAIN_ID_MAP)
    .filter(([, id]) => id === chainId)
    .map(([name]) => name)
  const facilitator = new x402Facilitator().register(v2Network, new ExactEvmScheme(evmSigner))
  if (v1Networks.length > 0) facilitator.registerV1(v1Networks, new ExactEvmSchemeV1(evmSigner))

  // One stderr line per call with its duration (off with --quiet).
  const trace = (what, t0, outcome) => {
    if (!opts.quiet) log(`${what} ${outcome} (${Math.round(performance.now() - t0)} ms)`)
  }

  const app = express()
  app.use(express.json({ limit: '1mb' }))

  // Both endpoints take {x402Version, paymentPayload, paymentRequirements} (what the reference
  // servers send) and answer the facilitator's VerifyResponse / SettleResponse as JSON.
  app.post('/verify', async (req, res) => {
    const { paymentPayload, paymentRequirements } = req.body ?? {}
    if (!paymentPayload || !paymentRequirements) {
      return res.status(400).json({ error: 'Missing paymentPayload or paymentRequirements' })
    }
    const t0 = performance.now()
    try {
      const result = await facilitator.verify(paymentPayload, paymentRequirements)
      trace('verify', t0, result.isValid ? `ok payer=${result.payer}` : `invalid ${result.invalidReason}`)
      res.json(result)
    } catch (error) {
      log(`verify error: ${errorLine(error)}`)
      res.status(500).json({ error: error instanceof Error ? error.message : 'Unknown error' })
    }
  })

  app.post('/settle', async (req, res) => {
    const { paymentPayload, paymentRequirements } = req.body ?? {}
    if (!paymentPayload || !paymentRequirements) {
      return res.status(400).json({ error: 'Missing paymentPayload or paymentRequirements' })
    }
    const t0 = performance.now()
    try {
      const result = await facilitator.settle(paymentPayload, paymentRequirements)
      trace('settle', t0, result.success ? `ok tx=${result.transaction}` : `failed ${result.errorReason}`)
      res.json(result)
    } catch (error) {
      log(`settle error: ${errorLine(error)}`)
      // Upstream's example turns a hook abort into a SettleResponse, anything else into a 500.
      if (error instanceof Error && error.message.includes('Settlement aborted:')) {
        return res.json({
          success: false,
          errorReason: error.message.replace('Settlement aborted: ', ''),
          network: paymentPayload?.network || 'unknown',
        })
      }
      res.status(500).json({ error: error instanceof Error ? error.message : 'Unknown error' })
    }
  })

  app.get('/supported', (_req, res) => res.json(facilitator.getSupported()))

  const port = int(opts.port, 'port')
  const server = app.listen(port, opts.host)
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject))
  const listening = `http://${opts.host}:${server.address().port}`
  log(`listening on ${listening}, relayer ${account.address}, rpc ${url}`)
  emit({ url: listening, relayer: account.address, chainId, networks: [v2Network, ...v1Networks] })
  onShutdown(() => new Promise((resolve) => server.close(resolve)))
})
