import picomatch from 'picomatch'
import { InputError } from '../errors.js'

/** The `source` input split into what to include and what to leave out. */
export interface SourceSpec {
  /** Paths or globs to include, in the order given. */
  include: string[]
  /** Globs (without the leading `!`) to exclude. */
  exclude: string[]
}

/** A source pattern split into the directory to start from and the glob below it. */
export interface ScannedPattern {
  /** Literal leading directories ('' when the glob starts at once). */
  base: string
  /** The glob part, or '' when the pattern has no glob characters. */
  glob: string
}

export function scanPattern(pattern: string): ScannedPattern {
  const normalized = pattern.replace(/\\/g, '/')
  const scan = picomatch.scan(normalized)
  if (!scan.isGlob) return { base: normalized, glob: '' }
  return { base: scan.base, glob: scan.glob }
}

/**
 * Builds the `!pattern` test. A pattern matches a file when it matches one of the given paths or a
 * directory above one, so `!node_modules` leaves out a whole tree. Patterns without a slash match a
 * name at any depth, like .gitignore (which paths they see is up to the callers below).
 */
export function makeExcluder(patterns: string[]): (...paths: string[]) => boolean {
  if (patterns.length === 0) return () => false
  const matchers = patterns.map(p => {
    const cleaned = cleanPattern(p)
    // Paths are compared without a leading '/', so a full remote path must lose it too.
    return picomatch(cleaned.replace(/^\/+/, ''), { dot: true, basename: !cleaned.includes('/') })
  })
  return (...paths) =>
    paths.some(p => pathPrefixes(p).some(candidate => matchers.some(m => m(candidate))))
}

/** `a/b/c` → `a`, `a/b`, `a/b/c`. */
export function pathPrefixes(rel: string): string[] {
  const parts = rel.split('/').filter(Boolean)
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'))
}

/** `\` as `/`, no leading `./`, no trailing `/`: how every `!` pattern is read. */
function cleanPattern(p: string): string {
  return p.replace(/\\/g, '/').replace(/^\.\//, '').replace(/\/+$/, '')
}

/** Whether a `!` pattern names a path (`build/cache`, `build\cache`) or a bare name (`cache`). */
const hasSlash = (p: string): boolean => cleanPattern(p).includes('/')

/**
 * The `!` test for source files. A bare name (`!cache`) matches names below the source's base
 * only, never a folder of the path leading to it (`app/cache/public/` keeps its files); patterns
 * with a slash also match the path as the user sees it (from the workspace or login directory).
 * The target side (makeTargetExcluder) reads bare names the same way, so what an exclude keeps
 * out of an upload is exactly what it protects from `delete`.
 */
export function makeSourceExcluder(
  exclude: string[]
): (rel: string, ...shown: string[]) => boolean {
  const bare = makeExcluder(exclude.filter(p => !hasSlash(p)))
  const pathed = makeExcluder(exclude.filter(hasSlash))
  return (rel, ...shown) => bare(rel) || pathed(rel, ...shown)
}

/**
 * A source line whose every match is excluded moves nothing, like a typo would; with `delete` it
 * would even plan to remove what it was meant to send. Refused the same way as no match at all.
 */
export function allExcluded(pattern: string, matched: number): InputError {
  const files = matched === 1 ? '1 file' : `${matched} files`
  return new InputError(
    'source',
    `'${pattern}' matches ${files}, but the '!' lines exclude every one. Narrow the exclude, or ` +
      'remove the line.'
  )
}

/**
 * The `!` test for files already on the server, which only have a path below the target. A
 * remote file counts as excluded when the pattern would have matched it on the source side too:
 * below the target, as a full remote path, or as each include's workspace path
 * (`public/` plus `!public/uploads/**` protects the server's `uploads/`).
 */
export function makeTargetExcluder(
  spec: { include: string[]; exclude: string[] },
  dest: string
): (rel: string) => boolean {
  // A bare name (`!tmp`) matches names below the target only, never a folder of the target's
  // own path (`/tmp/site`) or of a source base; patterns with a slash match any of the forms.
  const excluded = makeSourceExcluder(spec.exclude)
  const root = dest.replace(/\/+$/, '')
  const bases = spec.include
    .map(p => scanPattern(p).base.replace(/^\.\//, '').replace(/\/+$/, ''))
    .filter(Boolean)
  return rel => excluded(rel, `${root}/${rel}`, ...bases.map(b => `${b}/${rel}`))
}
