import * as path from 'node:path'
import * as core from '@actions/core'
import { ActionError } from '../errors.js'
import { forLog } from '../escape.js'
import { printableName } from '../plans/safe-names.js'
import { parseSha256sumOutput } from '../plans/sha256sum-output.js'
import { copyRange, Watermark, type ChunkWriter } from './chunks.js'
import { execOnBudget, shellQuote, type ExecOutcome, type ExecRequest } from './remote-exec.js'
import { RemoteFileReader } from './remote-reader.js'
import { remoteSoftware, type SftpSession } from './session.js'

/** How a server's copy was hashed, for the log and manifest. */
export type HashMethod = 'sha256sum' | 'read-back'

/**
 * Servers (see SftpSession.server) where `sha256sum` proved unusable, with the reason: decided
 * once per server, from a command that really ran (or was refused), never from a channel the
 * server refused for want of room.
 */
const readBackServers = new Map<string, string>()

/** Servers where sha256sum ran for us: a refused command there is a passing refusal. */
const ranOn = new Set<string>()

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
  if (!readsBack(session)) {
    const outcome = await queuedSha256(session, { path: remotePath, size })
    if ('hash' in outcome) return { hash: outcome.hash, method: 'sha256sum' }
    if ('unusable' in outcome) decideReadBack(session.server, outcome.unusable)
    else if ('missing' in outcome)
      core.debug(`sha256sum could not hash ${printableName(remotePath)}; reading it back`)
    else core.debug(`no room for sha256sum of ${printableName(remotePath)}; reading it back`)
  }
  return { hash: await readBackSha256(session, remotePath, size), method: 'read-back' }
}

/**
 * dropbear (2022.83) aborts the whole connection now and then when a command runs beside busy
 * SFTP channels (its failed assertion `!channel->sent_close`): after every reconnect the next
 * hashes could drop it again until the retries run out. Its files are read back instead.
 */
const COMMANDS_ABORT = /^dropbear/i

/** Whether files on this session's server are hashed by reading them back over SFTP. */
export function readsBack(session: SftpSession): boolean {
  if (readBackServers.has(session.server)) return true
  if (!COMMANDS_ABORT.test(remoteSoftware(session.connection.client) ?? '')) return false
  decideReadBack(
    session.server,
    'dropbear can drop the connection when commands run beside file transfers'
  )
  return true
}

/** Records, and logs once per server, that its files are hashed by reading them back. */
export function decideReadBack(server: string, reason: string): void {
  if (readBackServers.has(server)) return
  readBackServers.set(server, reason)
  core.info(`${forLog(server)}: ${forLog(reason)}; hashing by reading files back over SFTP.`)
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

/** A server file to hash, and its size (for the deadline). */
export interface HashRequest {
  path: string
  size: number
}

/**
 * Bounds one command, in bytes: below dropbear's MAX_CMD_LEN (9000; a longer command is refused
 * as "Unable to exec"), far below any server's ARG_MAX, and a failed batch costs little.
 */
const MAX_COMMAND_CHARS = 8000
const MAX_BATCH_FILES = 256

/** Takes from the front of `queue` as many files as one sha256sum command line may name. */
function takeBatch<F>(queue: F[], pathOf: (item: F) => string): F[] {
  let chars = 0
  let count = 0
  while (count < queue.length && count < MAX_BATCH_FILES) {
    const cost = Buffer.byteLength(shellQuote(pathOf(queue[count]))) + 1
    if (count > 0 && chars + cost > MAX_COMMAND_CHARS) break
    chars += cost
    count++
  }
  return queue.splice(0, count)
}

/** Splits `files` into runs of sha256sum that each fit one command line. */
export function hashBatches<F extends HashRequest>(files: F[]): F[][] {
  const queue = [...files]
  const out: F[][] = []
  while (queue.length) out.push(takeBatch(queue, f => f.path))
  return out
}

/**
 * One `sha256sum` for every file of `batch` (see hashBatches). A path missing from the hashes
 * could not be hashed by the server (it said why on stderr) or was not answered for unambiguously.
 */
export async function sha256sumOnServer(
  session: SftpSession,
  batch: HashRequest[]
): Promise<ExecOutcome<Map<string, string>>> {
  return (await execOnBudget(session, () => sha256sumRequest(session, batch))) ?? { noRoom: true }
}

function sha256sumRequest(
  session: SftpSession,
  batch: HashRequest[]
): ExecRequest<Map<string, string>> {
  const paths = batch.map(f => f.path)
  const bytes = batch.reduce((s, f) => s + f.size, 0)
  return {
    command: `sha256sum -- ${paths.map(shellQuote).join(' ')}`,
    deadlineMs: 30_000 + bytes / 20_000, // allow 20 MB/s for the server's disk and CPU
    // Room for every line with escaped names; more than that is not sha256sum's answer.
    maxOut: paths.reduce((s, p) => s + 2 * p.length + 70, 4096),
    maxErr: 4096,
    program: 'sha256sum',
    what:
      batch.length === 1
        ? `sha256sum of ${printableName(batch[0].path)}`
        : `sha256sum of ${batch.length} files`,
    answer: (code, out, errText) => {
      const hashes = parseSha256sumOutput(out, paths)
      // Exit 1 with sha256sum's own complaints: it ran, some files could not be read.
      const ran = hashes.size > 0 || (code === 1 && /sha256sum: /.test(errText))
      if (!ran) return undefined
      ranOn.add(session.server)
      return hashes
    },
    failure: describeFailure,
    noCommands: reason => {
      if (ranOn.has(session.server)) return false
      decideReadBack(session.server, reason)
      return true
    },
    wanted: () => !readsBack(session)
  }
}

/** What became of one file's hash in a shared sha256sum. */
type QueuedOutcome = { hash: string } | { missing: true } | { unusable: string } | { noRoom: true }

interface Waiting {
  file: HashRequest
  settle: (outcome: QueuedOutcome) => void
  fail: (err: unknown) => void
}

/** Files of one connection waiting for the server's sha256sum. */
const waitingFor = new WeakMap<SftpSession, Waiting[]>()

/**
 * The server's sha256sum of one file, in a command shared with every other file waiting on this
 * connection when an exec slot comes free: one command (and one login shell on the server) for
 * many files, not one per file.
 */
function queuedSha256(session: SftpSession, file: HashRequest): Promise<QueuedOutcome> {
  let queue = waitingFor.get(session)
  if (!queue) waitingFor.set(session, (queue = []))
  const waiting = queue
  const hashed = new Promise<QueuedOutcome>((settle, fail) => waiting.push({ file, settle, fail }))
  let batch: Waiting[] = []
  const prepare = () => {
    batch = takeBatch(waiting, w => w.file.path)
    return batch.length
      ? sha256sumRequest(
          session,
          batch.map(w => w.file)
        )
      : undefined
  }
  execOnBudget(session, prepare).then(
    outcome => {
      for (const w of batch) {
        if (!outcome || !('ran' in outcome)) w.settle(outcome ?? { noRoom: true })
        else {
          const hash = outcome.ran.get(w.file.path)
          w.settle(hash ? { hash } : { missing: true })
        }
      }
    },
    (err: unknown) => {
      for (const w of batch) w.fail(err)
    }
  )
  return hashed
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
