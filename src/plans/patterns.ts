import picomatch from 'picomatch'

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
 * Builds the `!pattern` test. A pattern matches a file when it matches the path below the target,
 * the path as the user sees it (from the workspace or login directory), or a directory above
 * either, so `!node_modules` leaves out a whole tree. Patterns without a slash match a name at any
 * depth, like .gitignore.
 */
export function makeExcluder(patterns: string[]): (...paths: string[]) => boolean {
  if (patterns.length === 0) return () => false
  const matchers = patterns.map(p => {
    const cleaned = p.replace(/\\/g, '/').replace(/^\.\//, '').replace(/\/+$/, '')
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
  const hasSlash = (p: string): boolean => p.replace(/\/+$/, '').includes('/')
  const bare = makeExcluder(spec.exclude.filter(p => !hasSlash(p)))
  const pathed = makeExcluder(spec.exclude.filter(hasSlash))
  const root = dest.replace(/\/+$/, '')
  const bases = spec.include
    .map(p => scanPattern(p).base.replace(/^\.\//, '').replace(/\/+$/, ''))
    .filter(Boolean)
  return rel => bare(rel) || pathed(rel, `${root}/${rel}`, ...bases.map(b => `${b}/${rel}`))
}
