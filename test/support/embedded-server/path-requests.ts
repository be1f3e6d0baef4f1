import fsp from 'node:fs/promises'
import path from 'node:path'
import ssh2 from 'ssh2'
import { denied, SftpError, virtualSegments } from './paths.js'
import type { SftpSession } from './sftp-session.js'

const { STATUS_CODE } = ssh2.utils.sftp

/** Requests naming a path: attributes, folders, removal, renames and links. */
export function servePathRequests(session: SftpSession): void {
  const sftp = session.sftp

  for (const [event, follow] of [
    ['STAT', true],
    ['LSTAT', false]
  ] as const) {
    sftp.on(event, (reqId: number, p: string) =>
      session.serve(reqId, async () => {
        const local = await session.local(p, follow)
        const st = follow ? await fsp.stat(local) : await fsp.lstat(local)
        const attrs = session.attrs(st)
        return () => sftp.attrs(reqId, attrs)
      })
    )
  }

  sftp.on('SETSTAT', (reqId: number, p: string, attrs: ssh2.Attributes) =>
    session.serve(reqId, async () => {
      const local = await session.local(p, true)
      await fsp.stat(local)
      await session.applyAttrs(attrs, { local })
      return session.ok(reqId)
    })
  )

  sftp.on('OPENDIR', (reqId: number, p: string) =>
    session.serve(reqId, async () => {
      const local = await session.local(p, true)
      const st = await fsp.stat(local)
      if (!st.isDirectory()) throw new SftpError(STATUS_CODE.FAILURE, 'Not a directory')
      const names = (await fsp.readdir(local)).sort()
      const handle = session.handleBuffer({
        kind: 'dir',
        local,
        isRoot: local === session.server.root,
        pending: names,
        injected: false
      })
      return () => sftp.handle(reqId, handle)
    })
  )

  sftp.on('READDIR', (reqId: number, handle: Buffer) =>
    session.serve(reqId, async () => {
      const found = session.lookup(handle).handle
      if (found.kind !== 'dir') throw new SftpError(STATUS_CODE.FAILURE, 'Not a directory handle')
      const entries = await session.readdirBatch(found)
      if (entries.length === 0) return () => sftp.status(reqId, STATUS_CODE.EOF)
      return () => sftp.name(reqId, entries)
    })
  )

  sftp.on('MKDIR', (reqId: number, p: string, attrs: ssh2.Attributes) =>
    session.serve(reqId, async () => {
      const local = await session.local(p, false)
      const mode = typeof attrs?.mode === 'number' ? attrs.mode & 0o7777 : 0o777
      await fsp.mkdir(local, { mode })
      return session.ok(reqId)
    })
  )

  sftp.on('RMDIR', (reqId: number, p: string) =>
    session.serve(reqId, async () => {
      const local = await session.local(p, false)
      if (local === session.server.root) throw denied(p)
      await fsp.rmdir(local)
      return session.ok(reqId)
    })
  )

  sftp.on('REMOVE', (reqId: number, p: string) =>
    session.serve(reqId, async () => {
      const local = await session.local(p, false)
      if (local === session.server.root) throw denied(p)
      await fsp.unlink(local)
      return session.ok(reqId)
    })
  )

  sftp.on('RENAME', (reqId: number, oldPath: string, newPath: string) =>
    session.serve(reqId, async () => {
      const from = await session.local(oldPath, false)
      const to = await session.local(newPath, false)
      if (from === session.server.root || to === session.server.root) throw denied(oldPath)
      await fsp.lstat(from)
      const targetExists = await fsp.lstat(to).then(
        () => true,
        () => false
      )
      // Plain SFTP rename never replaces (OpenSSH's behaviour without posix-rename).
      if (targetExists) throw new SftpError(STATUS_CODE.FAILURE, 'Target exists')
      await fsp.rename(from, to)
      return session.ok(reqId)
    })
  )

  sftp.on('REALPATH', (reqId: number, p: string) =>
    session.serve(reqId, async () => {
      const resolved = session.virtual(p)
      return () => sftp.name(reqId, [{ filename: resolved, longname: resolved } as ssh2.FileEntry])
    })
  )

  sftp.on('READLINK', (reqId: number, p: string) =>
    session.serve(reqId, async () => {
      const local = await session.local(p, false)
      let target = await fsp.readlink(local)
      const root = session.server.root
      if (target === root) target = '/'
      else if (target.startsWith(`${root}/`)) target = target.slice(root.length)
      return () => sftp.name(reqId, [{ filename: target, longname: target } as ssh2.FileEntry])
    })
  )

  // ssh2 hands us (linkPath, targetPath) after undoing the swap it expects from OpenSSH
  // clients. Recover the wire order, then read it the way the server we claim to be would:
  // OpenSSH's (targetpath first) when our ident says OpenSSH, the draft's (linkpath first) else.
  sftp.on('SYMLINK', (reqId: number, first: string, second: string) =>
    session.serve(reqId, async () => {
      const [wire1, wire2] = session.clientIsOpenSSH ? [second, first] : [first, second]
      const [linkPath, targetPath] = session.server.claimsOpenSSH ? [wire2, wire1] : [wire1, wire2]
      const linkLocal = await session.local(linkPath, false)
      let stored: string
      if (targetPath.startsWith('/')) {
        const segments = virtualSegments(targetPath)
        if (segments === undefined) throw denied(targetPath)
        stored = path.join(session.server.root, ...segments)
      } else {
        const linkDir = path.posix.dirname(session.virtual(linkPath))
        if (virtualSegments(`${linkDir}/${targetPath}`) === undefined) throw denied(targetPath)
        stored = targetPath
      }
      await fsp.symlink(stored, linkLocal)
      return session.ok(reqId)
    })
  )
}
