import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import pLimit from 'p-limit'
import type { LocalFile } from './local-files.js'

/** SHA-256 (hex) of every local file, a few at a time: the disk is faster than the network. */
export async function hashLocalFiles(files: LocalFile[]): Promise<Map<string, string>> {
  const limit = pLimit(8)
  const hashes = await Promise.all(files.map(f => limit(() => hashFile(f.path))))
  return new Map(files.map((f, i) => [f.rel, hashes[i]]))
}

function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256')
    createReadStream(file)
      .on('data', chunk => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')))
  })
}
