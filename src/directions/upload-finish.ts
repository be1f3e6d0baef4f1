import * as path from 'node:path'
import * as core from '@actions/core'
import { pruneReleases, releaseOfLink, switchCurrent } from '../engine/release.js'
import type { SftpSession } from '../engine/session.js'
import { forLog } from '../escape.js'
import type { ReleaseSettings } from '../inputs/settings.js'
import { emptiedDirs, type Op } from '../plans/sync.js'
import type { RemoteTree } from '../plans/remote-tree.js'
import { fileResult, type FileResult } from '../report/types.js'

/**
 * Removes remote files the source no longer has, then the directories that left empty. Runs only
 * after every upload succeeded, so a failed deploy never loses files it did not replace.
 */
export async function deleteExtraneous(
  session: SftpSession,
  dest: string,
  ops: Op[],
  tree: RemoteTree,
  isExcluded: (rel: string) => boolean
): Promise<FileResult[]> {
  const doomed = ops.filter(o => o.kind === 'delete')
  const rows = await Promise.all(
    doomed.map(async op => {
      const remote = path.posix.join(dest, op.rel)
      try {
        await session.main.unlink(remote)
        return fileResult('', remote, op.size, 'deleted')
      } catch (err) {
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
    await session.main.rmdir(path.posix.join(dest, dir)).catch(() => undefined)
  }
  if (rows.length) core.info(`Deleted ${rows.filter(r => r.status === 'deleted').length} files.`)
  return rows
}

/** Points `target/current` at the new release, atomically, then prunes old releases. */
export async function publishRelease(
  session: SftpSession,
  target: string,
  release: ReleaseSettings
): Promise<void> {
  const { previous } = await switchCurrent(session, target, release.id)
  core.info(
    `${forLog(target)}/current now points at releases/${release.id}` +
      `${previous ? ` (was ${forLog(previous)})` : ''}.`
  )
  const before = previous === undefined ? undefined : releaseOfLink(previous)
  const removed = await pruneReleases(session, target, release.keep, release.id, before)
  if (removed.length)
    core.info(`Removed ${removed.length} old releases: ${removed.map(forLog).join(', ')}.`)
}
