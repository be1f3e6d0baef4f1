import * as path from 'node:path'
import { localPathInside, unsafeNameReason } from '../plans/safe-names.js'

/**
 * Where each file lands: its folder proven inside the target once (localPathInside), then only
 * the file's own name checked. Resolving every file's whole path cost 18 us a file, twice over
 * (the folders made ahead, then the file): about 2 s of the main thread's CPU in a 50,000-file
 * pull, the thread that also decrypts every answer.
 */
export class LocalPlaces {
  private readonly root: string
  private readonly folders = new Map<string, string | undefined>()

  constructor(target: string) {
    this.root = path.resolve(target)
  }

  /** The local folder a file at `rel` lands in, or undefined when `rel` would leave the target. */
  folderOf(rel: string): string | undefined {
    const slash = rel.lastIndexOf('/')
    if (slash < 0) return this.root
    const dirRel = rel.slice(0, slash)
    if (this.folders.has(dirRel)) return this.folders.get(dirRel)
    const dir = localPathInside(this.root, dirRel)
    this.folders.set(dirRel, dir)
    return dir
  }

  /** As localPathInside(target, rel). */
  of(rel: string): string | undefined {
    const dir = this.folderOf(rel)
    const name = rel.slice(rel.lastIndexOf('/') + 1)
    if (dir === undefined || unsafeNameReason(name) !== undefined) return undefined
    return dir.endsWith(path.sep) ? dir + name : dir + path.sep + name
  }
}
