import { createHash, randomBytes } from 'node:crypto'

/**
 * Suffix of every temporary file this action writes. Recognisable, so interrupted runs' leftovers
 * can be found and removed, and hidden (leading dot) so web servers do not list them.
 */
export const TEMP_SUFFIX = '.sftp-part'

/**
 * A fresh token for temporary names. Each upload to a server takes its own, so two runs, and two
 * fan-out servers that share one file system, never write the same temporary file.
 */
export function newRunToken(): string {
  return randomBytes(4).toString('hex')
}

/** This process's token, for temporary names that need no more than one per run. */
export const RUN_TOKEN = newRunToken()

/** Exactly the names tempNameFor makes: hidden, then a token of 8 hex digits, then the suffix. */
const TEMP_NAME = /^\..+\.[0-9a-f]{8}\.sftp-part$/

/** Longest name kept whole: with the dot, token and suffix it stays under NAME_MAX (255 bytes). */
const MAX_BASE_BYTES = 180

/** `dir/name` → `dir/.name.<token>.sftp-part`, for POSIX (remote) or local joins. */
export function tempNameFor(name: string, token: string = RUN_TOKEN): string {
  if (Buffer.byteLength(name) <= MAX_BASE_BYTES) {
    // On a case-insensitive file system (macOS, Windows) `A.txt` and `a.txt` would share a
    // temporary file; a digest of the exact name keeps them apart.
    const tag = name === name.toLowerCase() ? '' : `~${digestOf(name)}`
    return `.${name}${tag}.${token}${TEMP_SUFFIX}`
  }
  // File systems count bytes, not characters. Cut on a character boundary, and add a digest of
  // the whole name so two long names sharing a prefix never share a temporary file.
  let base = ''
  for (const char of name) {
    if (Buffer.byteLength(base + char) > MAX_BASE_BYTES - 9) break
    base += char
  }
  return `.${base}~${digestOf(name)}.${token}${TEMP_SUFFIX}`
}

function digestOf(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 8)
}

export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name)
}
