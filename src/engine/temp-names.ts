import { createHash, randomBytes } from 'node:crypto'

/**
 * Suffix of every temporary file this action writes. Recognisable, so interrupted runs' leftovers
 * can be found and removed, and hidden (leading dot) so web servers do not list them.
 */
export const TEMP_SUFFIX = '.sftp-part'

/** A per-run token: two runs into the same directory never share a temporary name. */
export const RUN_TOKEN = randomBytes(4).toString('hex')

/** Longest name kept whole: with the dot, token and suffix it stays under NAME_MAX (255 bytes). */
const MAX_BASE_BYTES = 180

/** `dir/name` → `dir/.name.<token>.sftp-part`, for POSIX (remote) or local joins. */
export function tempNameFor(name: string): string {
  if (Buffer.byteLength(name) <= MAX_BASE_BYTES) {
    // On a case-insensitive file system (macOS, Windows) `A.txt` and `a.txt` would share a
    // temporary file; a digest of the exact name keeps them apart.
    const tag = name === name.toLowerCase() ? '' : `~${digestOf(name)}`
    return `.${name}${tag}.${RUN_TOKEN}${TEMP_SUFFIX}`
  }
  // File systems count bytes, not characters. Cut on a character boundary, and add a digest of
  // the whole name so two long names sharing a prefix never share a temporary file.
  let base = ''
  for (const char of name) {
    if (Buffer.byteLength(base + char) > MAX_BASE_BYTES - 9) break
    base += char
  }
  return `.${base}~${digestOf(name)}.${RUN_TOKEN}${TEMP_SUFFIX}`
}

function digestOf(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 8)
}

export function isTempName(name: string): boolean {
  return name.startsWith('.') && name.endsWith(TEMP_SUFFIX)
}
