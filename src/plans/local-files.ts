import { readdirSync, statSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import * as path from 'node:path'
import picomatch from 'picomatch'
import { InputError } from '../errors.js'
import {
  found,
  fromStat,
  skipped,
  UNSIZED,
  walkTree,
  type Escape,
  type Found,
  type LocalFile,
  type WalkContext
} from './local-walk.js'
import type { SourceSpec } from './patterns.js'
import { allExcluded, makeSourceExcluder, pathPrefixes, scanPattern } from './patterns.js'
import { isInsideDir } from './safe-names.js'
import { linkBoundary, linkEscapeError } from './workspace-links.js'

export { UNSIZED, type LocalFile } from './local-walk.js'

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
    else if (info?.isDirectory()) await walkTree(root, ctx)
    else if (info) warn(`Source '${pattern}' is neither a file nor a directory; skipped.`)
    return ctx
  }
  const isMatch = picomatch(glob, { dot: true })
  // A glob that names a directory takes everything inside it, as a shell copy would.
  const selected = (f: { rel: string }) => pathPrefixes(f.rel).some(p => isMatch(p))
  if (onFound) ctx.onFound = f => selected(f) && onFound(f)
  try {
    await walkTree(root, ctx)
  } catch {
    return { files: [], escapes: [] }
  }
  for (const e of ctx.escapes.filter(e => !selected(e)))
    warn(skipped(e.path, `the link ${e.refusal}`))
  return { files: ctx.files.filter(selected), escapes: ctx.escapes.filter(selected) }
}

/** A path as the user would write it in `source`: from the workspace when it lies inside. */
function asWritten(abs: string, workspace: string): string {
  return isInsideDir(path.resolve(workspace), abs) ? toPosix(path.relative(workspace, abs)) : abs
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
