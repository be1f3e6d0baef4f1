import fsp from 'node:fs/promises'
import ssh2 from 'ssh2'
import { openFlags } from './attributes.js'
import type { SftpSession } from './sftp-session.js'

const MAX_READ_LENGTH = 64 * 1024

const { STATUS_CODE } = ssh2.utils.sftp

/** Requests on open handles, and OPEN: file data moves here, so the byte faults fire here. */
export function serveFileRequests(session: SftpSession): void {
  const sftp = session.sftp

  sftp.on('OPEN', (reqId: number, filename: string, flags: number, attrs: ssh2.Attributes) =>
    session.serve(reqId, async () => {
      const local = await session.local(filename, true)
      const mode = typeof attrs?.mode === 'number' ? attrs.mode & 0o7777 : 0o666
      const file = await fsp.open(local, openFlags(flags), mode)
      const handle = session.handleBuffer({ kind: 'file', file })
      return () => sftp.handle(reqId, handle)
    })
  )

  sftp.on('READ', (reqId: number, handle: Buffer, offset: number, length: number) =>
    session.serve(reqId, async () => {
      const { file } = session.file(handle)
      const buf = Buffer.alloc(Math.min(length, MAX_READ_LENGTH))
      const { bytesRead } = await file.read(buf, 0, buf.length, offset)
      if (bytesRead === 0) return () => sftp.status(reqId, STATUS_CODE.EOF)
      if (session.conn.halted) return null
      const { fault } = session.conn.take(bytesRead)
      if (fault) {
        session.conn.fire(fault)
        return null
      }
      return () => sftp.data(reqId, buf.subarray(0, bytesRead))
    })
  )

  sftp.on('WRITE', (reqId: number, handle: Buffer, offset: number, data: Buffer) =>
    session.serve(reqId, async () => {
      const { file } = session.file(handle)
      // Accounted synchronously, in arrival order.
      const { allowed, fault } = session.conn.take(data.length)
      try {
        if (allowed > 0) await file.write(data, 0, allowed, offset)
      } finally {
        if (fault) session.conn.fire(fault)
      }
      return fault ? null : session.ok(reqId)
    })
  )

  sftp.on('CLOSE', (reqId: number, handle: Buffer) =>
    session.serve(reqId, async () => {
      const { id, handle: found } = session.lookup(handle)
      session.forget(id)
      if (found.kind === 'file') await found.file.close()
      return session.ok(reqId)
    })
  )

  sftp.on('FSTAT', (reqId: number, handle: Buffer) =>
    session.serve(reqId, async () => {
      const found = session.lookup(handle).handle
      const st = found.kind === 'file' ? await found.file.stat() : await fsp.stat(found.local)
      const attrs = session.attrs(st)
      return () => sftp.attrs(reqId, attrs)
    })
  )

  sftp.on('FSETSTAT', (reqId: number, handle: Buffer, attrs: ssh2.Attributes) =>
    session.serve(reqId, async () => {
      const found = session.lookup(handle).handle
      await session.applyAttrs(
        attrs,
        found.kind === 'file' ? { file: found.file } : { local: found.local }
      )
      return session.ok(reqId)
    })
  )
}
