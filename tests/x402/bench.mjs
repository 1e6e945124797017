#!/usr/bin/env node
// Load driver for any x402 server that sells POST /v1/images/generations (the reference stack of
// server-v2.mjs + facilitator-v2.mjs, or `genim serve`). All authorizations are signed BEFORE the
// clock starts (reference @x402/core client + @x402/evm exact scheme, one random EIP-3009 nonce
// each), so signing is excluded from the timings; its cost is reported apart (sign_ms_per).
// Prints one JSON line: {requests, ok, seconds, rps, p50_ms, p90_ms, p99_ms, overhead_p50_ms, ...}.
import { x402Client, x402HTTPClient } from '@x402/core/client'
import { ExactEvmScheme } from '@x402/evm/exact/client'
import { ExactEvmSchemeV1 } from '@x402/evm/exact/v1/client'
import { NETWORKS } from '@x402/evm/v1'
import { createPublicClient, erc20Abi, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { args, decodeHeader, envKey, envKeys, fail, int, log, readBody, requestInit, run } from './lib.mjs'

const usage = `
Usage: PAYER_PRIVATE_KEY=0x.. node bench.mjs URL [options]

Sends --requests paid requests, --concurrency at a time, each with its own pre-signed
authorization, and checks every answer is 200 with a successful settlement header.

Options:
  --requests N      paid requests measured (default 100)
  --concurrency C   requests in flight (default 4)
  --warmup W        paid requests sent first and not measured (default 3)
  --body JSON       request body (default {"prompt":"a red fox","size":"256x256"})
  --method M        HTTP method (default POST)
  --protocol P      v2 or v1 (default: v2 when the 402 has a PAYMENT-REQUIRED header, else v1)
  --baseline URL    unpaid endpoint with the same handler (e.g. /free/images/generations), timed
                    the same way; default: the unpaid 402 round trip to URL
  --rpc URL         also read balanceOf(payTo) before and after, to report what moved on chain
  --max N           refuse requirements above N atomic units (default 1000000)

Env: PAYER_PRIVATE_KEY, or PAYER_PRIVATE_KEYS=k1,k2,... to spread payments over several payers.
Every authorization is valid for the server's maxTimeoutSeconds from signing: a run must end
within that window (v2 default 300 s, v1 60 s).
`

const opts = args(
  usage,
  {
    requests: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '3' },
    body: { type: 'string', default: '{"prompt":"a red fox","size":"256x256"}' },
    method: { type: 'string', default: 'POST' },
    protocol: { type: 'string' },
    baseline: { type: 'string' },
    rpc: { type: 'string' },
    max: { type: 'string', default: '1000000' },
  },
  { positionals: 1 },
)

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6
const round = (x) => Math.round(x * 100) / 100

/** Nearest-rank percentile of sorted `xs`. */
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))]

/** Runs `jobs` (functions) with `concurrency` in flight; returns wall time and each job's result. */
async function pool(jobs, concurrency) {
  const results = new Array(jobs.length)
  let next = 0
  const t0 = process.hrtime.bigint()
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++
      results[i] = await jobs[i]()
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker))
  return { seconds: ms(t0) / 1000, results }
}

/** Latency statistics over timed results {ms, ok}. */
function stats({ seconds, results }) {
  const lat = results.map((r) => r.ms).sort((a, b) => a - b)
  return {
    seconds: round(seconds),
    rps: round(results.length / seconds),
    mean_ms: round(lat.reduce((a, b) => a + b, 0) / lat.length),
    p50_ms: round(pct(lat, 50)),
    p90_ms: round(pct(lat, 90)),
    p99_ms: round(pct(lat, 99)),
    max_ms: round(lat[lat.length - 1]),
  }
}

run(async () => {
  const url = opts._[0]
  const n = int(opts.requests, 'requests')
  const concurrency = int(opts.concurrency, 'concurrency')
  const warmup = int(opts.warmup, 'warmup')
  const max = BigInt(int(opts.max, 'max'))
  if (n < 1 || concurrency < 1) fail('--requests and --concurrency must be >= 1', 2)
  const init = requestInit({ method: opts.method, body: opts.body })
  const keys = envKeys('PAYER_PRIVATE_KEYS')
  if (keys.length === 0) keys.push(envKey('PAYER_PRIVATE_KEY'))
  const payers = keys.map((k) => privateKeyToAccount(k))

  // 1. One unpaid request: the 402 tells what to sign.
  const probe = await fetch(url, init)
  const probeBody = await readBody(probe)
  if (probe.status !== 402) throw new Error(`expected 402 from an unpaid ${init.method} ${url}, got ${probe.status}`)
  const getHeader = (name) => probe.headers.get(name)
  const protocol = opts.protocol ?? (getHeader('PAYMENT-REQUIRED') ? 'v2' : 'v1')
  if (protocol !== 'v1' && protocol !== 'v2') fail(`--protocol must be v1 or v2, got '${protocol}'`, 2)
  const paymentRequired =
    protocol === 'v2' ? decodeHeader(getHeader('PAYMENT-REQUIRED')) : probeBody?.x402Version === 1 ? probeBody : undefined
  if (!paymentRequired?.accepts?.length) throw new Error(`the 402 carries no ${protocol} payment requirements`)

  // 2. Pre-sign every authorization with the reference client (distinct random nonces).
  const clients = payers.map((account) => {
    const client = new x402Client()
      .register('eip155:*', new ExactEvmScheme(account))
      .registerPolicy((version, reqs) =>
        reqs.filter((r) => BigInt(version === 1 ? r.maxAmountRequired : r.amount) <= max),
      )
      .setSpendControls(false)
    for (const network of NETWORKS) client.registerV1(network, new ExactEvmSchemeV1(account))
    return new x402HTTPClient(client)
  })
  const total = warmup + n
  const signStart = process.hrtime.bigint()
  const headers = []
  for (let i = 0; i < total; i++) {
    const client = clients[i % clients.length]
    headers.push(client.encodePaymentSignatureHeader(await client.createPaymentPayload(paymentRequired)))
  }
  const signMs = ms(signStart)
  const accepted = protocol === 'v2' ? decodeHeader(Object.values(headers[0])[0]).accepted : paymentRequired.accepts[0]
  const payTo = accepted.payTo
  const amount = BigInt(accepted.amount ?? accepted.maxAmountRequired)
  log(`${protocol}: signed ${total} authorizations from ${payers.length} payer(s) in ${round(signMs)} ms`)

  const balance = async () => {
    if (!opts.rpc) return undefined
    const client = createPublicClient({ transport: http(opts.rpc) })
    return client.readContract({ address: accepted.asset, abi: erc20Abi, functionName: 'balanceOf', args: [payTo] })
  }

  // 3. Paid requests: each must be 200 with a successful settlement header.
  const errors = {}
  const txs = new Set()
  const paid = (header) => async () => {
    const t0 = process.hrtime.bigint()
    let reason
    try {
      const res = await fetch(url, { ...init, headers: { ...init.headers, ...header } })
      const body = await readBody(res)
      const settle = decodeHeader(res.headers.get('PAYMENT-RESPONSE') ?? res.headers.get('X-PAYMENT-RESPONSE'))
      if (res.status !== 200) {
        // Why: settlement error, v2 402 header, v1 402 body, or whatever the body says.
        const why =
          settle?.errorReason ??
          decodeHeader(res.headers.get('PAYMENT-REQUIRED'))?.error ??
          body?.error?.message ??
          body?.error ??
          String(JSON.stringify(body)).slice(0, 120)
        reason = `${res.status} ${typeof why === 'string' ? why : JSON.stringify(why)}`
      } else if (!settle?.success) reason = '200 without a successful settlement header'
      else txs.add(settle.transaction)
    } catch (err) {
      reason = `fetch: ${err.message}`
    }
    if (reason) errors[reason] = (errors[reason] ?? 0) + 1
    return { ms: ms(t0), ok: !reason }
  }
  const jobs = headers.map(paid)
  if (warmup > 0) await pool(jobs.slice(0, warmup), concurrency)
  for (const k of Object.keys(errors)) delete errors[k]
  txs.clear()
  const before = await balance()
  const measured = await pool(jobs.slice(warmup), concurrency)
  const ok = measured.results.filter((r) => r.ok).length
  const after = await balance()

  // 4. Baseline: the same number of unpaid requests (free route, or the bare 402 round trip).
  const baselineUrl = opts.baseline ?? url
  const unpaid = () => async () => {
    const t0 = process.hrtime.bigint()
    const res = await fetch(baselineUrl, init)
    await res.arrayBuffer()
    return { ms: ms(t0), ok: res.status === (opts.baseline ? 200 : 402) }
  }
  const base = await pool(Array.from({ length: n }, unpaid), concurrency)
  const baseline = { url: baselineUrl, kind: opts.baseline ? 'free route' : 'unpaid 402', ...stats(base) }
  baseline.ok = base.results.filter((r) => r.ok).length

  const timing = stats(measured)
  return {
    url,
    protocol,
    requests: n,
    concurrency,
    warmup,
    payers: payers.length,
    ok,
    failed: n - ok,
    errors,
    distinct_txs: txs.size,
    ...timing,
    presigned: true,
    sign_ms_per: round(signMs / total),
    baseline,
    overhead_p50_ms: round(timing.p50_ms - baseline.p50_ms),
    overhead_p99_ms: round(timing.p99_ms - baseline.p99_ms),
    overhead_mean_ms: round(timing.mean_ms - baseline.mean_ms),
    amount,
    payTo,
    paid_on_chain: before === undefined ? undefined : after - before,
  }
})
