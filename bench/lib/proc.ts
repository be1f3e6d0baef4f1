import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type { RunResult } from '../../test/support/run.js'

/** GNU time, for the peak RSS and CPU time of a process when installed (Debian package `time`). */
const GNU_TIME = '/usr/bin/time'

export interface TimedResult extends RunResult {
  /** Wall time from spawn to exit. */
  wallMs: number
  /** Peak resident set size in KiB (the process and the children it waited for), if measured. */
  maxRssKiB: number | undefined
  /** CPU time (user + system) of the process and the children it waited for, if measured. */
  cpuMs: number | undefined
  /** CPU time every core of the machine spent busy meanwhile (the server's share included). */
  machineBusyMs: number | undefined
}

export interface TimedOptions {
  env: NodeJS.ProcessEnv
  cwd?: string
  timeoutMs: number
  /** Text for stdin; stdin is closed at once either way. */
  input?: string
}

let gnuTime: boolean | undefined
/** True when /usr/bin/time is GNU time (it understands `-f '%M %U %S' -o FILE`). */
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

/** Busy CPU time of the whole machine so far (all cores), from /proc/stat; Linux only. */
function machineBusyMs(): number | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]
    // cpu  user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
    const [user, nice, system, , , irq, softirq, steal] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number)
    return ((user + nice + system + irq + softirq + (steal || 0)) * 1000) / CLOCK_TICKS
  } catch {
    return undefined
  }
}

/** USER_HZ: /proc/stat counts in 1/100 s on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100

/** `%M %U %S` as GNU time writes it; on failure it writes a status line first. */
function parseTimeOutput(text: string): { maxRssKiB?: number; cpuMs?: number } {
  const match = /^(\d+) (\d+\.\d+) (\d+\.\d+)$/.exec(text.trim().split('\n').pop() ?? '')
  if (!match) return {}
  return { maxRssKiB: Number(match[1]), cpuMs: (Number(match[2]) + Number(match[3])) * 1000 }
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
    ? [GNU_TIME, ['-o', rssFile, '-f', '%M %U %S', file, ...args]]
    : [file, args]
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const busyBefore = machineBusyMs()
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
      const busyAfter = machineBusyMs()
      if (group !== undefined) liveGroups.delete(group)
      clearTimeout(timer)
      clearInterval(poll)
      let measured: { maxRssKiB?: number; cpuMs?: number } = { maxRssKiB: polled }
      if (rssFile) {
        const text = fs.existsSync(rssFile) ? fs.readFileSync(rssFile, 'utf8') : ''
        fs.rmSync(rssFile, { force: true })
        measured = parseTimeOutput(text)
      }
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        wallMs,
        maxRssKiB: measured.maxRssKiB,
        cpuMs: measured.cpuMs,
        machineBusyMs:
          busyBefore !== undefined && busyAfter !== undefined ? busyAfter - busyBefore : undefined,
        timedOut
      })
    })
  })
}
