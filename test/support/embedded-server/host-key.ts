import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import ssh2 from 'ssh2'
import { runChecked } from '../run.js'
import type { EmbeddedHostKey, EmbeddedHostKeyType } from './types.js'

const KEYGEN_ARGS: Record<EmbeddedHostKeyType, string[]> = {
  ed25519: ['-t', 'ed25519'],
  ecdsa: ['-t', 'ecdsa', '-b', '256', '-m', 'PEM'],
  rsa: ['-t', 'rsa', '-b', '3072', '-m', 'PEM']
}

export function sha256Fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/**
 * A host key that signs as itself but shows its own public key until `swapped`, then `publicLine`
 * (see presentKey and rekeySwap).
 */
export function swappableKey(
  privateKey: string,
  publicLine: string
): ssh2.ParsedKey & { swapped: boolean } {
  const parsed = ssh2.utils.parseKey(privateKey)
  if (parsed instanceof Error || Array.isArray(parsed)) throw new Error('embedded server: bad key')
  const own = parsed.getPublicSSH()
  const shown = Buffer.from(publicLine.trim().split(/\s+/)[1] ?? '', 'base64')
  return Object.assign(parsed, {
    swapped: false,
    getPublicSSH(this: { swapped: boolean }) {
      return this.swapped ? shown : own
    }
  })
}

export async function generateHostKey(
  dir: string,
  kind: EmbeddedHostKeyType
): Promise<{ privateKey: string; hostKey: EmbeddedHostKey }> {
  if (!(kind in KEYGEN_ARGS)) throw new Error(`embedded server: unknown host key type ${kind}`)
  const file = path.join(dir, `host_${kind}_key`)
  const keygen = fs.existsSync('/usr/bin/ssh-keygen') ? '/usr/bin/ssh-keygen' : 'ssh-keygen'
  await runChecked(keygen, [
    '-q',
    ...KEYGEN_ARGS[kind],
    '-N',
    '',
    '-C',
    `embedded-sftp-${kind}`,
    '-f',
    file
  ])
  const publicLine = fs.readFileSync(`${file}.pub`, 'utf8').trim()
  const [type, base64] = publicLine.split(/\s+/)
  if (!type || !base64) throw new Error(`embedded server: malformed ${file}.pub`)
  const blob = Buffer.from(base64, 'base64')
  return {
    privateKey: fs.readFileSync(file, 'utf8'),
    hostKey: { type, publicLine, blob, sha256: sha256Fingerprint(blob) }
  }
}

export function parsePublicKey(line: string): ssh2.ParsedKey {
  const parsed = ssh2.utils.parseKey(line)
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (key === undefined || key instanceof Error) {
    throw new Error(
      `embedded server: cannot parse authorizedKey: ${key instanceof Error ? key.message : 'empty'}`
    )
  }
  return key
}
