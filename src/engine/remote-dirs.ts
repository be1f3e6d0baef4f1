import * as path from 'node:path'
import { ConnectionError, InputError } from '../errors.js'
import { isTransient } from './retry.js'
import { SFTP_STATUS, type RemoteStat, type SftpChannel, type SftpError } from './sftp.js'

/**
 * Creates `target` and every directory below it that `rels` need, each once: all in one
 * pipelined burst, parents first, on servers that answer in order; elsewhere one tree level at
 * a time with the level's directories created in parallel. Returns the directories this call
 * created (not those that were there already), for `chmod` and `preserve: mode`. `listed` are
 * the folders below the target that this run's listing found, which proves the target exists:
 * only the others are created, and when there are none, nothing is sent at all.
 */
export async function ensureRemoteDirs(
  channel: SftpChannel,
  target: string,
  rels: string[],
  listed?: ReadonlySet<string>
): Promise<string[]> {
  const levels = new Map<number, Set<string>>()
  // What a path needs depends only on its folder: worked out once per folder, not per file
  // (50,000 files in 250 folders).
  const folders = new Set<string>()
  for (const rel of rels) {
    const folder = rel.slice(0, rel.lastIndexOf('/') + 1)
    if (folders.has(folder)) continue
    folders.add(folder)
    const parts = rel.split('/').slice(0, -1)
    parts.forEach((_, i) => {
      if (listed?.has(parts.slice(0, i + 1).join('/'))) return
      const dir = path.posix.join(target, ...parts.slice(0, i + 1))
      if (!levels.has(i)) levels.set(i, new Set())
      levels.get(i)?.add(dir)
    })
  }
  if (listed && levels.size === 0) return []
  const depths = [...levels.keys()].sort((a, b) => a - b)
  const byDepth = depths.map(depth => [...(levels.get(depth) ?? [])])
  // A server that answers in order creates each parent before the child sent after it, so the
  // target's path, every directory below it and a stat of each go out in one burst: one round
  // trip whatever the depth, and whether or not the target exists.
  if (channel.processesInOrder) return inOneBurst(channel, target, byDepth.flat())
  const created = await ensurePath(channel, target)
  for (const burst of byDepth) {
    const made = await Promise.all(burst.map(dir => makeDir(channel, dir)))
    created.push(...burst.filter((_, i) => made[i]))
  }
  return created
}

/**
 * Every directory of the target's path and `below` it, parents first, each with a mkdir and,
 * behind all of them, a stat that tells a directory that was there already from a failure. Of
 * the target's path only what the target needs is judged: a target that exists may sit below
 * folders this user cannot even stat.
 */
async function inOneBurst(
  channel: SftpChannel,
  target: string,
  below: string[]
): Promise<string[]> {
  const absolute = target.startsWith('/')
  const parts = target.split('/').filter(p => p && p !== '.')
  const above = parts.map((_, i) => (absolute ? '/' : '') + parts.slice(0, i + 1).join('/'))
  const dirs = [...above, ...below]
  const made = dirs.map(dir =>
    channel.mkdir(dir).then(
      () => undefined,
      (err: unknown) => keepUnlessLost(err)
    )
  )
  const seen = dirs.map(dir => channel.stat(dir).catch((err: unknown) => keepUnlessLost(err)))
  const [mkdirs, stats] = await Promise.all([Promise.all(made), Promise.all(seen)])
  const targetIsDir = above.length === 0 || isDir(stats[above.length - 1])
  const created: string[] = []
  dirs.forEach((dir, i) => {
    const refused = mkdirs[i]
    if (refused === undefined) return void created.push(dir)
    if (isDir(stats[i]) || (i < above.length && targetIsDir)) return
    throw notADirectory(dir, refused, stats[i])
  })
  return created
}

function keepUnlessLost(err: unknown): Error {
  // A dropped connection is the network's fault, not the target's: let the retry loop see it.
  if (err instanceof ConnectionError || isTransient(err, undefined)) throw err
  return err as Error
}

function isDir(info: RemoteStat | Error | undefined): boolean {
  return info !== undefined && !(info instanceof Error) && info.isDirectory
}

/** `mkdir -p` for the target itself; one round trip when it already exists, as it usually does. */
async function ensurePath(channel: SftpChannel, target: string): Promise<string[]> {
  const existing = await channel.stat(target).catch(() => undefined)
  if (existing?.isDirectory) return []
  const absolute = target.startsWith('/')
  const parts = target.split('/').filter(p => p && p !== '.')
  const created: string[] = []
  for (let i = 1; i <= parts.length; i++) {
    const dir = (absolute ? '/' : '') + parts.slice(0, i).join('/')
    if (await makeDir(channel, dir)) created.push(dir)
  }
  return created
}

/** Whether `dir` was created now (false: it was there already). */
async function makeDir(channel: SftpChannel, dir: string): Promise<boolean> {
  try {
    await channel.mkdir(dir)
    return true
  } catch (err) {
    keepUnlessLost(err)
    // mkdir fails for an existing directory too (OpenSSH says FAILURE); stat tells which.
    const info = await channel.stat(dir).catch((statErr: unknown) => keepUnlessLost(statErr))
    if (isDir(info)) return false
    throw notADirectory(dir, err as Error, info)
  }
}

/** Why `dir` could not be made, given the mkdir's failure and what a stat found there. */
function notADirectory(dir: string, err: Error, info: RemoteStat | Error | undefined): InputError {
  if (info && !(info instanceof Error)) {
    return new InputError(
      'target',
      `'${dir}' on the server is a file, not a directory, so the target path cannot pass through it.`
    )
  }
  const code = (err as SftpError).code
  const why = code === SFTP_STATUS.PERMISSION_DENIED ? 'permission denied' : err.message
  return new InputError('target', `cannot create directory '${dir}' on the server: ${why}.`)
}
