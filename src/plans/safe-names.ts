import * as path from 'node:path'
import { forLog } from '../escape.js'

/** No drive prefix, no separator, no control character (NUL included), not empty. */
// eslint-disable-next-line no-control-regex
const PLAIN_NAME = /^(?![A-Za-z]:)[^\x00-\x1f\x7f/\\]+$/

/**
 * Why a name from a server's listing cannot be used, or undefined when it is a plain name.
 * A hostile server can list anything; the scp client once wrote `../` names outside its
 * target (CVE-2019-6111), so nothing that could leave the target or confuse a path is accepted.
 */
export function unsafeNameReason(name: string): string | undefined {
  // Nearly every name is plain: one test instead of the checks below (a listing of 50,000
  // names spent half its time on them).
  if (PLAIN_NAME.test(name) && name !== '.' && name !== '..') return undefined
  if (name.length === 0) return 'empty name'
  if (name === '.' || name === '..') return `'${name}' is a directory reference`
  if (name.includes('/')) return 'contains /'
  if (name.includes('\\')) return 'contains \\'
  if (name.includes('\0')) return 'contains NUL'
  // A newline in a logged name could start a workflow command (::add-mask::, ::error::).
  if ([...name].some(c => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    return 'contains a control character'
  }
  if (/^[A-Za-z]:/.test(name)) return 'looks like a drive path'
  return undefined
}

/**
 * Shows a hostile name inside a message: escaped for the log (see forLog), its own backslashes
 * doubled so `\n` in it can only mean a newline, length capped.
 */
export function printableName(name: string): string {
  const shown = [...forLog(name.replace(/\\/g, '\\\\'))]
  return shown.length > 120 ? `${shown.slice(0, 117).join('')}...` : shown.join('')
}

/** Whether local path `inner` is `outer` itself or below it (`..cache` is a name, not a step up). */
export function isInsideDir(outer: string, inner: string): boolean {
  const relative = path.relative(outer, inner)
  return relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative)
}

/**
 * Joins a relative POSIX path below a local directory and proves the result stays inside it.
 * Returns undefined when it would not.
 */
export function localPathInside(root: string, rel: string): string | undefined {
  const parts = rel.split('/')
  if (parts.some(p => unsafeNameReason(p) !== undefined)) return undefined
  const resolvedRoot = path.resolve(root)
  const candidate = path.resolve(resolvedRoot, ...parts)
  const relative = path.relative(resolvedRoot, candidate)
  if (!relative || relative.startsWith('..') || path.isAbsolute(relative)) return undefined
  return candidate
}
