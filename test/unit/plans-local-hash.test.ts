import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { UNSIZED, type LocalFile } from '../../src/plans/local-files.js'
import { hashFile, hashLocalFiles, hashOnThread, LocalHasher } from '../../src/plans/local-hash.js'

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
      const here: LocalFile = { path: file, rel: `f${size}`, size }
      await hashLocalFiles([here])
      expect(here.sha256).toBe(sha(data))
      expect(await hashFile(file, size)).toBe(sha(data))
      const threaded: LocalFile = { path: file, rel: `f${size}`, size }
      expect(await hashOnThread([threaded])).toBe(true)
      expect(threaded.sha256).toBe(sha(data))
    }
  )

  it('hashes a file that grew past the one-read size since it was listed, to its end', async () => {
    const data = randomBytes(MiB + 100)
    const file = put('grown', data)
    const here: LocalFile = { path: file, rel: 'grown', size: 10 }
    await hashLocalFiles([here])
    expect(here.sha256).toBe(sha(data))
    const threaded: LocalFile = { path: file, rel: 'grown', size: 10 }
    expect(await hashOnThread([threaded])).toBe(true)
    expect(threaded.sha256).toBe(sha(data))
  })

  it('hashes many files, each under its own name', async () => {
    const files = Array.from({ length: 600 }, (_, i) => {
      const data = Buffer.from(`file ${i}\n`.repeat(i % 7))
      return { path: put(`m${i}`, data), rel: `m${i}`, size: data.length, want: sha(data) }
    })
    for (const onThread of [false, true]) {
      const asked: LocalFile[] = files.map(f => ({ ...f }))
      await hashLocalFiles(asked, onThread)
      asked.forEach((f, i) => expect(f.sha256).toBe(files[i].want))
    }
  })

  // The second thread is what keeps 50,000 files' hashing off the thread that lists and plans.
  it('hashes many files on a second thread, which answers for every file', async () => {
    const files = Array.from({ length: 40 }, (_, i): LocalFile & { want: string } => {
      const data = randomBytes(i * 100)
      return { path: put(`t${i}`, data), rel: `t${i}`, size: data.length, want: sha(data) }
    })
    expect(await hashOnThread(files)).toBe(true)
    for (const f of files) expect(f.sha256).toBe(f.want)
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

describe('LocalHasher', () => {
  const many = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, i) => {
      const data = Buffer.from(`${prefix} ${i}\n`)
      return {
        path: put(`${prefix}${i}`, data),
        rel: `${prefix}/${i}`,
        size: data.length,
        want: sha(data),
        sha256: undefined as string | undefined
      }
    })

  it('hands files to a second thread as they are found, once there are enough', async () => {
    const files = many('s', 30)
    const hasher = new LocalHasher(10)
    for (const f of files.slice(0, 9)) hasher.add(f.path)
    expect(hasher.threaded).toBe(false)
    for (const f of files.slice(9)) hasher.add(f.path)
    expect(hasher.threaded).toBe(true)
    await hasher.hashes(files)
    expect(hasher.answeredByThread).toBe(true)
    for (const f of files) expect(f.sha256).toBe(f.want)
  })

  it('hashes here when too few files were found for a thread', async () => {
    const files = many('h', 5)
    const hasher = new LocalHasher(10)
    for (const f of files) hasher.add(f.path)
    expect(hasher.threaded).toBe(false)
    await hasher.hashes(files)
    expect(hasher.answeredByThread).toBe(false)
    for (const f of files) expect(f.sha256).toBe(f.want)
  })

  // The walk leaves sizes to the hashing when a thread reads every file anyway.
  it.each([
    ['the second thread', 10],
    ['this thread', 100]
  ])('gives unsized files the size %s hashed', async (_, threadFrom) => {
    const files = many('z', 20).map((f, i) => ({
      ...f,
      size: i % 2 ? UNSIZED : f.size,
      want: f.want,
      length: f.size
    }))
    const hasher = new LocalHasher(threadFrom)
    for (const f of files) hasher.add(f.path)
    await hasher.hashes(files)
    for (const f of files) {
      expect(f.size).toBe(f.length)
      expect(f.sha256).toBe(f.want)
    }
  })

  it('sizes a file by what was hashed, not what the walk saw', async () => {
    const data = randomBytes(MiB + 7)
    const file = put('grew', data)
    const files: LocalFile[] = [{ path: file, rel: 'grew', size: 3 }, ...many('w', 12)]
    const hasher = new LocalHasher(10)
    for (const f of files) hasher.add(f.path)
    await hasher.hashes(files)
    expect(files[0].sha256).toBe(sha(data))
    expect(files[0].size).toBe(MiB + 7)
  })

  it('rejects when a file kept cannot be read, on the thread too', async () => {
    const files = [
      ...many('g', 12),
      { path: path.join(dir, 'gone'), rel: 'gone', size: 1, want: '' }
    ]
    const hasher = new LocalHasher(10)
    for (const f of files) hasher.add(f.path)
    expect(hasher.threaded).toBe(true)
    await expect(hasher.hashes(files)).rejects.toThrow(/ENOENT.*gone/)
  })

  // A fan-out's report still lists each file for a server that failed: never with UNSIZED.
  it.each([
    ['the second thread', 2],
    ['this thread', 100]
  ])('still sizes the files when %s cannot read one', async (_, threadFrom) => {
    const files = [
      ...many('u', 3),
      { path: path.join(dir, 'vanished'), rel: 'vanished', size: 0, want: '' },
      ...many('v', 3)
    ].map(f => ({ ...f, length: f.size, size: UNSIZED }))
    const hasher = new LocalHasher(threadFrom)
    for (const f of files) hasher.add(f.path)
    await expect(hasher.hashes(files)).rejects.toThrow(/ENOENT.*vanished/)
    for (const f of files) expect(f.size).toBe(f.length)
  })

  it('stops a thread still hashing when the walk fails', async () => {
    const hasher = new LocalHasher(2)
    for (const f of many('x', 3)) hasher.add(f.path)
    expect(hasher.threaded).toBe(true)
    hasher.stop()
    // A stopped thread gives no answer: whatever asks anyway gets the files hashed here.
    const files = many('y', 2)
    await hasher.hashes(files)
    expect(files[1].sha256).toBe(files[1].want)
  })
})
