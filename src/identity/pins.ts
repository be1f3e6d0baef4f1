/**
 * The `fingerprint` input: host key pins in every form people copy out of OpenSSH tools. The
 * decision about a presented key lives in verdict.ts and is re-exported here, so callers need
 * only this module.
 */
import { InputError } from '../errors.js'
import {
  keyTypeOf,
  sha256Fingerprint,
  SUPPORTED_KEY_TYPES,
  validateKeyBlob
} from './fingerprint.js'
import { parseHostField } from './hosts.js'
import type { Pin } from './pin.js'

export type { Pin, PinForm } from './pin.js'
export { judgeHostKey, pinnedKeyTypes, pinsForHost, type KeyVerdict } from './verdict.js'

/** A pin as read from one line, before the line-level facts are added. */
type ParsedPin = Pick<Pin, 'form' | 'value' | 'keyType' | 'hosts'>

/** A problem with one line; parsePins adds the input name and the line number. */
class LineError extends Error {}

const ACCEPTED_FORMS =
  'a SHA256 fingerprint (SHA256:… from ssh-keygen -lf, prefix optional), ' +
  'an MD5 fingerprint (MD5:aa:bb:…), an ssh-keygen -l line ("256 SHA256:… comment (ED25519)"), ' +
  'a public key line ("ssh-ed25519 AAAA… comment"), or a known_hosts / ssh-keyscan line ' +
  '("host.example.com ssh-ed25519 AAAA…")'

const HOW_TO_GET =
  "run 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' on the server, or " +
  "'ssh-keyscan -p PORT HOST' from a trusted network, and paste the output"

/** ssh-keygen -l prints the key type in parentheses; ECDSA needs the bit count to name a curve. */
const KEYGEN_TYPES: Record<string, string> = {
  ED25519: 'ssh-ed25519',
  RSA: 'ssh-rsa',
  DSA: 'ssh-dss',
  'ECDSA 256': 'ecdsa-sha2-nistp256',
  'ECDSA 384': 'ecdsa-sha2-nistp384',
  'ECDSA 521': 'ecdsa-sha2-nistp521'
}

/** Parse the whole input. Throws InputError naming the input and the offending line. */
export function parsePins(text: string, inputName: string): Pin[] {
  const pins: Pin[] = []
  text.split(/\r?\n|\r/).forEach((raw, index) => {
    try {
      const pin = parseLine(raw.trim(), index + 1)
      if (pin) pins.push(pin)
    } catch (error) {
      if (!(error instanceof LineError)) throw error
      throw new InputError(inputName, `line ${index + 1}: ${error.message}`)
    }
  })
  if (pins.length === 0) {
    throw new InputError(inputName, `a host key pin is required; ${HOW_TO_GET}.`)
  }
  if (pins.every(pin => pin.revoked)) {
    throw new InputError(
      inputName,
      'every line is @revoked, so no host key could ever be accepted; ' +
        'add a pin for the key the server should present.'
    )
  }
  return pins
}

function parseLine(text: string, line: number): Pin | undefined {
  if (text === '' || text.startsWith('#')) return undefined
  if (text.startsWith('-----BEGIN')) {
    throw new LineError(
      'this is a PEM key block, not a host key pin. The input takes the server’s public host key ' +
        `or its fingerprint (never a private key); ${HOW_TO_GET}.`
    )
  }
  let tokens = text.split(/\s+/)
  let revoked = false
  if (tokens[0].startsWith('@')) {
    revoked = parseMarker(tokens[0])
    tokens = tokens.slice(1)
  }
  if (tokens.length === 0) throw new LineError('@revoked must be followed by a pin.')
  const parsed =
    parseKeygenLine(tokens) ??
    parseBareFingerprint(tokens) ??
    parsePublicKey(tokens) ??
    parseKnownHostsLine(tokens)
  if (!parsed) {
    throw new LineError(`"${preview(text)}" is not a host key pin. Accepted: ${ACCEPTED_FORMS}.`)
  }
  return { ...parsed, revoked, line, label: labelFor(parsed, revoked, line) }
}

/** known_hosts markers: only @revoked means something for a pinned host key. */
function parseMarker(marker: string): boolean {
  if (marker === '@revoked') return true
  if (marker === '@cert-authority') {
    throw new LineError(
      '@cert-authority lines are not supported: host certificates are not verified by this ' +
        'action. Pin the server’s own host key instead (ssh-keyscan prints it).'
    )
  }
  throw new LineError(`unknown marker "${preview(marker)}"; only @revoked is supported.`)
}

/** `256 SHA256:xxxx comment (ED25519)`. The comment is free text, never a host pattern. */
function parseKeygenLine(tokens: string[]): ParsedPin | undefined {
  if (tokens.length < 2 || !/^\d+$/.test(tokens[0]) || !/^(SHA256|MD5):/i.test(tokens[1])) {
    return undefined
  }
  const typeName = /^\((.+)\)$/.exec(tokens[tokens.length - 1])?.[1]
  if (tokens.length < 3 || typeName === undefined) {
    throw new LineError(
      'this looks like ssh-keygen -l output, but the "(TYPE)" at the end is missing.'
    )
  }
  const keyType = KEYGEN_TYPES[typeName] ?? KEYGEN_TYPES[`${typeName} ${tokens[0]}`]
  if (keyType === undefined) {
    throw new LineError(
      `key type (${preview(typeName)}) with ${preview(tokens[0])} bits is not supported; ` +
        'use an ED25519, ECDSA (256, 384 or 521 bits), RSA or DSA host key.'
    )
  }
  return { ...parseFingerprint(tokens[1]), keyType }
}

/** A fingerprint alone on its line, optionally followed by a `# comment`. */
function parseBareFingerprint(tokens: string[]): ParsedPin | undefined {
  if (tokens.length > 1 && !tokens[1].startsWith('#')) return undefined
  const token = tokens[0]
  const recognisable =
    /^(SHA256|MD5):/i.test(token) ||
    /^[A-Za-z0-9+/]{43}=?$/.test(token) ||
    /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/i.test(token)
  return recognisable ? parseFingerprint(token) : undefined
}

/** `SHA256:<b64>`, `MD5:<hex pairs>`, or either without its prefix. */
function parseFingerprint(token: string): ParsedPin {
  const prefix = /^(SHA256|MD5):/i.exec(token)?.[1].toUpperCase()
  const body = prefix ? token.slice(prefix.length + 1) : token
  if (prefix === 'MD5' || (!prefix && body.includes(':'))) {
    if (!/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/i.test(body)) {
      throw new LineError('an MD5 fingerprint must be 16 hex pairs separated by ":".')
    }
    return { form: 'md5', value: body.replace(/:/g, '').toLowerCase() }
  }
  const unpadded = body.replace(/=$/, '')
  // Re-encoding rejects a final character with stray low bits: it decodes, but ssh-keygen
  // never prints it, so such a pin could never match and is almost certainly mistyped.
  const canonical = /^[A-Za-z0-9+/]{43}$/.test(unpadded)
    ? Buffer.from(unpadded, 'base64').toString('base64').slice(0, 43)
    : ''
  if (canonical !== unpadded) {
    throw new LineError(
      'a SHA256 fingerprint must be 43 base64 characters (a 32-byte digest), ' +
        'exactly as ssh-keygen -l prints it.'
    )
  }
  return { form: 'sha256', value: unpadded }
}

/** A `.pub` line: `ssh-ed25519 AAAA… optional comment`. */
function parsePublicKey(tokens: string[]): ParsedPin | undefined {
  if (tokens.length < 2 || !looksLikeKeyType(tokens[0])) return undefined
  return parseKey(tokens[0], tokens[1])
}

/** A known_hosts or ssh-keyscan line: `hostpatterns keytype base64 [comment]`. */
function parseKnownHostsLine(tokens: string[]): ParsedPin | undefined {
  if (tokens.length < 3 || !looksLikeKeyType(tokens[1])) return undefined
  let hosts: string[]
  try {
    hosts = parseHostField(tokens[0])
  } catch (error) {
    throw new LineError(`${(error as Error).message}.`)
  }
  return { ...parseKey(tokens[1], tokens[2]), hosts }
}

function looksLikeKeyType(token: string): boolean {
  return SUPPORTED_KEY_TYPES.includes(token) || /^(ssh|ecdsa|sk|x509v3)-[\w.@-]+$/.test(token)
}

/** Decode a base64 key blob and check it really is a key of the type the line names. */
function parseKey(keyType: string, base64: string): ParsedPin {
  if (keyType.includes('-cert-')) {
    throw new LineError('host certificates are not supported; pin the host key itself.')
  }
  if (!SUPPORTED_KEY_TYPES.includes(keyType)) {
    throw new LineError(
      `key type ${preview(keyType)} is not supported; supported: ${SUPPORTED_KEY_TYPES.join(', ')}.`
    )
  }
  const blob = decodeBase64(base64)
  let embedded: string
  try {
    embedded = keyTypeOf(blob)
    if (embedded === keyType) validateKeyBlob(blob)
  } catch (error) {
    throw new LineError(`the ${keyType} key is damaged (${(error as Error).message}).`)
  }
  if (embedded !== keyType) {
    throw new LineError(`the line says ${keyType}, but the key itself is ${preview(embedded)}.`)
  }
  return { form: 'key', value: blob.toString('base64'), keyType }
}

/** Strict base64: Buffer.from silently skips junk, which would turn a typo into a wrong key. */
function decodeBase64(text: string): Buffer {
  const blob = /^[A-Za-z0-9+/]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : Buffer.alloc(0)
  const unpadded = text.replace(/=+$/, '')
  if (blob.length === 0 || blob.toString('base64').replace(/=+$/, '') !== unpadded) {
    throw new LineError('the key is not valid base64; copy the whole line again.')
  }
  return blob
}

function labelFor(pin: ParsedPin, revoked: boolean, line: number): string {
  let shown: string
  if (pin.form === 'md5') {
    shown = 'MD5:' + (pin.value.slice(0, 8).match(/../g) ?? []).join(':')
  } else {
    const digest =
      pin.form === 'sha256'
        ? pin.value
        : sha256Fingerprint(Buffer.from(pin.value, 'base64')).slice(7)
    shown = 'SHA256:' + digest.slice(0, 12)
  }
  const parts = [revoked ? '@revoked' : '', pin.keyType ?? '', `${shown}…`]
  return `${parts.filter(Boolean).join(' ')} (line ${line})`
}

/** At most the first 20 characters: enough to find the line, too little to leak a secret. */
function preview(text: string): string {
  return text.length > 20 ? `${text.slice(0, 20)}…` : text
}
