import fs from 'node:fs'
import path from 'node:path'
import { runAction } from '../../test/support/action.js'
import type { Sshd } from '../../test/support/sshd.js'
import { runTimed, type TimedResult } from './proc.js'

export interface ActionResult extends TimedResult {
  outputs: Record<string, string>
}

/**
 * Runs the committed bundle as a runner does, with runAction() from test/support/action.ts,
 * measured by runTimed() for wall time and peak RSS.
 */
export async function runActionTimed(
  distEntry: string,
  inputs: Record<string, string>,
  options: { workspace: string; scratch: string; timeoutMs: number }
): Promise<ActionResult> {
  const dir = fs.mkdtempSync(path.join(options.scratch, 'action-run-'))
  try {
    return await runAction(inputs, {
      entry: distEntry,
      workspace: options.workspace,
      dir,
      timeoutMs: options.timeoutMs,
      launch: runTimed
    })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** A known_hosts file pinning the sshd's host keys for each of `ports` on 127.0.0.1. */
export function writeKnownHosts(file: string, sshd: Sshd, ports: number[]): void {
  const lines = ports.flatMap(port =>
    sshd.hostKeys.map(key => {
      const [type, blob] = key.publicLine.split(/\s+/)
      return `[127.0.0.1]:${port} ${type} ${blob}`
    })
  )
  fs.writeFileSync(file, `${lines.join('\n')}\n`)
}

/** Quotes a path for an sftp batch file. */
function quote(p: string): string {
  if (/["\n]/.test(p)) throw new Error(`bench: path unusable in an sftp batch file: ${p}`)
  return `"${p}"`
}

export type SftpCommand =
  | { op: 'put'; local: string; remote: string; recursive?: boolean }
  | { op: 'get'; remote: string; local: string; recursive?: boolean }

/**
 * Runs OpenSSH's sftp client in batch mode against 127.0.0.1:port with the harness client key,
 * the pinned known_hosts file and no user or system configuration.
 */
export function runSftp(
  sshd: Sshd,
  port: number,
  knownHosts: string,
  commands: SftpCommand[],
  options: { scratch: string; timeoutMs: number; proxyCommand?: string }
): Promise<TimedResult> {
  const batch = path.join(options.scratch, `sftp-batch-${port}-${Date.now()}`)
  const lines = commands.map(c => {
    const flag = c.recursive ? ' -r' : ''
    return c.op === 'put'
      ? `put${flag} ${quote(c.local)} ${quote(c.remote)}`
      : `get${flag} ${quote(c.remote)} ${quote(c.local)}`
  })
  fs.writeFileSync(batch, `${lines.join('\n')}\n`)
  const args = [
    '-b',
    batch,
    '-P',
    String(port),
    '-i',
    sshd.clientKey.path,
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-F',
    '/dev/null',
    '-o',
    'IdentitiesOnly=yes',
    ...(options.proxyCommand ? ['-o', `ProxyCommand=${options.proxyCommand}`] : []),
    `${sshd.username}@127.0.0.1`
  ]
  return runTimed('sftp', args, { env: process.env, timeoutMs: options.timeoutMs }).finally(() =>
    fs.rmSync(batch, { force: true })
  )
}

/**
 * An OpenSSH ProxyCommand that reaches the target through the bastion at 127.0.0.1:`jumpPort`
 * (`ssh -W`, as `-J` does), with the same key, pins and no configuration. `-J` itself would not
 * hand the bastion hop the harness key.
 */
export function jumpProxyCommand(sshd: Sshd, jumpPort: number, knownHosts: string): string {
  for (const p of [sshd.clientKey.path, knownHosts]) {
    if (!/^[\w./-]+$/.test(p)) throw new Error(`bench: path unusable in a ProxyCommand: ${p}`)
  }
  return [
    'ssh -F /dev/null -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes',
    `-o UserKnownHostsFile=${knownHosts} -i ${sshd.clientKey.path} -p ${jumpPort}`,
    `-W %h:%p ${sshd.username}@127.0.0.1`
  ].join(' ')
}
