import { spawn, type ChildProcess } from 'node:child_process'

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Killed for running longer than timeoutMs. */
  timedOut: boolean
}

export interface RunOptions {
  /** Text written to the child's stdin (stdin is closed immediately when omitted). */
  input?: string
  cwd?: string
  /** The whole environment of the program (this process's when omitted). */
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
}

/** Programs runCommand() started that are still running. */
const running = new Set<ChildProcess>()

/** Kills every program runCommand() started that is still running (Ctrl-C, a failed demo). */
export function killRunningCommands(): void {
  for (const child of running) child.kill('SIGKILL')
}

/** Run a program without a shell and collect its output. Never rejects on a non-zero exit. */
export function runCommand(
  file: string,
  args: string[],
  options: RunOptions = {}
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['pipe', 'pipe', 'pipe']
    })
    running.add(child)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.input ?? '')
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, options.timeoutMs ?? 30000)
    child.on('error', error => {
      clearTimeout(timer)
      running.delete(child)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      running.delete(child)
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut
      })
    })
  })
}

/** Like runCommand, but rejects unless the program exits with status 0. */
export async function runChecked(
  file: string,
  args: string[],
  options: RunOptions = {}
): Promise<RunResult> {
  const result = await runCommand(file, args, options)
  if (result.code !== 0) {
    throw new Error(
      `${file} ${args.join(' ')} exited with ${result.code ?? result.signal}\n${result.stderr}${result.stdout}`
    )
  }
  return result
}

/** Poll until predicate() is true; rejects with `what` after timeoutMs. */
export async function waitFor(
  predicate: () => boolean,
  what: string,
  timeoutMs = 10000,
  intervalMs = 25
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}
