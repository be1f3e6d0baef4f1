import * as core from '@actions/core'
import { ListingCache } from '../engine/listing-cache.js'
import { recordOwnRelease, releaseDir } from '../engine/release.js'
import { SPREAD_THRESHOLD, type SftpSession } from '../engine/session.js'
import { sizeHeapFor } from '../heap.js'
import { StateBook } from '../engine/sync-state.js'
import { uploadFiles } from '../engine/upload.js'
import { forLog } from '../escape.js'
import { formatHostPort, type Endpoint, type UploadSettings } from '../inputs/settings.js'
import { LocalHasher } from '../plans/local-hash.js'
import {
  listLocalFiles,
  sizeUnsized,
  surelyHasAFile,
  type LocalFile
} from '../plans/local-files.js'
import type { Op } from '../plans/sync.js'
import { formatBytes, Progress } from '../report/progress.js'
import { PhaseTimes } from '../report/timings.js'
import { fileResult, refusedHostReport, type FileResult, type RunReport } from '../report/types.js'
import { deleteExtraneous, publishRelease } from './upload-finish.js'
import { describeContentCheck } from './upload-checksum.js'
import { logPlan, planUpload, plannedRows, sortOps, type UploadPlan } from './upload-plan.js'
import { SessionPool } from './session-pool.js'
import { hostReport, startConnecting, type Connecting } from './sessions.js'
import { sumSizes, transferOptions } from './transfer-options.js'

/** The local side, prepared once for every server. */
export interface Source {
  files: LocalFile[]
  /**
   * Settles once every file has its content hash (`sha256`), when `sync: changed` compares
   * content: still being computed while the servers are reached and listed (a large tree's
   * hashing then costs no wall time of its own).
   */
  hashes?: Promise<void>
}

/**
 * Uploads to every server named by `host` in parallel. One server failing does not stop the
 * others; the report says which server got what.
 */
export async function runUpload(settings: UploadSettings, report: RunReport): Promise<void> {
  // Local sources are checked before logging in: a typo in 'source' should not cost a login.
  // A source surely holding a file lets the connections start meanwhile (key exchange, host
  // key): they send their credentials once the source is read, none if that fails. The walk
  // lets them run between its slices, so their debug lines (and a retry's warning) may show
  // inside the "Read the source" group.
  let sourceRead: (ok: boolean) => void = () => undefined
  const early = (await surelyHasAFile(settings.source, settings.workspace))
    ? new Promise<boolean>(resolve => (sourceRead = resolve))
    : undefined
  const connecting = settings.servers.map(server => startConnecting(server, settings, early))
  const source = await readSource(settings).then(
    read => (sourceRead(true), read),
    (err: unknown) => {
      sourceRead(false)
      throw err
    }
  )
  // Settled here so a failure is never unhandled; it is the run's failure, not one server's.
  const hashFailure = source.hashes?.then(
    () => undefined,
    (err: unknown) => err
  )
  // Sizes may come with the hashes: the total is asked for only once bytes move.
  const progress = new Progress(() => sumSizes(source.files) * settings.servers.length)
  const fanOut = settings.servers.length > 1
  if (settings.release) {
    report.releasePath = releaseDir(settings.target, settings.release.id)
  }
  await Promise.all(
    settings.servers.map((server, i) =>
      uploadTo(server, settings, source, progress, report, fanOut, connecting[i]).catch(
        async (err: unknown) => {
          if (!fanOut || (await hashFailure) === err) throw err
          unreachable(server, source, report, err)
        }
      )
    )
  )
}

function readSource(settings: UploadSettings): Promise<Source> {
  return core.group('Read the source', async () => {
    const hasher = settings.syncChanged ? new LocalHasher() : undefined
    const warn = (m: string) => core.warning(forLog(m))
    const files = await listLocalFiles(
      settings.source,
      settings.workspace,
      warn,
      hasher?.add,
      hasher !== undefined
    ).catch((err: unknown) => {
      hasher?.stop()
      throw err
    })
    // Only a second thread reading every file is worth leaving the sizes to.
    if (!hasher?.threaded) sizeUnsized(files)
    core.info(
      hasher?.threaded
        ? `${files.length} files (read, sized and hashed on a second thread meanwhile).`
        : `${files.length} files, ${formatBytes(sumSizes(files))}.`
    )
    sizeHeapFor(files.length)
    return hasher ? { files, hashes: hasher.hashes(files) } : { files }
  })
}

/**
 * With several servers, the others still get the upload; this one is reported as failed, and so
 * is each of its files not already reported.
 */
export function unreachable(
  server: Endpoint,
  source: Source,
  report: RunReport,
  err: unknown
): void {
  const address = formatHostPort(server.host, server.port)
  const message = (err as Error).message
  core.error(`${address}: ${forLog(message)}`, { title: 'Server skipped' })
  const refused = refusedHostReport(err, 'upload')
  // A refused jump host gets a row of its own, beside the server it was meant to reach.
  const jump = refused && refused.address !== address ? refused : undefined
  if (jump && !report.hosts.some(h => h.address === jump.address)) report.hosts.push(jump)
  if (!report.hosts.some(h => h.address === address)) {
    report.hosts.push({
      role: 'server',
      address,
      keyType: '',
      fingerprint: '',
      pinLabel: '',
      error: message,
      ...(refused?.address === address ? { presented: refused.presented } : {})
    })
  } else {
    report.hosts.filter(h => h.address === address).forEach(h => (h.error = message))
  }
  // Files already reported for this server (sent before a later step failed) keep their rows.
  const reported = new Set(report.files.filter(r => r.server === address).map(r => r.source))
  for (const f of source.files.filter(f => !reported.has(f.path))) {
    report.files.push({ ...fileResult(f.path, '', f.size, 'failed', message), server: address })
  }
}

async function uploadTo(
  server: Endpoint,
  settings: UploadSettings,
  source: Source,
  progress: Progress,
  report: RunReport,
  fanOut: boolean,
  connecting: Connecting
): Promise<void> {
  const address = formatHostPort(server.host, server.port)
  // Log groups cannot nest or interleave, so parallel fan-out connections log ungrouped.
  const group = <T>(name: string, fn: () => Promise<T>) => (fanOut ? fn() : core.group(name, fn))
  // Whether a big file is still to be sent, so a jump host's extra connections are worth their
  // logins (each counts against the server's MaxStartups and login-rate limits). Without sync
  // every source file is sent, so this is known before connecting and the extras log in
  // alongside the first connection; with sync only the plan knows, and a reconnection after
  // the big files went needs none.
  connecting.bigToSend =
    !settings.dryRun && !settings.syncChanged && source.files.some(f => f.size >= SPREAD_THRESHOLD)
  const { pool } = connecting
  const tag = (rows: FileResult[]) => (fanOut ? rows.map(r => ({ ...r, server: address })) : rows)
  const dest = report.releasePath ?? settings.target
  const times = new PhaseTimes(address)
  try {
    const first = await group(`Connect to ${address}`, () => connecting.first ?? pool.first())
    report.hosts.push(hostReport('server', server, first))
    const plan = await group('Plan', async () => {
      // Listings read before a drop are kept for the retry: the target did not change meanwhile.
      const cache = new ListingCache()
      const planned = await times.time('plan', () =>
        pool.phase(`planning ${dest} on ${address}`, session =>
          planUpload(settings, session, dest, source.files, source.hashes, cache, times)
        )
      )
      logPlan(planned, settings.dryRun)
      return planned
    })
    if (plan.checksum) {
      const line = `${fanOut ? `${address}: ` : ''}${describeContentCheck(plan.checksum)}`
      report.sync = report.sync ? `${report.sync} ${line}` : line
    }
    if (settings.dryRun) {
      addRows(report, tag(plannedRows(plan, source.files, dest)))
      return
    }
    connecting.bigToSend = plan.ops.some(isBigSend)
    // Started now, their logins overlap the release record and the first small files.
    pool.current.expect(plan.ops.reduce((m, op) => (isBigSend(op) ? Math.max(m, op.size) : m), 0))
    const release = settings.release
    if (release) {
      await pool.phase(`recording the release in ${settings.target} on ${address}`, session =>
        recordOwnRelease(session, settings.target, release.id)
      )
    }
    const rows = await group(`Upload to ${address}`, () =>
      times.time('transfer', () => send(settings, pool, dest, plan, source, progress, times))
    )
    addRows(report, tag(rows))
    connecting.bigToSend = false
    if (rows.some(r => r.status === 'failed')) return
    if (settings.deleteExtraneous) {
      const done = new Map<string, FileResult>()
      const deleted = await group('Delete', () =>
        pool.phase(`deleting extraneous files in ${dest} on ${address}`, session =>
          deleteExtraneous(session, dest, plan.ops, plan.tree, plan.isExcluded, done)
        )
      )
      addRows(report, tag(deleted))
    }
    if (release) await group('Switch release', () => publishRelease(pool, settings.target, release))
  } finally {
    pool.closeAll()
    times.log()
  }
}

async function send(
  settings: UploadSettings,
  pool: SessionPool<SftpSession>,
  dest: string,
  plan: UploadPlan,
  source: Source,
  progress: Progress,
  times: PhaseTimes
): Promise<FileResult[]> {
  const { toSend, skipped } = sortOps(plan, source.files, dest)
  const sizes = new Map(toSend.map(f => [f.rel, f.size]))
  const book = settings.syncChanged ? new StateBook(plan.state, dest) : undefined
  // Only a state that records files the source no longer has needs a look at every entry.
  if (book && plan.state && plan.state.files.size > plan.inState) {
    const inSource = new Set(source.files.map(f => f.rel))
    book.retain(rel => inSource.has(rel))
  }
  for (const [rel, entry] of plan.verified ?? []) book?.record(rel, entry)
  book?.startPeriodicFlush(() => pool.current.main)
  book?.flushWhenRecorded(toSend.length, () => pool.current.main)
  let results: FileResult[]
  try {
    results = await uploadFiles(pool.connect, dest, toSend, {
      ...transferOptions(settings, progress, `uploading to ${pool.address}`),
      hash: settings.syncChanged,
      times,
      ...(plan.tree.files.size + plan.tree.dirs.length > 0
        ? { listedDirs: new Set(plan.tree.dirs) }
        : {}),
      onLanded: (rel, landed) => {
        const size = sizes.get(rel)
        if (book && size !== undefined && landed.sha256)
          book.record(rel, { sha256: landed.sha256, size, mtime: landed.mtime })
      },
      onChecked: (rel, checked) => {
        const size = sizes.get(rel)
        if (book && size !== undefined && checked.sha256)
          book.checkedOnServer(rel, { sha256: checked.sha256, size, mtime: checked.mtime })
      }
    })
  } finally {
    // Stopped on every path, so a failed run leaves no timer writing state behind it.
    if (book && !pool.current.dead) await book.stop(pool.current.main)
    else book?.stopTimer()
  }
  for (const row of skipped) results.push(row)
  return results
}

function isBigSend(op: Op): boolean {
  return (op.kind === 'create' || op.kind === 'replace') && op.size >= SPREAD_THRESHOLD
}

/** One push per row: spread into push(), some 125,000 rows overflow the stack. */
function addRows(report: RunReport, rows: FileResult[]): void {
  for (const row of rows) report.files.push(row)
}
