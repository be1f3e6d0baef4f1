import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const IDS = ['20261125T160000Z-aaaaaaa', '20261125T170000Z-bbbbbbb', '20261125T180000Z-ccccccc']

describe('rollback: true (bundle of src/)', () => {
  let sshd: Sshd
  let workspace: string
  let remote: string
  let target: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('rollback-ws-')
    remote = makeTempDir('rollback-remote-')
    target = path.join(remote, 'app')
    mkdirSync(path.join(workspace, 'site'))
  })

  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const login = (): Record<string, string> => ({
    host: sshd.host,
    port: String(sshd.port),
    username: sshd.username,
    fingerprint: sshd.hostKeys[0].sha256,
    'private-key': sshd.clientKey.privatePem,
    target
  })

  const live = (): string => readlinkSync(path.join(target, 'current'))
  const served = (): string => readFileSync(path.join(target, 'current/index.html'), 'utf8')

  test('nothing deployed yet: one clear error, nothing created', async () => {
    const run = await runAction({ ...login(), rollback: 'true' }, { workspace })
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/Cannot roll back: .*current' does not exist/)
    expect(existsSync(path.join(target, 'current'))).toBe(false)
  })

  test('goes back one release at a time, atomically, uploading nothing; then says there is nothing left', async () => {
    for (const id of IDS) {
      writeFileSync(path.join(workspace, 'site/index.html'), id)
      const deploy = await runAction(
        { ...login(), source: 'site', release: 'true', 'release-id': id },
        { workspace }
      )
      expect(deploy.errors).toEqual([])
    }
    expect(live()).toBe(`releases/${IDS[2]}`)
    // A folder made by hand sorts as older than every release, but was never one of ours.
    mkdirSync(path.join(target, 'releases', '1.0.0'))

    const dry = await runAction({ ...login(), rollback: 'true', 'dry-run': 'true' }, { workspace })
    expect(dry.errors).toEqual([])
    expect(dry.code).toBe(0)
    expect(dry.stdout).toContain(
      `would switch ${target}/current from releases/${IDS[2]} to releases/${IDS[1]}`
    )
    expect(dry.outputs['release-path']).toBe(`${target}/releases/${IDS[1]}`)
    expect(live()).toBe(`releases/${IDS[2]}`)

    // The workspace file changed since: a rollback must not send it anywhere.
    writeFileSync(path.join(workspace, 'site/index.html'), 'not to be sent')
    const back = await runAction({ ...login(), rollback: 'true' }, { workspace })
    expect(back.errors).toEqual([])
    expect(back.code).toBe(0)
    expect(live()).toBe(`releases/${IDS[1]}`)
    expect(served()).toBe(IDS[1])
    expect(back.outputs['release-path']).toBe(`${target}/releases/${IDS[1]}`)
    expect(back.outputs.files).toBe('0')
    expect(back.summary).toContain('Rolled back')
    expect(back.summary).toContain(IDS[2])
    // The release rolled back from stays (pruning decides its fate later, like any other).
    expect(readFileSync(path.join(target, 'releases', IDS[2], 'index.html'), 'utf8')).toBe(IDS[2])

    const again = await runAction({ ...login(), rollback: 'true' }, { workspace })
    expect(again.errors).toEqual([])
    expect(live()).toBe(`releases/${IDS[0]}`)

    const none = await runAction({ ...login(), rollback: 'true' }, { workspace })
    expect(none.code).not.toBe(0)
    expect(none.errors).toHaveLength(1)
    expect(none.errors[0]).toMatch(
      /Cannot roll back: releases\/20261125T160000Z-aaaaaaa is live and no older release/
    )
    expect(live()).toBe(`releases/${IDS[0]}`)
  })

  test('rollback with sync or release-id is refused before connecting', async () => {
    const run = await runAction({ ...login(), rollback: 'true', sync: 'changed' }, { workspace })
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/Input 'rollback': cannot be combined with 'sync'/)
  })
})
