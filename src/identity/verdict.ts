/**
 * Which pins apply to a connection, and whether a presented host key satisfies them. Kept apart
 * from parsing because it runs inside ssh2's host verifier, on every key exchange.
 */
import { keyTypeOf, md5Fingerprint, sha256Fingerprint, SUPPORTED_KEY_TYPES } from './fingerprint.js'
import { hostsMatch, knownHostsName } from './hosts.js'
import type { Pin } from './pin.js'

export type KeyVerdict =
  | { accepted: true; pin: Pin; fingerprint: string; keyType: string }
  | { accepted: false; revoked: boolean; fingerprint: string; keyType: string }

/** The pins that apply to a connection: bare pins, and known_hosts lines naming host+port. */
export function pinsForHost(pins: Pin[], host: string, port: number): Pin[] {
  const name = knownHostsName(host, port)
  return pins.filter(pin => pin.hosts === undefined || hostsMatch(pin.hosts, name))
}

/**
 * Decide on a presented key blob using only the pins that apply to this host. Revoked wins.
 * Pure and synchronous: ssh2 calls the host verifier again on every rekey, and the answer must
 * not change. A blob that cannot be read is refused rather than thrown on.
 */
export function judgeHostKey(pins: Pin[], blob: Buffer): KeyVerdict {
  const fingerprint = sha256Fingerprint(blob)
  let keyType: string
  try {
    keyType = keyTypeOf(blob)
  } catch {
    return { accepted: false, revoked: false, fingerprint, keyType: 'unreadable key' }
  }
  const digests = { sha256: fingerprint.slice('SHA256:'.length), md5: '' }
  if (pins.some(pin => pin.form === 'md5')) {
    digests.md5 = md5Fingerprint(blob).slice('MD5:'.length).replace(/:/g, '')
  }
  const matching = pins.filter(pin => pinMatches(pin, blob, keyType, digests))
  if (matching.some(pin => pin.revoked)) {
    return { accepted: false, revoked: true, fingerprint, keyType }
  }
  const pin = matching[0]
  if (pin) return { accepted: true, pin, fingerprint, keyType }
  return { accepted: false, revoked: false, fingerprint, keyType }
}

/**
 * Key types these pins name, or undefined when any applicable non-revoked pin is untyped (so
 * every type must be tried). In ssh2's preference order; empty when no non-revoked pin is left.
 */
export function pinnedKeyTypes(pins: Pin[]): string[] | undefined {
  const usable = pins.filter(pin => !pin.revoked)
  if (usable.some(pin => pin.keyType === undefined)) return undefined
  const named = new Set(usable.map(pin => pin.keyType))
  return SUPPORTED_KEY_TYPES.filter(keyType => named.has(keyType))
}

function pinMatches(
  pin: Pin,
  blob: Buffer,
  keyType: string,
  digests: { sha256: string; md5: string }
): boolean {
  if (pin.keyType !== undefined && pin.keyType !== keyType) return false
  switch (pin.form) {
    case 'sha256':
      return pin.value === digests.sha256
    case 'md5':
      return pin.value === digests.md5
    case 'key':
      return Buffer.from(pin.value, 'base64').equals(blob)
  }
}
