import { isIPv6 } from 'node:net'
import { InputError } from '../errors.js'
import type { SourceSpec } from '../plans/patterns.js'

/** Splits a multi-line input into trimmed, non-empty lines. */
export function splitLines(raw: string): string[] {
  return raw
    .split(/\r?\n/)
    .map(line => line.trim())
    .filter(line => line.length > 0)
}

export function parseSources(raw: string, input: string): SourceSpec {
  const include: string[] = []
  const exclude: string[] = []
  for (const line of splitLines(raw)) {
    if (line.includes('\0')) throw new InputError(input, 'must not contain a NUL character.')
    if (line.startsWith('!')) {
      const pattern = line.slice(1).trim()
      if (!pattern)
        throw new InputError(input, "a line holds only '!': write the pattern to exclude after it.")
      exclude.push(pattern)
    } else {
      include.push(line)
    }
  }
  if (include.length === 0) {
    throw new InputError(
      input,
      'nothing to transfer. Give one path or glob per line, e.g. "dist/" or "build/**/*.html".'
    )
  }
  return { include, exclude }
}

export interface IntegerRule {
  fallback: number
  min: number
  max: number
}

export function parseIntegerInput(raw: string, input: string, rule: IntegerRule): number {
  const value = raw.trim()
  if (!value) return rule.fallback
  if (!/^\d+$/.test(value)) {
    throw new InputError(
      input,
      `'${value}' is not a whole number. Use a number from ${rule.min} to ${rule.max}.`
    )
  }
  const n = Number(value)
  if (n < rule.min || n > rule.max) {
    throw new InputError(
      input,
      `${value} is out of range. Use a number from ${rule.min} to ${rule.max}.`
    )
  }
  return n
}

/** Host names and IP literals; `[::1]` brackets are removed. Ports belong in the port input. */
export function parseHost(raw: string, input: string): string {
  let host = raw.trim()
  if (!host)
    throw new InputError(input, 'the server to connect to is required, e.g. host: example.com.')
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  if (/[\s,/@]/.test(host) || host.includes('\0')) {
    throw new InputError(
      input,
      `'${host}' is not a host name or IP address. Give only the name (user and port have their own inputs).`
    )
  }
  if (host.includes(':') && !isIPv6(host)) {
    throw new InputError(input, `'${host}' is not a host name. Put the port in the 'port' input.`)
  }
  if (!isIPv6(host) && !/^[A-Za-z0-9._-]+$/.test(host)) {
    throw new InputError(input, `'${host}' is not a valid host name.`)
  }
  return host
}

/** One server named in a host list. */
export interface HostPort {
  host: string
  port: number
}

/**
 * A list of servers, one per line or comma-separated, each `name`, `name:port`, `[v6]:port` or a
 * bare IPv6 address. Servers without a port get `defaultPort`.
 */
export function parseHostList(raw: string, input: string, defaultPort: number): HostPort[] {
  const items = raw
    .split(/[\r\n,]+/)
    .map(s => s.trim())
    .filter(Boolean)
  if (items.length === 0) parseHost('', input)
  const seen = new Set<string>()
  return items.map(item => {
    const parsed = splitHostPort(item, input, defaultPort)
    const key = `${parsed.host}:${parsed.port}`
    if (seen.has(key)) throw new InputError(input, `'${item}' is listed twice.`)
    seen.add(key)
    return parsed
  })
}

function splitHostPort(item: string, input: string, defaultPort: number): HostPort {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(item)
  if (bracketed) return { host: parseHost(bracketed[1], input), port: portOf(bracketed[2]) }
  const named = /^([^:]+):(\d+)$/.exec(item)
  if (named) return { host: parseHost(named[1], input), port: portOf(named[2]) }
  return { host: parseHost(item, input), port: defaultPort }

  function portOf(text: string | undefined): number {
    if (text === undefined) return defaultPort
    return parseIntegerInput(text, input, { fallback: defaultPort, min: 1, max: 65535 })
  }
}

export function parseBoolean(raw: string, input: string): boolean {
  const value = raw.trim().toLowerCase()
  if (value === '' || value === 'false') return false
  if (value === 'true') return true
  throw new InputError(input, `'${raw}' is not a boolean. Use true or false.`)
}

export function parseChoice<T extends string>(
  raw: string,
  input: string,
  choices: readonly T[],
  fallback: T
): T {
  const value = (raw || fallback).toLowerCase()
  const found = choices.find(c => c === value)
  if (!found) {
    throw new InputError(input, `'${raw}' is not allowed. Use one of: ${choices.join(', ')}.`)
  }
  return found
}
