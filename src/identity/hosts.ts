/**
 * known_hosts host-pattern matching with OpenSSH's semantics (match_hostname in match.c and the
 * hashed-name check in hostfile.c), so a file that works for `ssh` selects the same lines here.
 */
import { createHmac } from 'node:crypto'

/** SHA-1 output length: the size OpenSSH requires of both the salt and the hash. */
const HASHED_PART_BYTES = 20

/**
 * The name OpenSSH looks up in known_hosts: `host` on port 22, `[host]:port` otherwise. Lower
 * case because ssh lowercases the host it is given before any lookup.
 */
export function knownHostsName(host: string, port: number): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  const lower = bare.toLowerCase()
  return port === 22 ? lower : `[${lower}]:${port}`
}

/**
 * Split and check the host field of a known_hosts line. A hashed `|1|salt|hash` entry stands
 * alone (OpenSSH never treats it as a list); otherwise it is a comma-separated pattern list.
 * Throws a plain Error describing the problem.
 */
export function parseHostField(field: string): string[] {
  if (field.startsWith('|')) {
    decodeHashed(field)
    return [field]
  }
  const patterns = field.split(',')
  if (patterns.some(pattern => pattern === '' || pattern === '!')) {
    throw new Error('the host list contains an empty pattern')
  }
  return patterns
}

/** Whether a known_hosts host field (as returned by parseHostField) matches a lookup name. */
export function hostsMatch(patterns: string[], name: string): boolean {
  if (patterns.length === 1 && patterns[0].startsWith('|')) return hashedMatches(patterns[0], name)
  let positive = false
  for (const entry of patterns) {
    const negated = entry.startsWith('!')
    const pattern = (negated ? entry.slice(1) : entry).toLowerCase()
    if (!globMatch(pattern, name)) continue
    // A matching negated pattern vetoes the whole line, whatever else matched.
    if (negated) return false
    positive = true
  }
  return positive
}

function decodeHashed(entry: string): { salt: Buffer; hash: Buffer } {
  const match = /^\|1\|([A-Za-z0-9+/]+={0,2})\|([A-Za-z0-9+/]+={0,2})$/.exec(entry)
  const salt = match ? Buffer.from(match[1], 'base64') : Buffer.alloc(0)
  const hash = match ? Buffer.from(match[2], 'base64') : Buffer.alloc(0)
  if (salt.length !== HASHED_PART_BYTES || hash.length !== HASHED_PART_BYTES) {
    throw new Error('the hashed host name is not a valid |1|salt|hash entry')
  }
  return { salt, hash }
}

/** HMAC-SHA1 keyed by the salt over the lookup name, as `ssh-keygen -H` wrote it. */
function hashedMatches(entry: string, name: string): boolean {
  const { salt, hash } = decodeHashed(entry)
  return createHmac('sha1', salt).update(name).digest().equals(hash)
}

/**
 * OpenSSH wildcard match: `*` is any run of characters, `?` exactly one, everything else
 * literal (brackets included, so `[host]:*` works). Greedy with backtracking to the last star,
 * which keeps it linear-ish on user-supplied patterns instead of building a RegExp from them.
 */
function globMatch(pattern: string, text: string): boolean {
  let p = 0
  let t = 0
  let starP = -1
  let starT = 0
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      p++
      t++
    } else if (p < pattern.length && pattern[p] === '*') {
      starP = p++
      starT = t
    } else if (starP >= 0) {
      p = starP + 1
      t = ++starT
    } else {
      return false
    }
  }
  while (pattern[p] === '*') p++
  return p === pattern.length
}
