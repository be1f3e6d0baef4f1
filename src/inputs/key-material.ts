import { InputError } from '../errors.js'
import { SECRET_INPUTS } from './endpoints.js'

/** One input as the runner hands it over, before anything reads it. */
export interface RawInput {
  /** The input name as written in the workflow, e.g. `target-host`. */
  name: string
  value: string
}

// Only a private key reads like this; public keys, fingerprints, known_hosts and `.pub` lines
// (which pin inputs take) never do, so a legitimate value is never refused.
const ARMOR = /-{3,}\s*(?:BEGIN|END) [A-Z0-9 ]*PRIVATE KEY/
// PuTTY's header, and the headers of a private part or an encrypted PEM body without the rest.
const HEADERS = /PuTTY-User-Key-File-\d+\s*:|^\s*(?:Private-Lines|Proc-Type|DEK-Info)\s*:/m
// base64 of "openssh-key-v1", the first bytes of every OpenSSH private key body.
const OPENSSH_BODY = /b3BlbnNzaC1rZXktdjE/
// The first bytes of a PEM body pasted without its armor, in base64: a SEQUENCE holding version
// 0 then an INTEGER (PKCS#1 RSA and DSA) or a SEQUENCE (PKCS#8), or version 1 then an OCTET
// STRING (SEC1 EC), for each length form. A public key's body holds no version, so never matches.
const DER_BODY = new RegExp(
  '(?:^|[^A-Za-z0-9+/]|\\\\[nr])(?:' +
    [
      'MII[A-Za-z0-9+/]{2}[AQgw]IBA[AD]', // PKCS#1 (RSA, DSA) and PKCS#8, 256 bytes and more
      'MI[GH][A-Za-z0-9+/]AgE[AB][MB]', // PKCS#8 and SEC1, 128 to 255 bytes
      'M[A-H][A-Za-z0-9+/]CAQ[AE][wE]', // PKCS#8 (Ed25519, X25519, Ed448) and SEC1, shorter
      // An encrypted PKCS#8 body: the PBES2 identifier after the outer SEQUENCE, both alignments.
      'MI[A-Za-z0-9+/]{4,6}(?:BgkqhkiG9w0BBQ0w|GCSqGSIb3DQEFDTB)'
    ].join('|') +
    ')'
)

// A whole key file encoded once more as base64 (a common way to store keys in variables):
// "-----BEGIN" in base64, then enough of the rest to read the armor line.
const ENCODED_FILE = /LS0tLS1CRUdJTi[A-Za-z0-9+/_-]{20,}/g

/** Whether a value carries what can only be private-key material. */
export function looksLikePrivateKey(value: string): boolean {
  return [ARMOR, HEADERS, OPENSSH_BODY, DER_BODY].some(sign => sign.test(value)) || encoded(value)
}

function encoded(value: string): boolean {
  for (const [run] of value.matchAll(ENCODED_FILE)) {
    const text = Buffer.from(run.slice(0, 200), 'base64').toString('latin1')
    if (ARMOR.test(text) || OPENSSH_BODY.test(text)) return true
  }
  return false
}

/**
 * Every input the runner passed (INPUT_* variables) except those meant for secrets. Read from
 * the environment rather than a list, so inputs added later, and misspelt ones the runner
 * passes along with a warning (`private_key`), are covered too.
 */
export function plainInputs(env: NodeJS.ProcessEnv): RawInput[] {
  const secret = new Set(SECRET_INPUTS)
  return Object.entries(env)
    .filter(([key, value]) => key.startsWith('INPUT_') && value)
    .map(([key, value]) => ({ name: key.slice('INPUT_'.length).toLowerCase(), value: value! }))
    .filter(input => !secret.has(input.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/** The plain inputs holding key material: to be masked, then refused before anything else. */
export function pastedKeys(inputs: RawInput[]): RawInput[] {
  return inputs.filter(input => looksLikePrivateKey(input.value))
}

/**
 * A private key in a plain input is a secret outside a secret: it could be echoed in an error,
 * sent to a server as a host name or path, or written into the manifest. It is refused before
 * any of that, and the message names the input, never the value.
 */
export function pastedKeyError(found: RawInput[]): InputError {
  const [first, ...others] = found.map(input => input.name)
  const also = others.length ? ` So do ${others.map(n => `'${n}'`).join(', ')}.` : ''
  return new InputError(
    first,
    'holds what looks like a private key, so nothing was done: no connection, nothing sent or ' +
      `written.${also} A private key belongs in a secret, passed as 'private-key' (e.g. ` +
      'private-key: ${{ secrets.SSH_PRIVATE_KEY }}). If the key was written into the workflow ' +
      'file, it is exposed: replace it on the server.'
  )
}
