import * as path from 'node:path'
import { expectedFromSidecar, parseChecksums } from '../plans/checksums.js'
import type { SftpChannel } from './sftp.js'
import { readSmallFile } from './small-files.js'

/**
 * Finds the checksum a published file must match: `NAME.sha256` beside it, or its line in a
 * `SHA256SUMS` in the same directory. Each directory is listed once and each sums file read once.
 */
export class SidecarChecksums {
  private readonly dirs = new Map<string, Promise<Set<string>>>()
  private readonly sums = new Map<string, Promise<Map<string, string> | undefined>>()

  constructor(private readonly channel: SftpChannel) {}

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
    return expectedFromSidecar(name, own, all)
  }

  private list(dir: string): Promise<Set<string>> {
    let listed = this.dirs.get(dir)
    if (!listed) {
      listed = this.channel
        .readdir(dir)
        .then(entries => new Set(entries.filter(e => e.isFile).map(e => e.name)))
        .catch(() => new Set<string>())
      this.dirs.set(dir, listed)
    }
    return listed
  }

  private read(file: string): Promise<Map<string, string> | undefined> {
    let parsed = this.sums.get(file)
    if (!parsed) {
      parsed = readSmallFile(this.channel, file, 1024 * 1024)
        .then(parseChecksums)
        .catch(() => undefined)
      this.sums.set(file, parsed)
    }
    return parsed
  }
}
