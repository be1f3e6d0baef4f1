import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')
const FORWARDED = /server_request_direct_tcpip: originator/g
const count = (text: string, re: RegExp): number => text.match(re)?.length ?? 0

describe('sync through a jump host: extra connections only for big files it sends (bundle of src/)', () => {
  let bastion: Sshd
  let server: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    ;[bastion, server] = await Promise.all([
      startSshd({ hostKeyTypes: ['ed25519'] }),
      startSshd({ hostKeyTypes: ['ed25519'] })
    ])
    workspace = makeTempDir('jump-sync-ws-')
    remote = makeTempDir('jump-sync-remote-')
    mkdirSync(path.join(workspace, 'site'))
    writeFileSync(path.join(workspace, 'site/big.bin'), randomBytes(9 * 1024 * 1024 + 7))
    writeFileSync(path.join(workspace, 'site/index.html'), 'first\n')
  })
  afterAll(async () => {
    await Promise.all([bastion?.stop(), server?.stop()])
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const inputs = (sync: string): Record<string, string> => ({
    host: '127.0.0.1',
    port: String(server.port),
    username: server.username,
    fingerprint: server.hostKeys[0].sha256,
    'private-key': server.clientKey.privatePem,
    'jump-host': '127.0.0.1',
    'jump-port': String(bastion.port),
    'jump-fingerprint': bastion.hostKeys[0].sha256,
    'jump-private-key': bastion.clientKey.privatePem,
    source: 'site/',
    target: path.join(remote, 'site'),
    sync
  })

  test.each(['changed', 'checksum'])(
    'sync: %s sends a new big file over 4 connections; a re-deploy that skips it logs in once',
    async sync => {
      const target = path.join(remote, 'site')
      const mark = (): [number, number] => [
        server.acceptedLogins(),
        count(bastion.log(), FORWARDED)
      ]
      const [logins, forwards] = mark()
      writeFileSync(path.join(workspace, 'site/index.html'), `first ${sync}\n`)
      const first = await runAction({ ...inputs(sync), target: `${target}-${sync}` }, { workspace })
      expect(first.errors).toEqual([])
      expect(sha(path.join(`${target}-${sync}`, 'big.bin'))).toBe(
        sha(path.join(workspace, 'site/big.bin'))
      )
      expect(first.stdout).toContain('Big files spread over 4 connections through the jump host.')
      expect(server.acceptedLogins() - logins).toBe(4)
      expect(count(bastion.log(), FORWARDED) - forwards).toBe(4)
      // Decided by the plan, not by what the source holds.
      const opening = first.stdout.indexOf('::debug::Opening 3 extra connections')
      expect(opening).toBeGreaterThan(first.stdout.indexOf('Plan: '))

      // Only the small file changed: the big one is skipped, and so are the extra logins.
      writeFileSync(path.join(workspace, 'site/index.html'), `second ${sync}\n`)
      const [logins2, forwards2] = mark()
      const again = await runAction({ ...inputs(sync), target: `${target}-${sync}` }, { workspace })
      expect(again.errors).toEqual([])
      expect(again.stdout).toMatch(/Plan: 0 to create .*, 1 to replace .*, 1 unchanged/)
      expect(readFileSync(path.join(`${target}-${sync}`, 'index.html'), 'utf8')).toBe(
        `second ${sync}\n`
      )
      expect(again.stdout).not.toContain('extra connections')
      expect(server.acceptedLogins() - logins2).toBe(1)
      expect(count(bastion.log(), FORWARDED) - forwards2).toBe(1)
    }
  )
})
