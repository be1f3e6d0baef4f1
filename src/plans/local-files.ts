import { readdirSync, statSync, type Stats } from 'node:fs'
import { stat } from 'node:fs/promises'
import * as path from 'node:path'
import picomatch from 'picomatch'
import { InputError } from '../errors.js'
import type { SourceSpec } from './patterns.js'
import { allExcluded, makeSourceExcluder, pathPrefixes, scanPattern } from './patterns.js'
import { isInsideDir, printableName } from './safe-names.js'
import { linkBoundary, linkEscapeError, linkRefusal, realOrUndefined } from './workspace-links.js'
import type { LinkBoundary } from './workspace-links.js'

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
function fromStat(path: string, rel: string, info: Stats): LocalFile {
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

/** Stats every file still UNSIZED, keeping its times and mode as the walk would have. */
export function sizeUnsized(files: LocalFile[]): void {
  for (const f of files) {
    if (f.size !== UNSIZED) continue
    const info = statSync(f.path)
    f.size = info.size
    f.mtime = info.mtimeMs / 1000
    f.atime = info.atimeMs / 1000
    f.mode = info.mode
  }
}

/**
 * A file found by walking a directory, `rel` from the walk root: found in the very shape the
 * upload takes, as a copy per file cost 50,000 objects for nothing.
 */
type Found = LocalFile

/** A link met while walking that resolves outside the boundary: refused unless left out. */
interface Escape {
  /** Absolute local path of the link. */
  path: string
  rel: string
  real: string
  /** Why it is not followed (linkRefusal). */
  refusal: string
}

/** What one pattern selects. */
interface Expanded {
  files: Found[]
  escapes: Escape[]
}

/**
 * Expands the `source` input on the runner. A directory sends its contents; a glob keeps paths
 * relative to its literal base directory; a plain file lands under its own name. Symbolic links
 * to files are followed; links to directories are not, so a link loop cannot run forever. No
 * link may lead out of the workspace (see linkBoundary).
 */
export async function listLocalFiles(
  spec: SourceSpec,
  workspace: string,
  warn: (message: string) => void,
  /**
   * Told of each file kept, by local path, as soon as the walk finds it (it may still be named
   * twice, or the listing fail after it): hashing can start while the walk goes on.
   */
  onFound?: (abs: string) => void,
  /**
   * Leave the files a walk finds UNSIZED: a second thread that reads every file for its hash
   * tells their sizes instead (50,000 stat calls and their Stats objects took 0.35 s of this
   * thread, most of the walk).
   */
  sizeLater = false
): Promise<LocalFile[]> {
  const excluded = makeSourceExcluder(spec.exclude)
  // Without `!` lines every file is kept: no workspace path to work out for each of them.
  const isKept = (f: { path: string; rel: string }) =>
    spec.exclude.length === 0 || !excluded(f.rel, toPosix(path.relative(workspace, f.path)))
  const byRel = new Map<string, LocalFile>()
  for (const pattern of spec.include) {
    const tell = onFound && ((f: Found) => isKept(f) && onFound(f.path))
    const { files: matches, escapes } = await expandPattern(
      pattern,
      workspace,
      warn,
      tell,
      sizeLater
    )
    const kept = matches.filter(isKept)
    const leaving = escapes.filter(isKept)
    if (leaving.length > 0) {
      const first = leaving.sort((a, b) => (a.path < b.path ? -1 : 1))[0]
      throw linkEscapeError(
        asWritten(first.path, workspace),
        first.real,
        first.refusal,
        leaving.length - 1
      )
    }
    if (matches.length === 0) {
      throw new InputError('source', `'${pattern}' matches no file (searched from ${workspace}).`)
    }
    if (kept.length === 0) throw allExcluded(pattern, matches.length)
    // One walk lists each path once: only a second pattern can land on a path already taken.
    if (spec.include.length === 1) return sortByRel(kept)
    for (const file of kept) addUnique(byRel, file)
  }
  return sortByRel([...byRel.values()])
}

/** Folders surelyHasAFile looks into at most before it gives up (and says "not sure"). */
const FIRST_FILE_FOLDERS = 32

/**
 * Whether `source` surely names at least one file, found cheaply before the walk: every pattern
 * is a plain path (no glob, no `!` line) to a file, or to a folder with a regular file within a
 * few folders' reach. False means "not sure", never "no": the walk still decides, and fails
 * where it must.
 */
export async function surelyHasAFile(spec: SourceSpec, workspace: string): Promise<boolean> {
  if (spec.exclude.length > 0 || spec.include.length === 0) return false
  for (const pattern of spec.include) {
    const { base, glob } = scanPattern(pattern)
    if (glob) return false
    const root = path.resolve(workspace, base)
    const info = await stat(root).catch(() => undefined)
    if (info?.isFile()) continue
    if (!info?.isDirectory() || !hasFileWithin(root, { left: FIRST_FILE_FOLDERS })) return false
  }
  return true
}

function hasFileWithin(dir: string, budget: { left: number }): boolean {
  if (--budget.left < 0) return false
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return false
  }
  if (entries.some(e => e.isFile())) return true
  return entries.some(e => e.isDirectory() && hasFileWithin(path.join(dir, e.name), budget))
}

function sortByRel(files: LocalFile[]): LocalFile[] {
  return files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))
}

async function expandPattern(
  pattern: string,
  workspace: string,
  warn: (message: string) => void,
  onFound?: (file: Found) => void,
  sizeLater = false
): Promise<Expanded> {
  const { base, glob } = scanPattern(pattern)
  const root = path.resolve(workspace, base)
  const boundary = linkBoundary(workspace, root)
  const ctx: WalkContext = { boundary, warn, files: [], escapes: [], onFound, sizeLater }
  if (!glob) {
    const info = await stat(root).catch(() => undefined)
    if (info?.isFile()) found(ctx, fromStat(root, path.basename(root), info))
    else if (info?.isDirectory()) walk(root, '', ctx)
    else if (info) warn(`Source '${pattern}' is neither a file nor a directory; skipped.`)
    return ctx
  }
  const isMatch = picomatch(glob, { dot: true })
  // A glob that names a directory takes everything inside it, as a shell copy would.
  const selected = (f: { rel: string }) => pathPrefixes(f.rel).some(p => isMatch(p))
  if (onFound) ctx.onFound = f => selected(f) && onFound(f)
  try {
    walk(root, '', ctx)
  } catch {
    return { files: [], escapes: [] }
  }
  for (const e of ctx.escapes.filter(e => !selected(e)))
    warn(skipped(e.path, `the link ${e.refusal}`))
  return { files: ctx.files.filter(selected), escapes: ctx.escapes.filter(selected) }
}

interface WalkContext {
  boundary: LinkBoundary
  warn: (message: string) => void
  files: Found[]
  escapes: Escape[]
  onFound?: (file: Found) => void
  sizeLater: boolean
}

function found(ctx: WalkContext, file: Found): void {
  ctx.files.push(file)
  ctx.onFound?.(file)
}

/**
 * Walks the tree with synchronous calls: nothing else runs before the connection opens, and each
 * asynchronous file-system call costs a thread-pool round trip (10,000 files: 60 ms instead of
 * 600 ms).
 */
function walk(dir: string, prefix: string, ctx: WalkContext): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    // dir is already normal (resolved), and a listed name is one part: no path.join needed.
    const abs = dir.endsWith(path.sep) ? dir + entry.name : `${dir}${path.sep}${entry.name}`
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) walk(abs, rel, ctx)
    else if (entry.isFile()) {
      found(
        ctx,
        ctx.sizeLater ? { path: abs, rel, size: UNSIZED } : fromStat(abs, rel, statSync(abs))
      )
    } else if (entry.isSymbolicLink()) followLink(abs, rel, ctx)
  }
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

/** A path as the user would write it in `source`: from the workspace when it lies inside. */
function asWritten(abs: string, workspace: string): string {
  return isInsideDir(path.resolve(workspace), abs) ? toPosix(path.relative(workspace, abs)) : abs
}

function skipped(abs: string, why: string): string {
  return `Skipped ${printableName(abs)}: ${why}.`
}

function addUnique(byRel: Map<string, LocalFile>, file: LocalFile): void {
  const existing = byRel.get(file.rel)
  if (existing && existing.path !== file.path) {
    throw new InputError(
      'source',
      `two sources land on the same target path '${file.rel}' (${existing.path} and ${file.path}). ` +
        'Exclude one, or upload them in separate steps.'
    )
  }
  byRel.set(file.rel, file)
}

export function toPosix(p: string): string {
  return p.split(path.sep).join('/')
}
