import * as path from 'node:path'
import * as core from '@actions/core'
import { ActionError } from '../errors.js'
import { copyRange, Watermark, type ChunkWriter } from './chunks.js'
import { RemoteFileReader } from './remote-file.js'
import type { SftpSession } from './session.js'

/** How a server's copy was hashed, for the log and manifest. */
export type HashMethod = 'sha256sum' | 'read-back'

/** Sessions where an exec channel proved useless (SFTP-only, chrooted, no sha256sum). */
const noShell = new WeakSet<SftpSession>()

/**
 * SHA-256 of a remote file. OpenSSH has no checksum extension, so this runs `sha256sum` over an
 * exec channel where the server allows a shell, and otherwise reads the file back over SFTP, which
 * works on SFTP-only and chrooted servers at the cost of a second transfer.
 */
export async function remoteSha256(
  session: SftpSession,
  remotePath: string,
  size: number
): Promise<{ hash: string; method: HashMethod }> {
  if (!noShell.has(session)) {
    const hash = await execSha256(session, remotePath, size).catch(() => undefined)
    if (hash) return { hash, method: 'sha256sum' }
    noShell.add(session)
    core.info(
      'The server runs no sha256sum for us (no shell?); hashing by reading files back over SFTP.'
    )
  }
  return { hash: await readBackSha256(session, remotePath, size), method: 'read-back' }
}

/** Fails unless `digest` is what a sidecar checksum file says the content must hash to. */
export function checkAgainstSidecar(
  digest: string,
  expected: { hash: string; source: string } | undefined
): void {
  if (expected && expected.hash !== digest) {
    throw new ActionError(
      'Checksum mismatch',
      `content hashes to ${digest}, but ${expected.source} says ${expected.hash}`
    )
  }
}

/**
 * Fails unless the server's copy at `remotePath` hashes to `digest`, the hash of the bytes that
 * were `moved` (sent or received). Returns how the server's copy was hashed.
 */
export async function checkAgainstServer(
  session: SftpSession,
  remotePath: string,
  size: number,
  digest: string,
  moved: 'sent' | 'received'
): Promise<HashMethod> {
  const remote = await remoteSha256(session, remotePath, size)
  if (remote.hash !== digest) {
    throw new ActionError(
      'Checksum mismatch',
      `the server's copy hashes to ${remote.hash} (${remote.method}), the bytes ${moved} to ${digest}`
    )
  }
  return remote.method
}

/** Single quotes for a POSIX shell: nothing inside is interpreted. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`
}

function execSha256(session: SftpSession, remotePath: string, size: number): Promise<string> {
  const client = session.connection.client
  const deadline = 30_000 + size / 20_000 // allow 20 MB/s for the server's disk and CPU
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sha256sum took too long')), deadline)
    timer.unref()
    client.exec(`sha256sum -- ${shellQuote(remotePath)}`, (err, stream) => {
      if (err) {
        clearTimeout(timer)
        return reject(err)
      }
      let out = ''
      stream.on('data', (d: Buffer) => {
        if (out.length < 4096) out += d.toString('utf8')
      })
      stream.stderr.resume()
      stream.on('close', (code: number | null) => {
        clearTimeout(timer)
        const m = /^\\?([0-9a-f]{64})\s/.exec(out)
        if (code === 0 && m) resolve(m[1])
        else reject(new Error(`sha256sum exited ${code}`))
      })
      // A forced SFTP-only server starts internal-sftp instead; end its input so it exits.
      stream.end()
    })
  })
}

/** A writer that keeps nothing: the watermark hashes the bytes as they arrive in order. */
const discard: ChunkWriter = { chunkSize: Number.MAX_SAFE_INTEGER, lanes: 1, write: async () => {} }

async function readBackSha256(session: SftpSession, remotePath: string, size: number) {
  const reader = await RemoteFileReader.open(session.lanesFor(size, 0), remotePath)
  try {
    const hashed = new Watermark(0, true)
    await copyRange(reader, discard, size, hashed, () => undefined, session.budget)
    await reader.expectEnd(size)
    const digest = hashed.digest()
    if (!digest)
      throw new ActionError('Hash failed', `could not hash ${path.posix.basename(remotePath)}`)
    return digest
  } finally {
    await reader.close().catch(() => undefined)
  }
}
