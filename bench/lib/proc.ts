import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'

/** GNU time, used for the peak RSS of a process when installed (Debian package `time`). */
const GNU_TIME = '/usr/bin/time'

export interface TimedResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Wall time from spawn to exit. */
  wallMs: number
  /** Peak resident set size in KiB (the process and the children it waited for), if measured. */
  maxRssKiB: number | undefined
  timedOut: boolean
}

export interface TimedOptions {
  env: NodeJS.ProcessEnv
  cwd?: string
  timeoutMs: number
  /** Text for stdin; stdin is closed at once either way. */
  input?: string
}

let gnuTime: boolean | undefined
/** True when /usr/bin/time is GNU time (it understands `-f %M -o FILE`). */
export function hasGnuTime(): boolean {
  if (gnuTime === undefined) {
    try {
      fs.accessSync(GNU_TIME, fs.constants.X_OK)
      gnuTime = true
    } catch {
      gnuTime = false
    }
  }
  return gnuTime
}

export function rssMethod(): string {
  return hasGnuTime() ? `${GNU_TIME} -f %M` : '/proc/PID/status VmHWM (polled)'
}

/** Process groups of programs still running. */
const liveGroups = new Set<number>()

function killGroup(group: number): void {
  try {
    process.kill(-group, 'SIGKILL')
  } catch {
    // already gone
  }
}

/** Kills every program runTimed() started that is still running. */
export function killAllTimed(): void {
  for (const group of liveGroups) killGroup(group)
  liveGroups.clear()
}

function readVmHwm(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = /^VmHWM:\s+(\d+) kB/m.exec(status)
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}

/**
 * Runs a program without a shell and measures its wall time and peak RSS: under GNU time when
 * present, else by polling /proc/PID/status (VmHWM only grows, so a late read loses little).
 */
export function runTimed(
  file: string,
  args: string[],
  options: TimedOptions
): Promise<TimedResult> {
  const rssFile = hasGnuTime()
    ? path.join(os.tmpdir(), `bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`)
    : undefined
  const [command, commandArgs] = rssFile
    ? [GNU_TIME, ['-o', rssFile, '-f', '%M', file, ...args]]
    : [file, args]
  return new Promise((resolve, reject) => {
    const started = performance.now()
    // Own process group, so a timeout or an interrupted bench kills the program under GNU time too.
    const child = spawn(command, commandArgs, {
      env: options.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true
    })
    const group = child.pid
    if (group !== undefined) liveGroups.add(group)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.input ?? '')
    let polled: number | undefined
    const poll =
      rssFile === undefined && child.pid !== undefined
        ? setInterval(() => {
            const value = readVmHwm(child.pid as number)
            if (value !== undefined) polled = Math.max(polled ?? 0, value)
          }, 20)
        : undefined
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      if (group !== undefined) killGroup(group)
    }, options.timeoutMs)
    child.on('error', error => {
      if (group !== undefined) liveGroups.delete(group)
      clearTimeout(timer)
      clearInterval(poll)
      reject(error)
    })
    child.on('close', (code, signal) => {
      const wallMs = performance.now() - started
      if (group !== undefined) liveGroups.delete(group)
      clearTimeout(timer)
      clearInterval(poll)
      let maxRssKiB = polled
      if (rssFile) {
        const text = fs.existsSync(rssFile) ? fs.readFileSync(rssFile, 'utf8') : ''
        fs.rmSync(rssFile, { force: true })
        // GNU time writes "Command exited with non-zero status N" before the value on failure.
        const value = text.trim().split('\n').pop()
        if (value && /^\d+$/.test(value)) maxRssKiB = Number(value)
      }
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        wallMs,
        maxRssKiB,
        timedOut
      })
    })
  })
}
