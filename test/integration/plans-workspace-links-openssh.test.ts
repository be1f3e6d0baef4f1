import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import { runAction, type ActionRun } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/**
 * A checkout is foreign data: a pull request can commit a link that would carry an upload out
 * of the workspace (`site -> /home/runner`). Each case here is such a link, met in a different
 * place; `outside` stands for the runner's home.
 */
describe('uploads never leave the workspace through a link (OpenSSH)', () => {
  let sshd: Sshd
  let workspace: string
  let outside: string
  let remote: string
  let count = 0

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('links-ws-')
    outside = makeTempDir('links-home-')
    remote = makeTempDir('links-remote-')
    writeFileSync(path.join(outside, 'id_rsa'), 'RUNNER PRIVATE KEY\n')
    mkdirSync(path.join(outside, 'dist'))
    writeFileSync(path.join(outside, 'dist', 'credentials.js'), 'runner secret\n')
    mkdirSync(path.join(workspace, 'site'))
    writeFileSync(path.join(workspace, 'site', 'index.html'), '<h1>site</h1>\n')
    writeFileSync(path.join(workspace, 'README.md'), 'readme\n')
  })

  afterAll(async () => {
    await sshd?.stop()
    for (const dir of [workspace, outside, remote]) removeTempDir(dir)
  })

  const upload = (source: string, target = path.join(remote, `t${count++}`)) =>
    runAction(
      {
        host: sshd.host,
        port: String(sshd.port),
        username: sshd.username,
        fingerprint: sshd.hostKeys[0].sha256,
        'private-key': sshd.clientKey.privatePem,
        source,
        target
      },
      { workspace }
    )

  /** One clear error naming the link and where it points; nothing sent, not even a login. */
  async function expectRefused(source: string, link: string, to: string): Promise<ActionRun> {
    const target = path.join(remote, `refused-${count++}`)
    const before = sshd.authAttempts()
    const run = await upload(source, target)
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toContain(
      `Input 'source': '${link}' is a symbolic link that leads outside the workspace (to ${to})`
    )
    expect(sshd.authAttempts()).toBe(before)
    expect(existsSync(target)).toBe(false)
    expect(run.stdout).not.toContain('runner secret')
    return run
  }

  test('a folder link to outside, as the source', async () => {
    symlinkSync(outside, path.join(workspace, 'home'))
    await expectRefused('home', 'home', outside)
    await expectRefused('home/', 'home', outside)
  })

  test('a file link to outside, inside the source folder', async () => {
    mkdirSync(path.join(workspace, 'public'))
    writeFileSync(path.join(workspace, 'public', 'index.html'), 'public\n')
    symlinkSync(path.join(outside, 'id_rsa'), path.join(workspace, 'public', 'id_rsa'))
    await expectRefused('public', 'public/id_rsa', path.join(outside, 'id_rsa'))
  })

  test('a link in a pattern’s base folder, and a base folder that is a link', async () => {
    mkdirSync(path.join(workspace, 'web'))
    writeFileSync(path.join(workspace, 'web', 'app.js'), 'app\n')
    symlinkSync(path.join(outside, 'dist'), path.join(workspace, 'web', 'lib'))
    await expectRefused('web/*', 'web/lib', path.join(outside, 'dist'))
    symlinkSync(path.join(outside, 'dist'), path.join(workspace, 'bundle'))
    await expectRefused('bundle/**/*.js', 'bundle', path.join(outside, 'dist'))
  })

  test('a link in the middle of the path to the source', async () => {
    mkdirSync(path.join(workspace, 'app'))
    symlinkSync(outside, path.join(workspace, 'app', 'current'))
    await expectRefused('app/current/dist', 'app/current', outside)
  })

  test("a link into the checkout's .git folder, where actions/checkout keeps the token", async () => {
    mkdirSync(path.join(workspace, '.git'))
    writeFileSync(
      path.join(workspace, '.git', 'config'),
      'extraheader = AUTHORIZATION: runner secret\n'
    )
    mkdirSync(path.join(workspace, 'docs'))
    writeFileSync(path.join(workspace, 'docs', 'index.html'), 'docs\n')
    symlinkSync('../.git/config', path.join(workspace, 'docs', 'config.txt'))
    const before = sshd.authAttempts()
    const run = await upload('docs')
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toContain(
      `Input 'source': 'docs/config.txt' is a symbolic link that leads into a .git folder`
    )
    expect(sshd.authAttempts()).toBe(before)
  })

  test('a folder written outside the workspace in full still uploads, its inner links too', async () => {
    const build = makeTempDir('links-build-')
    try {
      writeFileSync(path.join(build, 'page.html'), 'built\n')
      symlinkSync(path.join(build, 'page.html'), path.join(build, 'alias.html'))
      symlinkSync(path.join(workspace, 'README.md'), path.join(build, 'README.md'))
      const target = path.join(remote, 'outright')
      const run = await upload(build, target)
      expect(run.errors).toEqual([])
      expect(run.code).toBe(0)
      expect(readdirSync(target).sort()).toEqual(['README.md', 'alias.html', 'page.html'])
      expect(readFileSync(path.join(target, 'alias.html'), 'utf8')).toBe('built\n')
    } finally {
      removeTempDir(build)
    }
  })

  test('links that stay inside the workspace keep working', async () => {
    symlinkSync('site', path.join(workspace, 'live'))
    symlinkSync('../README.md', path.join(workspace, 'site', 'README.md'))
    const target = path.join(remote, 'inside')
    const run = await upload('live', target)
    expect(run.errors).toEqual([])
    expect(run.code).toBe(0)
    expect(readdirSync(target).sort()).toEqual(['README.md', 'index.html'])
    expect(readFileSync(path.join(target, 'README.md'), 'utf8')).toBe('readme\n')
  })
})
