#!/usr/bin/env node
// A reference x402 resource server: express + @x402/express 2.27.0 (v2), x402-express 1.2.0 (v1,
// --v1), or both behind one 402 (--dual). It sells a fixed OpenAI-style image response and talks
// to the facilitator given by URL over HTTP. Prints {"url",...} once listening.
import { HTTPFacilitatorClient } from '@x402/core/server'
import { ExactEvmScheme } from '@x402/evm/exact/server'
import { paymentMiddlewareFromHTTPServer, x402HTTPResourceServer, x402ResourceServer } from '@x402/express'
import express from 'express'
import { getAddress } from 'viem'
import { paymentMiddleware as paymentMiddlewareV1 } from 'x402-express'
import { ChainIdToNetwork } from 'x402/types'
import { address, args, emit, errorLine, int, log, onShutdown, run } from './lib.mjs'

const usage = `
Usage: node server-v2.mjs --facilitator URL --pay-to ADDR --asset ADDR [options]

Routes: POST /v1/images/generations (paid; body {"prompt": "...", "size": "256x256"}, 400 without
a prompt, which the middleware does not settle), GET /weather (paid), POST /free/images/generations
(same handler, unpaid: a baseline for bench.mjs), GET /health.

Options:
  --port P             listen port (default 4021; 0 = any free port)
  --host H             listen address (default 127.0.0.1)
  --facilitator URL    facilitator base URL (POST /verify, POST /settle, GET /supported)
  --pay-to ADDR        payee
  --asset ADDR         EIP-3009 token (e.g. the USDC from deploy-usdc.mjs)
  --amount N           price in atomic units (default 10000 = 0.01 USDC)
  --network ID         CAIP-2 network (default eip155:84532); v1 uses the v1 name of its chain id
  --eip712-name NAME   token's EIP-712 name, sent in extra.name (default "USD Coin")
  --eip712-version V   token's EIP-712 version (default "2")
  --max-timeout S      maxTimeoutSeconds (default: the package's own, 300 for v2, 60 for v1)
  --handler-ms MS      simulated generation time before the handler answers (default 0)
  --v1                 x402-express 1.2.0 only (X-PAYMENT); network must be a v1 chain
  --dual               both: a no-payment 402 carries PAYMENT-REQUIRED (v2) and the v1 JSON body;
                       X-PAYMENT goes to x402-express, PAYMENT-SIGNATURE to @x402/express
  --wait-facilitator S retry the facilitator's /supported this long at start (default 15)
`

const opts = args(usage, {
  port: { type: 'string', default: '4021' },
  host: { type: 'string', default: '127.0.0.1' },
  facilitator: { type: 'string' },
  'pay-to': { type: 'string' },
  asset: { type: 'string' },
  amount: { type: 'string', default: '10000' },
  network: { type: 'string', default: 'eip155:84532' },
  'eip712-name': { type: 'string', default: 'USD Coin' },
  'eip712-version': { type: 'string', default: '2' },
  'max-timeout': { type: 'string' },
  'handler-ms': { type: 'string', default: '0' },
  v1: { type: 'boolean', default: false },
  dual: { type: 'boolean', default: false },
  'wait-facilitator': { type: 'string', default: '15' },
})

// What every paid call returns: fixed, so tests can compare bodies byte for byte.
const IMAGE_RESPONSE = {
  created: 1700000000,
  data: [
    {
      // 1x1 transparent PNG.
      b64_json: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
      revised_prompt: 'a fixed test image',
    },
  ],
}
const WEATHER_RESPONSE = { report: { weather: 'sunny', temperature: 70 } }

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

run(async () => {
  if (!opts.facilitator) throw new Error('--facilitator URL is required')
  const facilitatorUrl = opts.facilitator.replace(/\/+$/, '')
  const payTo = getAddress(address(opts['pay-to'], 'pay-to'))
  const asset = getAddress(address(opts.asset, 'asset'))
  const amount = String(int(opts.amount, 'amount'))
  const maxTimeoutSeconds = int(opts['max-timeout'], 'max-timeout')
  const handlerMs = int(opts['handler-ms'], 'handler-ms')
  const network = opts.network
  const chainId = Number(/^eip155:(\d+)$/.exec(network)?.[1])
  if (!chainId) throw new Error(`--network must look like eip155:<chain id>, got '${network}'`)
  const protocol = opts.dual ? 'dual' : opts.v1 ? 'v1' : 'v2'
  const v1Network = ChainIdToNetwork[chainId]
  if (protocol !== 'v2' && !v1Network) {
    throw new Error(`x402 v1 has no network name for chain ${chainId} (use anvil --chain-id 84532 for base-sepolia)`)
  }
  const extra = { name: opts['eip712-name'], version: opts['eip712-version'] }
  const description = 'genim test image'

  const app = express()
  app.use(express.json({ limit: '1mb' }))
  app.get('/health', (_req, res) => res.json({ ok: true }))

  // ---- v2: @x402/express with the facilitator over HTTP (checked at start, not on first call).
  let v2
  if (protocol !== 'v1') {
    const accepts = { scheme: 'exact', network, payTo, price: { amount, asset, extra }, maxTimeoutSeconds }
    const routes = {
      'POST /v1/images/generations': { accepts, description, mimeType: 'application/json' },
      'GET /weather': { accepts, description: 'weather report', mimeType: 'application/json' },
    }
    const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: facilitatorUrl })).register(
      network,
      new ExactEvmScheme(),
    )
    const httpServer = new x402HTTPResourceServer(resourceServer, routes)
    await initializeWithRetry(httpServer, int(opts['wait-facilitator'], 'wait-facilitator'))
    v2 = paymentMiddlewareFromHTTPServer(httpServer, undefined, undefined, false)
  }

  // ---- v1: x402-express with the same facilitator (it sends x402Version 1 payloads).
  let v1
  if (protocol !== 'v2') {
    const price = { amount, asset: { address: asset, decimals: 6, eip712: extra } }
    const config = { description, mimeType: 'application/json', maxTimeoutSeconds }
    v1 = paymentMiddlewareV1(
      payTo,
      {
        'POST /v1/images/generations': { price, network: v1Network, config },
        'GET /weather': { price, network: v1Network, config: { ...config, description: 'weather report' } },
      },
      { url: facilitatorUrl },
    )
  }

  if (protocol === 'v2') app.use(v2)
  else if (protocol === 'v1') app.use(v1)
  else app.use(dualMiddleware(v1, v2))

  const generate = async (req, res) => {
    if (typeof req.body?.prompt !== 'string' || req.body.prompt === '') {
      // OpenAI's error shape; a status >= 400 makes the reference middlewares skip settlement.
      return res.status(400).json({ error: { message: 'prompt is required', type: 'invalid_request_error' } })
    }
    if (handlerMs) await sleep(handlerMs)
    res.json(IMAGE_RESPONSE)
  }
  app.post('/v1/images/generations', generate)
  app.post('/free/images/generations', generate)
  app.get('/weather', (_req, res) => res.json(WEATHER_RESPONSE))

  const server = app.listen(int(opts.port, 'port'), opts.host)
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject))
  const url = `http://${opts.host}:${server.address().port}`
  log(`${protocol} server on ${url}, facilitator ${facilitatorUrl}, ${amount} of ${asset} to ${payTo}`)
  emit({
    url,
    protocol,
    network,
    v1Network: protocol === 'v2' ? undefined : v1Network,
    payTo,
    asset,
    amount,
    routes: ['POST /v1/images/generations', 'GET /weather'],
  })
  onShutdown(() => new Promise((resolve) => server.close(resolve)))
})

/** Fetches /supported until the facilitator answers and lists the route's kind, or gives up. */
async function initializeWithRetry(httpServer, seconds) {
  const deadline = Date.now() + seconds * 1000
  for (;;) {
    try {
      return await httpServer.initialize()
    } catch (err) {
      // A RouteConfigurationError (kind not supported) will not go away by waiting.
      if (err?.name === 'RouteConfigurationError' || Date.now() > deadline) {
        throw new Error(`facilitator not usable: ${errorLine(err)}`)
      }
      await sleep(250)
    }
  }
}

/**
 * One route, both generations. A paid request goes to the middleware of its header's generation;
 * an unpaid one gets @x402/express's 402 (PAYMENT-REQUIRED header) with x402-express's JSON body
 * (v1 accepts) in place of v2's empty `{}` body, so either client can pay it.
 */
function dualMiddleware(v1, v2) {
  return async (req, res, next) => {
    if (req.header('X-PAYMENT')) return v1(req, res, next)
    if (req.header('PAYMENT-SIGNATURE')) return v2(req, res, next)
    const v1Body = await new Promise((resolve) => {
      const capture = {
        statusCode: 200,
        status(code) {
          this.statusCode = code
          return this
        },
        json: (body) => resolve(capture.statusCode === 402 ? body : undefined),
        send: () => resolve(undefined),
        setHeader: () => capture,
      }
      v1(req, capture, () => resolve(undefined)).catch(() => resolve(undefined))
    })
    if (v1Body) {
      const json = res.json.bind(res)
      res.json = (body) => {
        res.json = json
        return json(res.statusCode === 402 ? v1Body : body)
      }
    }
    return v2(req, res, next)
  }
}
