import type ssh2 from 'ssh2'

/** The hash each RSA signature algorithm signs with (ssh2's getKeyAlgos); other keys have one. */
const RSA_HASHES: Record<string, string> = {
  'rsa-sha2-256': 'sha256',
  'rsa-sha2-512': 'sha512',
  'ssh-rsa': 'sha1'
}

interface SigningKey {
  sign(data: Buffer, hash?: string): Buffer | Error
}

type AuthPK = (
  username: string,
  key: unknown,
  keyAlgo?: unknown,
  cbSign?: (data: Buffer, done: (signature: Buffer) => void) => void
) => void

/**
 * ssh2 logs in with a key in two round trips: it first asks whether the server would take the
 * key (a request without a signature), and signs only after the server says yes. RFC 4252 lets
 * a client send the signed request right away, and the key is the only one this action has, so
 * the question buys nothing: 50 ms less per connection at a 50 ms round trip. The server answers
 * the signed request with success or failure as it answered the question, so ssh2's handling of
 * either (the next RSA signature algorithm, the next method) is unchanged. Runs only after the
 * host key was verified, as every login step does.
 */
export function signAtOnce(client: ssh2.Client): void {
  const protocol: unknown = Reflect.get(client, '_protocol')
  const authPK: unknown = protocol && Reflect.get(protocol, 'authPK')
  if (typeof authPK !== 'function') return
  const original = authPK as AuthPK
  const signing: AuthPK = function (this: unknown, username, key, keyAlgo, cbSign) {
    if (cbSign !== undefined || !isSigningKey(key) || typeof keyAlgo === 'function') {
      return original.call(this, username, key, keyAlgo, cbSign)
    }
    const hash = typeof keyAlgo === 'string' ? RSA_HASHES[keyAlgo] : undefined
    // ssh2 calls the signer at once, before anything is sent: a key that cannot sign falls back
    // to the question, and ssh2 reports the failure as it always did.
    let signed = false
    original.call(this, username, key, keyAlgo, (data, done) => {
      const signature = key.sign(data, hash)
      if (signature instanceof Error) return
      signed = true
      done(signature)
    })
    if (!signed) original.call(this, username, key, keyAlgo)
  }
  Reflect.set(protocol as object, 'authPK', signing)
}

function isSigningKey(key: unknown): key is SigningKey {
  return typeof key === 'object' && key !== null && typeof Reflect.get(key, 'sign') === 'function'
}
