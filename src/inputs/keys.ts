import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto'
import ssh2, { type ParsedKey } from 'ssh2'
import { InputError } from '../errors.js'

export interface PreparedKey {
  /** The key in a form ssh2 parses (OpenSSH or legacy PEM), to pass as `privateKey` */
  key: string
  /** Passphrase to pass alongside, or undefined */
  passphrase?: string
  /** Every string derived from the secret that must be masked with core.setSecret (normalized text, each non-empty line of it, converted forms) */
  secrets: string[]
  /** e.g. 'ssh-ed25519' — for logs */
  keyType: string
}

/** The two input names, so every error can point at the one the user has to change. */
interface Inputs {
  key: string
  passphrase: string
}

/** A PEM block taken apart: base64 never contains ':' or whitespace, so both can be rebuilt. */
interface Armor {
  label: string
  headers: string[]
  body: string
}

// Prefer a private block, so a file holding both halves of a key pair still works.
const PRIVATE_ARMOR = /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----([\s\S]*?)-----END \1-----/
const ANY_ARMOR = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/
const PUBLIC_KEY =
  /-----BEGIN [A-Z0-9 ]*PUBLIC KEY-----|---- BEGIN SSH2 PUBLIC KEY ----|^(?:ssh-|ecdsa-|sk-)\S* AAAA/m
const PKCS8_LABELS = new Set(['PRIVATE KEY', 'ENCRYPTED PRIVATE KEY'])
// What ssh2 reads as-is; PuTTY files are recognised by their first line instead of armor.
const SSH2_LABELS = new Set(['OPENSSH', 'RSA', 'EC', 'DSA'].map(kind => `${kind} PRIVATE KEY`))
const SSH_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1'])

/**
 * Turns the `raw` contents of a key input into something ssh2 accepts, repairing what pasting
 * into a GitHub secret does to it, and converting PKCS#8 (which ssh2 cannot read). Throws
 * InputError naming `keyInput` or `passphraseInput`; messages never contain key material.
 */
export function preparePrivateKey(
  raw: string,
  passphrase: string | undefined,
  keyInput: string,
  passphraseInput: string
): PreparedKey {
  const inputs: Inputs = { key: keyInput, passphrase: passphraseInput }
  // Unset action inputs arrive as '', which must not count as a passphrase.
  const pass = passphrase ? passphrase : undefined
  const text = normalize(raw)
  const armor = findArmor(text)
  checkShape(text, armor, inputs.key)
  // The converted key is written unencrypted, so its passphrase is no longer needed.
  const isPkcs8 = armor !== undefined && PKCS8_LABELS.has(armor.label)
  const key = isPkcs8 ? convertPkcs8(text, armor.label, pass, inputs) : text
  const keyPass = isPkcs8 ? undefined : pass
  const parsed = parseWithSsh2(key, keyPass, inputs)
  return { key, passphrase: keyPass, secrets: secretsOf(raw, text, key), keyType: parsed.type }
}

/** Undoes copy-paste damage: escaped or CRLF newlines, indentation, stray blank lines. */
function normalize(raw: string): string {
  // A key stored as a one-line secret often carries literal "\n"; base64 and PEM armor never
  // contain a backslash, so turning them back into newlines cannot corrupt a key.
  const unescaped = raw.replace(/\\r\\n|\\n|\\r/g, '\n').replace(/\r\n?/g, '\n')
  const text = unescaped
    .split('\n')
    .map(line => line.trim())
    .join('\n')
    .trim()
  const armor = findArmor(text)
  return armor ? formatArmor(armor) : `${text}\n`
}

/**
 * Finds the first PEM block and splits its body into tokens on any whitespace, which also
 * copes with a body collapsed onto one line with spaces where the newlines were.
 */
function findArmor(text: string): Armor | undefined {
  const match = PRIVATE_ARMOR.exec(text) ?? ANY_ARMOR.exec(text)
  if (!match) return undefined
  const tokens = match[2].split(/\s+/).filter(token => token.length > 0)
  const headers: string[] = []
  const body: string[] = []
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]
    if (!token.includes(':')) body.push(token)
    // "Proc-Type: 4,ENCRYPTED" became two tokens; put the header back together.
    else if (token.endsWith(':') && i + 1 < tokens.length) headers.push(`${token} ${tokens[++i]}`)
    else headers.push(token)
  }
  return { label: match[1], headers, body: body.join('') }
}

/** Writes a block the way OpenSSH and OpenSSL do, since ssh2's regexes expect that layout. */
function formatArmor({ label, headers, body }: Armor): string {
  const width = label === 'OPENSSH PRIVATE KEY' ? 70 : 64
  const lines = [`-----BEGIN ${label}-----`, ...headers]
  // OpenSSL needs the blank line that ends legacy PEM headers.
  if (headers.length > 0) lines.push('')
  for (let i = 0; i < body.length; i += width) lines.push(body.slice(i, i + width))
  lines.push(`-----END ${label}-----`)
  return `${lines.join('\n')}\n`
}

/** Rejects what is recognisably not a usable private key before asking a parser. */
function checkShape(text: string, armor: Armor | undefined, keyInput: string): void {
  if (text.trim() === '') {
    throw new InputError(keyInput, 'is empty. Paste the whole private key file into the secret.')
  }
  if (!armor?.label.endsWith('PRIVATE KEY') && PUBLIC_KEY.test(text)) throw publicKeyError(keyInput)
  if (!armor && text.includes('-----BEGIN')) {
    throw new InputError(
      keyInput,
      'has a BEGIN line but no matching END line. Paste the whole private key file, ' +
        'including its last line (-----END ...).'
    )
  }
  if (text.startsWith('PuTTY-User-Key-File-3:')) {
    throw new InputError(
      keyInput,
      'is a PuTTY key in version 3 format, which is not supported. In PuTTYgen, use ' +
        'Conversions > Export OpenSSH key and paste that file instead.'
    )
  }
  if (armor && !SSH2_LABELS.has(armor.label) && !PKCS8_LABELS.has(armor.label)) {
    throw unreadableError(keyInput)
  }
}

/** Decrypts a PKCS#8 key with OpenSSL and re-encodes it in a format ssh2 reads. */
function convertPkcs8(
  pem: string,
  label: string,
  passphrase: string | undefined,
  inputs: Inputs
): string {
  const encrypted = label === 'ENCRYPTED PRIVATE KEY'
  if (encrypted && !passphrase) throw missingPassphraseError(inputs)
  let keyObject: KeyObject
  try {
    keyObject = createPrivateKey({ key: pem, format: 'pem', passphrase })
  } catch (cause) {
    throw encrypted ? wrongPassphraseError(inputs, cause) : unreadableError(inputs.key, cause)
  }
  return exportForSsh2(keyObject, inputs.key)
}

function exportForSsh2(keyObject: KeyObject, keyInput: string): string {
  const type = keyObject.asymmetricKeyType
  const curve = keyObject.asymmetricKeyDetails?.namedCurve
  if (type === 'rsa') return String(keyObject.export({ type: 'pkcs1', format: 'pem' }))
  // SEC1 is the "BEGIN EC PRIVATE KEY" layout ssh2 reads, for the curves SSH defines.
  if (type === 'ec' && curve && SSH_CURVES.has(curve)) {
    return String(keyObject.export({ type: 'sec1', format: 'pem' }))
  }
  if (type === 'ed25519') return ed25519ToOpenSsh(keyObject)
  throw new InputError(
    keyInput,
    `holds a ${curve ?? type ?? 'unknown'} key, which SSH cannot use. Use an Ed25519, ECDSA ` +
      '(P-256, P-384 or P-521) or RSA key.'
  )
}

/**
 * ssh2 reads Ed25519 private keys only in OpenSSH's own format, and OpenSSL cannot write it,
 * so the unencrypted openssh-key-v1 structure is assembled by hand (see OpenSSH PROTOCOL.key).
 */
function ed25519ToOpenSsh(keyObject: KeyObject): string {
  const jwk = keyObject.export({ format: 'jwk' })
  const seed = Buffer.from(jwk.d ?? '', 'base64url')
  const pub = Buffer.from(jwk.x ?? '', 'base64url')
  const type = 'ssh-ed25519'
  // Matching check words tell a reader that decryption worked; here there is no encryption.
  const check = randomBytes(4)
  const keys = sshStrings(type, pub, Buffer.concat([seed, pub]), '')
  const unpadded = Buffer.concat([check, check, keys])
  // The "none" cipher has an 8-byte block; padding is the bytes 1, 2, 3, ...
  const padding = Buffer.from([1, 2, 3, 4, 5, 6, 7].slice(0, (8 - (unpadded.length % 8)) % 8))
  const privateSection = Buffer.concat([unpadded, padding])
  const header = Buffer.concat([Buffer.from('openssh-key-v1\0'), sshStrings('none', 'none', '')])
  const publicBlob = sshStrings(type, pub)
  const blob = Buffer.concat([header, uint32(1), sshStrings(publicBlob, privateSection)])
  return formatArmor({ label: 'OPENSSH PRIVATE KEY', headers: [], body: blob.toString('base64') })
}

function uint32(value: number): Buffer {
  const buffer = Buffer.alloc(4)
  buffer.writeUInt32BE(value)
  return buffer
}

/** Concatenated SSH wire "string" fields: each a uint32 length, then the bytes. */
function sshStrings(...values: (string | Buffer)[]): Buffer {
  const data = values.map(value => Buffer.from(value))
  return Buffer.concat(data.flatMap(bytes => [uint32(bytes.length), bytes]))
}

/** Parses with ssh2, the library that will use the key, so what passes here works there. */
function parseWithSsh2(key: string, passphrase: string | undefined, inputs: Inputs): ParsedKey {
  const result = parseKey(key, passphrase)
  if (result instanceof Error) throw explainFailure(key, passphrase, result, inputs)
  if (!result.isPrivateKey()) throw publicKeyError(inputs.key)
  selfTest(result, inputs.key)
  return result
}

/** ssh2 reports failure by returning an Error; guard against a throw or an array regardless. */
function parseKey(key: string, passphrase?: string): ParsedKey | Error {
  try {
    const result: ParsedKey | ParsedKey[] | Error = ssh2.utils.parseKey(key, passphrase)
    return Array.isArray(result) ? result[0] : result
  } catch (cause) {
    return cause instanceof Error ? cause : new Error(String(cause))
  }
}

function explainFailure(
  key: string,
  passphrase: string | undefined,
  error: Error,
  inputs: Inputs
): InputError {
  const needsPassphrase = (result: unknown) =>
    result instanceof Error && /no passphrase given/i.test(result.message)
  if (needsPassphrase(error)) return missingPassphraseError(inputs)
  // ssh2 words wrong-passphrase failures differently per format, so ask it directly whether
  // the key needs a passphrase at all: without one it stops before trying to decrypt.
  if (passphrase !== undefined && needsPassphrase(parseKey(key))) {
    return wrongPassphraseError(inputs, error)
  }
  return unreadableError(inputs.key, error)
}

/**
 * Signs and verifies once. Legacy PEM carries no integrity check, so a wrong passphrase or a
 * mangled paste can decode to a key that parses yet fails at login with a vaguer error.
 */
function selfTest(parsed: ParsedKey, keyInput: string): void {
  const data = randomBytes(32)
  // RSA defaults to SHA-1 in ssh2, which some OpenSSL policies refuse to sign with.
  const algorithm = parsed.type === 'ssh-rsa' ? 'sha256' : undefined
  const signature: unknown = parsed.sign(data, algorithm)
  if (Buffer.isBuffer(signature) && parsed.verify(data, signature, algorithm) === true) return
  throw new InputError(
    keyInput,
    'is damaged: its private and public parts do not match. Copy the private key file ' +
      'into the secret again, whole and unedited.'
  )
}

function publicKeyError(keyInput: string): InputError {
  return new InputError(
    keyInput,
    'holds a public key, not a private key. Paste the private key file instead, e.g. the ' +
      'contents of ~/.ssh/id_ed25519, not ~/.ssh/id_ed25519.pub (the public key belongs in ' +
      "the server's authorized_keys)."
  )
}

function missingPassphraseError(inputs: Inputs): InputError {
  return new InputError(
    inputs.passphrase,
    `is required: the key in '${inputs.key}' is encrypted. Set '${inputs.passphrase}' to its ` +
      'passphrase (from a secret), or use an unencrypted key.'
  )
}

function wrongPassphraseError(inputs: Inputs, cause: unknown): InputError {
  return new InputError(
    inputs.passphrase,
    `does not decrypt the key in '${inputs.key}'. Check that it holds this key's passphrase, ` +
      'with no extra spaces or newline.',
    { cause }
  )
}

function unreadableError(keyInput: string, cause?: unknown): InputError {
  return new InputError(
    keyInput,
    'is not a private key this action can read. Paste the whole private key file, from its ' +
      'BEGIN line to its END line. Accepted formats: OpenSSH (BEGIN OPENSSH PRIVATE KEY), PEM ' +
      '(BEGIN RSA PRIVATE KEY, BEGIN EC PRIVATE KEY), PKCS#8 (BEGIN PRIVATE KEY, BEGIN ' +
      'ENCRYPTED PRIVATE KEY) and PuTTY .ppk version 2 (RSA or DSA).',
    { cause }
  )
}

/**
 * The runner masks within single log lines, so a multi-line secret is masked line by line too;
 * both as pasted (indentation included) and trimmed.
 */
function secretsOf(...texts: string[]): string[] {
  const lines = texts.flatMap(text => text.split(/\r?\n/).flatMap(line => [line, line.trim()]))
  return [...new Set([...texts, ...lines].filter(value => value.trim() !== ''))]
}
