/**
 * A hostile SFTP server for tests: nothing on disk, every answer made up to exhaust a client.
 * Built on ssh2's `Server`, listening on 127.0.0.1 only, password login. Test code only.
 *
 * What it serves (read-only; every write is refused):
 *  - `/wide/...`: every folder holds 30 folders (`d000`..`d029`, four levels deep) and 300
 *    one-byte files (`f000.txt`..`f299.txt`): 8.9 million entries;
 *  - `/deep/...`: every folder holds one folder `d` and one one-byte file `f`, without end;
 *  - `/endless-folder`: a folder whose listing never ends (1,000 new names per batch);
 *  - `/huge.bin`: claims 1 TiB and reads as zeroes;
 *  - `/liar.bin`: claims LIAR_SIZE bytes but reads as zeroes at any offset, never reaching an end.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import ssh2 from 'ssh2'
import { makeTempDir, removeTempDir } from '../tmp.js'
import { generateHostKey } from './host-key.js'
import { listen } from './wire.js'

export const LIAR_SIZE = 1024 * 1024
export const HUGE_SIZE = 1024 ** 4
const WIDTH = 30
const FILES = 300
const WIDE_LEVELS = 4
const BATCH = 100

export interface HostileSftp {
  host: '127.0.0.1'
  port: number
  username: string
  password: string
  /** 'SHA256:...' of the host key. */
  fingerprint: string
  /** File-data bytes sent in READ replies so far. */
  bytesServed(): number
  /** Names sent in READDIR replies so far. */
  namesListed(): number
  stop(): Promise<void>
}

const { STATUS_CODE } = ssh2.utils.sftp
const DIR = fs.constants.S_IFDIR | 0o755
const FILE = fs.constants.S_IFREG | 0o644

type Node = { kind: 'dir'; children: (cursor: number) => string[] | undefined } | { size: number }

const pad = (i: number): string => String(i).padStart(3, '0')
const folders = Array.from({ length: WIDTH }, (_, i) => `d${pad(i)}`)
const files = Array.from({ length: FILES }, (_, i) => `f${pad(i)}.txt`)
/** A fixed listing, BATCH names per READDIR reply. */
const batches =
  (names: string[]) =>
  (cursor: number): string[] | undefined =>
    cursor * BATCH < names.length ? names.slice(cursor * BATCH, (cursor + 1) * BATCH) : undefined

/** What the made-up tree holds at a normalised path ('/a/b'), or undefined. */
function lookup(p: string): Node | undefined {
  const parts = p.split('/').filter(Boolean)
  if (parts.length === 0) {
    const names = ['wide', 'deep', 'endless-folder', 'huge.bin', 'liar.bin']
    return { kind: 'dir', children: batches(names) }
  }
  const [top, ...rest] = parts
  const last = rest[rest.length - 1]
  if (top === 'huge.bin' && rest.length === 0) return { size: HUGE_SIZE }
  if (top === 'liar.bin' && rest.length === 0) return { size: LIAR_SIZE }
  if (top === 'endless-folder') {
    if (rest.length === 0)
      return {
        kind: 'dir',
        children: cursor =>
          Array.from({ length: 10 * BATCH }, (_, i) => `n${cursor * 10 * BATCH + i}`)
      }
    return rest.length === 1 ? { size: 1 } : undefined
  }
  if (top === 'wide') {
    const isFolder = (s: string): boolean => /^d\d{3}$/.test(s) && Number(s.slice(1)) < WIDTH
    const levels = rest.length - 1
    if (rest.slice(0, -1).some(s => !isFolder(s))) return undefined
    if (last === undefined || (isFolder(last) && levels < WIDE_LEVELS)) {
      const deeper = rest.length < WIDE_LEVELS ? folders : []
      return { kind: 'dir', children: batches([...deeper, ...files]) }
    }
    return /^f\d{3}\.txt$/.test(last) && Number(last.slice(1, 4)) < FILES ? { size: 1 } : undefined
  }
  if (top === 'deep') {
    if (rest.slice(0, -1).some(s => s !== 'd')) return undefined
    if (last === undefined || last === 'd') return { kind: 'dir', children: batches(['d', 'f']) }
    return last === 'f' ? { size: 1 } : undefined
  }
  return undefined
}

function normalise(p: string): string {
  return path.posix.resolve('/', p)
}

function attrsOf(node: Node): ssh2.Attributes {
  const now = Math.floor(Date.now() / 1000)
  const isDir = 'kind' in node
  return {
    mode: isDir ? DIR : FILE,
    uid: 0,
    gid: 0,
    size: isDir ? 4096 : node.size,
    atime: now,
    mtime: now
  }
}

function serveChannel(sftp: ssh2.SFTPWrapper, counts: { bytes: number; names: number }): void {
  const handles = new Map<number, { path: string; cursor: number } | { file: Node }>()
  let next = 1
  const handleOf = (value: { path: string; cursor: number } | { file: Node }): Buffer => {
    const id = next++
    handles.set(id, value)
    const buf = Buffer.alloc(4)
    buf.writeUInt32BE(id)
    return buf
  }
  const find = (h: Buffer) => handles.get(h.length === 4 ? h.readUInt32BE(0) : -1)
  const missing = (id: number): void => void sftp.status(id, STATUS_CODE.NO_SUCH_FILE)
  const denied = (id: number): void => void sftp.status(id, STATUS_CODE.PERMISSION_DENIED)
  sftp.on('error', () => undefined)
  sftp.on('REALPATH', (id: number, p: string) => {
    const resolved = normalise(p)
    sftp.name(id, [{ filename: resolved, longname: resolved, attrs: {} as ssh2.Attributes }])
  })
  for (const event of ['STAT', 'LSTAT'] as const) {
    sftp.on(event, (id: number, p: string) => {
      const node = lookup(normalise(p))
      if (node) sftp.attrs(id, attrsOf(node))
      else missing(id)
    })
  }
  sftp.on('OPENDIR', (id: number, p: string) => {
    const node = lookup(normalise(p))
    if (!node || !('kind' in node)) return missing(id)
    sftp.handle(id, handleOf({ path: normalise(p), cursor: 0 }))
  })
  sftp.on('READDIR', (id: number, h: Buffer) => {
    const found = find(h)
    if (!found || !('path' in found)) return void sftp.status(id, STATUS_CODE.FAILURE)
    const node = lookup(found.path)
    const names = node && 'kind' in node ? node.children(found.cursor++) : undefined
    if (!names) return void sftp.status(id, STATUS_CODE.EOF)
    counts.names += names.length
    sftp.name(
      id,
      names.map(name => {
        const attrs = attrsOf(lookup(`${found.path}/${name}`) ?? { size: 0 })
        return { filename: name, longname: name, attrs }
      })
    )
  })
  sftp.on('OPEN', (id: number, p: string, flags: number) => {
    const node = lookup(normalise(p))
    if (flags & ~ssh2.utils.sftp.OPEN_MODE.READ) return denied(id)
    if (!node || 'kind' in node) return missing(id)
    sftp.handle(id, handleOf({ file: node }))
  })
  sftp.on('READ', (id: number, h: Buffer, offset: number, length: number) => {
    const found = find(h)
    if (!found || !('file' in found) || 'kind' in found.file) return missing(id)
    // huge.bin reads as zeroes up to its claimed size; liar.bin never ends.
    const end = found.file.size === HUGE_SIZE ? HUGE_SIZE : Infinity
    const n = Math.max(0, Math.min(length, 32 * 1024, end - offset))
    if (n === 0) return void sftp.status(id, STATUS_CODE.EOF)
    counts.bytes += n
    sftp.data(id, Buffer.alloc(n))
  })
  sftp.on('FSTAT', (id: number, h: Buffer) => {
    const found = find(h)
    if (found && 'file' in found) sftp.attrs(id, attrsOf(found.file))
    else if (found) sftp.attrs(id, attrsOf({ kind: 'dir', children: () => undefined }))
    else missing(id)
  })
  sftp.on('CLOSE', (id: number, h: Buffer) => {
    handles.delete(h.length === 4 ? h.readUInt32BE(0) : -1)
    sftp.status(id, STATUS_CODE.OK)
  })
  for (const event of ['MKDIR', 'RMDIR', 'REMOVE', 'RENAME', 'SETSTAT', 'FSETSTAT', 'WRITE']) {
    sftp.on(event, (id: number) => denied(id))
  }
}

/** Starts the hostile server on 127.0.0.1 (random port). */
export async function startHostileSftp(): Promise<HostileSftp> {
  const keyDir = makeTempDir('hostile-sftp-keys-')
  try {
    const { privateKey, hostKey } = await generateHostKey(keyDir, 'ed25519')
    const username = 'tester'
    const password = 'hostile but correct'
    const counts = { bytes: 0, names: 0 }
    const sockets = new Set<net.Socket>()
    const server = new ssh2.Server({ hostKeys: [privateKey] }, client => {
      client.on('error', () => undefined)
      client.on('authentication', ctx => {
        if (ctx.method === 'password' && ctx.username === username && ctx.password === password)
          ctx.accept()
        else ctx.reject(['password'])
      })
      client.on('session', accept => {
        accept().on('sftp', acceptSftp => serveChannel(acceptSftp(), counts))
      })
    })
    const tcp = net.createServer(socket => {
      sockets.add(socket)
      socket.on('error', () => undefined)
      socket.once('close', () => sockets.delete(socket))
      server.injectSocket(socket)
    })
    const port = await listen(tcp)
    return {
      host: '127.0.0.1',
      port,
      username,
      password,
      fingerprint: hostKey.sha256,
      bytesServed: () => counts.bytes,
      namesListed: () => counts.names,
      stop: async () => {
        for (const socket of sockets) socket.destroy()
        await new Promise<void>(resolve => tcp.close(() => resolve()))
        removeTempDir(keyDir)
      }
    }
  } catch (err) {
    removeTempDir(keyDir)
    throw err
  }
}
