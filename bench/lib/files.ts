import { createHash, randomFillSync } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

const CHUNK = 8 * 1024 * 1024

/** Writes `bytes` random bytes to `file`; resolves with their sha256 (hex). */
export async function writeRandomFile(file: string, bytes: number): Promise<string> {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const hash = createHash('sha256')
  const handle = await fs.promises.open(file, 'w')
  try {
    const buffer = Buffer.alloc(Math.min(CHUNK, Math.max(bytes, 1)))
    for (let left = bytes; left > 0;) {
      const part = buffer.subarray(0, Math.min(left, buffer.length))
      randomFillSync(part)
      hash.update(part)
      await handle.write(part)
      left -= part.length
    }
  } finally {
    await handle.close()
  }
  return hash.digest('hex')
}

/** sha256 (hex) of a file's contents, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })) {
    hash.update(chunk as Buffer)
  }
  return hash.digest('hex')
}

/** Every regular file below `root` as relative POSIX path → sha256, sorted by path. */
export async function treeHashes(root: string): Promise<Map<string, string>> {
  const files: string[] = []
  const walk = (dir: string, prefix: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name
      if (entry.isDirectory()) walk(path.join(dir, entry.name), rel)
      else files.push(rel)
    }
  }
  walk(root, '')
  files.sort()
  const out = new Map<string, string>()
  for (const rel of files) out.set(rel, await sha256File(path.join(root, ...rel.split('/'))))
  return out
}

/** A description of how two trees differ, or undefined when they are identical. */
export function diffTrees(
  expected: Map<string, string>,
  actual: Map<string, string>
): string | undefined {
  const problems: string[] = []
  for (const [rel, hash] of expected) {
    const got = actual.get(rel)
    if (got === undefined) problems.push(`missing ${rel}`)
    else if (got !== hash) problems.push(`content differs: ${rel}`)
  }
  for (const rel of actual.keys()) if (!expected.has(rel)) problems.push(`unexpected ${rel}`)
  if (problems.length === 0) return undefined
  const shown = problems.slice(0, 5).join('; ')
  return problems.length > 5 ? `${shown}; and ${problems.length - 5} more` : shown
}

export interface SmallTree {
  files: number
  bytes: number
  hashes: Map<string, string>
}

/** A small pseudo-random generator (mulberry32), so the tree is the same on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const SMALL_DIRS = ['', 'css', 'js', 'img', 'img/icons', 'docs/guide/en']

/** `count` files of 1–20 KiB spread over a few directories (some nested), random contents. */
export async function writeSmallTree(root: string, count: number): Promise<SmallTree> {
  const random = prng(0x5f7a11)
  let bytes = 0
  for (let i = 0; i < count; i++) {
    const dir = SMALL_DIRS[i % SMALL_DIRS.length]
    const size = 1024 + Math.floor(random() * 19 * 1024)
    const file = path.join(root, ...dir.split('/').filter(Boolean), `file-${i}.dat`)
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const data = Buffer.alloc(size)
    randomFillSync(data)
    fs.writeFileSync(file, data)
    bytes += size
  }
  return { files: count, bytes, hashes: await treeHashes(root) }
}

/** `count` files of 1–7 KiB (about 4 KiB on average) spread evenly over `dirs` folders. */
export async function writeManyFiles(
  root: string,
  count: number,
  dirs: number
): Promise<SmallTree> {
  const data = Buffer.alloc(7 * 1024)
  let bytes = 0
  for (let d = 0; d < dirs; d++) fs.mkdirSync(path.join(root, `dir-${d}`), { recursive: true })
  const sizes = manyFileSizes(count)
  for (let i = 0; i < count; i++) {
    const size = sizes[i]
    randomFillSync(data, 0, size)
    fs.writeFileSync(path.join(root, `dir-${i % dirs}`, `file-${i}.html`), data.subarray(0, size))
    bytes += size
  }
  return { files: count, bytes, hashes: await treeHashes(root) }
}

/** The sizes writeManyFiles uses (the same on every run), so a table can say them up front. */
export function manyFileSizes(count: number): number[] {
  const random = prng(0x3a11f)
  return Array.from({ length: count }, () => 1024 + Math.floor(random() * 6 * 1024))
}
