import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import { pathToFileURL } from 'node:url'
import { runAction, type ActionRun } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const SHA = '0123456789abcdef0123456789abcdef01234567'
const RECORD = '.pinned-sftp-releases'

/** Folders someone put into `releases/` by hand: never the action's to remove. */
const FOREIGN = ['1.0.0', '2019-backup', 'shared']

function handMade(target: string, names: string[]): void {
  for (const name of names) {
    mkdirSync(path.join(target, 'releases', name), { recursive: true })
    writeFileSync(path.join(target, 'releases', name, 'keep.txt'), name)
  }
}

const releases = (target: string): string[] =>
  readdirSync(path.join(target, 'releases'))
    .filter(n => n !== RECORD)
    .sort()

const idOf = (run: ActionRun): string => path.posix.basename(run.outputs['release-path'])

describe('release pruning against OpenSSH (bundle of src/)', () => {
  let sshd: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('prune-ws-')
    remote = makeTempDir('prune-remote-')
    mkdirSync(path.join(workspace, 'site'))
  })
  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  /** A release deploy of `site` as it stands, of commit SHA unless an ID is given. */
  function releaseRun(
    target: string,
    extra: Record<string, string> = {},
    env: Record<string, string> = {}
  ): Promise<ActionRun> {
    return runAction(
      {
        host: `127.0.0.1:${sshd.port}`,
        username: sshd.username,
        fingerprint: sshd.hostKeys[0].sha256,
        'private-key': sshd.clientKey.privatePem,
        source: 'site',
        target,
        release: 'true',
        ...extra
      },
      { workspace, env: { GITHUB_SHA: SHA, ...env } }
    )
  }

  /** One release deploy of `site` holding `text`, expected to succeed. */
  async function deploy(
    target: string,
    text: string,
    extra: Record<string, string> = {},
    env: Record<string, string> = {}
  ) {
    writeFileSync(path.join(workspace, 'site/index.html'), text)
    const run = await releaseRun(target, extra, env)
    expect(run.errors).toEqual([])
    expect(run.code).toBe(0)
    return run
  }

  test('foreign folders survive, take no keep slot, and are named once, escaped', async () => {
    const target = path.join(remote, 'foreign')
    const hostile = 'evil\n::error::injected'
    handMade(target, [...FOREIGN, hostile])
    writeFileSync(path.join(target, 'releases', 'README'), 'notes')

    const runs: ActionRun[] = []
    for (let i = 1; i <= 4; i++)
      runs.push(await deploy(target, `r${i}\n`, { 'keep-releases': '3' }))
    const ids = runs.map(idOf)

    expect(releases(target)).toEqual([...FOREIGN, hostile, 'README', ...ids.slice(1)].sort())
    for (const name of FOREIGN) {
      expect(readFileSync(path.join(target, 'releases', name, 'keep.txt'), 'utf8')).toBe(name)
    }
    expect(readlinkSync(path.join(target, 'current'))).toBe(`releases/${ids[3]}`)
    const last = runs[3].stdout.split('\n')
    const named = last.filter(l => l.includes('2019-backup'))
    expect(named).toHaveLength(1)
    expect(named[0]).toMatch(/not made by this action/)
    for (const name of [...FOREIGN, 'README']) expect(named[0]).toContain(JSON.stringify(name))
    expect(named[0]).toContain('"evil\\n::error::injected"')
    expect(last.filter(l => l.startsWith('::error::'))).toEqual([])
  })

  test('a target whose name holds a workflow command is escaped where foreign folders are named', async () => {
    const target = path.join(remote, 'odd ##[group]name')
    handMade(target, ['shared'])
    const run = await deploy(target, 'odd\n')
    const named = run.stdout.split('\n').filter(l => l.includes('not made by this action'))
    expect(named).toHaveLength(1)
    expect(named[0]).toContain('odd #')
    expect(named[0]).not.toContain('##[')
  })

  test('the release live before the deploy survives keep-releases: 1', async () => {
    const target = path.join(remote, 'rollback')
    // A folder that sorts after every generated ID: it once took the only slot.
    handMade(target, ['shared'])
    const first = idOf(await deploy(target, 'first\n', { 'keep-releases': '1' }))
    const second = idOf(await deploy(target, 'second\n', { 'keep-releases': '1' }))
    expect(releases(target)).toEqual([first, second, 'shared'].sort())
    expect(readFileSync(path.join(target, 'releases', first, 'index.html'), 'utf8')).toBe('first\n')

    // Once it is no longer the one to roll back to, it goes.
    const third = idOf(await deploy(target, 'third\n', { 'keep-releases': '1' }))
    expect(releases(target)).toEqual([second, third, 'shared'].sort())
  })

  test('deploys of one commit back to back all succeed, with distinct IDs in time order', async () => {
    const target = path.join(remote, 'same-commit')
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push(idOf(await deploy(target, `same ${i}\n`)))
    expect(new Set(ids).size).toBe(3)
    expect([...ids].sort()).toEqual(ids)
    for (const id of ids) expect(id).toMatch(/-0123456$/)
    expect(readlinkSync(path.join(target, 'current'))).toBe(`releases/${ids[2]}`)
    expect(releases(target)).toEqual(ids)
  })

  test('two deploys of one commit in the same instant both succeed', async () => {
    const target = path.join(remote, 'same-instant')
    // Pins the runner's clock for both runs, as two jobs starting in one millisecond would see it.
    const clock = path.join(workspace, 'pinned-clock.mjs')
    writeFileSync(
      clock,
      `const Real = Date
const pinned = Real.parse('2026-11-25T16:01:02.345Z')
globalThis.Date = class extends Real {
  constructor(...args) { if (args.length) super(...args); else super(pinned) }
  static now() { return Real.now() }
}
`
    )
    const env = { NODE_OPTIONS: `--import ${pathToFileURL(clock).href}` }
    const first = idOf(await deploy(target, 'first\n', {}, env))
    const second = idOf(await deploy(target, 'second\n', {}, env))
    expect(first).toMatch(/^20261125T160102\.345Z-[0-9a-f]{6}-0123456$/)
    expect(second).toMatch(/^20261125T160102\.345Z-[0-9a-f]{6}-0123456$/)
    expect(second).not.toBe(first)
    expect(readFileSync(path.join(target, 'current/index.html'), 'utf8')).toBe('second\n')
    expect(releases(target)).toEqual([first, second].sort())
  })

  test('user-given IDs are recorded and pruned; a hand-made folder is not', async () => {
    const target = path.join(remote, 'given')
    handMade(target, ['1.0.0'])
    for (const id of ['v1', 'v2', 'v3']) {
      const run = await deploy(target, `${id}\n`, { 'release-id': id, 'keep-releases': '1' })
      expect(idOf(run)).toBe(id)
    }
    expect(releases(target)).toEqual(['1.0.0', 'v2', 'v3'])
    expect(readdirSync(path.join(target, 'releases', RECORD)).sort()).toEqual(['v2', 'v3'])
  })

  test('an existing user-given ID is refused without telling the user to leave it empty', async () => {
    const target = path.join(remote, 'taken')
    await deploy(target, 'once\n', { 'release-id': 'v1' })
    writeFileSync(path.join(workspace, 'site/index.html'), 'twice\n')
    const run = await releaseRun(target, { 'release-id': 'v1' })
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/Input 'release-id'.*already exists.*choose another 'release-id'/)
    expect(readFileSync(path.join(target, 'current/index.html'), 'utf8')).toBe('once\n')
  })

  /** A release deploy under `id` expected to fail: its one error. */
  async function refusedDeploy(target: string, id: string): Promise<string> {
    const run = await releaseRun(target, { 'release-id': id })
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.stdout).toContain('::error title=Release refused::')
    expect(existsSync(path.join(target, 'releases', id))).toBe(false)
    expect(existsSync(path.join(target, 'current'))).toBe(false)
    return run.errors[0]
  }

  test('the release record is never written through a link', async () => {
    const outside = path.join(remote, 'outside')
    mkdirSync(outside)
    writeFileSync(path.join(outside, 'v1'), 'precious v1\n')
    writeFileSync(path.join(outside, 'secret.conf'), 'precious conf\n')

    // The record folder is a link to a folder elsewhere holding a file of the ID's name.
    const linkedDir = path.join(remote, 'linked-record')
    mkdirSync(path.join(linkedDir, 'releases'), { recursive: true })
    symlinkSync(outside, path.join(linkedDir, 'releases', RECORD))
    expect(await refusedDeploy(linkedDir, 'v1')).toMatch(
      /Refused to record the release in '.*\.pinned-sftp-releases': it is not a folder of its own/
    )

    // The record folder is real; the ID's entry is a link to a file elsewhere.
    const linkedEntry = path.join(remote, 'linked-entry')
    mkdirSync(path.join(linkedEntry, 'releases', RECORD), { recursive: true })
    symlinkSync(path.join(outside, 'secret.conf'), path.join(linkedEntry, 'releases', RECORD, 'v2'))
    expect(await refusedDeploy(linkedEntry, 'v2')).toMatch(
      /Refused to record the release in '.*\/v2': it is not a file of its own/
    )

    expect(readFileSync(path.join(outside, 'v1'), 'utf8')).toBe('precious v1\n')
    expect(readFileSync(path.join(outside, 'secret.conf'), 'utf8')).toBe('precious conf\n')
    expect(readdirSync(outside).sort()).toEqual(['secret.conf', 'v1'])
  })

  test('a plain record entry left by an earlier try of the same ID is kept', async () => {
    const target = path.join(remote, 'recorded-before')
    mkdirSync(path.join(target, 'releases', RECORD), { recursive: true })
    writeFileSync(path.join(target, 'releases', RECORD, 'v7'), '')
    const run = await deploy(target, 'v7\n', { 'release-id': 'v7' })
    expect(idOf(run)).toBe('v7')
    expect(readFileSync(path.join(target, 'current/index.html'), 'utf8')).toBe('v7\n')
    expect(readdirSync(path.join(target, 'releases', RECORD))).toEqual(['v7'])
  })
})
