import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction, type ActionRun } from '../support/action.js'
import {
  LIAR_SIZE,
  startEmbeddedServer,
  startHostileSftp,
  type EmbeddedServer,
  type HostileSftp
} from '../support/embedded-server.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/** The bound the issue sets for a listing at its limit. */
const RSS_LIMIT_KIB = 300 * 1024

describe('bounds against a hostile server (bundle of src/)', () => {
  let server: HostileSftp
  let workspace: string
  let peakProbe: string

  beforeAll(async () => {
    server = await startHostileSftp()
    workspace = makeTempDir('bounds-ws-')
    // Preloaded into the action: records its peak resident memory when it exits.
    peakProbe = path.join(workspace, '..', `${path.basename(workspace)}-peak.cjs`)
    writeFileSync(
      peakProbe,
      "process.on('exit', () => require('fs').writeFileSync(process.env.PEAK_FILE, " +
        'String(process.resourceUsage().maxRSS)))\n'
    )
  })
  afterAll(async () => {
    await server?.stop()
    removeTempDir(workspace)
    removeTempDir(peakProbe)
  })

  const inputs = (extra: Record<string, string>): Record<string, string> => ({
    host: server.host,
    port: String(server.port),
    username: server.username,
    password: server.password,
    fingerprint: server.fingerprint,
    ...extra
  })

  /** Runs the action and returns its peak RSS in KiB alongside the run. */
  async function measured(extra: Record<string, string>): Promise<ActionRun & { peakKiB: number }> {
    const peakFile = path.join(workspace, `peak-${Date.now()}`)
    const run = await runAction(inputs(extra), {
      workspace,
      // Half a million made-up entries go through two JavaScript SSH stacks on a shared machine.
      timeoutMs: 540_000,
      env: { NODE_OPTIONS: `--require ${peakProbe}`, PEAK_FILE: peakFile }
    })
    return { ...run, peakKiB: Number(readFileSync(peakFile, 'utf8')) }
  }

  test('an endless wide tree stops at the entry limit, in bounded memory', async () => {
    const run = await measured({ direction: 'download', source: '/wide', target: 'wide' })
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/more than 300,000 entries .*Narrow 'source'/)
    expect(run.peakKiB).toBeLessThan(RSS_LIMIT_KIB)
    expect(existsSync(path.join(workspace, 'wide'))).toBe(false)
  }, 600_000)

  test('an endlessly deep tree stops at the depth limit', async () => {
    const run = await measured({ direction: 'download', source: '/deep', target: 'deep' })
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/deeper than 64 levels.*Narrow 'source'/)
    expect(run.errors[0]).toContain(`under '/deep${'/d'.repeat(40)}`)
  })

  test('a folder whose listing never ends stops at the entry limit', async () => {
    const run = await measured({
      direction: 'download',
      source: '/endless-folder/*',
      target: 'endless'
    })
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/more than 300,000 entries.*'\/endless-folder'/)
    expect(run.peakKiB).toBeLessThan(RSS_LIMIT_KIB)
  }, 600_000)

  test("an upload's listing of an endless target stops at the entry limit", async () => {
    writeFileSync(path.join(workspace, 'page.html'), 'hello\n')
    const run = await measured({ source: 'page.html', target: '/wide', 'dry-run': 'true' })
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/more than 300,000 entries.*Point 'target'/)
    expect(run.peakKiB).toBeLessThan(RSS_LIMIT_KIB)
  }, 600_000)

  test('a file claiming more than the free disk space is refused before anything is written', async () => {
    const before = server.bytesServed()
    const run = await runAction(
      inputs({ direction: 'download', source: '/huge.bin', target: 'huge' }),
      { workspace }
    )
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(
      /add up to 1\.0 TiB \(1099511627776 bytes, as the server announced\), but the runner has .* free/
    )
    expect(server.bytesServed()).toBe(before)
    expect(existsSync(path.join(workspace, 'huge'))).toBe(false)
  })

  test('a file that streams past its announced size is read no further and not kept', async () => {
    const before = server.bytesServed()
    const run = await runAction(
      inputs({ direction: 'download', source: '/liar.bin', target: 'liar', retries: '0' }),
      { workspace }
    )
    expect(run.code).not.toBe(0)
    expect(run.errors[0]).toMatch(new RegExp(`longer than the ${LIAR_SIZE} bytes`))
    // Every byte up to the announced size, and the one probe past it: nothing more.
    expect(server.bytesServed() - before).toBeLessThanOrEqual(LIAR_SIZE + 32 * 1024)
    expect(readdirSync(path.join(workspace, 'liar'))).toEqual([])
  })

  describe('relayed', () => {
    let target: EmbeddedServer
    beforeAll(async () => {
      target = await startEmbeddedServer({ password: 'target password' })
    })
    afterAll(async () => {
      await target?.stop()
    })

    test('a relay forwards nothing past the announced size and keeps nothing', async () => {
      const before = server.bytesServed()
      const run = await runAction(
        inputs({
          direction: 'relay',
          source: '/liar.bin',
          retries: '0',
          'target-host': target.host,
          'target-port': String(target.port),
          'target-username': target.username,
          'target-password': 'target password',
          'target-fingerprint': target.hostKey.sha256,
          target: '/landed'
        }),
        { workspace }
      )
      expect(run.code).not.toBe(0)
      expect(run.errors[0]).toMatch(new RegExp(`longer than the ${LIAR_SIZE} bytes`))
      expect(server.bytesServed() - before).toBeLessThanOrEqual(LIAR_SIZE + 32 * 1024)
      const landed = path.join(target.root, 'landed')
      expect(existsSync(landed) ? readdirSync(landed) : []).toEqual([])
    })
  })
})
