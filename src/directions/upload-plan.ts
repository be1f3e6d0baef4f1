import * as path from 'node:path'
import * as core from '@actions/core'
import { refuseUnswitchableCurrent } from '../engine/release.js'
import type { SftpSession } from '../engine/session.js'
import { readSyncState } from '../engine/sync-state.js'
import { isTempName } from '../engine/temp-names.js'
import { forLog } from '../escape.js'
import { ListingCache } from '../engine/listing-cache.js'
import { absentUnlessLost, InputError, TransferError } from '../errors.js'
import type { UploadSettings } from '../inputs/settings.js'
import type { LocalFile } from '../plans/local-files.js'
import { makeTargetExcluder } from '../plans/patterns.js'
import { listRemoteTree, type RemoteTree } from '../plans/remote-tree.js'
import { lookUp, planSync, type Op, type StateEntry, type SyncState } from '../plans/sync.js'
import { checkContentOnServer, describeContentCheck, type ContentCheck } from './upload-checksum.js'
import { formatBytes } from '../report/progress.js'
import type { PhaseTimes } from '../report/timings.js'
import { unlessFailed } from '../settle.js'
import { fileResult, type FileResult } from '../report/types.js'

/** What one server's upload will do, decided before anything is written. */
export interface UploadPlan {
  ops: Op[]
  tree: RemoteTree
  state: SyncState | undefined
  /** Whether a remote path below the target is protected by a `!` pattern. */
  isExcluded: (rel: string) => boolean
  /** Whether the target was listed; unlisted, no op knows whether its file is new. */
  listed: boolean
  /** `sync: checksum`: files the server's hash proved unchanged (for the state file). */
  verified?: Map<string, StateEntry>
  /** `sync: checksum`: how the server's copies were hashed. */
  checksum?: ContentCheck
  /** How many of the source's files the state records. */
  inState: number
}

/**
 * Lists the target and reads the sync state only when something needs them (`sync`, `delete`,
 * `dry-run`); a plain upload plans "create or replace everything" without a round trip.
 */
export async function planUpload(
  settings: UploadSettings,
  session: SftpSession,
  dest: string,
  files: LocalFile[],
  /** Settles once each file has its `sha256`; awaited after the listing: the two overlap. */
  pendingHashes: Promise<void> | undefined,
  cache = new ListingCache(),
  times?: PhaseTimes
): Promise<UploadPlan> {
  const needsListing = settings.syncChanged || settings.deleteExtraneous || settings.dryRun
  if (settings.deleteExtraneous) await refuseLoginDirectory(session, dest)
  if (settings.release) {
    await refuseExistingRelease(session, dest, settings.release.given)
    await refuseUnswitchableCurrent(session, settings.target)
  }
  // Beside the main channel, which lists the target itself and reads the state.
  const spare = session.channels.length > 1 ? session.channels.slice(1) : session.channels
  if (needsListing) cache.prefetch(spare, sourceFolders(dest, files))
  const listed = () =>
    Promise.all([
      needsListing ? listRemoteTree(cache.on(session.main), dest) : emptyTree(),
      settings.syncChanged ? readSyncState(session.main, dest) : undefined
    ])
  const listing = times ? times.time('list', listed) : listed()
  // The listing usually ends first: the files are looked up in it while the hashes still come.
  // A failed hashing is the run's failure: reported as soon as it fails, not once a long
  // listing has ended, and it is the one reported should both fail.
  const awaited = pendingHashes ? unlessFailed(listing, pendingHashes) : listing
  const [tree, state] = await awaited.catch(async (err: unknown) => {
    await pendingHashes
    throw err
  })
  const found = needsListing ? lookUp(files, tree, state) : undefined
  await pendingHashes
  const isExcluded = makeTargetExcluder(settings.source, dest)
  const ops = found
    ? planSync(
        files,
        tree,
        state,
        {
          // checksum trusts the server's content, not the state's record of it.
          sync: settings.syncChanged && !settings.syncChecksum,
          delete: settings.deleteExtraneous,
          isExcluded,
          isOwnFile: rel => isTempName(rel.split('/').pop() ?? '')
        },
        found
      )
    : files.map(f => ({ kind: unlistedKind(settings), rel: f.rel, size: f.size }))
  const plan = {
    ops,
    tree,
    state,
    isExcluded,
    listed: needsListing || Boolean(settings.release),
    inState: found?.inState ?? 0
  }
  if (!settings.syncChecksum) return plan
  return { ...plan, ...(await checkContentOnServer(session, dest, ops, files, tree)) }
}

/**
 * The folders below `dest` the source's files go into, shallowest first: where the target's
 * listing will most likely have to look.
 */
function sourceFolders(dest: string, files: LocalFile[]): string[] {
  const rels = new Set<string>()
  for (const { rel } of files) {
    for (let at = rel.lastIndexOf('/'); at > 0; at = rel.lastIndexOf('/', at - 1)) {
      const dir = rel.slice(0, at)
      if (rels.has(dir)) break
      rels.add(dir)
    }
  }
  const depth = (rel: string) => rel.split('/').length
  return [...rels].sort((a, b) => depth(a) - depth(b)).map(rel => path.posix.join(dest, rel))
}

/**
 * What an unlisted upload does to each file. A release directory was just found not to exist,
 * so all of it is new; elsewhere "replace" means "write, over whatever is there", and the log
 * claims no more than that.
 */
function unlistedKind(settings: UploadSettings): 'create' | 'replace' {
  return settings.release ? 'create' : 'replace'
}

function emptyTree(): RemoteTree {
  return { files: new Map(), dirs: [], others: [] }
}

/** A release is a complete, fresh directory: writing into an existing one (maybe the live one) is not. */
async function refuseExistingRelease(session: SftpSession, dest: string, given: boolean) {
  const existing = await session.main.lstat(dest).catch(absentUnlessLost)
  if (existing && given) {
    throw new InputError(
      'release-id',
      `'${dest}' already exists on the server. Each release needs a new ID; choose another ` +
        "'release-id', or leave it empty to get one from the time and commit."
    )
  }
  if (existing) {
    throw new TransferError(
      `'${dest}' already exists on the server, although its name was just generated; ` +
        'nothing was uploaded. Run the deploy again for a new ID.'
    )
  }
}

/** `delete` into the login directory would empty the user's home: refuse it, whatever the path. */
async function refuseLoginDirectory(session: SftpSession, dest: string): Promise<void> {
  const [home, resolved] = await Promise.all([
    session.main.realpath('.'),
    session.main.realpath(dest).catch(absentUnlessLost)
  ])
  // The login directory itself, the root, or any directory above the login directory.
  if (resolved && (resolved === home || resolved === '/' || home.startsWith(`${resolved}/`))) {
    throw new InputError(
      'delete',
      `refused: target '${dest}' is the login directory (${home}) or the root. Point target at ` +
        'the directory the site lives in, e.g. /var/www/site.'
    )
  }
}

/** One line per planned change for the log; counts for everything. */
export function logPlan(plan: UploadPlan, verbose: boolean): void {
  const count = (kind: Op['kind']) => plan.ops.filter(o => o.kind === kind)
  const bytes = (ops: Op[]) => formatBytes(ops.reduce((s, o) => s + o.size, 0))
  const [create, replace, skip, del] = (['create', 'replace', 'skip', 'delete'] as const).map(count)
  if (!plan.listed) {
    core.info(
      `Plan: ${plan.ops.length} to upload (${bytes(plan.ops)}), each new or replacing a file ` +
        'there (the target is listed first only with sync, delete or dry-run).'
    )
    return
  }
  core.info(
    `Plan: ${create.length} to create (${bytes(create)}), ${replace.length} to replace ` +
      `(${bytes(replace)}), ${skip.length} unchanged, ${del.length} to delete (${bytes(del)}).`
  )
  if (plan.checksum) core.info(describeContentCheck(plan.checksum))
  if (!verbose) return
  for (const op of plan.ops)
    if (op.kind !== 'skip')
      core.info(`  ${op.kind.padEnd(7)} ${forLog(op.rel)} (${formatBytes(op.size)})`)
}

/**
 * The files to send and the rows of those skipped, in one pass: planSync gives each source file
 * its op in the source's order (deletes come after), so no map by path is built for 50,000
 * files.
 */
export function sortOps(
  plan: UploadPlan,
  files: LocalFile[],
  dest: string
): { toSend: LocalFile[]; skipped: FileResult[] } {
  const toSend: LocalFile[] = []
  const skipped: FileResult[] = []
  const aligned = files.every((f, i) => plan.ops[i]?.rel === f.rel)
  const opOf = aligned ? undefined : new Map(plan.ops.map(o => [o.rel, o]))
  files.forEach((file, i) => {
    const op = opOf ? opOf.get(file.rel) : plan.ops[i]
    if (op?.kind === 'create' || op?.kind === 'replace') toSend.push(file)
    else if (op?.kind === 'skip')
      skipped.push(fileResult(file.path, `${dest}/${op.rel}`, op.size, 'skipped'))
  })
  return { toSend, skipped }
}

export function plannedRows(plan: UploadPlan, files: LocalFile[], dest: string): FileResult[] {
  const local = new Map(files.map(f => [f.rel, f.path]))
  return plan.ops.map(op => ({
    ...fileResult(
      local.get(op.rel) ?? '',
      `${dest}/${op.rel}`,
      op.size,
      op.kind === 'skip' ? 'skipped' : 'planned'
    ),
    plan: op.kind
  }))
}
