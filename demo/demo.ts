/**
 * `npm run demo`: a newcomer's first ten minutes with Pinned SFTP, on this machine only.
 *
 * Starts two throwaway SFTP servers on 127.0.0.1 (OpenSSH's sshd when it can run here, else an
 * embedded ssh2 server), writes a small sample tree into a temp workspace, and runs the committed
 * bundle dist/index.js exactly as a GitHub runner would (INPUT_* variables, GITHUB_OUTPUT,
 * GITHUB_STEP_SUMMARY, GITHUB_WORKSPACE, RUNNER_TEMP) four times:
 *
 *   1. upload the tree to server A          (pin: SHA256 fingerprint)
 *   2. download it back into the workspace  (pin: known_hosts line)
 *   3. relay it from server A to server B   (both pinned)
 *   4. upload with a wrong pin              (must fail, and no credential may reach the server)
 *
 * Each step's log, outputs and job summary are printed, and every tree is compared by sha256.
 * Exit status 0 only when all four behave. Servers and temp dirs are removed on the way out, on
 * failure and on Ctrl-C too.
 *
 * Environment: DEMO_SERVER=openssh|embedded|auto (default auto), DEMO_NO_SSHD=1 (auto acts as if
 * sshd were not installed), NO_COLOR. Nothing but 127.0.0.1 is ever contacted.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { runAction, type ActionRun } from '../test/support/action.js'
import { findProjectRoot } from '../test/support/project-root.js'
import { killRunningCommands } from '../test/support/run.js'
import { decodeCommandData, runnerLog, type RunnerLog } from '../test/support/runner-commands.js'
import {
  bold,
  columns,
  cyan,
  dim,
  fail,
  formatBytes,
  formatMs,
  green,
  indent,
  pass,
  red,
  say,
  section,
  yellow
} from './print.js'
import {
  chooseServer,
  DemoSetupError,
  knownHostsLine,
  startServers,
  type DemoServer
} from './servers.js'
import { summaryToText } from './summary-text.js'
import {
  compareTrees,
  hashTree,
  treeBytes,
  treeDigest,
  writeSampleTree,
  type Tree
} from './tree.js'

const OK_LINE = 'DEMO OK: upload, download and relay verified byte-identical'
const SECRET_INPUTS = /(^|-)(private-key|password|passphrase)$/
const STEP_TIMEOUT_MS = 120_000

interface Check {
  ok: boolean
  /** What was found, worded for the outcome (a FAIL line says what went wrong). */
  text: string
}

const check = (ok: boolean, passText: string, failText: string): Check => ({
  ok,
  text: ok ? passText : failText
})

/** The first failing check, for the one-line verdict (the Checks block lists them all). */
function firstProblem(checks: Check[]): string {
  const failing = checks.filter(c => !c.ok)
  const more = failing.length > 1 ? ` (+${failing.length - 1} more)` : ''
  return `${failing[0]?.text ?? 'failed'}${more}`
}

/** A step's run, and its log as a runner shows it (stdout, then stderr). */
type StepRun = ActionRun & { log: RunnerLog }

/** Runs the committed bundle dist/index.js as a runner does, in a fresh folder of runsDir. */
async function runStep(
  inputs: Record<string, string>,
  ctx: { root: string; workspace: string; runsDir: string },
  name: string
): Promise<StepRun> {
  const dir = path.join(ctx.runsDir, name)
  fs.mkdirSync(dir, { recursive: true })
  const run = await runAction(inputs, {
    entry: path.join(ctx.root, 'dist', 'index.js'),
    workspace: ctx.workspace,
    dir,
    timeoutMs: STEP_TIMEOUT_MS,
    env: { CI: 'true', GITHUB_ACTIONS: 'true' }
  })
  return { ...run, log: runnerLog(run.stdout + run.stderr) }
}

/** The first ::error:: message of a run, decoded, for failure texts. */
function errorMessage(run: StepRun): string {
  const line = run.log.errorLines[0]
  return line ? decodeCommandData(line.replace(/^::error[^:]*::/, '')) : ''
}

function exitText(run: StepRun): string {
  if (run.timedOut) return `killed after ${formatMs(STEP_TIMEOUT_MS)}`
  return `exit ${run.code ?? run.signal}`
}

interface StepResult {
  name: string
  ok: boolean
  skipped?: boolean
  verdict: string
  actionMs: number
  verifyMs: number
}

// ---------------------------------------------------------------------------------------------
// Cleanup: always, also on failure and Ctrl-C

const servers: DemoServer[] = []
let workDir: string | undefined
let cleaning: Promise<string> | undefined

function cleanup(): Promise<string> {
  cleaning ??= (async () => {
    killRunningCommands()
    const stopped = await Promise.allSettled(servers.map(s => withTimeout(s.stop(), 10_000)))
    const failed = stopped.filter(s => s.status === 'rejected').length
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true, maxRetries: 3 })
    const what = [
      `${servers.length - failed} server(s) stopped${failed ? `, ${failed} failed to stop` : ''}`,
      workDir ? `${workDir} removed` : ''
    ]
    return `Cleaned up: ${what.filter(Boolean).join(', ')}.`
  })()
  return cleaning
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}

function installSignalHandlers(): void {
  let interrupted = false
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    if (interrupted) {
      // A second Ctrl-C: no more waiting. The exit hook below still removes the temp dir.
      process.exit(code)
    }
    interrupted = true
    say()
    say(yellow(`Interrupted (${signal}): stopping servers and removing temp files ...`))
    void cleanup().then(
      message => {
        say(message)
        process.exit(code)
      },
      () => process.exit(code)
    )
  }
  process.on('SIGINT', () => onSignal('SIGINT', 130))
  process.on('SIGTERM', () => onSignal('SIGTERM', 143))
  process.on('SIGHUP', () => onSignal('SIGHUP', 129))
  // Last resort (process.exit() anywhere): test/support/sshd.ts kills its daemons on exit too.
  process.on('exit', () => {
    killRunningCommands()
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true })
  })
}

// ---------------------------------------------------------------------------------------------

function findRoot(): string {
  return findProjectRoot(path.dirname(fileURLToPath(import.meta.url)))
}

const short = (hex: string): string => `${hex.slice(0, 16)}…`

function describeServer(server: DemoServer): string[] {
  return columns([
    [`server ${server.name}`, `${server.host}:${server.port}`],
    ['  host key', `${server.hostKey.type} ${server.hostKey.sha256}`],
    ['  login', `${server.username}, with ${server.login.describe}`]
  ])
}

/** Login inputs for a server, with `target-` (relay destination) or no prefix. */
function loginInputs(server: DemoServer, prefix = ''): Record<string, string> {
  return { [`${prefix}${server.login.kind}`]: server.login.secret }
}

/** The inputs as the `with:` block of a workflow step, secrets shown as ***. */
function withBlock(inputs: Record<string, string>): string[] {
  const rows = Object.entries(inputs).map(([name, value]) => {
    if (SECRET_INPUTS.test(name)) {
      const lines = value.trim().split('\n').length
      return [`${name}:`, `*** ${dim(`(secret, ${lines} line${lines === 1 ? '' : 's'})`)}`]
    }
    return [`${name}:`, value]
  })
  return ['with:', ...columns(rows).map(line => `  ${line}`)]
}

/** Waits until a server has seen at least `count` connections and then stays quiet briefly. */
async function settle(server: DemoServer, count: number): Promise<void> {
  const deadline = Date.now() + 3000
  while (server.connections() < count && Date.now() < deadline) await sleep(25)
  await sleep(250)
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function printRun(run: StepRun): void {
  const status = run.timedOut ? red(exitText(run)) : exitText(run)
  say(`  ${cyan('$ node dist/index.js')}  ${dim(`(${status}, ${formatMs(run.durationMs)})`)}`)
  say()
  const masked =
    run.log.masks > 0
      ? `, ${run.log.masks} ::add-mask:: command${run.log.masks === 1 ? '' : 's'} applied as a runner does`
      : ''
  say(`  ${bold('Step log')} ${dim(`(stdout and stderr; ::group:: shown as ▸${masked})`)}`)
  say(indent(renderGroups(run.log.lines).join('\n'), '    │ '))
  say()
  say(`  ${bold('Outputs')} ${dim('($GITHUB_OUTPUT)')}`)
  const outputs = Object.entries(run.outputs)
  if (outputs.length === 0) say(`    ${dim('(none)')}`)
  for (const line of columns(outputs.map(([k, v]) => [k, v === '' ? dim("''") : v]))) {
    say(`    ${line}`)
  }
  say()
  say(`  ${bold('Job summary')} ${dim('($GITHUB_STEP_SUMMARY, as text)')}`)
  say(indent(summaryToText(run.summary), '    '))
}

/** ::group::NAME as '▸ NAME' with its lines indented, ::endgroup:: dropped; the rest as is. */
function renderGroups(log: string[]): string[] {
  let inGroup = false
  const out: string[] = []
  for (const line of log) {
    const group = /^::group::(.*)$/.exec(line)
    if (group) {
      inGroup = true
      out.push(`▸ ${bold(group[1])}`)
    } else if (line === '::endgroup::') inGroup = false
    else out.push(inGroup ? `  ${line}` : line)
  }
  return out
}

function printChecks(checks: Check[]): void {
  say()
  say(`  ${bold('Checks')}`)
  for (const check of checks) say(`    ${check.ok ? pass(check.text) : fail(check.text)}`)
}

function treeCheck(label: string, expected: Tree, actual: Tree): Check {
  const problems = compareTrees(expected, actual)
  const listed = problems.slice(0, 3).join('; ') + (problems.length > 3 ? '; …' : '')
  return check(
    problems.length === 0,
    `${label} equals site/: ${actual.size} files, same sha256 each (tree ${short(treeDigest(actual))})`,
    `${label} differs from site/ in ${problems.length} file(s): ${listed}`
  )
}

function outputsCheck(run: StepRun, expected: Tree): Check {
  const files = String(expected.size)
  const bytes = String(treeBytes(expected))
  const got = `files=${run.outputs.files ?? '(unset)'} bytes=${run.outputs.bytes ?? '(unset)'}`
  return check(
    run.outputs.files === files && run.outputs.bytes === bytes,
    `outputs ${got}: the sample tree's count and size`,
    `outputs ${got}, expected files=${files} bytes=${bytes}`
  )
}

// ---------------------------------------------------------------------------------------------

interface TransferStep {
  name: string
  title: string
  what: string
  pins: string[]
  inputs: Record<string, string>
  /** The directory that must end up equal to the sample tree. */
  resultDir: string
  /** Where the files landed, for the checks. */
  resultLabel: string
  /** The same, short, for the verdict line. */
  shortLabel: string
}

async function runTransferStep(
  index: number,
  step: TransferStep,
  ctx: { root: string; workspace: string; runsDir: string; site: Tree }
): Promise<StepResult> {
  section(`Step ${index}/4: ${step.title}`)
  say(`  ${step.what}`)
  for (const pin of step.pins) say(`  ${dim('pin:')} ${pin}`)
  say()
  for (const line of withBlock(step.inputs)) say(`  ${line}`)
  say(`  ${dim('(each input goes to the action as an INPUT_<NAME> environment variable)')}`)
  say()
  const run = await runStep(step.inputs, ctx, step.name)
  printRun(run)
  const verifyStarted = Date.now()
  const error = errorMessage(run)
  const checks: Check[] = [
    check(
      run.code === 0,
      'the step succeeded (exit 0)',
      `the step failed (${exitText(run)})${error ? `: ${error}` : ''}`
    ),
    outputsCheck(run, ctx.site),
    treeCheck(step.resultLabel, ctx.site, hashTree(step.resultDir))
  ]
  const verifyMs = Date.now() - verifyStarted
  printChecks(checks)
  const ok = checks.every(c => c.ok)
  const verdict = ok
    ? `${ctx.site.size} files (${formatBytes(treeBytes(ctx.site))}) byte-identical in ${step.shortLabel}`
    : firstProblem(checks)
  say()
  say(`  ${ok ? pass(`${step.name}: ${verdict}`) : fail(`${step.name}: ${verdict}`)}`)
  return { name: step.name, ok, verdict, actionMs: run.durationMs, verifyMs }
}

async function runWrongPinStep(
  a: DemoServer,
  b: DemoServer,
  ctx: { root: string; workspace: string; runsDir: string }
): Promise<StepResult> {
  section('Step 4/4: the safety feature: a wrong pin is refused before any credential is sent')
  say(`  Upload to server A again, but pin server B's host key: as if someone had put another`)
  say(`  server on A's address. The action must stop during the SSH key exchange, before it`)
  say(`  sends the user name, key or password.`)
  say(
    `  ${dim('pin:')} fingerprint = server ${b.name}'s SHA256 fingerprint (server A has another key)`
  )
  say()
  const target = a.remoteDir('impostor-check')
  const inputs = {
    direction: 'upload',
    host: a.host,
    port: String(a.port),
    username: a.username,
    ...loginInputs(a),
    fingerprint: b.hostKey.sha256,
    source: 'site/',
    target
  }
  for (const line of withBlock(inputs)) say(`  ${line}`)
  say()
  const authBefore = a.authAttempts()
  const connectionsBefore = a.connections()
  const run = await runStep(inputs, ctx, 'wrong-pin')
  printRun(run)
  await settle(a, connectionsBefore + 1)
  const verifyStarted = Date.now()
  const auth = a.authAttempts() - authBefore
  const connections = a.connections() - connectionsBefore
  const errorLine = run.log.errorLines[0]
  const message = errorMessage(run)
  say()
  say(
    `  ${bold('The ::error:: line')} ${dim('(a runner shows it as a red annotation on the step)')}`
  )
  // Shown after a marker: a line starting with `::` would itself become a workflow command if
  // this demo ran inside a GitHub job.
  say(`    > ${errorLine ? red(errorLine) : dim('(none)')}`)
  say()
  say(
    `  ${bold('Server A during this step')} ${dim(`(${a.kind === 'openssh' ? "counted in sshd's DEBUG1 log" : 'counted by the embedded server'})`)}`
  )
  say(`    TCP connections:          ${connections}`)
  say(`    authentication requests:  ${auth}`)
  const checks: Check[] = [
    check(
      run.code !== 0 && !run.timedOut,
      `the step failed (${exitText(run)}), as it must`,
      run.timedOut
        ? `the step hung (${exitText(run)}) instead of failing fast`
        : 'the step SUCCEEDED although the pin was wrong'
    ),
    check(
      /host key/i.test(message) && /no credential was sent/i.test(message),
      'its ::error:: line names the host key mismatch and says no credential was sent',
      errorLine
        ? `its ::error:: line is not about the host key: ${message}`
        : 'the step printed no ::error:: line'
    ),
    check(
      connections > 0,
      `server A was reached: ${connections} TCP connection(s) during this step`,
      'server A saw no connection during this step, so nothing was proven'
    ),
    check(
      auth === 0,
      'server A received 0 authentication requests: no user name, key or password was sent',
      `server A received ${auth} authentication request(s) despite the wrong pin`
    ),
    check(
      !fs.existsSync(a.diskDir('impostor-check')),
      `nothing was written: ${target} does not exist on server A`,
      `${target} was created on server A despite the wrong pin`
    )
  ]
  const verifyMs = Date.now() - verifyStarted
  printChecks(checks)
  const ok = checks.every(c => c.ok)
  const verdict = ok
    ? 'refused during the key exchange, 0 authentication requests reached server A'
    : firstProblem(checks)
  say()
  say(`  ${ok ? pass(`wrong pin: ${verdict}`) : fail(`wrong pin: ${verdict}`)}`)
  return { name: 'wrong pin', ok, verdict, actionMs: run.durationMs, verifyMs }
}

// ---------------------------------------------------------------------------------------------

async function demo(): Promise<{ results: StepResult[]; timings: [string, number][] }> {
  const started = Date.now()
  const timings: [string, number][] = []
  const buildMs = Number(process.env.DEMO_BUILD_MS)
  if (Number.isFinite(buildMs) && buildMs > 0) timings.push(['compile (tsc)', buildMs])
  const root = findRoot()
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
    throw new DemoSetupError(
      `${path.join(root, 'dist', 'index.js')} is missing: the demo runs the committed bundle ` +
        '(git checkout dist/, or build it with `npm run bundle`)'
    )
  }

  say(bold('Pinned SFTP: demo'))
  say('Runs the committed bundle dist/index.js the way a GitHub runner does, against two')
  say('throwaway SFTP servers on 127.0.0.1. Nothing else on this machine or network is touched.')

  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinned-sftp-demo-'))
  // The test helpers make their scratch dirs in os.tmpdir(): keep those inside workDir as well.
  const scratch = path.join(workDir, 'tmp')
  fs.mkdirSync(scratch)
  process.env.TMPDIR = scratch

  section('Servers')
  let t = Date.now()
  const choice = chooseServer()
  const label = (kind: string): string =>
    kind === 'openssh' ? 'OpenSSH sshd' : 'embedded ssh2 SFTP server (test/support)'
  say(`  Using ${bold(label(choice.kind))}: ${choice.why}.`)
  say(`  ${dim('(DEMO_SERVER=openssh|embedded forces one)')}`)
  const started2 = await startServers(choice, workDir, server => servers.push(server))
  for (const note of started2.notes) say(`  ${yellow('note:')} ${note}`)
  if (started2.kind !== choice.kind) say(`  Using ${bold(label(started2.kind))} after all.`)
  const [a, b] = started2.servers
  say()
  for (const server of [a, b]) describeServer(server).forEach(line => say(`  ${line}`))
  timings.push(['start servers', Date.now() - t])

  section('Sample tree')
  t = Date.now()
  const workspace = path.join(workDir, 'workspace')
  const siteDir = path.join(workspace, 'site')
  const runsDir = path.join(workDir, 'runner')
  const files = writeSampleTree(siteDir)
  const site = hashTree(siteDir)
  say(`  GITHUB_WORKSPACE = ${workspace}`)
  say()
  say('  site/')
  const rows = files
    .sort((x, y) => x.path.localeCompare(y.path))
    .map(f => [`    ${f.path}`, formatBytes(f.size), dim(short(site.get(f.path)?.sha256 ?? ''))])
  columns(rows).forEach(line => say(line))
  say()
  say(
    `  ${site.size} files, ${formatBytes(treeBytes(site))}; tree sha256 ${short(treeDigest(site))}`
  )
  timings.push(['sample tree', Date.now() - t])

  const ctx = { root, workspace, runsDir, site }
  const www = a.remoteDir('www')
  const mirror = b.remoteDir('mirror')
  const results: StepResult[] = []

  const upload = await runTransferStep(
    1,
    {
      name: 'upload',
      title: 'upload site/ to server A',
      what: 'The usual deploy: the contents of site/ into a directory on the server.',
      pins: [`fingerprint = server A's SHA256 fingerprint, as \`ssh-keygen -lf\` prints it`],
      inputs: {
        direction: 'upload',
        host: a.host,
        port: String(a.port),
        username: a.username,
        ...loginInputs(a),
        fingerprint: a.hostKey.sha256,
        source: 'site/',
        target: www
      },
      resultDir: a.diskDir('www'),
      resultLabel: `server A's ${www}`,
      shortLabel: 'server A'
    },
    ctx
  )
  results.push(upload)

  const dependent = [
    {
      name: 'download',
      title: 'download it back from server A',
      what: 'Fetch the uploaded directory into a fresh local directory of the workspace.',
      pins: [
        `fingerprint = a known_hosts line for server A, as \`ssh-keyscan -p ${a.port}\` prints it`
      ],
      inputs: {
        direction: 'download',
        host: a.host,
        port: String(a.port),
        username: a.username,
        ...loginInputs(a),
        fingerprint: knownHostsLine(a),
        source: www,
        target: 'downloaded'
      },
      resultDir: path.join(workspace, 'downloaded'),
      resultLabel: `the workspace's downloaded/`,
      shortLabel: 'downloaded/'
    },
    {
      name: 'relay',
      title: 'relay it from server A to server B',
      what: 'Server to server, streamed through the runner: nothing is stored on the runner.',
      pins: [
        `fingerprint = server A's SHA256 fingerprint`,
        `target-fingerprint = a known_hosts line for server B (a relay needs both pins)`
      ],
      inputs: {
        direction: 'relay',
        host: a.host,
        port: String(a.port),
        username: a.username,
        ...loginInputs(a),
        fingerprint: a.hostKey.sha256,
        source: www,
        target: mirror,
        'target-host': b.host,
        'target-port': String(b.port),
        'target-username': b.username,
        ...loginInputs(b, 'target-'),
        'target-fingerprint': knownHostsLine(b)
      },
      resultDir: b.diskDir('mirror'),
      resultLabel: `server B's ${mirror}`,
      shortLabel: 'server B'
    }
  ]
  for (const [i, step] of dependent.entries()) {
    if (!upload.ok) {
      const verdict = 'skipped: the upload it builds on failed'
      section(`Step ${i + 2}/4: ${step.title}`)
      say(`  ${yellow('SKIP')} ${verdict}`)
      results.push({ name: step.name, ok: false, skipped: true, verdict, actionMs: 0, verifyMs: 0 })
      continue
    }
    results.push(await runTransferStep(i + 2, step, ctx))
  }
  results.push(await runWrongPinStep(a, b, ctx))

  const actionMs = results.reduce((sum, r) => sum + r.actionMs, 0)
  const verifyMs = results.reduce((sum, r) => sum + r.verifyMs, 0)
  timings.push(['4 action runs', actionMs], ['verification', verifyMs])
  timings.push(['demo total (after compiling)', Date.now() - started])
  return { results, timings }
}

async function main(): Promise<number> {
  installSignalHandlers()
  let outcome: Awaited<ReturnType<typeof demo>> | undefined
  let crash: unknown
  try {
    outcome = await demo()
  } catch (error) {
    crash = error
  }
  const cleaned = await cleanup()

  section('Result')
  if (outcome) {
    const { results, timings } = outcome
    const rows = results.map(r => [
      r.ok ? pass(r.name) : r.skipped ? `${yellow('SKIP')} ${r.name}` : fail(r.name),
      r.verdict,
      r.actionMs ? formatMs(r.actionMs) : ''
    ])
    columns(rows).forEach(line => say(`  ${line}`))
    say()
    say(`  ${dim('timings:')} ${timings.map(([k, ms]) => `${k} ${formatMs(ms)}`).join(', ')}`)
  }
  say(`  ${dim(cleaned)}`)
  say()
  if (crash !== undefined) {
    say(red(`DEMO FAILED: ${crash instanceof Error ? crash.message : String(crash)}`))
    const stack =
      crash instanceof Error && !(crash instanceof DemoSetupError)
        ? crash.stack?.split('\n').slice(1).join('\n')
        : ''
    if (stack) say(dim(stack))
    return 1
  }
  const failed = outcome?.results.filter(r => !r.ok) ?? []
  if (failed.length > 0) {
    const what = failed.map(r => `${r.name} ${r.skipped ? 'skipped' : 'failed'}`).join(', ')
    say(red(`DEMO FAILED: ${what} (see the FAIL lines above)`))
    return 1
  }
  say(green(OK_LINE))
  return 0
}

process.exitCode = await main()
// Everything is stopped by now; should some handle still hold the event loop, do not hang.
setTimeout(() => process.exit(), 2000).unref()
