import * as path from 'node:path'
import { ActionError } from '../errors.js'
import { isGeneratedReleaseId, isReleaseId } from '../plans/release-id.js'
import { printableName } from '../plans/safe-names.js'
import { ensureRemoteDirs } from './remote-dirs.js'
import { SFTP_STATUS, type SftpChannel, type SftpError } from './sftp.js'

/**
 * The action's record of the releases it made under a user-given `release-id`: one empty file
 * per release in this hidden folder of `releases/`. Generated IDs are recognised by their form;
 * a user-given one could be any folder's name, so only this record lets pruning tell the
 * action's release `v1.2.3` from a `1.0.0` someone put there by hand. One file per release, not a
 * shared list: two deploys recording at once cannot lose each other's entry.
 */
export const RECORD_DIR = '.pinned-sftp-releases'

function recordDir(releases: string): string {
  return path.posix.join(releases, RECORD_DIR)
}

/**
 * Records a user-given `id` as the action's own, before anything is uploaded into it. Nothing is
 * written through a link: a linked record folder is refused (ensureRemoteDirs accepts a link to a
 * folder), and the entry is created exclusively, which fails on a link of that name instead of
 * following it (O_EXCL); one found there must be a plain file, left by an earlier try of this ID.
 */
export async function recordRelease(channel: SftpChannel, releases: string, id: string) {
  if (isGeneratedReleaseId(id)) return
  const dir = recordDir(releases)
  await ensureRemoteDirs(channel, dir, [])
  if (!(await channel.lstat(dir)).isDirectory) throw notPlain(dir, 'a folder')
  const entry = path.posix.join(dir, id)
  let handle: Buffer
  try {
    handle = await channel.open(entry, 'wx')
  } catch (err) {
    const found = await channel.lstat(entry).catch(() => undefined)
    if (!found) throw err
    if (!found.isFile) throw notPlain(entry, 'a file')
    return
  }
  await channel.close(handle)
}

function notPlain(remotePath: string, kind: string): ActionError {
  return new ActionError(
    'Release refused',
    `Refused to record the release in '${printableName(remotePath)}': it is not ${kind} ` +
      'of its own (a link, or something else), and the action never writes through a link. ' +
      'Nothing was uploaded into the release; remove it on the server, then deploy again.'
  )
}

/** The recorded release IDs; none when nothing was ever recorded. */
export async function recordedReleases(channel: SftpChannel, releases: string) {
  const info = await channel.lstat(recordDir(releases)).catch((err: SftpError) => {
    if (err.code === SFTP_STATUS.NO_SUCH_FILE) return undefined
    throw err
  })
  // A link in its place would lead forgetRelease to remove files elsewhere.
  if (!info?.isDirectory) return new Set<string>()
  const entries = await channel.readdir(recordDir(releases))
  return new Set(entries.filter(e => e.isFile && isReleaseId(e.name)).map(e => e.name))
}

/**
 * Drops `id` from the record once its release is removed. Best effort: a stray entry matters
 * only if a folder of that very name is made by hand later.
 */
export async function forgetRelease(channel: SftpChannel, releases: string, id: string) {
  await channel.unlink(path.posix.join(recordDir(releases), id)).catch(() => undefined)
}
