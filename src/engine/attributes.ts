import * as core from '@actions/core'
import { forLog } from '../escape.js'
import type { AttributeSettings } from '../inputs/attributes.js'

/** What the source says about one file: seconds since the epoch, and its mode bits. */
export interface SourceAttributes {
  atime: number
  mtime: number
  /** Absent where a server does not report it. */
  mode?: number
}

/** What to set on a landed file, before it is renamed into place. */
export interface FileAttributes {
  atime?: number
  mtime?: number
  /** Permission bits only (0777). */
  mode?: number
}

/** Never setuid, setgid or sticky: a file copied from elsewhere must not gain privileges. */
const PERMISSION_BITS = 0o777

/** The times and mode a file gets under `preserve` and `chmod`, or undefined for none. */
export function fileAttributes(
  settings: AttributeSettings | undefined,
  source: SourceAttributes | undefined
): FileAttributes | undefined {
  if (!settings) return undefined
  const attrs: FileAttributes = {}
  if (settings.times && source) {
    attrs.atime = Math.floor(source.atime)
    attrs.mtime = Math.floor(source.mtime)
  }
  const mode = settings.chmod.files ?? (settings.mode ? source?.mode : undefined)
  if (mode !== undefined) attrs.mode = mode & PERMISSION_BITS
  return attrs.mtime !== undefined || attrs.mode !== undefined ? attrs : undefined
}

/** The mode a folder the action created gets, or undefined to leave the server's default. */
export async function folderMode(
  settings: AttributeSettings | undefined,
  sourceMode: (() => Promise<number | undefined>) | undefined
): Promise<number | undefined> {
  if (!settings) return undefined
  if (settings.chmod.dirs !== undefined) return settings.chmod.dirs & PERMISSION_BITS
  if (!settings.mode || !sourceMode) return undefined
  const mode = await sourceMode()
  return mode === undefined ? undefined : mode & PERMISSION_BITS
}

/**
 * The source folder behind each target folder: a file's path and its path below the target end
 * in the same names, so `a/b` below the target is the folder two levels above `a/b/f.txt`'s source.
 */
export function sourceFolders(
  files: Array<{ path: string; rel: string }>,
  dirname: (p: string) => string
): Map<string, string> {
  const folders = new Map<string, string>()
  for (const file of files) {
    // A file in a folder already seen adds nothing: worked out once per folder, not per file.
    const slash = file.rel.lastIndexOf('/')
    if (slash < 0 || folders.has(file.rel.slice(0, slash))) continue
    let rel = file.rel.split('/').slice(0, -1)
    let source = dirname(file.path)
    while (rel.length > 0 && !folders.has(rel.join('/'))) {
      folders.set(rel.join('/'), source)
      rel = rel.slice(0, -1)
      source = dirname(source)
    }
  }
  return folders
}

/** A listed remote file's attributes, as the server reported them. */
export function remoteAttributes(file: {
  mtime: number
  atime?: number
  mode?: number
}): SourceAttributes {
  // One object, not one spread into another: asked once per file downloaded.
  const atime = file.atime ?? file.mtime
  return file.mode === undefined
    ? { atime, mtime: file.mtime }
    : { atime, mtime: file.mtime, mode: file.mode }
}

const warned = new Set<string>()

/**
 * Times are kept by default, so a server that refuses to set them (some SFTP gateways do) must
 * not fail every upload: that is said once per run. A mode that was asked for is not optional.
 */
export function refusedTimes(where: string, err: Error): void {
  const key = where
  if (warned.has(key)) return
  warned.add(key)
  core.warning(
    `${where} refused to set file times (${forLog(err.message)}); files keep the time they were written. ` +
      'Set preserve: none to stop trying.'
  )
}
