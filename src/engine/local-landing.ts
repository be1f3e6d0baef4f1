import type * as nodeFs from 'node:fs'
import { chmod, lstat, mkdir, realpath } from 'node:fs/promises'
import * as path from 'node:path'
import { ConnectionError, TransferError } from '../errors.js'
import { isInsideDir } from '../plans/safe-names.js'
import { timed, type PhaseTimes } from '../report/timings.js'
import type { FileAttributes } from './attributes.js'

/** The file system calls landWhole makes. */
export type LandingFs = Pick<
  typeof nodeFs,
  'openSync' | 'writeSync' | 'fchmodSync' | 'futimesSync' | 'closeSync' | 'renameSync' | 'rmSync'
>

/**
 * Lands a small file received whole: written to `tempPath` (mode 0600), given its times and mode,
 * closed, then renamed to `finalPath`. Synchronous on purpose: from and to the page cache these
 * calls take microseconds, while asynchronous open, write, utimes, close and rename cost five
 * thread-pool round trips (and a promise each) per file. It runs on the landing thread
 * (landing-thread.ts), so it uses nothing but its arguments: `fs` is node:fs. No fsync either: a
 * run that is killed leaves the page cache intact, and a file shows under its name only once it
 * is whole (the rename); tar and rsync do not sync each file either, and fsync alone cost more
 * system time per file than all the rest.
 */
export function landWhole(
  tempPath: string,
  finalPath: string,
  data: Uint8Array,
  attrs: FileAttributes | undefined,
  fs: LandingFs
): void {
  const fd = fs.openSync(tempPath, 'w', 0o600)
  try {
    try {
      for (let done = 0; done < data.length;) {
        done += fs.writeSync(fd, data, done, data.length - done, done)
      }
      if (attrs?.mode !== undefined) fs.fchmodSync(fd, attrs.mode)
      if (attrs?.mtime !== undefined) fs.futimesSync(fd, attrs.atime ?? attrs.mtime, attrs.mtime)
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(tempPath, finalPath)
  } catch (err) {
    // Nothing of a failed landing stays behind: a small file is fetched whole again, not resumed.
    fs.rmSync(tempPath, { force: true })
    throw err
  }
}

/**
 * Creates the folders files land in and proves each really lies inside the target. The names
 * were checked already; this catches a symbolic link on the runner (a checkout's `docs ->
 * /etc`, say) that would carry writes out of the target. Each folder is checked once per run.
 */
export class FolderCheck {
  private readonly proven = new Map<string, Promise<void>>()
  private root: Promise<string> | undefined
  private readonly modes: Array<{ dir: string; mode: number }> = []
  /** Folders a check made whose modes are not recorded yet, by the folder it checked. */
  private readonly unrecorded = new Map<string, string>()

  constructor(
    private readonly target: string,
    private readonly times: PhaseTimes | undefined,
    private readonly modeOf: (rel: string | undefined) => Promise<number | undefined>
  ) {}

  /** Notes the folders `mkdir -p` made, from `first` down to `dir`, with the modes they get. */
  async created(first: string | undefined, dir: string): Promise<void> {
    if (first === undefined) return
    const made: string[] = []
    for (let d = dir; ; d = path.dirname(d)) {
      made.push(d)
      if (d === first || path.dirname(d) === d) break
    }
    for (const d of made) {
      const rel = path.relative(this.target, d)
      const below = rel !== '' && isInsideDir(this.target, d)
      const mode = await this.modeOf(below ? rel.split(path.sep).join('/') : undefined).catch(
        (err: unknown) => {
          if (err instanceof ConnectionError) throw err
          return undefined
        }
      )
      if (mode !== undefined) this.modes.push({ dir: d, mode })
    }
  }

  /** Last, once every file is in: a folder mode without write permission cannot stop a file. */
  async applyModes(): Promise<void> {
    await Promise.all(this.modes.map(({ dir, mode }) => chmod(dir, mode)))
  }

  prove(dir: string): Promise<void> {
    let check = this.proven.get(dir)
    if (!check) {
      check = timed(this.times, 'mkdir', () => this.check(dir))
      this.proven.set(dir, check)
      check.catch(() => this.proven.delete(dir))
    }
    return check
  }

  private async check(dir: string): Promise<void> {
    // The part that exists is resolved before anything is created, so not even an empty folder
    // appears outside the target; folders created below it cannot be links.
    this.root ??= realpath(this.target)
    const root = await this.root
    const real = await realpathOfExisting(dir).catch((err: Error) => {
      throw new TransferError(`${dir} cannot be resolved (${err.message}); nothing was written.`)
    })
    if (!isInsideDir(root, real)) {
      throw new TransferError(
        `${dir} leads outside the target through a symbolic link (to ${real}); ` +
          'nothing was written there.'
      )
    }
    // What mkdir made is kept until its modes are known: if asking the server fails (a dropped
    // connection), the next check finds the folders there and must not forget their modes.
    const made = (await mkdir(dir, { recursive: true })) ?? this.unrecorded.get(dir)
    if (made !== undefined) this.unrecorded.set(dir, made)
    await this.created(made, dir)
    this.unrecorded.delete(dir)
  }
}

/** Where `dir` really is: the deepest part of it that exists, with every link resolved. */
export async function realpathOfExisting(dir: string): Promise<string> {
  let current = dir
  while (!(await lstat(current).catch(() => undefined)) && path.dirname(current) !== current) {
    current = path.dirname(current)
  }
  return realpath(current)
}
