import { classifyError } from '../../src/connection/classify.js'
import { AuthenticationError, ConnectionError } from '../../src/errors.js'
import type { Endpoint } from '../../src/inputs/endpoints.js'

const endpoint: Endpoint = {
  host: 'deploy.example.com',
  port: 2222,
  username: 'deploy',
  pins: [],
  credentials: { password: 'x' },
  hostInput: 'host',
  pinInput: 'fingerprint'
}

const sshError = (message: string, fields: { level?: string; code?: string | number }) =>
  Object.assign(new Error(message), fields)

describe('classifyError', () => {
  it('a host that does not resolve names the input and is not retried', () => {
    const err = classifyError(
      sshError('getaddrinfo ENOTFOUND deploy.example.com', {
        level: 'client-dns',
        code: 'ENOTFOUND'
      }),
      endpoint,
      30_000
    )
    expect(err).toBeInstanceOf(ConnectionError)
    expect(err.message).toMatch(
      /Host 'deploy\.example\.com' \(input 'host'\) could not be resolved/
    )
    expect((err as ConnectionError).transient).toBe(false)
  })

  it('a refused connection names both inputs and is not retried on a first connection', () => {
    const err = classifyError(
      sshError('connect ECONNREFUSED', { level: 'client-socket', code: 'ECONNREFUSED' }),
      endpoint,
      30_000
    )
    expect(err.message).toMatch(/refused.*Check 'host' and 'port'/)
    expect((err as ConnectionError).transient).toBe(false)
  })

  it('a reset during login may be retried', () => {
    const err = classifyError(
      sshError('read ECONNRESET', { level: 'client-socket', code: 'ECONNRESET' }),
      endpoint,
      30_000
    )
    expect((err as ConnectionError).transient).toBe(true)
  })

  it('a timeout says how long and which input raises it', () => {
    const err = classifyError(sshError('Timed out', { level: 'client-timeout' }), endpoint, 7000)
    expect(err.message).toMatch(/Timed out after 7 s.*raise 'timeout'/)
  })

  it('rejected credentials are an authentication error naming the user', () => {
    const err = classifyError(
      sshError('All configured authentication methods failed', { level: 'client-authentication' }),
      endpoint,
      30_000
    )
    expect(err).toBeInstanceOf(AuthenticationError)
    expect(err.message).toContain("user 'deploy'")
  })

  it('a server DISCONNECT during login (too many failures) is final, never retried', () => {
    const err = classifyError(
      sshError('Too many authentication failures', { code: 2 }),
      endpoint,
      30_000
    )
    expect((err as ConnectionError).transient).toBe(false)
  })
})
