#!/usr/bin/env node
// Pays one request with the reference v1 client (x402-fetch 1.2.0). v1 network names are a closed
// list and the client signs with that list's chain id, so on anvil use --chain-id 84532 and network
// "base-sepolia". It reads the 402's JSON body (accepts[]) and crashes on a v2-only 402. Prints
// {"status","body","paymentResponse","paymentRequired","headers"} on stdout.
import { createWalletClient, defineChain, http, publicActions } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { wrapFetchWithPayment } from 'x402-fetch'
import { EvmNetworkToChainId } from 'x402/types'
import { args, decodeHeader, envKey, int, log, requestInit, responseResult, rpcUrl, run } from './lib.mjs'

const usage = `
Usage: PAYER_PRIVATE_KEY=0x.. node client-v1.mjs URL [options]

Options:
  --method M        HTTP method (default GET, or POST when --body is given)
  --body JSON       request body, sent as application/json
  --header K:V      extra request header (repeatable)
  --max N           refuse to pay more than N atomic units (default 1000000 = 1 USDC;
                    x402-fetch's own default is 100000 = 0.1 USDC)
  --network NAME    v1 network of the wallet (default base-sepolia); only its requirements are paid
  --rpc URL         wallet client transport (never used for signing; default $ETH_RPC_URL or anvil)
  --show-payment    also print the decoded X-PAYMENT header that was sent ("sent")

Env: PAYER_PRIVATE_KEY (required): signs the EIP-3009 authorization; never sends a transaction.
`

const opts = args(
  usage,
  {
    method: { type: 'string' },
    body: { type: 'string' },
    header: { type: 'string', multiple: true, default: [] },
    max: { type: 'string', default: '1000000' },
    network: { type: 'string', default: 'base-sepolia' },
    rpc: { type: 'string' },
    'show-payment': { type: 'boolean', default: false },
  },
  { positionals: 1 },
)

run(async () => {
  const url = opts._[0]
  const chainId = EvmNetworkToChainId.get(opts.network)
  if (!chainId) throw new Error(`'${opts.network}' is not an x402 v1 EVM network`)
  const account = privateKeyToAccount(envKey('PAYER_PRIVATE_KEY'))
  // What x402's createSigner(network, key) builds, with a local transport instead of a public RPC.
  const chain = defineChain({
    id: chainId,
    name: opts.network,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl(opts.rpc)] } },
  })
  const wallet = createWalletClient({ account, chain, transport: http(rpcUrl(opts.rpc)) }).extend(publicActions)

  let sent
  const recordingFetch = async (input, init) => {
    const request = new Request(input, init)
    const header = request.headers.get('X-PAYMENT')
    if (header) sent = decodeHeader(header)
    return fetch(request)
  }
  const fetchWithPayment = wrapFetchWithPayment(recordingFetch, wallet, BigInt(int(opts.max, 'max')))

  log(`payer ${account.address} on ${opts.network}: ${opts.method ?? (opts.body ? 'POST' : 'GET')} ${url}`)
  const response = await fetchWithPayment(url, requestInit(opts)).catch((err) => {
    // x402-fetch maps over the 402 body's accepts[] without checking it is there.
    if (/reading 'map'/.test(err?.message)) {
      throw new Error(`x402-fetch 1.2.0 found no v1 accepts[] in the 402 body (a v2-only server?): ${err.message}`)
    }
    throw err
  })
  const result = await responseResult(response)
  if (opts['show-payment']) result.sent = sent
  return result
})
