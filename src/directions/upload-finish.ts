import * as path from 'node:path'
import * as core from '@actions/core'
import { pruneReleases, releaseOfLink, switchCurrent } from '../engine/release.js'
import { isTransient } from '../engine/retry.js'
import type { SftpSession } from '../engine/session.js'
import { forLog } from '../escape.js'
import { absentUnlessLost } from '../errors.js'
import type { ReleaseSettings } from '../inputs/settings.js'
import { emptiedDirs, type Op } from '../plans/sync.js'
import type { RemoteTree } from '../plans/remote-tree.js'
import { fileResult, type FileResult } from '../report/types.js'
import type { SessionPool } from './session-pool.js'

/**
 * Removes remote files the source no longer has, then the directories that left empty. Runs only
 * after every upload succeeded, so a failed deploy never loses files it did not replace. A lost
 * connection is thrown for the retry loop; `done` keeps what earlier attempts removed.
 */
export async function deleteExtraneous(
  session: SftpSession,
  dest: string,
  ops: Op[],
  tree: RemoteTree,
  isExcluded: (rel: string) => boolean,
  done = new Map<string, FileResult>()
): Promise<FileResult[]> {
  const doomed = ops.filter(o => o.kind === 'delete')
  const rows = await Promise.all(
    doomed.map(async op => {
      const remote = path.posix.join(dest, op.rel)
      const before = done.get(remote)
      if (before) return before
      try {
        await session.main.unlink(remote)
        const row = fileResult('', remote, op.size, 'deleted')
        done.set(remote, row)
        return row
      } catch (err) {
        if (isTransient(err, session)) throw err
        return fileResult(
          '',
          remote,
          op.size,
          'failed',
          `could not delete: ${(err as Error).message}`
        )
      }
    })
  )
  const kept = ops.filter(o => o.kind !== 'delete').map(o => o.rel)
  const deleted = doomed.map(o => o.rel)
  for (const dir of emptiedDirs(tree, deleted, kept, isExcluded)) {
    await session.main.rmdir(path.posix.join(dest, dir)).catch(absentUnlessLost)
  }
  if (rows.length) core.info(`Deleted ${rows.filter(r => r.status === 'deleted').length} files.`)
  return rows
}

/**
 * Points `target/current` at the new release, atomically, then prunes old releases. Each is
 * retried over a new connection after a drop; switching again is harmless.
 */
export async function publishRelease(
  pool: SessionPool<SftpSession>,
  target: string,
  release: ReleaseSettings
): Promise<void> {
  const where = `${target} on ${pool.address}`
  // The link as this run first found it: a switch retried after its rename finds its own link,
  // and the release that was live before the run must survive the pruning that follows.
  let first: { link?: string } | undefined
  const { previous } = await pool.phase(`switching the release in ${where}`, session =>
    switchCurrent(session, target, release.id, link => (first ??= { link }))
  )
  const was = previous && previous !== `releases/${release.id}` ? ` (was ${forLog(previous)})` : ''
  core.info(`${forLog(target)}/current now points at releases/${release.id}${was}.`)
  const before = first?.link === undefined ? undefined : releaseOfLink(first.link)
  const removed = await pool.phase(`removing old releases in ${where}`, session =>
    pruneReleases(session, target, release.keep, release.id, before)
  )
  if (removed.length)
    core.info(`Removed ${removed.length} old releases: ${removed.map(forLog).join(', ')}.`)
}
