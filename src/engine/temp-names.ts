import { randomBytes } from 'node:crypto'

/**
 * Suffix of every temporary file this action writes. Recognisable, so interrupted runs' leftovers
 * can be found and removed, and hidden (leading dot) so web servers do not list them.
 */
export const TEMP_SUFFIX = '.sftp-part'

/** A per-run token: two runs into the same directory never share a temporary name. */
export const RUN_TOKEN = randomBytes(4).toString('hex')

/** `dir/name` → `dir/.name.<token>.sftp-part`, for POSIX (remote) or local joins. */
export function tempNameFor(name: string): string {
  const base = name.length > 180 ? name.slice(0, 180) : name
  return `.${base}.${RUN_TOKEN}${TEMP_SUFFIX}`
}

export function isTempName(name: string): boolean {
  return name.startsWith('.') && name.endsWith(TEMP_SUFFIX)
}
