import { readdirSync, realpathSync, statSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import * as path from 'node:path'
import picomatch from 'picomatch'
import { InputError } from '../errors.js'
import type { SourceSpec } from '../inputs/parse.js'
import { allExcluded, makeSourceExcluder, pathPrefixes, scanPattern } from './patterns.js'
import { isInsideDir } from './safe-names.js'

/** A local file chosen for upload. */
export interface LocalFile {
  /** Absolute local path. */
  path: string
  /** Path below the target directory, POSIX separators. */
  rel: string
  size: number
}

/** A file found by walking a directory: its path relative to the walk root, POSIX form. */
interface Found {
  abs: string
  rel: string
  size: number
}

/**
 * Expands the `source` input on the runner. A directory sends its contents; a glob keeps paths
 * relative to its literal base directory; a plain file lands under its own name. Symbolic links
 * to files are followed; links to directories are not, so a link loop cannot run forever.
 */
export async function listLocalFiles(
  spec: SourceSpec,
  workspace: string,
  warn: (message: string) => void
): Promise<LocalFile[]> {
  const excluded = makeSourceExcluder(spec.exclude)
  const byRel = new Map<string, LocalFile>()
  for (const pattern of spec.include) {
    const matches = await expandPattern(pattern, workspace, warn)
    const kept = matches.filter(f => !excluded(f.rel, toPosix(path.relative(workspace, f.abs))))
    if (matches.length === 0) {
      throw new InputError('source', `'${pattern}' matches no file (searched from ${workspace}).`)
    }
    if (kept.length === 0) throw allExcluded(pattern, matches.length)
    for (const file of kept) addUnique(byRel, { path: file.abs, rel: file.rel, size: file.size })
  }
  return [...byRel.values()].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))
}

async function expandPattern(
  pattern: string,
  workspace: string,
  warn: (message: string) => void
): Promise<Found[]> {
  const { base, glob } = scanPattern(pattern)
  const root = path.resolve(workspace, base)
  if (!glob) {
    const info = await stat(root).catch(() => undefined)
    if (!info) return []
    if (info.isFile()) return [{ abs: root, rel: path.basename(root), size: info.size }]
    if (info.isDirectory()) return walkFrom(root, workspace, warn)
    warn(`Source '${pattern}' is neither a file nor a directory; skipped.`)
    return []
  }
  const isMatch = picomatch(glob, { dot: true })
  let all: Found[]
  try {
    all = walkFrom(root, workspace, warn)
  } catch {
    all = []
  }
  // A glob that names a directory takes everything inside it, as a shell copy would.
  return all.filter(f => pathPrefixes(f.rel).some(p => isMatch(p)))
}

interface WalkContext {
  workspace: string
  /** The folder the pattern starts from: links to files inside it are followed too. */
  root: string
  warn: (message: string) => void
}

/**
 * Walks the tree with synchronous calls: nothing else runs before the connection opens, and each
 * asynchronous file-system call costs a thread-pool round trip (10,000 files: 60 ms instead of
 * 600 ms).
 */
function walkFrom(root: string, workspace: string, warn: (m: string) => void): Found[] {
  return walk(root, '', { workspace, root, warn })
}

function walk(dir: string, prefix: string, ctx: WalkContext): Found[] {
  const found: Found[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, entry.name)
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) {
      found.push(...walk(abs, rel, ctx))
    } else if (entry.isFile()) {
      found.push({ abs, rel, size: statSync(abs).size })
    } else if (entry.isSymbolicLink()) {
      const followed = followLink(abs, [ctx.workspace, ctx.root])
      if (typeof followed === 'number') found.push({ abs, rel, size: followed })
      else ctx.warn(`Skipped ${abs}: ${followed}.`)
    }
  }
  return found
}

/**
 * A link to a file inside the workspace is followed (its size returned). A link leading out of
 * it is not: a build that links to ~/.ssh/id_rsa must not publish the runner's key.
 */
function followLink(abs: string, roots: string[]): number | string {
  const real = realOrUndefined(abs)
  if (!real) return 'the link points to nothing'
  const allowed = roots.map(r => realOrUndefined(r) ?? r)
  if (!allowed.some(root => root !== real && isInsideDir(root, real))) {
    return 'the link points outside the workspace and the source folder'
  }
  const info = statSync(real)
  return info.isFile() ? info.size : 'a link to a directory is not followed'
}

function realOrUndefined(p: string): string | undefined {
  try {
    return realpathSync(p)
  } catch {
    return undefined
  }
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
