import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { HashThread } from '../../src/plans/hash-thread.js'

let dir: string

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'unit-hash-thread-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex')

function put(name: string, data: Buffer) {
  const file = path.join(dir, name)
  writeFileSync(file, data)
  return {
    path: file,
    rel: `r/${name}`,
    size: data.length,
    want: sha(data),
    sha256: undefined as string | undefined
  }
}

describe('HashThread', () => {
  it('hashes files named a few at a time, more than one batch, each under its own name', async () => {
    const files = Array.from({ length: 1300 }, (_, i) => put(`f${i}`, randomBytes(i % 300)))
    const thread = HashThread.start(1024 * 1024)
    expect(thread).toBeDefined()
    for (const f of files) thread?.add(f.path)
    // Asked for in another order than named: the answer goes by path, not by position.
    const asked = [...files].reverse()
    expect(await thread?.finish(asked)).toBe(true)
    for (const f of files) expect(f.sha256).toBe(f.want)
  })

  // The usual case: the files asked for are those named, in that order, less some left out.
  it('answers by path when asked in the order named, some left out', async () => {
    const files = Array.from({ length: 700 }, (_, i) => put(`o${i}`, randomBytes(i % 50)))
    const thread = HashThread.start(1024 * 1024)
    for (const f of files) thread?.add(f.path)
    const asked = files.filter((_, i) => i % 7 !== 3 && (i < 200 || i > 290))
    expect(await thread?.finish(asked)).toBe(true)
    for (const f of asked) expect(f.sha256).toBe(f.want)
    for (const f of files) if (!asked.includes(f)) expect(f.sha256).toBeUndefined()
  })

  // A walk names files before the upload knows it keeps them: one that cannot be read and is
  // then left out must not fail the others.
  it('answers for the files asked for when another named file cannot be read', async () => {
    const kept = [put('k1', randomBytes(10)), put('k2', randomBytes(5000))]
    const thread = HashThread.start(1024 * 1024)
    thread?.add(kept[0].path)
    thread?.add(path.join(dir, 'gone'))
    thread?.add(kept[1].path)
    expect(await thread?.finish(kept)).toBe(true)
    expect(kept[0].sha256).toBe(kept[0].want)
    expect(kept[1].sha256).toBe(kept[1].want)
  })

  it('rejects with the error of the first file asked for that cannot be read', async () => {
    const there = put('there', Buffer.from('x'))
    const missing = { path: path.join(dir, 'missing'), rel: 'missing', size: 1 }
    const thread = HashThread.start(1024 * 1024)
    thread?.add(there.path)
    thread?.add(missing.path)
    await expect(thread?.finish([there, missing])).rejects.toMatchObject({
      code: 'ENOENT',
      message: expect.stringMatching(/missing/) as unknown
    })
  })

  it('leaves a file never named to the caller', async () => {
    const named = put('named', Buffer.from('a'))
    const other = put('other', Buffer.from('b'))
    const thread = HashThread.start(1024 * 1024)
    thread?.add(named.path)
    expect(await thread?.finish([named, other])).toBe(false)
  })
})
