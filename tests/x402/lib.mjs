// Shared helpers for the x402 harness scripts: argument parsing, secrets from env, one JSON line
// on stdout, logs and one-line errors on stderr.
import { basename } from 'node:path'
import { parseArgs } from 'node:util'

const script = basename(process.argv[1] ?? 'x402', '.mjs')

/** Logs one line to stderr, prefixed with the script name (stdout carries only the result). */
export function log(...parts) {
  console.error(`${script}:`, ...parts)
}

/** JSON with bigints as decimal strings (atomic token amounts). */
export function toJson(value) {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v))
}

/** Prints the one result line on stdout. */
export function emit(value) {
  process.stdout.write(`${toJson(value)}\n`)
}

/** One line for an error: viem's shortMessage when present, never a stack. */
export function errorLine(err) {
  const text = err?.shortMessage ?? err?.message ?? String(err)
  const cause = err?.cause?.shortMessage ?? err?.cause?.message
  const line = cause && !text.includes(cause) ? `${text}: ${cause}` : text
  return line.split('\n').map((s) => s.trim()).filter(Boolean).join(' ')
}

/** Dies with a one-line error (exit 1); usage errors exit 2. */
export function fail(message, code = 1) {
  console.error(`${script}: error: ${message}`)
  process.exit(code)
}

/**
 * Runs an async main. A one-shot script returns its result, which is printed as one JSON line;
 * a server prints its own line once listening and returns undefined.
 */
export function run(main) {
  main().then(
    (result) => {
      if (result !== undefined) emit(result)
    },
    (err) => fail(errorLine(err)),
  )
}

/**
 * Parses flags with node:util.parseArgs. `usage` is printed for --help (stdout, exit 0) and after
 * a usage error (stderr, exit 2).
 */
export function args(usage, options, { positionals = 0 } = {}) {
  let parsed
  try {
    parsed = parseArgs({
      options: { help: { type: 'boolean', short: 'h' }, ...options },
      allowPositionals: positionals > 0,
    })
  } catch (err) {
    console.error(usage.trim())
    fail(err.message, 2)
  }
  if (parsed.values.help) {
    console.log(usage.trim())
    process.exit(0)
  }
  if (parsed.positionals.length < positionals) {
    console.error(usage.trim())
    fail(`expected ${positionals} positional argument(s)`, 2)
  }
  return { ...parsed.values, _: parsed.positionals }
}

/** A 0x-prefixed 32-byte private key from env `name`; never echoed. */
export function envKey(name, { required = true } = {}) {
  const key = process.env[name]?.trim()
  if (!key) {
    if (required) fail(`env ${name} is not set (a 0x-prefixed 32-byte hex private key)`)
    return undefined
  }
  const hex = key.startsWith('0x') ? key : `0x${key}`
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) fail(`env ${name} is not a 32-byte hex private key`)
  return hex
}

/** Comma-separated private keys from env `name` (e.g. several bench payers). */
export function envKeys(name) {
  const raw = process.env[name]?.trim()
  if (!raw) return []
  return raw.split(',').map((k, i) => {
    const hex = k.trim().startsWith('0x') ? k.trim() : `0x${k.trim()}`
    if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) fail(`env ${name}: entry ${i} is not a 32-byte hex key`)
    return hex
  })
}

/** The RPC URL: --rpc, else $ETH_RPC_URL, else anvil's default. */
export function rpcUrl(flag) {
  return flag ?? process.env.ETH_RPC_URL ?? 'http://127.0.0.1:8545'
}

/** Parses an integer flag, failing with the flag's name. */
export function int(value, name) {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(String(value))) fail(`--${name} must be a non-negative integer, got '${value}'`, 2)
  return Number(value)
}

/** Checks a 20-byte hex address flag (any case; returned unchanged). */
export function address(value, name) {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value ?? '')) fail(`--${name} must be a 0x address, got '${value}'`, 2)
  return value
}

/** Decodes a base64 JSON header (PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE...). */
export function decodeHeader(value) {
  if (!value) return undefined
  try {
    return JSON.parse(Buffer.from(value, 'base64').toString('utf8'))
  } catch {
    return { undecodable: value }
  }
}

/** Response body as JSON when it parses, else as text. */
export async function readBody(response) {
  const text = await response.text()
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** Resolves on SIGINT/SIGTERM so servers close cleanly. */
export function onShutdown(close) {
  const stop = (sig) => {
    log(`${sig}: shutting down`)
    Promise.resolve(close()).finally(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

/** fetch() init from the clients' --method/--body/--header flags. */
export function requestInit({ method, body, header = [] }) {
  const headers = {}
  for (const h of header) {
    const i = h.indexOf(':')
    if (i <= 0) fail(`--header must be NAME:VALUE, got '${h}'`, 2)
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim()
  }
  if (body !== undefined) {
    try {
      JSON.parse(body)
    } catch {
      fail('--body is not valid JSON', 2)
    }
    headers['Content-Type'] ??= 'application/json'
  }
  return { method: method ?? (body !== undefined ? 'POST' : 'GET'), headers, body }
}

/**
 * What the clients print: status, body, the decoded settlement header (PAYMENT-RESPONSE or
 * X-PAYMENT-RESPONSE), the decoded 402 requirements if still unpaid, and all response headers.
 */
export async function responseResult(response) {
  const headers = Object.fromEntries(response.headers.entries())
  const body = await readBody(response)
  const paymentResponse = decodeHeader(headers['payment-response'] ?? headers['x-payment-response'])
  let paymentRequired
  if (response.status === 402) {
    paymentRequired = decodeHeader(headers['payment-required']) ?? (body?.x402Version === 1 ? body : undefined)
  }
  return { status: response.status, body, paymentResponse, paymentRequired, headers }
}
