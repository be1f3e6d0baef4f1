/**
 * One walk of a directory on the runner: the records of the files it finds, and the links it
 * meets that lead out of the workspace. Expanding the `source` input is local-files.ts.
 */
import { readdirSync, statSync, type Stats } from 'node:fs'
import * as path from 'node:path'
import { printableName } from './safe-names.js'
import { linkRefusal, realOrUndefined, type LinkBoundary } from './workspace-links.js'

/** A local file chosen for upload. */
export interface LocalFile {
  /** Absolute local path. */
  path: string
  /** Path below the target directory, POSIX separators. */
  rel: string
  /** UNSIZED until sizeUnsized() or the hashing (LocalHasher) tells it, for a walk without sizes. */
  size: number
  /**
   * Times (seconds since the epoch) and mode from the same stat as `size`, kept for `preserve`:
   * a second stat of every file at upload cost a system call and a Stats object each (50,000
   * files: about half a second of CPU). Absent where a caller built the record itself.
   */
  mtime?: number
  atime?: number
  mode?: number
  /**
   * SHA-256 (hex) of the content, set by the hashing for `sync: changed`: on the record itself,
   * as a map by path cost 50,000 files a lookup and an entry each on the way to the plan.
   */
  sha256?: string
}

/** The record of a file the walk found, from its stat. */
export function fromStat(path: string, rel: string, info: Stats): LocalFile {
  return {
    path,
    rel,
    size: info.size,
    mtime: info.mtimeMs / 1000,
    atime: info.atimeMs / 1000,
    mode: info.mode
  }
}

/** The size of a file a walk found but did not stat (see listLocalFiles' `sizeLater`). */
export const UNSIZED = -1

/**
 * A file found by walking a directory, `rel` from the walk root: found in the very shape the
 * upload takes, as a copy per file cost 50,000 objects for nothing.
 */
export type Found = LocalFile

/** A link met while walking that resolves outside the boundary: refused unless left out. */
export interface Escape {
  /** Absolute local path of the link. */
  path: string
  rel: string
  real: string
  /** Why it is not followed (linkRefusal). */
  refusal: string
}

/** What one walk carries along: where links may lead, and what it found. */
export interface WalkContext {
  boundary: LinkBoundary
  warn: (message: string) => void
  files: Found[]
  escapes: Escape[]
  onFound?: (file: Found) => void
  sizeLater: boolean
}

/** Entries a walk has seen, and when it last let the event loop in (see walk). */
interface Slice {
  entries: number
  start: number
}

export function found(ctx: WalkContext, file: Found): void {
  ctx.files.push(file)
  ctx.onFound?.(file)
}

/**
 * How long the walk keeps the event loop before letting it in. The connections start while the
 * source is read, and each step of the key exchange waits for the loop: a walk that never let
 * go (125 ms for 10,000 files on a loaded 2-core machine) held the handshake at a 50 ms round
 * trip until it ended, and the login came 50-70 ms later than it does now.
 */
const WALK_SLICE_MS = 4
/** Entries between two looks at the clock. */
const WALK_CLOCK_EVERY = 64

/**
 * Walks the tree with synchronous calls (an asynchronous one costs a thread-pool round trip: on
 * an idle machine 10,000 files took 600 ms instead of 60 ms), but lets the event loop in every
 * few milliseconds so the connections' handshakes go on meanwhile.
 */
export function walkTree(root: string, ctx: WalkContext): Promise<void> {
  return walk(root, '', ctx, { entries: 0, start: performance.now() })
}

async function walk(dir: string, prefix: string, ctx: WalkContext, slice: Slice): Promise<void> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (++slice.entries % WALK_CLOCK_EVERY === 0) await letOthersIn(slice)
    // dir is already normal (resolved), and a listed name is one part: no path.join needed.
    const abs = dir.endsWith(path.sep) ? dir + entry.name : `${dir}${path.sep}${entry.name}`
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) await walk(abs, rel, ctx, slice)
    else if (entry.isFile()) {
      found(
        ctx,
        ctx.sizeLater ? { path: abs, rel, size: UNSIZED } : fromStat(abs, rel, statSync(abs))
      )
    } else if (entry.isSymbolicLink()) followLink(abs, rel, ctx)
  }
}

async function letOthersIn(slice: Slice): Promise<void> {
  if (performance.now() - slice.start < WALK_SLICE_MS) return
  await new Promise(resolve => setImmediate(resolve))
  slice.start = performance.now()
}

/**
 * A link to a file inside the boundary is followed; a link to a folder inside it is skipped with
 * a warning. A link leading out of it is set aside to be refused (unless a glob or `!` line
 * leaves it out): a build that links to ~/.ssh/id_rsa must not publish the runner's key.
 */
function followLink(abs: string, rel: string, ctx: WalkContext): void {
  const real = realOrUndefined(abs)
  if (!real) return ctx.warn(skipped(abs, 'the link points to nothing'))
  const refusal = linkRefusal(ctx.boundary, real)
  if (refusal) return void ctx.escapes.push({ path: abs, rel, real, refusal })
  const info = statSync(real)
  if (info.isFile()) found(ctx, fromStat(abs, rel, info))
  else ctx.warn(skipped(abs, 'a link to a directory is not followed'))
}

export function skipped(abs: string, why: string): string {
  return `Skipped ${printableName(abs)}: ${why}.`
}
