import ssh2 from 'ssh2'

const { STATUS_CODE } = ssh2.utils.sftp

/** An error that maps to a specific SFTP status code. */
export class SftpError extends Error {
  constructor(
    readonly code: number,
    message: string
  ) {
    super(message)
  }
}

export const denied = (p: string): SftpError =>
  new SftpError(STATUS_CODE.PERMISSION_DENIED, `path escapes the served root: ${p}`)

export function errnoOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined
}

/** ENOENT → NO_SUCH_FILE, EACCES/EPERM → PERMISSION_DENIED, anything else → FAILURE. */
export function toStatus(error: unknown): { code: number; message: string } {
  if (error instanceof SftpError) return { code: error.code, message: error.message }
  const errno = errnoOf(error)
  switch (errno) {
    case 'ENOENT':
      return { code: STATUS_CODE.NO_SUCH_FILE, message: 'No such file' }
    case 'EACCES':
    case 'EPERM':
      return { code: STATUS_CODE.PERMISSION_DENIED, message: 'Permission denied' }
    default:
      return { code: STATUS_CODE.FAILURE, message: errno ? `Failure (${errno})` : 'Failure' }
  }
}

/** Client path → segments below the root; undefined when '..' would climb above the root. */
export function virtualSegments(clientPath: string): string[] | undefined {
  const out: string[] = []
  for (const segment of clientPath.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') {
      if (out.length === 0) return undefined
      out.pop()
      continue
    }
    out.push(segment)
  }
  return out
}

export function isWithin(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith('/') ? root : `${root}/`)
}
