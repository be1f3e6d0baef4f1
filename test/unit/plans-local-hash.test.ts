import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { hashFile, hashLocalFiles, hashOnThread, SourceHashes } from '../../src/plans/local-hash.js'

const MiB = 1024 * 1024
let dir: string

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'unit-hash-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex')

function put(name: string, data: Buffer) {
  const file = path.join(dir, name)
  writeFileSync(file, data)
  return file
}

describe('hashLocalFiles', () => {
  // Around the one-read size: a read that fills the buffer must not be taken for the end.
  it.each([0, 1, 4097, MiB - 1, MiB, MiB + 1, 3 * MiB + 5])(
    'hashes a %i-byte file as it is',
    async size => {
      const data = randomBytes(size)
      const file = put(`f${size}`, data)
      const hashes = await hashLocalFiles([{ path: file, rel: `f${size}`, size }])
      expect(hashes.get(`f${size}`)).toBe(sha(data))
      expect(await hashFile(file, size)).toBe(sha(data))
      const threaded = await hashOnThread([{ path: file, rel: `f${size}`, size }])
      expect(threaded?.get(`f${size}`)).toBe(sha(data))
    }
  )

  it('hashes a file that grew past the one-read size since it was listed, to its end', async () => {
    const data = randomBytes(MiB + 100)
    const file = put('grown', data)
    const hashes = await hashLocalFiles([{ path: file, rel: 'grown', size: 10 }])
    expect(hashes.get('grown')).toBe(sha(data))
    const threaded = await hashOnThread([{ path: file, rel: 'grown', size: 10 }])
    expect(threaded?.get('grown')).toBe(sha(data))
  })

  it('hashes many files, each under its own name', async () => {
    const files = Array.from({ length: 600 }, (_, i) => {
      const data = Buffer.from(`file ${i}\n`.repeat(i % 7))
      return { path: put(`m${i}`, data), rel: `m${i}`, size: data.length, want: sha(data) }
    })
    for (const onThread of [false, true]) {
      const hashes = await hashLocalFiles(files, onThread)
      expect(hashes.size).toBe(600)
      for (const f of files) expect(hashes.get(f.rel)).toBe(f.want)
    }
  })

  // The second thread is what keeps 50,000 files' hashing off the thread that lists and plans.
  it('hashes many files on a second thread, which answers for every file', async () => {
    const files = Array.from({ length: 40 }, (_, i) => {
      const data = randomBytes(i * 100)
      return { path: put(`t${i}`, data), rel: `t${i}`, size: data.length, want: sha(data) }
    })
    const hashes = await hashOnThread(files)
    expect(hashes).toBeDefined()
    expect(hashes?.size).toBe(40)
    for (const f of files) expect(hashes?.get(f.rel)).toBe(f.want)
  })

  it.each([false, true])('rejects when a file is gone (second thread: %s)', async onThread => {
    const there = put('there', Buffer.from('x'))
    await expect(
      hashLocalFiles(
        [
          { path: there, rel: 'there', size: 1 },
          { path: path.join(dir, 'missing'), rel: 'missing', size: 1 }
        ],
        onThread
      )
    ).rejects.toThrow(/ENOENT.*missing/)
  })
})

describe('SourceHashes', () => {
  const many = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, i) => {
      const data = Buffer.from(`${prefix} ${i}\n`)
      return {
        path: put(`${prefix}${i}`, data),
        rel: `${prefix}/${i}`,
        size: data.length,
        want: sha(data)
      }
    })

  it('reads nothing until asked, then only the files named, each once per run', async () => {
    let clock = 1000
    const hashes = new SourceHashes(() => clock)
    expect(hashes.readFrom).toBeUndefined()
    const files = many('s', 4)
    clock = 2000
    const first = await hashes.of(files.slice(0, 2))
    expect(hashes.readFrom).toBe(2000)
    expect(first.get('s/0')).toBe(files[0].want)
    expect(first.has('s/2')).toBe(false)
    // Changed on disk after it was hashed: a second request (another server) reuses the digest.
    writeFileSync(files[0].path, 'changed')
    clock = 3000
    const second = await hashes.of(files)
    expect(second.get('s/0')).toBe(files[0].want)
    expect(second.get('s/3')).toBe(files[3].want)
    // The earliest read bounds every read, for the stat cache keys.
    expect(hashes.readFrom).toBe(2000)
  })

  it('asks for nothing: no file read, no time taken', async () => {
    const hashes = new SourceHashes()
    expect((await hashes.of([])).size).toBe(0)
    expect(hashes.readFrom).toBeUndefined()
  })

  it('rejects when a file cannot be read, and keeps that failure for the run', async () => {
    const hashes = new SourceHashes()
    const files = [...many('g', 2), { path: path.join(dir, 'gone'), rel: 'gone', size: 1 }]
    const failed = hashes.of(files)
    await expect(failed).rejects.toThrow(/ENOENT.*gone/)
    expect(hashes.failure).toBe(await failed.catch((err: unknown) => err))
    // A later request still works for files that can be read.
    const ok = many('k', 1)
    expect((await hashes.of(ok)).get('k/0')).toBe(ok[0].want)
  })
})
