/**
 * A test server process (dropbear, ProFTPD) started in the foreground: its output kept for the
 * test's messages, waited for until it serves SSH banners, killed at the end and, should a test
 * forget stop(), killed when the test process exits: OpenSSH's sshd (sshd.ts), dropbear, ProFTPD.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import { freeLoopbackPort, probeBanner } from './loopback.js'
import type { HostKey } from './sshd.js'

const START_TIMEOUT_MS = 15000
const STOP_TIMEOUT_MS = 5000
const START_ATTEMPTS = 5

/** What the tests need to know about a dropbear or ProFTPD server started for them. */
export interface SftpTestServer {
  kind: 'dropbear' | 'proftpd'
  /** e.g. 'Dropbear 2022.83', for the test names and messages. */
  version: string
  host: '127.0.0.1'
  port: number
  /** A throwaway user (test/support/throwaway-user.ts) the client key logs in as. */
  username: string
  uid: number
  gid: number
  /** The user's home, owned by the user: the place to upload to. */
  home: string
  hostKeys: HostKey[]
  clientKey: { privatePem: string; publicLine: string; path: string }
  /** Temp dir with the server's config, keys, pid file and log. */
  dir: string
  log(): string
  /** Kill the server, wait for it, remove the user, its home and dir. Safe to call twice. */
  stop(): Promise<void>
}

export interface Daemon {
  /** logFile's text when given, followed by what the process wrote to stdout and stderr. */
  log(): string
  hasExited(): boolean
  exitDescription(): string
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. Safe to call twice. */
  stop(): Promise<void>
}

const live = new Set<ChildProcess>()
let exitHookInstalled = false
function track(child: ChildProcess): void {
  live.add(child)
  child.once('exit', () => live.delete(child))
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const daemon of live) daemon.kill('SIGKILL')
  })
}

const delay = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

export function spawnDaemon(file: string, args: string[], logFile?: string): Daemon {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  track(child)
  const chunks: Buffer[] = []
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk))
  child.stderr?.on('data', (chunk: Buffer) => chunks.push(chunk))
  let done = false
  let description = 'running'
  const exited = new Promise<void>(resolve => {
    child.once('error', error => {
      done = true
      description = `spawn error: ${error.message}`
      resolve()
    })
    child.once('exit', (code, signal) => {
      done = true
      description = signal ? `killed by ${signal}` : `exit code ${code}`
      resolve()
    })
  })
  const log = (): string => {
    const output = Buffer.concat(chunks).toString('utf8')
    let text = ''
    try {
      if (logFile) text = fs.readFileSync(logFile, 'utf8')
    } catch {
      // not written yet
    }
    return output ? `${text}${text && !text.endsWith('\n') ? '\n' : ''}${output}` : text
  }
  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (done) return
      child.kill('SIGTERM')
      let timer: NodeJS.Timeout | undefined
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>(resolve => {
          timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS)
        })
      ])
      clearTimeout(timer)
      if (timedOut && !done) {
        child.kill('SIGKILL')
        await exited
      }
    })()
    return stopping
  }
  return { log, hasExited: () => done, exitDescription: () => description, stop }
}

/**
 * Resolves 'ready' once the port answers with an SSH-2.0- banner (and, given `listening`, the
 * daemon logged that line: the banner is then its own, not another server's that took the port),
 * 'port-in-use' when the daemon exited saying so (another process took the free port first);
 * throws on any other exit.
 */
export async function waitForBanner(
  daemon: Daemon,
  port: number,
  name: string,
  portInUse: RegExp,
  listening?: string
): Promise<'ready' | 'port-in-use'> {
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    if (daemon.hasExited()) {
      const log = daemon.log()
      if (portInUse.test(log)) return 'port-in-use'
      throw new Error(
        `${name} exited during startup (${daemon.exitDescription()}).\n--- ${name} log ---\n${log}`
      )
    }
    const listed = listening === undefined || daemon.log().includes(listening)
    if (listed && (await probeBanner(port))) return 'ready'
    if (Date.now() > deadline) {
      await daemon.stop()
      throw new Error(
        `${name} did not serve SSH on 127.0.0.1:${port} within ${START_TIMEOUT_MS}ms.\n--- ${name} log ---\n${daemon.log()}`
      )
    }
    await delay(50)
  }
}

/**
 * Starts a server on a free loopback port (`spawnAt` starts it on the port given), again on
 * another port when another process took the port first (`portInUse` matches its log then).
 */
export async function startOnFreePort(
  name: string,
  spawnAt: (port: number) => Daemon,
  portInUse: RegExp,
  listening?: (port: number) => string
): Promise<{ daemon: Daemon; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freeLoopbackPort()
    const daemon = spawnAt(port)
    try {
      const state = await waitForBanner(daemon, port, name, portInUse, listening?.(port))
      if (state === 'ready') return { daemon, port }
    } catch (error) {
      await daemon.stop()
      throw error
    }
    if (attempt >= START_ATTEMPTS) {
      throw new Error(`${name} harness: port collision on every attempt.\n${daemon.log()}`)
    }
  }
}
