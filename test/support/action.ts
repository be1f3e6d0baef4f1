import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { spawn } from 'node:child_process'
import { bundleEntry } from './test-bundle.mjs'

export interface ActionRun {
  code: number | null
  stdout: string
  stderr: string
  outputs: Record<string, string>
  summary: string
  /** `::error::` lines, decoded. */
  errors: string[]
  durationMs: number
}

/**
 * Every run's RUNNER_TEMP (outputs, summary, manifest) lives under one folder per test file,
 * removed after the file's tests (test/support/cleanup.ts): tests read the manifest after the
 * run, so not sooner.
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

/**
 * Runs this test run's bundle of src/ (test/support/test-bundle.mjs) exactly as a runner runs dist/:
 * inputs as INPUT_* variables.
 */
export function runAction(
  inputs: Record<string, string>,
  options: { workspace: string; timeoutMs?: number; env?: Record<string, string> }
): Promise<ActionRun> {
  const entry = bundleEntry()
  const dir = runDir()
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
  for (const [name, value] of Object.entries(inputs)) {
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
  }
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry], { env, cwd: options.workspace })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
    child.on('error', reject)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({
        code,
        stdout,
        stderr,
        outputs: parseOutputs(readFileSync(outputFile, 'utf8')),
        summary: readFileSync(summaryFile, 'utf8'),
        errors: stdout
          .split('\n')
          .filter(l => l.startsWith('::error'))
          .map(l => decodeCommand(l.slice(l.indexOf('::', 2) + 2))),
        durationMs: Date.now() - started
      })
    })
  })
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

function decodeCommand(text: string): string {
  return text.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%')
}
