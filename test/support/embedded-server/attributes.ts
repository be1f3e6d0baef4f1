import fs from 'node:fs'
import ssh2 from 'ssh2'

const { OPEN_MODE } = ssh2.utils.sftp

function reportedSize(st: fs.Stats, sizeDelta: number | undefined): number {
  if (!st.isFile() || !sizeDelta) return st.size
  return Math.max(0, st.size + sizeDelta)
}

export function toAttrs(st: fs.Stats, sizeDelta: number | undefined): ssh2.Attributes {
  return {
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: reportedSize(st, sizeDelta),
    atime: Math.floor(st.atimeMs / 1000),
    mtime: Math.floor(st.mtimeMs / 1000)
  }
}

function modeString(mode: number): string {
  const fmt = mode & fs.constants.S_IFMT
  const type =
    fmt === fs.constants.S_IFDIR
      ? 'd'
      : fmt === fs.constants.S_IFLNK
        ? 'l'
        : fmt === fs.constants.S_IFREG
          ? '-'
          : fmt === fs.constants.S_IFIFO
            ? 'p'
            : fmt === fs.constants.S_IFSOCK
              ? 's'
              : fmt === fs.constants.S_IFCHR
                ? 'c'
                : fmt === fs.constants.S_IFBLK
                  ? 'b'
                  : '?'
  let perms = ''
  for (const shift of [6, 3, 0]) {
    const bits = (mode >> shift) & 7
    perms += bits & 4 ? 'r' : '-'
    perms += bits & 2 ? 'w' : '-'
    perms += bits & 1 ? 'x' : '-'
  }
  return type + perms
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** An `ls -l` style line, like OpenSSH's (numeric owner and group). */
export function longName(name: string, attrs: ssh2.Attributes, nlink: number): string {
  const date = new Date(attrs.mtime * 1000)
  const day = String(date.getUTCDate()).padStart(2, ' ')
  const time = `${String(date.getUTCHours()).padStart(2, '0')}:${String(date.getUTCMinutes()).padStart(2, '0')}`
  return [
    modeString(attrs.mode),
    String(nlink).padStart(4, ' '),
    String(attrs.uid).padEnd(8, ' '),
    String(attrs.gid).padEnd(8, ' '),
    String(attrs.size).padStart(8, ' '),
    `${MONTHS[date.getUTCMonth()]} ${day} ${time}`,
    name
  ].join(' ')
}

export function openFlags(flags: number): number {
  const c = fs.constants
  const read = (flags & OPEN_MODE.READ) !== 0
  const write = (flags & OPEN_MODE.WRITE) !== 0
  let result = read && write ? c.O_RDWR : write ? c.O_WRONLY : c.O_RDONLY
  if (flags & OPEN_MODE.CREAT) result |= c.O_CREAT
  if (flags & OPEN_MODE.TRUNC) result |= c.O_TRUNC
  if (flags & OPEN_MODE.EXCL) result |= c.O_EXCL
  if (flags & OPEN_MODE.APPEND) result |= c.O_APPEND
  return result
}
