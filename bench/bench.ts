/**
 * Benchmark: this action (the committed dist/index.js, run as a runner does) against OpenSSH's
 * sftp client, on the same files and the same sshd (test/support/sshd.ts), over loopback and
 * through test/support/tcp-proxy.ts at 50 ms RTT. Runs alternate between the two; the table shows
 * medians and action/OpenSSH ratios (lower is better). Every transfer is checked byte for byte.
 *
 *   npm run bench                     full sizes, BENCH_RUNS (default 3) runs each
 *   npm run bench:smoke               tiny sizes, one run: checks that the bench itself works
 *
 * Environment: BENCH_RUNS (runs per scenario and tool), BENCH_SCALE (size factor, e.g. 0.01),
 * BENCH_ONLY (comma-separated scenario ids), BENCH_ENFORCE_TARGETS=1 (exit 1 on a missed target).
 * Results also go to bench/results/latest.json. Nothing but 127.0.0.1 is ever contacted.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSshd, type Sshd } from '../test/support/sshd.js'
import { startTcpProxy, type TcpProxy } from '../test/support/tcp-proxy.js'
import { makeTempDir, removeTempDir } from '../test/support/tmp.js'
import { findProjectRoot } from '../test/support/project-root.js'
import { diffTrees, sha256File, treeHashes, writeRandomFile, writeSmallTree } from './lib/files.js'
import { describeMachine } from './lib/machine.js'
import { hasGnuTime, killAllTimed, rssMethod, type TimedResult } from './lib/proc.js'
import {
  emptyRuns,
  formatBytes,
  formatSeconds,
  mibPerSecond,
  recordRun,
  renderCpuTable,
  renderTable,
  summarize,
  type ScenarioResult
} from './lib/report.js'
import { manyFilesScenarios } from './many-files.js'
import { measuredRun, type Scenario, type ToolRun } from './lib/scenario.js'
import {
  jumpProxyCommand,
  runActionTimed,
  runSftp,
  writeKnownHosts,
  type SftpCommand
} from './lib/tools.js'

const MiB = 1024 * 1024
const RTT_MS = 50

const say = (text = ''): void => {
  process.stdout.write(`${text}\n`)
}

function findRoot(): string {
  return findProjectRoot(path.dirname(fileURLToPath(import.meta.url)))
}

interface Config {
  runs: number
  scale: number
  only: Set<string> | undefined
  enforceTargets: boolean
}

function readConfig(): Config {
  const runs = Number(process.env.BENCH_RUNS || '3')
  if (!Number.isInteger(runs) || runs < 1) throw new Error('BENCH_RUNS must be an integer >= 1')
  const scale = Number(process.env.BENCH_SCALE || '1')
  if (!Number.isFinite(scale) || scale <= 0) throw new Error('BENCH_SCALE must be a number > 0')
  const only = process.env.BENCH_ONLY?.trim()
  return {
    runs,
    scale,
    only: only ? new Set(only.split(',').map(s => s.trim())) : undefined,
    enforceTargets: process.env.BENCH_ENFORCE_TARGETS === '1'
  }
}

/** Input names and whether `direction` offers relay, read from action.yml at run time. */
function readActionInputs(root: string): { inputs: Set<string>; relay: boolean } {
  const text = fs.readFileSync(path.join(root, 'action.yml'), 'utf8')
  const section = /^inputs:\n([\s\S]*?)(?=^\S)/m.exec(text)?.[1] ?? ''
  const inputs = new Set([...section.matchAll(/^ {2}([A-Za-z0-9_-]+):/gm)].map(m => m[1]))
  const direction = /^ {2}direction:\n([\s\S]*?)(?=^ {2}\S)/m.exec(section)?.[1] ?? ''
  return { inputs, relay: /\brelay\b/i.test(direction) }
}

const sumOf = (values: Array<number | undefined>): number | undefined =>
  values.every(v => v !== undefined) ? values.reduce<number>((a, v) => a + (v ?? 0), 0) : undefined

function describeFailure(what: string, result: TimedResult): string {
  const reason = result.timedOut
    ? 'timed out'
    : `exited with ${result.code ?? result.signal ?? 'unknown status'}`
  const text = `${result.stdout}\n${result.stderr}`
  const errors = text
    .split('\n')
    .filter(l => /^::error[^:]*::/.test(l))
    .map(l => l.replace(/^::error[^:]*::/, ''))
  // Without ::error:: lines (a crash), the first lines of stderr say what happened.
  const lines = (result.stderr.trim() || result.stdout.trim()).split('\n').filter(Boolean)
  const detail = errors.length > 0 ? errors.join(' | ') : lines.slice(0, 6).join(' | ')
  return `${what} ${reason}: ${detail.slice(0, 1000)}`
}

async function main(): Promise<number> {
  const root = findRoot()
  const config = readConfig()
  const actionYml = readActionInputs(root)
  // Measure one bundle throughout: a copy of dist/ taken now, so a rebuild meanwhile changes nothing.
  const work = makeTempDir('pinned-sftp-bench-')
  const distEntry = path.join(work, 'dist', 'index.js')
  try {
    fs.cpSync(path.join(root, 'dist'), path.dirname(distEntry), { recursive: true })
    if (!fs.existsSync(distEntry))
      throw new Error('bench: dist/index.js is missing (npm run bundle)')
  } catch (error) {
    removeTempDir(work)
    throw error
  }
  const machine = await describeMachine(root, distEntry)

  say('Pinned SFTP benchmark: action (dist/index.js) vs OpenSSH sftp')
  say(`Machine:  ${machine.nproc} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB RAM`)
  say(`          ${machine.kernel}; node ${machine.node}; ${machine.openssh}`)
  say(`Bundle:   dist/index.js sha256 ${machine.distSha256}…, commit ${machine.gitCommit}`)
  say(
    `Settings: BENCH_RUNS=${config.runs} BENCH_SCALE=${config.scale}` +
      `${config.only ? ` BENCH_ONLY=${[...config.only].join(',')}` : ''}; ` +
      `proxy RTT ${RTT_MS} ms; peak RSS via ${rssMethod()}`
  )
  if (config.scale !== 1)
    say('          (BENCH_SCALE != 1: sizes shrunk, ratios are not comparable to targets)')
  say()

  const scaled = (bytes: number): number => Math.max(64 * 1024, Math.round(bytes * config.scale))
  const sizes = {
    large: scaled(512 * MiB),
    medium: scaled(128 * MiB),
    huge: scaled(1024 * MiB),
    smallCount: Math.max(6, Math.round(300 * config.scale))
  }

  const workspace = path.join(work, 'ws')
  const scratch = path.join(work, 'scratch')
  for (const dir of [workspace, scratch]) fs.mkdirSync(dir, { recursive: true })

  let sshd: Sshd | undefined
  let proxy: TcpProxy | undefined
  let cleaned = false
  const cleanup = async (): Promise<void> => {
    if (cleaned) return
    cleaned = true
    killAllTimed()
    await proxy?.close()
    await sshd?.stop()
    removeTempDir(work)
  }
  let interrupted = false
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true
    say(`\nInterrupted (${signal}): cleaning up.`)
    void cleanup().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  try {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    proxy = await startTcpProxy({ targetPort: sshd.port, latencyMs: RTT_MS / 2 })
    const knownHosts = path.join(work, 'known_hosts')
    writeKnownHosts(knownHosts, sshd, [sshd.port, proxy.port])
    const live = { sshd, proxy }

    // ---- data, made once ---------------------------------------------------------------------
    const wanted = (id: string): boolean => !config.only || config.only.has(id)
    const needLarge = ['upload-loopback', 'download-loopback', 'relay-loopback'].some(wanted)
    const needMedium = [
      'upload-rtt50',
      'download-rtt50',
      'upload-jump-rtt50',
      'download-jump-rtt50'
    ].some(wanted)
    const needHuge = ['rss-upload-1gib', 'rss-download-1gib'].some(wanted)
    const needSmall = wanted('small-files-rtt50')
    const started = Date.now()
    const data = path.join(workspace, 'data')
    const large = path.join(data, 'large.bin')
    const medium = path.join(data, 'medium.bin')
    const huge = path.join(data, 'huge.bin')
    const hashes = new Map<string, string>()
    if (needLarge) hashes.set(large, await writeRandomFile(large, sizes.large))
    if (needMedium) hashes.set(medium, await writeRandomFile(medium, sizes.medium))
    if (needHuge) hashes.set(huge, await writeRandomFile(huge, sizes.huge))
    const small = needSmall
      ? await writeSmallTree(path.join(workspace, 'site'), sizes.smallCount)
      : undefined
    say(`Test data written in ${formatSeconds(Date.now() - started)} under ${work}`)
    say(
      `sshd on 127.0.0.1:${sshd.port}; proxy 127.0.0.1:${proxy.port} -> ${sshd.port} ` +
        `(+${proxy.latencyMs} ms each way)`
    )
    say()

    // ---- the two tools -------------------------------------------------------------------------
    const timeoutFor = (bytes: number): number => 120_000 + Math.round((bytes / MiB) * 1000)
    const baseInputs = (port: number): Record<string, string> => ({
      host: '127.0.0.1',
      port: String(port),
      username: live.sshd.username,
      fingerprint: live.sshd.hostKeys[0].sha256,
      'private-key': live.sshd.clientKey.privatePem
    })

    const action = async (
      inputs: Record<string, string>,
      bytes: number,
      expectFiles: number
    ): Promise<ToolRun> => {
      const result = await runActionTimed(distEntry, inputs, {
        workspace,
        scratch,
        timeoutMs: timeoutFor(bytes)
      })
      if (result.code !== 0 || result.timedOut) throw new Error(describeFailure('action', result))
      if (result.outputs.files !== String(expectFiles)) {
        throw new Error(`action: output files=${result.outputs.files}, expected ${expectFiles}`)
      }
      return measuredRun(result)
    }

    /**
     * The route to the server: straight to `port`, or with `jump`, to the server on loopback
     * through the same sshd as a bastion at `jump` (the delayed proxy: the slow hop is the
     * runner's to the bastion, as for a private network behind one).
     */
    interface Route {
      port: number
      jump?: number
    }
    const routeOf = (to: number | Route): Route => (typeof to === 'number' ? { port: to } : to)
    const jumpInputs = (jump: number): Record<string, string> => ({
      'jump-host': '127.0.0.1',
      'jump-port': String(jump),
      'jump-fingerprint': live.sshd.hostKeys[0].sha256,
      'jump-private-key': live.sshd.clientKey.privatePem
    })
    const routeInputs = (to: number | Route): Record<string, string> => {
      const { port, jump } = routeOf(to)
      return { ...baseInputs(port), ...(jump === undefined ? {} : jumpInputs(jump)) }
    }

    const sftp = async (
      to: number | Route,
      commands: SftpCommand[],
      bytes: number
    ): Promise<ToolRun> => {
      const { port, jump } = routeOf(to)
      const result = await runSftp(live.sshd, port, knownHosts, commands, {
        scratch,
        timeoutMs: timeoutFor(bytes),
        ...(jump === undefined
          ? {}
          : { proxyCommand: jumpProxyCommand(live.sshd, jump, knownHosts) })
      })
      if (result.code !== 0 || result.timedOut) throw new Error(describeFailure('sftp', result))
      return measuredRun(result)
    }

    const verifyFile = async (file: string, source: string): Promise<void> => {
      if (!fs.existsSync(file)) throw new Error(`verification: ${file} does not exist`)
      const [got, want] = [await sha256File(file), hashes.get(source)]
      if (got !== want) throw new Error(`verification: ${file} differs from ${source} (sha256)`)
    }

    /** Upload of one file: local data/<name> to a fresh remote directory. */
    const uploadOne = (source: string, bytes: number, port: number | Route) => ({
      action: async (runDir: string) => {
        const remote = path.join(runDir, 'remote')
        fs.mkdirSync(remote)
        const run = await action(
          {
            ...routeInputs(port),
            direction: 'upload',
            source: path.relative(workspace, source),
            target: remote
          },
          bytes,
          1
        )
        await verifyFile(path.join(remote, path.basename(source)), source)
        return run
      },
      openssh: async (runDir: string) => {
        const remote = path.join(runDir, 'remote')
        fs.mkdirSync(remote)
        const dest = path.join(remote, path.basename(source))
        const run = await sftp(port, [{ op: 'put', local: source, remote: dest }], bytes)
        await verifyFile(dest, source)
        return run
      }
    })

    /** Download of one file: the server path `source` to a fresh local directory. */
    const downloadOne = (source: string, bytes: number, port: number | Route) => ({
      action: async (runDir: string) => {
        const local = path.join(runDir, 'local')
        fs.mkdirSync(local)
        const run = await action(
          { ...routeInputs(port), direction: 'download', source, target: local },
          bytes,
          1
        )
        await verifyFile(path.join(local, path.basename(source)), source)
        return run
      },
      openssh: async (runDir: string) => {
        const local = path.join(runDir, 'local')
        fs.mkdirSync(local)
        const dest = path.join(local, path.basename(source))
        const run = await sftp(port, [{ op: 'get', remote: source, local: dest }], bytes)
        await verifyFile(dest, source)
        return run
      }
    })

    // ---- scenarios -----------------------------------------------------------------------------
    const scenarios: Scenario[] = [
      {
        id: 'upload-loopback',
        title: 'upload, loopback',
        kind: 'time',
        bytes: sizes.large,
        files: 1,
        runs: config.runs,
        targetRatio: 1.0,
        ...uploadOne(large, sizes.large, sshd.port)
      },
      {
        id: 'download-loopback',
        title: 'download, loopback',
        kind: 'time',
        bytes: sizes.large,
        files: 1,
        runs: config.runs,
        targetRatio: 1.2,
        ...downloadOne(large, sizes.large, sshd.port)
      },
      {
        id: 'small-files-rtt50',
        title: `small files upload, ${RTT_MS} ms RTT`,
        kind: 'time',
        bytes: small?.bytes ?? 0,
        files: sizes.smallCount,
        runs: config.runs,
        targetRatio: 0.1,
        action: async runDir => {
          if (!small) throw new Error('no small files')
          const remote = path.join(runDir, 'remote', 'site')
          fs.mkdirSync(path.dirname(remote))
          const run = await action(
            { ...baseInputs(live.proxy.port), direction: 'upload', source: 'site', target: remote },
            small.bytes,
            small.files
          )
          const problem = diffTrees(small.hashes, await treeHashes(remote))
          if (problem) throw new Error(`verification: ${problem}`)
          return run
        },
        openssh: async runDir => {
          if (!small) throw new Error('no small files')
          const remote = path.join(runDir, 'remote', 'site')
          fs.mkdirSync(path.dirname(remote))
          const local = path.join(workspace, 'site')
          const run = await sftp(
            live.proxy.port,
            [{ op: 'put', local, remote, recursive: true }],
            small.bytes
          )
          const problem = diffTrees(small.hashes, await treeHashes(remote))
          if (problem) throw new Error(`verification: ${problem}`)
          return run
        }
      },
      {
        id: 'upload-rtt50',
        title: `upload, ${RTT_MS} ms RTT`,
        kind: 'time',
        bytes: sizes.medium,
        files: 1,
        runs: config.runs,
        targetRatio: 0.5,
        ...uploadOne(medium, sizes.medium, proxy.port)
      },
      {
        id: 'download-rtt50',
        title: `download, ${RTT_MS} ms RTT`,
        kind: 'time',
        bytes: sizes.medium,
        files: 1,
        runs: config.runs,
        targetRatio: 0.5,
        ...downloadOne(medium, sizes.medium, proxy.port)
      },
      {
        id: 'upload-jump-rtt50',
        title: `upload via a jump host ${RTT_MS} ms away`,
        anchor: 'sftp -o ProxyCommand',
        kind: 'time',
        bytes: sizes.medium,
        files: 1,
        runs: config.runs,
        targetRatio: 0.5,
        ...uploadOne(medium, sizes.medium, { port: sshd.port, jump: proxy.port })
      },
      {
        id: 'download-jump-rtt50',
        title: `download via a jump host ${RTT_MS} ms away`,
        anchor: 'sftp -o ProxyCommand',
        kind: 'time',
        bytes: sizes.medium,
        files: 1,
        runs: config.runs,
        targetRatio: 1.0,
        ...downloadOne(medium, sizes.medium, { port: sshd.port, jump: proxy.port })
      },
      relayScenario(),
      ...manyFilesScenarios({
        workspace,
        runs: config.runs,
        scale: config.scale,
        direct: { sshd, port: sshd.port, knownHosts },
        delayed: { sshd, port: proxy.port, knownHosts },
        inputs: baseInputs,
        action,
        tool: (what, result) => {
          if (result.code !== 0 || result.timedOut) throw new Error(describeFailure(what, result))
          return measuredRun(result)
        },
        timeoutFor
      }),
      {
        id: 'rss-upload-1gib',
        title: 'peak RSS, upload, loopback',
        kind: 'memory',
        bytes: sizes.huge,
        files: 1,
        runs: 1,
        targetRssMiB: 150,
        ...uploadOne(huge, sizes.huge, sshd.port)
      },
      {
        id: 'rss-download-1gib',
        title: 'peak RSS, download, loopback',
        kind: 'memory',
        bytes: sizes.huge,
        files: 1,
        runs: 1,
        targetRssMiB: 150,
        ...downloadOne(huge, sizes.huge, sshd.port)
      }
    ]

    function relayScenario(): Scenario {
      const scenario: Scenario = {
        id: 'relay-loopback',
        title: 'relay vs get+put, loopback',
        kind: 'time',
        bytes: sizes.large,
        files: 1,
        runs: config.runs,
        targetRatio: 1.0
      }
      if (!actionYml.relay) return { ...scenario, unavailable: 'n/a (relay not implemented)' }
      // The destination server's inputs: `<prefix>host` etc., e.g. target-host, target-port.
      const prefixes = [...actionYml.inputs]
        .filter(name => name.endsWith('-host') && !name.includes('jump'))
        .map(name => name.slice(0, -'host'.length))
        .filter(p => actionYml.inputs.has(`${p}fingerprint`))
      const prefix = prefixes.includes('target-') ? 'target-' : prefixes[0]
      if (prefix === undefined) {
        return { ...scenario, unavailable: 'n/a (relay destination inputs not recognised)' }
      }
      const destination = (port: number): Record<string, string> => {
        const inputs: Record<string, string> = {}
        for (const [name, value] of Object.entries(baseInputs(port))) {
          if (actionYml.inputs.has(`${prefix}${name}`)) inputs[`${prefix}${name}`] = value
        }
        return inputs
      }
      return {
        ...scenario,
        action: async runDir => {
          const remote = path.join(runDir, 'remote')
          fs.mkdirSync(remote)
          const run = await action(
            {
              ...baseInputs(live.sshd.port),
              ...destination(live.sshd.port),
              direction: 'relay',
              source: large,
              target: remote
            },
            sizes.large,
            1
          )
          await verifyFile(path.join(remote, path.basename(large)), large)
          return run
        },
        openssh: async runDir => {
          const remote = path.join(runDir, 'remote')
          const local = path.join(runDir, 'local')
          fs.mkdirSync(remote)
          fs.mkdirSync(local)
          const between = path.join(local, path.basename(large))
          const dest = path.join(remote, path.basename(large))
          const port = live.sshd.port
          const get = await sftp(port, [{ op: 'get', remote: large, local: between }], sizes.large)
          const put = await sftp(port, [{ op: 'put', local: between, remote: dest }], sizes.large)
          await verifyFile(dest, large)
          const rss = [get.maxRssKiB, put.maxRssKiB].filter((v): v is number => v !== undefined)
          return {
            wallMs: get.wallMs + put.wallMs,
            maxRssKiB: rss.length > 0 ? Math.max(...rss) : undefined,
            cpuMs: sumOf([get.cpuMs, put.cpuMs]),
            machineBusyMs: sumOf([get.machineBusyMs, put.machineBusyMs])
          }
        }
      }
    }

    // ---- run -----------------------------------------------------------------------------------
    const results: ScenarioResult[] = []
    for (const scenario of scenarios.filter(s => wanted(s.id))) {
      if (interrupted) break
      const result: ScenarioResult = {
        id: scenario.id,
        title: scenario.anchor ? `${scenario.title} [vs ${scenario.anchor}]` : scenario.title,
        kind: scenario.kind,
        bytes: scenario.bytes,
        files: scenario.files,
        status: 'ok',
        targetRatio: scenario.targetRatio,
        targetRssMiB: scenario.targetRssMiB,
        action: emptyRuns(),
        openssh: emptyRuns(),
        errors: []
      }
      results.push(result)
      if (scenario.unavailable || !scenario.action || !scenario.openssh) {
        result.status = 'n/a'
        result.note = scenario.unavailable ?? 'n/a'
        say(`[${scenario.id}] ${result.note}`)
        continue
      }
      const sides = { action: scenario.action, openssh: scenario.openssh }
      for (let i = 0; i < scenario.runs && result.status === 'ok' && !interrupted; i++) {
        const order: Array<'action' | 'openssh'> =
          i % 2 === 0 ? ['action', 'openssh'] : ['openssh', 'action']
        for (const tool of order) {
          const runDir = fs.mkdtempSync(path.join(work, `${scenario.id}-${tool}-`))
          try {
            const run = await sides[tool](runDir)
            result[tool].runsMs.push(run.wallMs)
            recordRun(result[tool], run)
            const rss =
              run.maxRssKiB === undefined ? '' : `, peak RSS ${formatBytes(run.maxRssKiB * 1024)}`
            say(
              `[${scenario.id}] run ${i + 1}/${scenario.runs} ${tool.padEnd(7)} ` +
                `${formatSeconds(run.wallMs).padStart(9)} ` +
                `(${mibPerSecond(scenario.bytes, run.wallMs)}${rss}), verified`
            )
          } catch (error) {
            if (interrupted) break
            result.status = 'failed'
            const message = `${tool}: ${error instanceof Error ? error.message : String(error)}`
            result.errors.push(message)
            say(`[${scenario.id}] run ${i + 1}/${scenario.runs} FAILED ${message}`)
            break
          } finally {
            removeTempDir(runDir)
          }
        }
      }
      summarize(result)
    }

    // ---- report --------------------------------------------------------------------------------
    if (interrupted) return 130 // the signal handler exits once cleaned up; no partial results
    say()
    say(renderTable(results))
    say()
    say(
      'Time: median wall time per run (process start to exit, connection and login included). ' +
        'Ratio: action / OpenSSH, lower is better.'
    )
    say(
      'Peak RSS: max resident set of the action process (one run); OpenSSH column: sftp and its ' +
        'ssh child.'
    )
    const cpuTable = renderCpuTable(results, machine.nproc)
    if (cpuTable) {
      say()
      say(cpuTable)
      say()
      say(
        'CPU: user + system seconds, medians. Action/OpenSSH CPU: the client alone (sftp with ' +
          'its ssh child). Machine CPU: every core, sshd included, since the server shares this ' +
          'machine. Cores busy near the core count means the run was bound by CPU.'
      )
    }
    const traffic = live.proxy.counters()
    say(
      `Proxy: ${traffic.connections} connections, ${formatBytes(traffic.bytesClientToServer)} up, ` +
        `${formatBytes(traffic.bytesServerToClient)} down.`
    )
    const resultsDir = path.join(root, 'bench', 'results')
    fs.mkdirSync(resultsDir, { recursive: true })
    const jsonFile = path.join(resultsDir, 'latest.json')
    fs.writeFileSync(
      jsonFile,
      `${JSON.stringify(
        {
          finishedAt: new Date().toISOString(),
          machine,
          config: {
            runs: config.runs,
            scale: config.scale,
            only: config.only ? [...config.only] : null,
            rttMs: RTT_MS,
            rssMethod: rssMethod(),
            gnuTime: hasGnuTime()
          },
          scenarios: results
        },
        null,
        2
      )}\n`
    )
    say(`Results written to ${path.relative(root, jsonFile)}`)

    const failed = results.filter(r => r.status === 'failed')
    const missed = results.filter(r => r.meetsTarget === false)
    if (failed.length > 0) {
      say(`\nFAILED: ${failed.map(r => `${r.id} (${r.errors.join('; ')})`).join(', ')}`)
      return 1
    }
    if (missed.length > 0 && config.enforceTargets) {
      say(`\nTargets missed (BENCH_ENFORCE_TARGETS=1): ${missed.map(r => r.id).join(', ')}`)
      return 1
    }
    return 0
  } finally {
    await cleanup()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

main().then(
  code => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(
      `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`
    )
    process.exitCode = 1
  }
)
