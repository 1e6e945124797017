#!/usr/bin/env node
// Pays one request with the reference v2 client (@x402/fetch 2.27.0 + @x402/evm exact scheme).
// It also answers v1 servers (X-PAYMENT), as @x402/fetch does. Prints
// {"status","body","paymentResponse","paymentRequired","headers"} on stdout.
import { ExactEvmScheme } from '@x402/evm/exact/client'
import { ExactEvmSchemeV1 } from '@x402/evm/exact/v1/client'
import { NETWORKS } from '@x402/evm/v1'
import { wrapFetchWithPaymentFromConfig } from '@x402/fetch'
import { privateKeyToAccount } from 'viem/accounts'
import { address, args, decodeHeader, envKey, int, log, requestInit, responseResult, run } from './lib.mjs'

const usage = `
Usage: PAYER_PRIVATE_KEY=0x.. node client-v2.mjs URL [options]

Options:
  --method M        HTTP method (default GET, or POST when --body is given)
  --body JSON       request body, sent as application/json
  --header K:V      extra request header (repeatable)
  --max N           refuse to pay more than N atomic units (default 1000000 = 1 USDC)
  --asset ADDR      spend controls: allow only this token (default: any token, capped by --max)
  --show-payment    also print the decoded payment header that was sent ("sent")

Env: PAYER_PRIVATE_KEY (required): signs the EIP-3009 authorization; never sends a transaction.
`

const opts = args(
  usage,
  {
    method: { type: 'string' },
    body: { type: 'string' },
    header: { type: 'string', multiple: true, default: [] },
    max: { type: 'string', default: '1000000' },
    asset: { type: 'string' },
    'show-payment': { type: 'boolean', default: false },
  },
  { positionals: 1 },
)

run(async () => {
  const url = opts._[0]
  const max = String(int(opts.max, 'max'))
  const account = privateKeyToAccount(envKey('PAYER_PRIVATE_KEY'))

  // Spend controls: the local token is not one of @x402/evm's default assets, so it must be
  // allowed explicitly, with an atomic cap, on v2 (eip155:*) and v1 (named) networks alike; without
  // --asset any token is allowed and the cap is enforced by a policy.
  const asset = opts.asset && address(opts.asset, 'asset')
  const spendControls = asset
    ? {
        allowedAssets: ['eip155:*', ...NETWORKS].map((network) => ({ network, asset, maxAmountPerPayment: max })),
      }
    : { allowedAssets: true, maxAmountPerPayment: false }
  const capPolicy = (version, reqs) =>
    reqs.filter((r) => BigInt(version === 1 ? r.maxAmountRequired : r.amount) <= BigInt(max))

  // Remember the last request's payment header for --show-payment.
  let sent
  const recordingFetch = async (input, init) => {
    const request = new Request(input, init)
    const header = request.headers.get('PAYMENT-SIGNATURE') ?? request.headers.get('X-PAYMENT')
    if (header) sent = decodeHeader(header)
    return fetch(request)
  }

  const fetchWithPayment = wrapFetchWithPaymentFromConfig(recordingFetch, {
    schemes: [
      { network: 'eip155:*', client: new ExactEvmScheme(account) },
      ...NETWORKS.map((network) => ({ network, client: new ExactEvmSchemeV1(account), x402Version: 1 })),
    ],
    spendControls,
    policies: [capPolicy],
  })

  log(`payer ${account.address}: ${opts.method ?? (opts.body ? 'POST' : 'GET')} ${url}`)
  const response = await fetchWithPayment(url, requestInit(opts))
  const result = await responseResult(response)
  if (opts['show-payment']) result.sent = sent
  return result
})
