/**
 * Runs a bundle of the action the way a GitHub runner does, for the tests, the demo and the
 * benchmark alike: a child `node` process with every input as an INPUT_* variable, and
 * GITHUB_WORKSPACE, RUNNER_TEMP, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY set; then the output and
 * summary files are read back.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { runCommand, type RunOptions, type RunResult } from './run.js'
import { decodeCommandData } from './runner-commands.js'
import { bundleEntry } from './test-bundle.mjs'

/** What a step leaves behind besides its process result. */
export interface StepFiles {
  outputs: Record<string, string>
  summary: string
  /** `::error::` lines, decoded. */
  errors: string[]
  durationMs: number
}

export type ActionRun = RunResult & StepFiles

/** Starts the bundle; runCommand() unless a caller measures the run in its own way (bench). */
export type Launch<R extends RunResult> = (
  file: string,
  args: string[],
  options: Required<Pick<RunOptions, 'env' | 'cwd' | 'timeoutMs'>>
) => Promise<R>

export interface ActionRunOptions<R extends RunResult = RunResult> {
  workspace: string
  timeoutMs?: number
  /** Added to the step's environment (PATH and HOME are passed on, nothing else). */
  env?: Record<string, string>
  /** The bundle to run: this test run's bundle of src/ (test-bundle.mjs) when omitted. */
  entry?: string
  /**
   * The folder for RUNNER_TEMP and the output and summary files; the caller removes it. Default:
   * a fresh folder that removeRunDirs() removes.
   */
  dir?: string
  launch?: Launch<R>
}

/**
 * Every default run folder lives under one folder per test file, removed after the file's tests
 * (test/support/cleanup.ts): tests read the manifest after the run, so not sooner.
 */
let runsRoot: string | undefined
function runDir(): string {
  runsRoot ??= mkdtempSync(path.join(tmpdir(), 'action-runs-'))
  return mkdtempSync(path.join(runsRoot, 'run-'))
}

export function removeRunDirs(): void {
  if (runsRoot) rmSync(runsRoot, { recursive: true, force: true })
  runsRoot = undefined
}

/** The name @actions/core's getInput() reads: spaces become '_', upper case, '-' stays. */
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`
}

export async function runAction<R extends RunResult = RunResult>(
  inputs: Record<string, string>,
  options: ActionRunOptions<R>
): Promise<R & StepFiles> {
  const entry = options.entry ?? bundleEntry()
  const dir = options.dir ?? runDir()
  const outputFile = path.join(dir, 'output')
  const summaryFile = path.join(dir, 'summary')
  writeFileSync(outputFile, '')
  writeFileSync(summaryFile, '')
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    GITHUB_WORKSPACE: options.workspace,
    RUNNER_TEMP: dir,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    ...options.env
  }
  for (const [name, value] of Object.entries(inputs)) env[inputVariable(name)] = value
  const launch = options.launch ?? (runCommand as Launch<R>)
  const started = Date.now()
  const result = await launch(process.execPath, [entry], {
    env,
    cwd: options.workspace,
    timeoutMs: options.timeoutMs ?? 120_000
  })
  return {
    ...result,
    outputs: parseOutputs(readFileSync(outputFile, 'utf8')),
    summary: readFileSync(summaryFile, 'utf8'),
    errors: result.stdout
      .split('\n')
      .filter(l => l.startsWith('::error'))
      .map(l => decodeCommandData(l.slice(l.indexOf('::', 2) + 2))),
    durationMs: Date.now() - started
  }
}

/** Parses the GITHUB_OUTPUT file format: `name<<DELIM\nvalue\nDELIM`. */
export function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i])
    if (!m) continue
    const value: string[] = []
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i])
    outputs[m[1]] = value.join('\n')
  }
  return outputs
}

/** How many files each of a run's rounds started with at once (its `Files at once` debug lines). */
export function filesAtOnceLogged(stdout: string): number[] {
  return [...stdout.matchAll(/::debug::Files at once: (\d+)/g)].map(m => Number(m[1]))
}
