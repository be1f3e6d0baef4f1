import type { RemoteFile } from './remote-files.js'

/**
 * The most recently modified file by the server's clock. Equal times are broken by name, the
 * later name winning, since backup names usually end in a date or a sequence number.
 */
export function newestFile(files: RemoteFile[]): RemoteFile | undefined {
  let best: RemoteFile | undefined
  for (const file of files) {
    if (!best || file.mtime > best.mtime || (file.mtime === best.mtime && file.path > best.path)) {
      best = file
    }
  }
  return best
}

/** "3 h 5 min", "2 d 4 h": a file's age for the log. */
export function describeAge(mtimeSeconds: number, nowMs: number): string {
  const minutes = Math.max(0, Math.floor((nowMs / 1000 - mtimeSeconds) / 60))
  if (minutes < 60) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours} h ${minutes % 60} min`
  return `${Math.floor(hours / 24)} d ${hours % 24} h`
}
