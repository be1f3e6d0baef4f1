import { parsePins } from '../../src/identity/pins.js'
import type { Endpoint } from '../../src/inputs/endpoints.js'
import { preparePrivateKey } from '../../src/inputs/keys.js'
import type { Sshd } from './sshd.js'

/**
 * The endpoint the action would build for a harness sshd: pinned to its first host key, logging
 * in with `privatePem` (the harness's client key unless another is given). For tests that drive
 * src/ directly instead of running the bundle.
 */
export function sshdEndpoint(sshd: Sshd, privatePem: string = sshd.clientKey.privatePem): Endpoint {
  return {
    host: sshd.host,
    port: sshd.port,
    username: sshd.username,
    pins: parsePins(sshd.hostKeys[0].sha256, 'fingerprint'),
    credentials: {
      privateKey: preparePrivateKey(privatePem, undefined, 'private-key', 'passphrase')
    },
    hostInput: 'host',
    pinInput: 'fingerprint'
  }
}
