import { createHash, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction, type ActionRun } from '../support/action.js'
import { runnerCommands, type RunnerCommand } from '../support/runner-commands.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/** The one annotation a failed run leaves: exactly one `::error` and no other error or warning. */
function theError(run: ActionRun): RunnerCommand {
  expect(run.code).not.toBe(0)
  const annotations = runnerCommands(run.stdout).filter(c =>
    ['error', 'warning'].includes(c.command)
  )
  expect(annotations).toHaveLength(1)
  expect(annotations[0].command).toBe('error')
  return annotations[0]
}

/** `title=...` of an `::error title=...::` line, as the runner decodes the property value. */
function titleOf(command: RunnerCommand): string | undefined {
  const properties = command.info.slice(command.command.length).trim()
  const title = properties.split(',').find(p => p.startsWith('title='))
  return title
    ?.slice('title='.length)
    .replace(/%0D/g, '\r')
    .replace(/%0A/g, '\n')
    .replace(/%3A/g, ':')
    .replace(/%2C/g, ',')
    .replace(/%25/g, '%')
}

describe('the failed step is one titled annotation', () => {
  let sshd: Sshd
  let workspace: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('annotations-ws-')
    writeFileSync(path.join(workspace, 'a.txt'), 'a\n')
  })
  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
  })

  const run = (overrides: Record<string, string>) =>
    runAction(
      {
        host: sshd.host,
        port: String(sshd.port),
        username: sshd.username,
        fingerprint: sshd.hostKeys[0].sha256,
        'private-key': sshd.clientKey.privatePem,
        source: 'a.txt',
        target: path.join(workspace, 'remote-target'),
        ...overrides
      },
      { workspace }
    )

  test('bad input: titled with the input it names', async () => {
    const error = theError(await run({ port: 'twenty-two' }))
    expect(error.line).toMatch(/^::error title=Invalid input 'port'::Input 'port': 'twenty-two' /)
    expect(titleOf(error)).toBe("Invalid input 'port'")
  })

  test('a host key matching no pin: titled "Host key mismatch", nothing sent', async () => {
    const before = sshd.authAttempts()
    const pin = `SHA256:${createHash('sha256').update(randomBytes(8)).digest('base64')}`
    const error = theError(await run({ fingerprint: pin.replace(/=+$/, '') }))
    expect(titleOf(error)).toBe('Host key mismatch')
    expect(error.data).toContain(sshd.hostKeys[0].sha256)
    expect(sshd.authAttempts()).toBe(before)
  })

  test('the message keeps its escaping beside the title', async () => {
    // Echoed in the message: a line break the runner reads (NEL), a command and property marks.
    const port = '22,title=x:y\u0085::warning::forged'
    const error = theError(await run({ port }))
    expect(titleOf(error)).toBe("Invalid input 'port'")
    expect(error.data).toContain('22,title=x:y\\u0085::warning::forged')
    expect(error.line).not.toContain('\u0085')
  })
})
