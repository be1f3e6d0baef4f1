/**
 * Reading what a server's `sha256sum` printed. The server is not trusted: a path counts as hashed
 * only when exactly one well-formed line names it exactly; anything else (no line, two lines, an
 * uppercase or short hash, a name nobody asked for) leaves it unhashed, which callers treat as
 * "changed" and send again, never as "unchanged".
 */

/** GNU sha256sum marks a line whose name holds `\`, newline or CR with a leading `\`. */
const LINE = /^(\\?)([0-9a-f]{64}) [ *](.+)$/s

/** Hashes by path, only for `asked` paths named by exactly one well-formed line. */
export function parseSha256sumOutput(
  output: string,
  asked: readonly string[]
): Map<string, string> {
  const wanted = new Set(asked)
  const seen = new Map<string, string | null>()
  for (const line of output.split('\n')) {
    const m = LINE.exec(line)
    if (!m) continue
    const name = m[1] ? unescapeName(m[3]) : m[3]
    if (name === undefined || !wanted.has(name)) continue
    // The same name twice is ambiguous, even with the same hash: trust neither.
    seen.set(name, seen.has(name) ? null : m[2])
  }
  const hashes = new Map<string, string>()
  for (const [name, hash] of seen) if (hash !== null) hashes.set(name, hash)
  return hashes
}

/** Undoes sha256sum's escaping (`\\`, `\n`, `\r`); any other escape makes the line unusable. */
function unescapeName(text: string): string | undefined {
  let out = ''
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') {
      out += text[i]
      continue
    }
    const next = text[++i]
    if (next === '\\') out += '\\'
    else if (next === 'n') out += '\n'
    else if (next === 'r') out += '\r'
    else return undefined
  }
  return out
}
