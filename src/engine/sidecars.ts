import * as path from 'node:path'
import { ActionError } from '../errors.js'
import { expectedFromSidecar, parseChecksums } from '../plans/checksums.js'
import { isTransient } from './retry.js'
import type { SftpChannel } from './sftp.js'
import { readSmallFile } from './small-files.js'

/**
 * Finds the checksum a published file must match: `NAME.sha256` beside it, or its line in a
 * `SHA256SUMS` in the same directory. Each directory is listed once and each sums file read once
 * per run; failures are not remembered, so a reconnect asks again on the new connection. A sidecar
 * that is listed but cannot be read, or a `NAME.sha256` without a hash for NAME, fails the file:
 * silence must never pass for a match.
 */
export class SidecarChecksums {
  private readonly dirs = new Map<string, Promise<Set<string>>>()
  private readonly sums = new Map<string, Promise<Map<string, string>>>()

  /** `channel` gives the current connection's channel (it changes after a reconnect). */
  constructor(private readonly channel: () => SftpChannel) {}

  async expectedFor(remotePath: string): Promise<{ hash: string; source: string } | undefined> {
    const dir = path.posix.dirname(remotePath)
    const name = path.posix.basename(remotePath)
    const names = await this.list(dir)
    const own = names.has(`${name}.sha256`)
      ? await this.read(path.posix.join(dir, `${name}.sha256`))
      : undefined
    const all = names.has('SHA256SUMS')
      ? await this.read(path.posix.join(dir, 'SHA256SUMS'))
      : undefined
    const verdict = expectedFromSidecar(name, own, all)
    if (verdict && 'unusable' in verdict) {
      throw new ActionError('Checksum file unusable', `${remotePath}: ${verdict.unusable}.`)
    }
    return verdict
  }

  private list(dir: string): Promise<Set<string>> {
    return this.cached(this.dirs, dir, async () => {
      try {
        const entries = await this.channel().readdir(dir)
        // A sidecar may be a link (`latest.tar.gz.sha256 -> v1.2.sha256`); reading follows it.
        return new Set(entries.filter(e => e.isFile || e.isSymbolicLink).map(e => e.name))
      } catch (err) {
        // A folder one may read from but not list (a drop box) simply shows no sidecars.
        if (isTransient(err, undefined)) throw err
        return new Set<string>()
      }
    })
  }

  private read(file: string): Promise<Map<string, string>> {
    return this.cached(this.sums, file, async () => {
      try {
        return parseChecksums(await readSmallFile(this.channel(), file, 1024 * 1024))
      } catch (err) {
        if (isTransient(err, undefined)) throw err
        throw new ActionError(
          'Checksum file unreadable',
          `the checksum file ${file} exists but could not be read: ${(err as Error).message}`
        )
      }
    })
  }

  private cached<T>(map: Map<string, Promise<T>>, key: string, load: () => Promise<T>) {
    let value = map.get(key)
    if (!value) {
      value = load()
      map.set(key, value)
      value.catch(() => map.delete(key))
    }
    return value
  }
}
