import * as core from '@actions/core'
import type ssh2 from 'ssh2'
import { ConnectionError } from '../errors.js'
import { parseSha256sumOutput } from '../plans/sha256sum-output.js'
import {
  decideReadBack,
  describeFailure,
  readBackSha256,
  readsBack,
  shellQuote,
  type HashMethod
} from './remote-hash.js'
import type { SftpSession } from './session.js'

export interface HashRequest {
  path: string
  size: number
}

/** Server-side hashes by path; a path missing from `hashes` could not be hashed (treat as changed). */
export interface BatchHashes {
  hashes: Map<string, string>
  /** Files hashed by each method, for the log. */
  counts: Record<HashMethod, number>
}

/** Bounds one command: far below any server's ARG_MAX, and a failed batch costs little. */
const MAX_COMMAND_CHARS = 32 * 1024
const MAX_BATCH_FILES = 256
/** Files read back at once: each holds a handle and some requests on the shared budget. */
const READ_BACK_AT_ONCE = 4
const SLOT_TRIES = 30

type BatchOutcome =
  { hashes: Map<string, string> } | { unusable: string } | { noRoom: true } | { refused: true }

/**
 * SHA-256 of many server files for `sync: checksum`: `sha256sum` with many paths per command
 * where the server runs commands, otherwise (decided once per server) read back over SFTP.
 */
export async function hashRemoteFiles(
  session: SftpSession,
  files: HashRequest[]
): Promise<BatchHashes> {
  const result: BatchHashes = { hashes: new Map(), counts: { sha256sum: 0, 'read-back': 0 } }
  for (const batch of batches(files)) {
    if (!readsBack(session.server)) {
      const outcome = await execBatch(session, batch)
      if ('hashes' in outcome) {
        for (const [p, h] of outcome.hashes) result.hashes.set(p, h)
        result.counts.sha256sum += batch.length
        continue
      }
      if ('unusable' in outcome) decideReadBack(session.server, outcome.unusable)
    }
    await readBack(session, batch, result)
  }
  return result
}

function batches(files: HashRequest[]): HashRequest[][] {
  const out: HashRequest[][] = []
  let current: HashRequest[] = []
  let chars = 0
  for (const file of files) {
    const cost = shellQuote(file.path).length + 1
    if (current.length && (current.length >= MAX_BATCH_FILES || chars + cost > MAX_COMMAND_CHARS)) {
      out.push(current)
      current = []
      chars = 0
    }
    current.push(file)
    chars += cost
  }
  if (current.length) out.push(current)
  return out
}

async function readBack(session: SftpSession, batch: HashRequest[], result: BatchHashes) {
  const queue = [...batch]
  const worker = async (): Promise<void> => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      try {
        result.hashes.set(file.path, await readBackSha256(session, file.path, file.size))
      } catch (err) {
        if (err instanceof ConnectionError || session.dead) throw err
        // Unreadable or changed while read: unhashed, so it is sent again.
        core.debug(`could not read back ${file.path}: ${(err as Error).message}`)
      }
      result.counts['read-back']++
    }
  }
  await Promise.all(Array.from({ length: READ_BACK_AT_ONCE }, worker))
}

/** Takes an exec slot from the connection's budget (shared with SFTP channels), as remote-hash.ts. */
async function execBatch(
  session: SftpSession,
  batch: HashRequest[]
): Promise<Exclude<BatchOutcome, { refused: true }>> {
  const held = session.channels.length
  for (let attempt = 1; attempt <= SLOT_TRIES; attempt++) {
    if (!session.sessions.roomBeyond(held)) break
    await session.sessions.take()
    if (readsBack(session.server)) {
      session.sessions.cancel()
      return { noRoom: true }
    }
    const outcome = await runBatch(session, batch)
    if (!('refused' in outcome)) return outcome
    session.sessions.refused()
    await new Promise(resolve => setTimeout(resolve, Math.min(1000, 20 * attempt)))
  }
  return { noRoom: true }
}

function runBatch(session: SftpSession, batch: HashRequest[]): Promise<BatchOutcome> {
  const { client } = session.connection
  const paths = batch.map(f => f.path)
  const bytes = batch.reduce((s, f) => s + f.size, 0)
  const deadline = 30_000 + bytes / 20_000 // allow 20 MB/s for the server's disk and CPU
  // Room for every line with escaped names; more than that is not sha256sum's answer.
  const maxOut = paths.reduce((s, p) => s + 2 * p.length + 70, 4096)
  const command = `sha256sum -- ${paths.map(shellQuote).join(' ')}`
  return new Promise((resolve, reject) => {
    let stream: ssh2.ClientChannel | undefined
    let late = false
    const timer = setTimeout(() => {
      late = true
      stream?.close()
      core.debug(`sha256sum of ${batch.length} files did not finish in time; reading them back`)
      resolve({ noRoom: true })
    }, deadline)
    timer.unref()
    const settle = (outcome: BatchOutcome): void => {
      clearTimeout(timer)
      resolve(outcome)
    }
    try {
      client.exec(command, (err, channel) => {
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
          if (out.length < maxOut) out += d.toString('utf8')
        })
        channel.stderr.on('data', (d: Buffer) => {
          if (errText.length < 4096) errText += d.toString('utf8')
        })
        channel.on('close', (code: number | null) => {
          session.sessions.closed()
          const hashes = parseSha256sumOutput(out, paths)
          // Exit 1 with sha256sum's own complaints: it ran, some files could not be read.
          const ran = hashes.size > 0 || (code === 1 && /sha256sum: /.test(errText))
          if (ran) return settle({ hashes })
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
