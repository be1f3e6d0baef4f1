/**
 * Parses `sha256sum` output (`<64 hex>  name` or `<64 hex> *name`, one per line) into a map of
 * name → lowercase hex. A bare hash on its own line (a `NAME.sha256` sidecar that holds only the
 * digest) is stored under the empty name.
 */
export function parseChecksums(text: string): Map<string, string> {
  const sums = new Map<string, string>()
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const m = /^([0-9a-fA-F]{64})(?:\s+\*?(.+))?$/.exec(line)
    if (!m) continue
    const name = (m[2] ?? '').trim().replace(/^\.\//, '')
    sums.set(name, m[1].toLowerCase())
  }
  return sums
}

/** What a sidecar says a file's hash must be, if it says anything about it. */
export function expectedFromSidecar(
  fileName: string,
  sidecar: Map<string, string> | undefined,
  sums: Map<string, string> | undefined
): { hash: string; source: string } | undefined {
  const own = sidecar?.get(fileName) ?? sidecar?.get('')
  if (own) return { hash: own, source: `${fileName}.sha256` }
  const listed = sums?.get(fileName)
  return listed ? { hash: listed, source: 'SHA256SUMS' } : undefined
}
