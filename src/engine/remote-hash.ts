import * as path from 'node:path'
import * as core from '@actions/core'
import type ssh2 from 'ssh2'
import { ActionError, ConnectionError } from '../errors.js'
import { printableName } from '../plans/safe-names.js'
import { copyRange, Watermark, type ChunkWriter } from './chunks.js'
import { RemoteFileReader } from './remote-file.js'
import type { SftpSession } from './session.js'

/** How a server's copy was hashed, for the log and manifest. */
export type HashMethod = 'sha256sum' | 'read-back'

/**
 * Servers (see SftpSession.server) where `sha256sum` proved unusable, with the reason: decided
 * once per server, from a command that really ran (or was refused), never from a channel the
 * server refused for want of room.
 */
const readBackServers = new Map<string, string>()

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
  if (!readBackServers.has(session.server)) {
    const outcome = await execSha256(session, remotePath, size)
    if ('hash' in outcome) return { hash: outcome.hash, method: 'sha256sum' }
    if ('unusable' in outcome) decideReadBack(session.server, outcome.unusable)
  }
  return { hash: await readBackSha256(session, remotePath, size), method: 'read-back' }
}

/** Whether `sha256sum` already proved unusable on this server (files are then read back). */
export function readsBack(server: string): boolean {
  return readBackServers.has(server)
}

/** Records, and logs once per server, that its files are hashed by reading them back. */
export function decideReadBack(server: string, reason: string): void {
  if (readBackServers.has(server)) return
  readBackServers.set(server, reason)
  core.info(`${server}: ${reason}; hashing by reading files back over SFTP.`)
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

/** What one try at `sha256sum` gave. */
type ExecOutcome =
  | { hash: string }
  | { unusable: string }
  /** No session slot beside the SFTP channels on this connection (or no answer): read back. */
  | { noRoom: true }
  /** The server refused the channel: too many open for now. */
  | { refused: true }

/** Tries for a free session slot before this file is read back instead. */
const SLOT_TRIES = 30

/**
 * Runs `sha256sum` on an exec channel taken from the connection's session budget, which the
 * SFTP channels share: a refused channel means the server's MaxSessions is reached, so it waits
 * for a slot and tries again.
 */
async function execSha256(
  session: SftpSession,
  remotePath: string,
  size: number
): Promise<Exclude<ExecOutcome, { refused: true }>> {
  const held = session.channels.length
  for (let attempt = 1; attempt <= SLOT_TRIES; attempt++) {
    if (!session.sessions.roomBeyond(held)) break
    await session.sessions.take()
    if (readBackServers.has(session.server)) {
      session.sessions.cancel()
      return { unusable: readBackServers.get(session.server) as string }
    }
    const outcome = await runSha256(session, remotePath, size)
    if (!('refused' in outcome)) return outcome
    session.sessions.refused()
    await new Promise(resolve => setTimeout(resolve, Math.min(1000, 20 * attempt)))
  }
  return { noRoom: true }
}

function runSha256(session: SftpSession, remotePath: string, size: number): Promise<ExecOutcome> {
  const { client } = session.connection
  const deadline = 30_000 + size / 20_000 // allow 20 MB/s for the server's disk and CPU
  return new Promise((resolve, reject) => {
    let stream: ssh2.ClientChannel | undefined
    let late = false
    // A slow answer says little about the server (a login script may be slow under load): that
    // file is read back, and the server keeps its sha256sum.
    const timer = setTimeout(() => {
      late = true
      stream?.close()
      core.debug(`sha256sum of ${remotePath} did not finish in time; reading it back instead`)
      resolve({ noRoom: true })
    }, deadline)
    timer.unref()
    const settle = (outcome: ExecOutcome): void => {
      clearTimeout(timer)
      resolve(outcome)
    }
    try {
      client.exec(`sha256sum -- ${shellQuote(remotePath)}`, (err, channel) => {
        const refusedOpen = typeof (err as { reason?: unknown } | undefined)?.reason === 'number'
        // An answer after the deadline: the caller has moved on, but the slot it reserved must be
        // given back (or the channel closed), or every later hash waits for it.
        if (late) {
          if (!err) {
            session.sessions.opened()
            channel.on('close', () => session.sessions.closed())
            channel.close()
          } else if (refusedOpen) session.sessions.refused()
          else session.sessions.cancel()
          return
        }
        if (err) {
          clearTimeout(timer)
          if (session.dead) {
            session.sessions.cancel()
            return reject(err)
          }
          // A channel open failure carries the server's reason code; a refused command does not.
          if (refusedOpen) return resolve({ refused: true })
          // ssh2 1.17 leaves a channel whose exec request failed open on the server. Read back
          // from now on, before the slot is handed on, so no hash waiting for a slot opens yet
          // another channel (mod_sftp drops the connection past its channel limit).
          const reason = `the server runs no commands for us (${err.message})`
          decideReadBack(session.server, reason)
          session.sessions.opened()
          session.sessions.closed()
          return settle({ unusable: reason })
        }
        stream = channel
        session.sessions.opened()
        let out = ''
        let errText = ''
        channel.on('data', (d: Buffer) => {
          if (out.length < 4096) out += d.toString('utf8')
        })
        channel.stderr.on('data', (d: Buffer) => {
          if (errText.length < 1024) errText += d.toString('utf8')
        })
        channel.on('close', (code: number | null) => {
          session.sessions.closed()
          const m = /^\\?([0-9a-f]{64})\s/.exec(out)
          if (code === 0 && m) return settle({ hash: m[1] })
          if (session.dead) {
            clearTimeout(timer)
            return reject(new ConnectionError('The connection was lost during sha256sum.', true))
          }
          settle({ unusable: describeFailure(code, errText) })
        })
        // A forced SFTP-only server starts internal-sftp instead; end its input so it exits.
        channel.end()
      })
    } catch (err) {
      clearTimeout(timer)
      reject(err)
    }
  })
}

export function describeFailure(code: number | null, stderr: string): string {
  if (code === 127 || /not found/i.test(stderr)) return 'the server has no sha256sum'
  if (code === 0) return 'the server ran something other than sha256sum (an SFTP-only account?)'
  const said = stderr.split('\n')[0]?.trim()
  return `sha256sum failed (exit ${code}${said ? `: ${printableName(said)}` : ''})`
}

/** A writer that keeps nothing: the watermark hashes the bytes as they arrive in order. */
const discard: ChunkWriter = { chunkSize: Number.MAX_SAFE_INTEGER, lanes: 1, write: async () => {} }

export async function readBackSha256(session: SftpSession, remotePath: string, size: number) {
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
