import { connectConfig } from '../../src/connection/client-config.js'
import type { Endpoint } from '../../src/inputs/endpoints.js'

const endpoint: Endpoint = {
  host: 'web.example.com',
  port: 2222,
  username: 'deploy',
  pins: [],
  credentials: {
    privateKey: { key: 'PRIVATE KEY TEXT', passphrase: 'pp', secrets: [], keyType: 'ssh-ed25519' },
    password: 'hunter2'
  },
  hostInput: 'host',
  pinInput: 'fingerprint'
}
const options = { timeoutMs: 5000, retries: 0 }

describe('connectConfig', () => {
  it('logs in with the key, then the password, never "none" (keyboard-interactive: see keyboard tests)', () => {
    const config = connectConfig(endpoint, options, ['ssh-ed25519'], [], undefined, false)
    expect(typeof config.authHandler).toBe('function')
    const methods: unknown[] = []
    const handler = config.authHandler as (
      left: string[] | null,
      partial: boolean,
      next: (m: unknown) => void
    ) => void
    handler(null, false, m => methods.push(m))
    handler(['publickey', 'password'], false, m => methods.push(m))
    handler(['publickey', 'password'], false, m => methods.push(m))
    expect(methods).toEqual(['publickey', 'password', false])
    expect(config.privateKey).toBe('PRIVATE KEY TEXT')
    expect(config.password).toBe('hunter2')
    expect(config.tryKeyboard).toBe(false)
    expect(config.agent).toBeUndefined()
  })

  it('with `login`, names no method before that login succeeded, and none if it failed', async () => {
    const tick = () => new Promise(resolve => setImmediate(resolve))
    for (const ok of [true, false]) {
      let settle: (ok: boolean) => void = () => undefined
      const login = new Promise<boolean>(resolve => (settle = resolve))
      const config = connectConfig(
        endpoint,
        { ...options, login },
        ['ssh-ed25519'],
        [],
        undefined,
        false
      )
      // The host key is still checked at once: only the credentials wait.
      expect(config.hostVerifier).toBeDefined()
      const methods: unknown[] = []
      const handler = config.authHandler as (
        left: string[] | null,
        partial: boolean,
        next: (m: unknown) => void
      ) => void
      handler(null, false, m => methods.push(m))
      await tick()
      expect(methods).toEqual([])
      settle(ok)
      await tick()
      expect(methods).toEqual([ok ? 'publickey' : false])
    }
  })

  it('gives a host-key probe no credential and no login method at all', () => {
    const config = connectConfig(endpoint, options, ['ssh-ed25519'], [], undefined, true)
    expect(config.authHandler).toEqual([])
    expect(config.privateKey).toBeUndefined()
    expect(config.passphrase).toBeUndefined()
    expect(config.password).toBeUndefined()
    expect(config.agent).toBeUndefined()
  })

  it('asks only for the host key types it can check, with a callback verifier', () => {
    const config = connectConfig(endpoint, options, ['ssh-rsa'], [], undefined, false)
    expect(config.algorithms?.serverHostKey).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'])
    expect(typeof config.hostVerifier).toBe('function')
    expect(config.hostVerifier?.length).toBe(2)
  })
})
