import type { Sshd } from '../../test/support/sshd.js'
import { runTimed, type TimedResult } from './proc.js'

/**
 * What users script instead of an SFTP action: rsync and tar over OpenSSH's ssh, with the same
 * client key and the same pinned known_hosts file (so both sides pay for a verified login).
 */
export interface SshTarget {
  sshd: Sshd
  port: number
  knownHosts: string
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

function sshCommand(t: SshTarget): string {
  return [
    'ssh',
    '-p',
    String(t.port),
    '-i',
    t.sshd.clientKey.path,
    '-F',
    '/dev/null',
    '-o',
    `UserKnownHostsFile=${t.knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes'
  ]
    .map(shq)
    .join(' ')
}

const login = (t: SshTarget): string => `${t.sshd.username}@127.0.0.1`

function bash(script: string, timeoutMs: number): Promise<TimedResult> {
  return runTimed('bash', ['-o', 'pipefail', '-c', script], { env: process.env, timeoutMs })
}

/** `rsync -a local/ host:remote/`: the deploy users write by hand. */
export function runRsyncPush(
  t: SshTarget,
  local: string,
  remote: string,
  timeoutMs: number
): Promise<TimedResult> {
  const script = `rsync -a -e ${shq(sshCommand(t))} ${shq(`${local}/`)} ${shq(`${login(t)}:${remote}/`)}`
  return bash(script, timeoutMs)
}

/** `ssh host tar c | tar x`: the pull users write by hand. */
export function runTarPull(
  t: SshTarget,
  remote: string,
  local: string,
  timeoutMs: number
): Promise<TimedResult> {
  const remoteTar = `tar -C ${shq(remote)} -cf - .`
  const script = `mkdir -p ${shq(local)} && ${sshCommand(t)} ${login(t)} ${shq(remoteTar)} | tar -C ${shq(local)} -xf -`
  return bash(script, timeoutMs)
}

/** `ssh A tar c | ssh B tar x`: server to server through the runner, by hand. */
export function runTarRelay(
  from: SshTarget,
  remote: string,
  to: SshTarget,
  dest: string,
  timeoutMs: number
): Promise<TimedResult> {
  const out = `tar -C ${shq(remote)} -cf - .`
  const into = `mkdir -p ${shq(dest)} && tar -C ${shq(dest)} -xf -`
  const script =
    `${sshCommand(from)} ${login(from)} ${shq(out)} | ` +
    `${sshCommand(to)} ${login(to)} ${shq(into)}`
  return bash(script, timeoutMs)
}
