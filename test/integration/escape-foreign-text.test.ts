/**
 * Text from outside the action, shown in the log and the job summary, stays data: no stdout line
 * the runner would act on as a workflow command, and nothing the summary would render as
 * Markdown or HTML. The names and texts come from a real OpenSSH server's disk (Linux allows a
 * newline in a file name) and from the workspace; a DISCONNECT before key exchange and SFTP
 * status messages come from the embedded server, as OpenSSH sends neither with chosen text.
 */
import { randomBytes } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import { runAction, type ActionRun } from '../support/action.js'
import { startEmbeddedServer, type EmbeddedServer } from '../support/embedded-server.js'
import { runnerCommands } from '../support/runner-commands.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/** Every payload carries PWNED where a forged command's name, properties or data would start. */
const FORGED = [
  '\n::add-mask::PWNED',
  '\n::error title=PWNED::forged',
  '\r  ::warning::PWNED',
  ' ##[add-mask]PWNED'
].join('')

/** Markdown and HTML a summary must show as text, not render. */
const MARKUP =
  '\n\n# PWNED heading\n![i](x.png) [click](evil) | cell | <img src=x onerror=alert(1)> `'

/** Commands in the log that foreign text made: the action's own never start with PWNED. */
function forgedCommands(run: ActionRun): string[] {
  return runnerCommands(run.stdout)
    .filter(c => c.info.includes('PWNED') || c.data.startsWith('PWNED'))
    .map(c => c.line)
}

/** What a reader of the summary sees: character references decoded. */
function decode(html: string): string {
  return html.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
}

/**
 * The summary renders nothing from outside: it is one HTML block (every line starts with a tag,
 * no blank line ends it early), with no tag, link, image or table cell from foreign text.
 */
function expectInertSummary(summary: string): void {
  const lines = summary.replace(/\n$/, '').split('\n')
  expect(lines.filter(l => !l.startsWith('<'))).toEqual([])
  expect(summary).not.toMatch(/<img|<script|\]\(|!\[|\||`/i)
}

const pinLine = (port: number, publicLine: string): string => `[127.0.0.1]:${port} ${publicLine}`

describe('foreign text in the log and the job summary (bundle of src/)', () => {
  let sshd: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('hostile-ws-')
    remote = makeTempDir('hostile-remote-')
  })
  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const base = (): Record<string, string> => ({
    host: sshd.host,
    port: String(sshd.port),
    username: sshd.username,
    fingerprint: sshd.hostKeys[0].sha256,
    'private-key': sshd.clientKey.privatePem
  })

  /** A fresh workspace folder holding these files. */
  function site(name: string, files: Record<string, string>): string {
    const dir = path.join(workspace, name)
    mkdirSync(dir, { recursive: true })
    for (const [file, text] of Object.entries(files)) writeFileSync(path.join(dir, file), text)
    return name
  }

  test('a leftover-looking file on the server with commands in its name', async () => {
    const target = path.join(remote, 'leftover')
    mkdirSync(target)
    const name = `.x${FORGED}.sftp-part`
    writeFileSync(path.join(target, name), 'stale')
    const run = await runAction(
      { ...base(), source: site('leftover-site', { 'a.txt': 'a\n' }), target },
      { workspace }
    )
    expect(run.errors).toEqual([])
    expect(readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('a\n')
    expect(forgedCommands(run)).toEqual([])
  })

  test('the text of a `current` link on the server', async () => {
    const target = path.join(remote, 'release')
    mkdirSync(path.join(target, 'releases'), { recursive: true })
    symlinkSync(`releases/old${FORGED}`, path.join(target, 'current'))
    // Entries the action did not make are named in the log, and left alone.
    for (const name of ['##[add-mask]PWNED', `y${FORGED}`]) {
      mkdirSync(path.join(target, 'releases', name))
    }
    const run = await runAction(
      { ...base(), source: site('release-site', { 'a.txt': 'a\n' }), target, release: 'true' },
      { workspace }
    )
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain('(was releases/old\\n')
    expect(run.stdout).toContain('not made by this action')
    // A release directory is new, so everything in it is created.
    expect(run.stdout).toContain('Plan: 1 to create (2 B), 0 to replace')
    expect(forgedCommands(run)).toEqual([])
  })

  test('workspace file names in a dry-run plan, in the log and the summary', async () => {
    const hostile = `b${FORGED}${MARKUP}`.replace(/\//g, '_')
    const source = site('plan-site', { 'a.txt': 'a\n', [hostile]: 'b\n' })
    const run = await runAction(
      { ...base(), source, target: path.join(remote, 'plan'), 'dry-run': 'true' },
      { workspace }
    )
    expect(run.errors).toEqual([])
    expect(forgedCommands(run)).toEqual([])
    expect(run.stdout).toContain(`  create  b\\n`)
    expectInertSummary(run.summary)
    expect(decode(run.summary)).toContain('b\\n::add-mask::PWNED\\n::error title=PWNED')
    expect(decode(run.summary)).toContain('\\n\\n# PWNED heading\\n![i](x.png)')
  })

  test('refused remote names in the log and the summary', async () => {
    const dir = path.join(remote, 'refused')
    mkdirSync(dir)
    writeFileSync(path.join(dir, 'ok.txt'), 'ok\n')
    writeFileSync(path.join(dir, `r${FORGED}${MARKUP}`.replace(/\//g, '_')), 'x')
    const run = await runAction(
      { ...base(), direction: 'download', source: dir, target: 'refused-out' },
      { workspace }
    )
    expect(run.errors).toEqual([])
    expect(readFileSync(path.join(workspace, 'refused-out/ok.txt'), 'utf8')).toBe('ok\n')
    expect(forgedCommands(run)).toEqual([])
    expectInertSummary(run.summary)
    expect(decode(run.summary)).toContain('r\\n::add-mask::PWNED')
    expect(decode(run.summary)).toContain('# PWNED heading')
  })

  test('a wrong pin: the summary names the host that refused and the key it presented', async () => {
    const wrong = `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`
    const before = sshd.authAttempts()
    const run = await runAction(
      {
        ...base(),
        fingerprint: wrong,
        direction: 'download',
        source: '/etc/hostname',
        target: 'x'
      },
      { workspace }
    )
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(sshd.authAttempts()).toBe(before)
    const summary = decode(run.summary)
    expect(summary).toContain('FAILED')
    expect(summary).toContain(`127.0.0.1:${sshd.port}`)
    expect(summary).toContain(`refused, presented ssh-ed25519 ${sshd.hostKeys[0].sha256}`)
    const manifest = JSON.parse(readFileSync(run.outputs.manifest, 'utf8')) as {
      hosts: Array<{ address: string; presented?: Array<{ keyType: string; fingerprint: string }> }>
    }
    expect(manifest.hosts).toEqual([
      expect.objectContaining({
        address: `127.0.0.1:${sshd.port}`,
        presented: [expect.objectContaining({ fingerprint: sshd.hostKeys[0].sha256 })]
      })
    ])
  })

  test('the plan says create for files new to the server and replace for the others', async () => {
    const target = path.join(remote, 'create-replace')
    mkdirSync(target)
    writeFileSync(path.join(target, 'old.txt'), 'before\n')
    const source = site('create-replace-site', { 'old.txt': 'after\n', 'new.txt': 'new\n' })
    const dry = await runAction({ ...base(), source, target, 'dry-run': 'true' }, { workspace })
    expect(dry.errors).toEqual([])
    expect(dry.stdout).toContain('  create  new.txt')
    expect(dry.stdout).toContain('  replace old.txt')
    expect(dry.summary).toMatch(/<td>create<\/td><td>[^<]*new\.txt<\/td>/)
    expect(dry.summary).toMatch(/<td>replace<\/td><td>[^<]*old\.txt<\/td>/)
    // A plain upload does not list the target first: its plan line claims neither.
    rmSync(path.join(target, 'old.txt'))
    const run = await runAction({ ...base(), source, target }, { workspace })
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain('Plan: 2 to upload (10 B), each new or replacing')
    expect(run.stdout).not.toMatch(/\d+ to replace/)
    expect(readdirSync(target).sort()).toEqual(['new.txt', 'old.txt'])
  })

  test('a user name with a legacy command and ESC in the "Logged in as" line', async () => {
    // The input refuses white space, ":" and "@", not these.
    const username = 'deploy##[add-mask]PWNED\u001b[2K'
    const server = await startEmbeddedServer({
      username,
      authorizedKey: sshd.clientKey.publicLine
    })
    try {
      const run = await runAction(
        {
          ...base(),
          username,
          port: String(server.port),
          fingerprint: server.hostKey.sha256,
          source: site('user-site', { 'a.txt': 'a\n' }),
          target: '/user'
        },
        { workspace }
      )
      expect(run.errors).toEqual([])
      const said = run.stdout.split('\n').filter(line => line.includes('Logged in as'))
      expect(said).toHaveLength(1)
      expect(said[0]).toContain('Logged in as deploy#\\u0023[add-mask]PWNED\\u001b[2K.')
      expect(run.stdout).not.toContain('##[')
      expect(run.stdout).not.toContain('\u001b')
      expect(forgedCommands(run)).toEqual([])
    } finally {
      await server.stop()
    }
  })

  describe('with a hostile embedded server', () => {
    let hostile: EmbeddedServer

    beforeAll(async () => {
      hostile = await startEmbeddedServer({
        username: sshd.username,
        authorizedKey: sshd.clientKey.publicLine
      })
    })
    afterAll(async () => {
      await hostile?.stop()
    })

    test("a fan-out server's DISCONNECT text before key exchange", async () => {
      hostile.setFaults({ disconnect: `bye${FORGED}${MARKUP}` })
      const target = path.join(remote, 'fanout')
      const run = await runAction(
        {
          ...base(),
          host: `127.0.0.1:${sshd.port}, 127.0.0.1:${hostile.port}`,
          fingerprint: [
            pinLine(sshd.port, sshd.hostKeys[0].publicLine),
            pinLine(hostile.port, hostile.hostKey.publicLine)
          ].join('\n'),
          source: site('fanout-site', { 'a.txt': 'a\n' }),
          target
        },
        { workspace }
      )
      hostile.setFaults({})
      // The good server got the file; the other is reported skipped, and the run fails.
      expect(existsSync(path.join(target, 'a.txt'))).toBe(true)
      expect(run.errors).toHaveLength(2)
      expect(forgedCommands(run)).toEqual([])
      expectInertSummary(run.summary)
      expect(decode(run.summary)).toContain('bye\\n::add-mask::PWNED')
      expect(decode(run.summary)).toContain('# PWNED heading')
    })

    test('SFTP status messages in the log and the summary', async () => {
      // A directory where the file should go: replacing it fails with the server's message.
      mkdirSync(path.join(hostile.root, 'status/a.txt'), { recursive: true })
      hostile.setFaults({ statusMessage: `denied${FORGED}${MARKUP}` })
      const run = await runAction(
        {
          ...base(),
          port: String(hostile.port),
          fingerprint: hostile.hostKey.sha256,
          source: site('status-site', { 'a.txt': 'a\n' }),
          target: '/status',
          retries: '0'
        },
        { workspace }
      )
      hostile.setFaults({})
      expect(run.errors).toHaveLength(1)
      expect(run.errors[0]).toContain('denied')
      expect(forgedCommands(run)).toEqual([])
      expectInertSummary(run.summary)
      expect(decode(run.summary)).toContain('denied\\n::add-mask::PWNED')
      expect(decode(run.summary)).toContain('# PWNED heading')
    })
  })
})
