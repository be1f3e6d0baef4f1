import * as path from 'node:path'
import { ConnectionError, InputError } from '../errors.js'
import { isTransient } from './retry.js'
import { SFTP_STATUS, type SftpChannel, type SftpError } from './sftp.js'

/**
 * Creates `target` and every directory below it that `rels` need, each once: all in one
 * pipelined burst, parents first, on servers that answer in order; elsewhere one tree level at
 * a time with the level's directories created in parallel. Returns the directories this call
 * created (not those that were there already), for `chmod` and `preserve: mode`.
 */
export async function ensureRemoteDirs(
  channel: SftpChannel,
  target: string,
  rels: string[]
): Promise<string[]> {
  const created = await ensurePath(channel, target)
  const levels = new Map<number, Set<string>>()
  for (const rel of rels) {
    const parts = rel.split('/').slice(0, -1)
    parts.forEach((_, i) => {
      const dir = path.posix.join(target, ...parts.slice(0, i + 1))
      if (!levels.has(i)) levels.set(i, new Set())
      levels.get(i)?.add(dir)
    })
  }
  const depths = [...levels.keys()].sort((a, b) => a - b)
  const byDepth = depths.map(depth => [...(levels.get(depth) ?? [])])
  // A server that answers in order creates each parent before the child sent after it, so every
  // directory goes out in one burst: one round trip whatever the depth.
  const bursts = channel.processesInOrder ? [byDepth.flat()] : byDepth
  for (const burst of bursts) {
    const made = await Promise.all(burst.map(dir => makeDir(channel, dir)))
    created.push(...burst.filter((_, i) => made[i]))
  }
  return created
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
    // A dropped connection is the network's fault, not the target's: let the retry loop see it.
    if (err instanceof ConnectionError || isTransient(err, undefined)) throw err
    // mkdir fails for an existing directory too (OpenSSH says FAILURE); stat tells which.
    const info = await channel.stat(dir).catch((statErr: unknown) => {
      if (statErr instanceof ConnectionError || isTransient(statErr, undefined)) throw statErr
      return undefined
    })
    if (info?.isDirectory) return false
    if (info) {
      throw new InputError(
        'target',
        `'${dir}' on the server is a file, not a directory, so the target path cannot pass through it.`
      )
    }
    const code = (err as SftpError).code
    const why =
      code === SFTP_STATUS.PERMISSION_DENIED ? 'permission denied' : (err as Error).message
    throw new InputError('target', `cannot create directory '${dir}' on the server: ${why}.`)
  }
}
