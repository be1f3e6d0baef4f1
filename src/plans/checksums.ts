import * as path from 'node:path'

/**
 * Parses checksum lines into a map of name → lowercase hex: `sha256sum` output (`<64 hex>  name`
 * or `<64 hex> *name`) and its BSD form (`SHA256 (name) = <64 hex>`, from `sha256sum --tag`). A
 * bare hash on its own line (a `NAME.sha256` sidecar that holds only the digest) is stored under
 * the empty name.
 */
export function parseChecksums(text: string): Map<string, string> {
  const sums = new Map<string, string>()
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const gnu = /^([0-9a-fA-F]{64})(?:\s+\*?(.+))?$/.exec(line)
    const bsd = /^SHA256 ?\((.+)\) ?= ?([0-9a-fA-F]{64})$/.exec(line)
    const [hash, name] = gnu ? [gnu[1], gnu[2]] : bsd ? [bsd[2], bsd[1]] : []
    if (hash === undefined) continue
    sums.set((name ?? '').trim().replace(/^\.\//, ''), hash.toLowerCase())
  }
  return sums
}

/**
 * A file's line in its own `NAME.sha256`: under its name, else under a path ending in it, since
 * `sha256sum build/app.tar.gz > app.tar.gz.sha256` records the path it was run with. (In a
 * `SHA256SUMS`, which lists many files, only the exact name counts: `sub/app.tar.gz` there is
 * another file.)
 */
function ownLine(sums: Map<string, string>, fileName: string): string | undefined {
  const exact = sums.get(fileName)
  if (exact) return exact
  const byBase = [...sums].filter(([name]) => path.posix.basename(name) === fileName)
  return byBase.length === 1 ? byBase[0][1] : undefined
}

/** What a file's checksums say its hash must be. */
export type SidecarVerdict =
  | { hash: string; source: string }
  /** The file's own `NAME.sha256` exists but gives no hash for it: never read as "no check". */
  | { unusable: string }
  | undefined

/**
 * What a sidecar says a file's hash must be. The file's own `NAME.sha256` exists only to vouch
 * for that file, so one that names nothing usable is an error; a `SHA256SUMS` covers many files
 * and may simply not list this one.
 */
export function expectedFromSidecar(
  fileName: string,
  sidecar: Map<string, string> | undefined,
  sums: Map<string, string> | undefined
): SidecarVerdict {
  if (sidecar) {
    const own = ownLine(sidecar, fileName) ?? sidecar.get('')
    if (own) return { hash: own, source: `${fileName}.sha256` }
    return {
      unusable:
        `${fileName}.sha256 holds no SHA-256 for ${fileName} (expected a bare digest, ` +
        `'<digest>  ${fileName}' or 'SHA256 (${fileName}) = <digest>')`
    }
  }
  const listed = sums?.get(fileName)
  return listed ? { hash: listed, source: 'SHA256SUMS' } : undefined
}
