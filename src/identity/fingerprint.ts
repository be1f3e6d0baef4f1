/**
 * Fingerprints and key-type facts about SSH public key blobs (the RFC 4253 wire format that ssh2
 * hands to `hostVerifier` and that `.pub` / known_hosts lines carry in base64).
 */
import { createHash } from 'node:crypto'

/**
 * Host key types ssh2 can verify, in ssh2's default `serverHostKey` preference order. ssh-dss
 * is left out on purpose: ssh2 only offers it when asked, and we ask only when a pin names it.
 */
export const ALL_HOST_KEY_TYPES: readonly string[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa'
]

/** Every key type a pin may name: the defaults plus ssh-dss, which ssh2 supports on request. */
export const SUPPORTED_KEY_TYPES: readonly string[] = [...ALL_HOST_KEY_TYPES, 'ssh-dss']

/** OpenSSH style: `SHA256:` + unpadded base64, as printed by `ssh-keygen -l`. */
export function sha256Fingerprint(blob: Buffer): string {
  const digest = createHash('sha256').update(blob).digest('base64')
  return 'SHA256:' + digest.replace(/=+$/, '')
}

/** Legacy OpenSSH style: `MD5:` + lowercase hex pairs joined by colons (`ssh-keygen -E md5 -l`). */
export function md5Fingerprint(blob: Buffer): string {
  const hex = createHash('md5').update(blob).digest('hex')
  return 'MD5:' + (hex.match(/../g) ?? []).join(':')
}

/**
 * Split a blob into its uint32-length-prefixed fields. Throws when a length runs past the end,
 * so a truncated copy-paste is caught here rather than producing a key that can never match.
 */
export function sshFields(blob: Buffer): Buffer[] {
  const fields: Buffer[] = []
  let offset = 0
  while (offset < blob.length) {
    if (offset + 4 > blob.length) throw new Error('SSH key blob ends inside a length prefix')
    const length = blob.readUInt32BE(offset)
    const end = offset + 4 + length
    if (end > blob.length) throw new Error('SSH key blob field runs past the end of the key')
    fields.push(blob.subarray(offset + 4, end))
    offset = end
  }
  return fields
}

/** The key type named by the first field of a wire-format public key, e.g. 'ssh-ed25519'. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) throw new Error('SSH key blob is too short to hold a key type')
  const length = blob.readUInt32BE(0)
  if (length === 0 || length > 64 || 4 + length > blob.length) {
    throw new Error('SSH key blob does not start with a valid key type')
  }
  const keyType = blob.toString('latin1', 4, 4 + length)
  // Key type names are printable ASCII without spaces (RFC 4250 section 4.6.1).
  if (!/^[\x21-\x7e]+$/.test(keyType)) {
    throw new Error('SSH key blob does not start with a valid key type')
  }
  return keyType
}

/** Field count of each supported key type: the type name plus its public parameters. */
const FIELD_COUNT: Record<string, number> = {
  'ssh-ed25519': 2,
  'ecdsa-sha2-nistp256': 3,
  'ecdsa-sha2-nistp384': 3,
  'ecdsa-sha2-nistp521': 3,
  'ssh-rsa': 3,
  'ssh-dss': 5
}

/**
 * Check that a blob is a complete public key of a supported type and return that type. A key
 * from a user's paste is checked this strictly because a damaged one would silently match nothing.
 */
export function validateKeyBlob(blob: Buffer): string {
  const keyType = keyTypeOf(blob)
  const expected = FIELD_COUNT[keyType]
  if (expected === undefined) throw new Error(`key type '${keyType}' is not supported`)
  const fields = sshFields(blob)
  if (fields.length !== expected || fields.some(field => field.length === 0)) {
    throw new Error(`the ${keyType} key is incomplete or damaged`)
  }
  if (keyType === 'ssh-ed25519' && fields[1].length !== 32) {
    throw new Error('the ssh-ed25519 key is not 32 bytes long')
  }
  if (keyType.startsWith('ecdsa-') && fields[1].toString('latin1') !== keyType.slice(11)) {
    throw new Error(`the ${keyType} key names a different curve`)
  }
  return keyType
}

/**
 * The ssh2 `algorithms.serverHostKey` names that make a server present a key of this type.
 * RSA keys sign with any of three algorithms; offering all three keeps old servers working.
 */
export function hostKeyAlgorithmsFor(keyType: string): string[] {
  switch (keyType) {
    case 'ssh-ed25519':
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
    case 'ssh-dss':
      return [keyType]
    case 'ssh-rsa':
      return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
    default:
      throw new Error(`no host key algorithm is known for key type '${keyType}'`)
  }
}
