/**
 * Runs the committed bundle (dist/index.js) the way a GitHub runner does: a child `node` process
 * with every input as an INPUT_* variable, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files,
 * GITHUB_WORKSPACE and RUNNER_TEMP. Its stdout is read like a runner reads it: `::add-mask::`
 * values are masked as `***` and the command hidden, `::debug::` lines are hidden.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { parseOutputs } from '../test/support/action.js'

export interface ActionRun {
  /** Exit code (null when killed by a signal). */
  code: number | null
  signal: NodeJS.Signals | null
  /** The step log as a runner shows it: masked, without ::add-mask:: and ::debug:: lines. */
  log: string[]
  /** How many ::add-mask:: commands the action sent (each one a secret kept out of logs). */
  masks: number
  /** `::error::` lines as they appear in the log. */
  errorLines: string[]
  outputs: Record<string, string>
  /** The job summary (HTML) the step appended to GITHUB_STEP_SUMMARY. */
  summary: string
  durationMs: number
  timedOut: boolean
}

export interface RunOptions {
  /** The repository root: dist/index.js is run from there. */
  root: string
  workspace: string
  /** A fresh directory for this step's RUNNER_TEMP, output and summary files. */
  stepDir: string
  timeoutMs?: number
}

/** Action processes still running; killed by killRunningActions() (Ctrl-C, failure). */
const running = new Set<ChildProcess>()

export function killRunningActions(): void {
  for (const child of running) child.kill('SIGKILL')
}

/** The name @actions/core's getInput() reads: spaces become '_', upper case, '-' stays. */
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`
}

export function runAction(inputs: Record<string, string>, options: RunOptions): Promise<ActionRun> {
  const runnerTemp = path.join(options.stepDir, 'runner-temp')
  const outputFile = path.join(options.stepDir, 'github-output')
  const summaryFile = path.join(options.stepDir, 'step-summary.md')
  fs.mkdirSync(runnerTemp, { recursive: true })
  fs.writeFileSync(outputFile, '')
  fs.writeFileSync(summaryFile, '')
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: options.workspace,
    RUNNER_TEMP: runnerTemp,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile
  }
  for (const [name, value] of Object.entries(inputs)) env[inputVariable(name)] = value

  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(options.root, 'dist', 'index.js')], {
      cwd: options.workspace,
      env,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    running.add(child)
    let text = ''
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, options.timeoutMs ?? 120_000)
    child.once('error', error => {
      clearTimeout(timer)
      running.delete(child)
      reject(error)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      running.delete(child)
      const { log, masks, errorLines } = readLikeARunner(text)
      resolve({
        code,
        signal,
        log,
        masks,
        errorLines,
        outputs: parseOutputs(fs.readFileSync(outputFile, 'utf8')),
        summary: fs.readFileSync(summaryFile, 'utf8'),
        durationMs: Date.now() - started,
        timedOut
      })
    })
  })
}

/** Applies the workflow commands a runner acts on before it shows a line. */
function readLikeARunner(text: string): { log: string[]; masks: number; errorLines: string[] } {
  const secrets: string[] = []
  const log: string[] = []
  let masks = 0
  const mask = (line: string): string =>
    secrets.reduce((masked, secret) => masked.split(secret).join('***'), line)
  for (const raw of text.replace(/\r?\n$/, '').split(/\r?\n/)) {
    const addMask = /^::add-mask::(.*)$/.exec(raw)
    if (addMask) {
      masks++
      const value = decodeCommandData(addMask[1])
      if (value) secrets.push(value)
      secrets.sort((a, b) => b.length - a.length)
      continue
    }
    if (raw.startsWith('::debug::')) continue
    log.push(mask(raw))
  }
  return { log, masks, errorLines: log.filter(line => /^::error[\s:]/.test(line)) }
}

/** Undoes @actions/core's escaping of command data. */
export function decodeCommandData(text: string): string {
  return text.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%')
}
