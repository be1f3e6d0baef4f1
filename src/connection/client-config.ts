import type { Duplex } from 'node:stream'
import type ssh2 from 'ssh2'
import type { Endpoint } from '../inputs/endpoints.js'
import { algorithmsFor, makeHostVerifier, type Presented } from './host-key.js'
import { authHandlerFor } from './keyboard.js'
import type { ConnectOptions } from './options.js'

/** ssh2's settings for one attempt. A probe's hold no credential and allow no login method. */
export function connectConfig(
  endpoint: Endpoint,
  options: ConnectOptions,
  keyTypes: string[],
  seen: Presented[],
  sock: Duplex | undefined,
  probe: boolean,
  refuse: (err: Error) => void = () => undefined
): ssh2.ConnectConfig {
  // A probe never holds a credential, so nothing it does can log in, whatever ssh2 decides.
  const { privateKey, password } = probe ? {} : endpoint.credentials
  return {
    host: endpoint.host,
    port: endpoint.port,
    username: endpoint.username,
    ...(sock ? { sock } : {}),
    privateKey: privateKey?.key,
    passphrase: privateKey?.passphrase,
    password,
    tryKeyboard: false,
    // ssh2 starts with method 'none' by default: a wasted round trip on every login.
    authHandler: probe ? [] : afterLogin(options.login, authHandlerFor(endpoint, refuse)),
    readyTimeout: options.timeoutMs,
    // Keepalive only catches a connection that died while idle (e.g. during a long server-side
    // hash). Its replies queue behind file data on slow links, so it is lenient; stalls during
    // transfers are caught by the session's own watchdog (see Liveness).
    keepaliveInterval: 30_000,
    keepaliveCountMax: 10,
    hostVerifier: makeHostVerifier(endpoint.pins, seen, probe ? undefined : options.gate),
    algorithms: { serverHostKey: algorithmsFor(keyTypes) as ssh2.ServerHostKeyAlgorithm[] },
    debug: options.debug
  }
}

/** `handler`, asked only once `login` said yes; no method at all (nothing sent) otherwise. */
function afterLogin(
  login: Promise<boolean> | undefined,
  handler: ssh2.AuthHandlerMiddleware
): ssh2.AuthHandlerMiddleware {
  if (!login) return handler
  return (methodsLeft, partialSuccess, next) => {
    const none = (): void => (next as (method: ssh2.AuthenticationType | false) => void)(false)
    login.then(
      ok => (ok ? handler(methodsLeft, partialSuccess, next) : none()),
      () => none()
    )
  }
}
