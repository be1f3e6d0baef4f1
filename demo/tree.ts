/** The sample tree the demo moves around, and byte-for-byte comparison of directory trees. */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

const BANNER_BYTES = 320 * 1024

/** Files of the sample tree: nested folders, a name with a space, an empty file, a 320 KiB file. */
function sampleFiles(): Record<string, string | Buffer> {
  return {
    'index.html': '<!doctype html>\n<title>Pinned SFTP demo</title>\n<h1>It works</h1>\n',
    'release notes.txt': 'v1.0.0\n- first release, uploaded with the host key pinned\n',
    'empty.txt': '',
    'assets/css/site.css': 'body { font-family: sans-serif; margin: 2rem }\n',
    'assets/js/app.js': "document.querySelector('h1').textContent += ' (verified)'\n",
    'assets/img/banner.bin': randomBytes(BANNER_BYTES),
    'docs/guide/getting-started/intro.md': '# Getting started\n\nThree folders deep.\n'
  }
}

/** Writes the sample tree below dir; returns its files (relative paths) and sizes. */
export function writeSampleTree(dir: string): { path: string; size: number }[] {
  return Object.entries(sampleFiles()).map(([rel, content]) => {
    const file = path.join(dir, ...rel.split('/'))
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, content)
    return { path: rel, size: Buffer.byteLength(content) }
  })
}

export interface TreeEntry {
  size: number
  sha256: string
}

/** Every regular file below dir (relative '/'-separated path → size and sha256). */
export type Tree = Map<string, TreeEntry>

/** Hashes every file below dir. A missing dir is an empty tree; anything but files and dirs throws. */
export function hashTree(dir: string): Tree {
  const tree: Tree = new Map()
  if (!fs.existsSync(dir)) return tree
  const walk = (abs: string, rel: string): void => {
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      const childAbs = path.join(abs, entry.name)
      const childRel = rel ? `${rel}/${entry.name}` : entry.name
      if (entry.isDirectory()) walk(childAbs, childRel)
      else if (entry.isFile()) {
        const data = fs.readFileSync(childAbs)
        tree.set(childRel, {
          size: data.length,
          sha256: createHash('sha256').update(data).digest('hex')
        })
      } else throw new Error(`unexpected non-file ${childAbs}`)
    }
  }
  walk(dir, '')
  return tree
}

/** One sha256 over all (path, sha256) pairs, sorted: equal digests mean equal trees. */
export function treeDigest(tree: Tree): string {
  const hash = createHash('sha256')
  for (const rel of [...tree.keys()].sort()) hash.update(`${rel}\0${tree.get(rel)?.sha256}\n`)
  return hash.digest('hex')
}

export function treeBytes(tree: Tree): number {
  let total = 0
  for (const entry of tree.values()) total += entry.size
  return total
}

/** Differences between two trees, one line each; empty when they are byte-identical. */
export function compareTrees(expected: Tree, actual: Tree): string[] {
  const problems: string[] = []
  for (const [rel, entry] of expected) {
    const got = actual.get(rel)
    if (!got) problems.push(`missing: ${rel}`)
    else if (got.sha256 !== entry.sha256) {
      problems.push(`differs: ${rel} (${got.size} bytes, expected ${entry.size})`)
    }
  }
  for (const rel of actual.keys()) {
    if (!expected.has(rel)) problems.push(`unexpected extra file: ${rel}`)
  }
  return problems
}
