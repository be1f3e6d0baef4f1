import { appendFileSync, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { connectVerified } from '../../src/connection/connect.js'
import { AuthenticationError } from '../../src/errors.js'
import { generateKey, requireKeygen, startSshd, type Sshd } from '../support/sshd.js'
import { sshdEndpoint } from '../support/endpoint.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

// ssh2 used to ask whether the key would do before signing: two USERAUTH_REQUESTs and two round
// trips per login. The action signs at once: the server sees exactly one request per key.
describe('key login in one request (real OpenSSH)', () => {
  let sshd: Sshd
  let keys: string
  const login = (privatePem: string) =>
    connectVerified(sshdEndpoint(sshd, privatePem), { timeoutMs: 10_000, retries: 0 })

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    keys = makeTempDir('sign-at-once-')
  })
  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(keys)
  })

  test('an authorised ed25519 key logs in with a single signed request', async () => {
    const before = sshd.authAttempts()
    const connection = await login(sshd.clientKey.privatePem)
    connection.client.end()
    expect(sshd.authAttempts() - before).toBe(1)
    expect(sshd.log()).toMatch(/Accepted publickey for /)
  })

  test('an authorised RSA key logs in with a single request signed with SHA-2', async () => {
    const file = path.join(keys, 'rsa')
    const { publicLine } = await generateKey(requireKeygen(), file, 'rsa', 'sign-at-once-rsa')
    appendFileSync(path.join(sshd.dir, 'authorized_keys'), `${publicLine}\n`)
    const before = sshd.authAttempts()
    const connection = await login(readFileSync(file, 'utf8'))
    connection.client.end()
    expect(sshd.authAttempts() - before).toBe(1)
    expect(sshd.log()).toMatch(/Accepted publickey for \S+ from \S+ port \d+ ssh2: RSA SHA256:/)
  })

  test('a key the server does not know is refused after one request', async () => {
    const file = path.join(keys, 'stranger')
    await generateKey(requireKeygen(), file, 'ed25519', 'sign-at-once-stranger')
    const before = sshd.authAttempts()
    await expect(login(readFileSync(file, 'utf8'))).rejects.toBeInstanceOf(AuthenticationError)
    expect(sshd.authAttempts() - before).toBe(1)
  })
})
