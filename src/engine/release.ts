import * as core from '@actions/core'
import * as path from 'node:path'
import pLimit from 'p-limit'
import { forLog } from '../escape.js'
import { TransferError } from '../errors.js'
import { isGeneratedReleaseId, isReleaseId, sortReleases } from '../plans/release-id.js'
import { printableName, unsafeNameReason } from '../plans/safe-names.js'
import { forgetRelease, RECORD_DIR, recordedReleases, recordRelease } from './release-record.js'
import { isTransient } from './retry.js'
import type { SftpSession } from './session.js'
import { SFTP_STATUS, type SftpChannel, type SftpError } from './sftp.js'
import { tempNameFor } from './temp-names.js'

/**
 * Atomic releases: each upload goes to `target/releases/<id>`, then `target/current` is
 * switched to it with one rename, so a web server following `current` sees the old release or
 * the new one, never a mix or nothing.
 */

export const RELEASES_DIR = 'releases'
export const CURRENT_LINK = 'current'

/** Removal requests in flight at once while pruning; spread over the session's channels. */
const REMOVE_CONCURRENCY = 32

/** `target/releases/<id>` (POSIX: the path is the server's). */
export function releaseDir(target: string, id: string): string {
  return path.posix.join(target, RELEASES_DIR, id)
}

/**
 * Marks `releases/<id>` as the action's own before anything is uploaded into it, so pruning may
 * remove it later even under a user-given ID (see release-record.ts).
 */
export async function recordOwnRelease(session: SftpSession, target: string, id: string) {
  await recordRelease(session.main, path.posix.join(target, RELEASES_DIR), id)
}

/**
 * Makes `target/current` point at `releases/<id>`: a link with a temporary name is created
 * beside it and renamed over it. Returns the link's previous target, if there was one.
 */
export async function switchCurrent(
  session: SftpSession,
  target: string,
  id: string,
  /** Told what `current` pointed at, before anything is changed. */
  seen?: (previous: string | undefined) => void
): Promise<{ previous?: string }> {
  assertPlainName(id)
  const channel = session.main
  const link = path.posix.join(target, CURRENT_LINK)
  // Relative, so the whole target tree can be moved or mounted elsewhere and still work.
  const wanted = `${RELEASES_DIR}/${id}`
  await requireDirectory(channel, releaseDir(target, id))
  const previous = await previousTarget(channel, link)
  seen?.(previous)
  const temp = path.posix.join(target, tempNameFor(CURRENT_LINK))
  // A switch retried in the same run finds its own leftover link under the same name.
  await unlinkIfPresent(channel, temp)
  await channel.symlink(wanted, temp)
  try {
    // Checked before it replaces anything: a link created the wrong way round must not go live.
    await expectLink(channel, temp, wanted)
    if (!channel.hasPosixRename) warnNotAtomic(link)
    await channel.replace(temp, link)
  } catch (err) {
    await channel.unlink(temp).catch(() => undefined)
    throw err
  }
  await expectLink(channel, link, wanted)
  return previous === undefined ? {} : { previous }
}

/**
 * Removes the action's own releases under `target/releases` (generated IDs, and user-given ones
 * it recorded) except the `keep` newest, `current`, the release live before this deploy
 * (`previous`, the one to roll back to) and whatever `target/current` really points at.
 * Everything else there is foreign: left alone, never counted towards `keep`, named once in the
 * log. A release that cannot be removed is a warning: the new release is already live. Returns
 * the names removed.
 */
export async function pruneReleases(
  session: SftpSession,
  target: string,
  keep: number,
  current: string,
  previous?: string
): Promise<string[]> {
  const dir = path.posix.join(target, RELEASES_DIR)
  const { ours, foreign, recorded } = await ownReleases(session, dir)
  if (foreign.length)
    core.info(`Left alone in ${forLog(dir)}, not made by this action: ${names(foreign)}.`)
  const live = await linkedRelease(session.main, path.posix.join(target, CURRENT_LINK))
  const kept = new Set([current, ...live, ...(previous === undefined ? [] : [previous])])
  const doomed = sortReleases(ours)
    .slice(Math.max(0, keep))
    .filter(name => !kept.has(name))
  const removed: string[] = []
  for (const name of doomed) {
    try {
      await new TreeRemover(session, path.posix.join(dir, name)).remove()
      removed.push(name)
    } catch (err) {
      if (isTransient(err, session)) throw err
      core.warning(
        `Old release '${forLog(name)}' could not be removed: ${forLog((err as Error).message)}`
      )
    }
  }
  // Only entries of releases removed here: a record without its folder may be a deploy that
  // has recorded its release and not yet created it.
  const gone = removed.filter(name => recorded.has(name))
  await Promise.all(gone.map(name => forgetRelease(session.main, dir, name)))
  return removed
}

/**
 * The releases in `dir` this action made (generated IDs, and user-given ones it recorded), and
 * every other entry there. Only directories (or links standing for them) are releases; a README
 * or a stray file must neither be removed nor take one of the `keep` places, nor be rolled back to.
 */
export async function ownReleases(
  session: SftpSession,
  dir: string
): Promise<{ ours: string[]; foreign: string[]; recorded: Set<string> }> {
  const [entries, recorded] = await Promise.all([
    session.main.readdir(dir),
    recordedReleases(session.main, dir)
  ])
  const ours = entries
    .filter(e => (e.isDirectory || e.isSymbolicLink) && isReleaseId(e.name))
    .map(e => e.name)
    .filter(name => isGeneratedReleaseId(name) || recorded.has(name))
  const foreign = entries.map(e => e.name).filter(n => n !== RECORD_DIR && !ours.includes(n))
  return { ours, foreign, recorded }
}

/** The one place foreign names from `releases/` are printed: each quoted, escaped, capped. */
function names(list: string[]): string {
  const shown = list.slice(0, 20).map(n => forLog(JSON.stringify(n)))
  return list.length > 20 ? `${shown.join(', ')} and ${list.length - 20} more` : shown.join(', ')
}

/** The release a `current` link text names (`releases/<id>`, relative or absolute), if any. */
export function releaseOfLink(text: string): string | undefined {
  // `releases//ID` and `releases/./ID` name the same release: a link written by hand may be so.
  const parts = path.posix.normalize(text).replace(/\/+$/, '').split('/')
  const name = parts.at(-1) ?? ''
  return parts.at(-2) === RELEASES_DIR && name ? name : undefined
}

function assertPlainName(id: string): void {
  const reason = unsafeNameReason(id)
  if (reason) throw new TransferError(`Release ID '${printableName(id)}' is unusable: ${reason}.`)
}

async function requireDirectory(channel: SftpChannel, dir: string): Promise<void> {
  const info = await channel.stat(dir).catch((err: SftpError) => {
    if (err.code === SFTP_STATUS.NO_SUCH_FILE) return undefined
    throw err
  })
  if (!info?.isDirectory) {
    throw new TransferError(
      `'${dir}' is not a directory on the server, so 'current' was not switched to it.`
    )
  }
}

/**
 * Checked while planning, before anything is uploaded: `target/current` must be a link or
 * nothing, or the switch at the end would have to refuse after a whole release was sent.
 */
export async function refuseUnswitchableCurrent(session: SftpSession, target: string) {
  await previousTarget(session.main, path.posix.join(target, CURRENT_LINK))
}

/** What `link` points at now; refuses anything but a link or nothing at all. */
async function previousTarget(channel: SftpChannel, link: string): Promise<string | undefined> {
  const info = await channel.lstat(link).catch((err: SftpError) => {
    if (err.code === SFTP_STATUS.NO_SUCH_FILE) return undefined
    throw err
  })
  if (!info) return undefined
  if (!info.isSymbolicLink) {
    // The rename would replace it (a file) or fail (a directory); either way the user's data
    // is at stake, and a deploy tool must never delete what it did not create.
    const kind = info.isDirectory ? 'a real directory' : 'a file'
    throw new TransferError(
      `'${link}' on the server is ${kind}, not a symbolic link. Atomic releases make it a link ` +
        `to ${RELEASES_DIR}/<id>; move it out of the way (for example into ${RELEASES_DIR}/) ` +
        `and run again. It was left as it is.`
    )
  }
  return channel.readlink(link)
}

async function expectLink(channel: SftpChannel, link: string, wanted: string): Promise<void> {
  const actual = await channel.readlink(link)
  if (actual !== wanted) {
    throw new TransferError(
      `The symbolic link '${link}' points to '${printableName(actual)}' instead of '${wanted}'; ` +
        `the server may not follow the usual SFTP symlink argument order.`
    )
  }
}

async function unlinkIfPresent(channel: SftpChannel, file: string): Promise<void> {
  await channel.unlink(file).catch((err: SftpError) => {
    if (err.code !== SFTP_STATUS.NO_SUCH_FILE) throw err
  })
}

function warnNotAtomic(link: string): void {
  core.warning(
    `The server does not offer posix-rename@openssh.com, so '${forLog(link)}' is removed and then ` +
      `recreated: for a moment it does not exist.`
  )
}

/** The release `link` points at (`releases/<name>`, relative or absolute), if readable. */
export async function linkedRelease(channel: SftpChannel, link: string): Promise<string[]> {
  const name = releaseOfLink(await channel.readlink(link).catch(() => ''))
  return name === undefined ? [] : [name]
}

/**
 * Deletes one release tree like `rm -r`, never following a symbolic link: a link is unlinked,
 * so whatever it points at survives. Every path is checked to lie inside `root` before it is
 * removed, whatever names the server lists.
 */
class TreeRemover {
  private readonly limit = pLimit(REMOVE_CONCURRENCY)
  private turn = 0

  constructor(
    private readonly session: SftpSession,
    private readonly root: string
  ) {}

  async remove(): Promise<void> {
    const info = await this.run(c => c.lstat(this.root))
    if (info.isDirectory) await this.removeDir(this.root)
    else await this.run(c => c.unlink(this.inside(this.root)))
  }

  private async removeDir(dir: string): Promise<void> {
    const entries = await this.run(c => c.readdir(this.inside(dir)))
    await Promise.all(entries.map(entry => this.removeEntry(dir, entry)))
    await this.run(c => c.rmdir(this.inside(dir)))
  }

  private async removeEntry(
    dir: string,
    entry: { name: string; isFile: boolean; isSymbolicLink: boolean }
  ): Promise<void> {
    const reason = unsafeNameReason(entry.name)
    if (reason) {
      throw new TransferError(
        `The server listed '${printableName(entry.name)}' in '${dir}' (${reason}); not removing it.`
      )
    }
    const child = this.inside(path.posix.join(dir, entry.name))
    // Listings may describe a link by what it points at, so only lstat decides "directory".
    const isDir =
      !entry.isFile && !entry.isSymbolicLink && (await this.run(c => c.lstat(child))).isDirectory
    if (isDir) await this.removeDir(child)
    else await this.run(c => c.unlink(child))
  }

  /** One request, on the channels in turn; slots are held only while a request is out. */
  private run<T>(op: (channel: SftpChannel) => Promise<T>): Promise<T> {
    return this.limit(() => {
      const channels = this.session.channels
      return op(channels[this.turn++ % channels.length])
    })
  }

  private inside(p: string): string {
    const normal = path.posix.normalize(p)
    if (normal !== this.root && !normal.startsWith(`${this.root}/`)) {
      throw new TransferError(
        `Refusing to remove '${printableName(p)}': it is outside '${this.root}'.`
      )
    }
    return normal
  }
}
