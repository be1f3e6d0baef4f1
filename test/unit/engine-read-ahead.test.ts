import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { Worker } from 'node:worker_threads'
import { ReadAhead, readAheadThread, type ThreadShared } from '../../src/engine/read-ahead.js'

/** A ReadAhead whose thread is a stand-in: what it was started with, and how often. */
function watched(paths: string[]) {
  const starts: ThreadShared[] = []
  const fake = { unref: () => undefined, on: () => undefined }
  const ahead = new ReadAhead(paths, shared => {
    starts.push(shared)
    return fake as unknown as Worker
  })
  return { ahead, starts }
}

const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `/src/f${i}`)

describe('ReadAhead', () => {
  it('starts no thread while small files read as from the page cache', () => {
    const { ahead, starts } = watched(names(1000))
    for (let i = 0; i < 500; i++) ahead.read(0.015)
    expect(starts).toHaveLength(0)
  })

  it('is not fooled by reads a busy machine held up now and then (the median decides)', () => {
    const { ahead, starts } = watched(names(1000))
    for (let i = 0; i < 500; i++) ahead.read(i % 3 === 0 ? 8 : 0.015)
    expect(starts).toHaveLength(0)
  })

  it('starts one thread once reads wait for the disk, and tells it how far the sender is', () => {
    const paths = names(1000)
    const { ahead, starts } = watched(paths)
    for (let i = 0; i < 64; i++) ahead.read(0.015)
    // One slow sample, then a fast one: a busy moment, not a cold disk.
    for (let i = 0; i < 64; i++) ahead.read(0.3)
    for (let i = 0; i < 64; i++) ahead.read(0.015)
    expect(starts).toHaveLength(0)
    for (let i = 0; i < 128; i++) ahead.read(0.3)
    expect(starts).toHaveLength(1)
    const [shared] = starts
    expect(shared.paths).toBe(paths)
    expect(Atomics.load(shared.progress, 0)).toBe(320)
    for (let i = 0; i < 200; i++) ahead.read(0.3)
    expect(starts).toHaveLength(1)
    expect(Atomics.load(shared.progress, 0)).toBe(520)
    ahead.close()
    expect(Atomics.load(shared.progress, 1)).toBe(1)
  })

  it('starts nothing once the sender has read every file', () => {
    const { ahead, starts } = watched(names(128))
    for (let i = 0; i < 128; i++) ahead.read(0.3)
    expect(starts).toHaveLength(0)
  })
})

describe('the read-ahead thread', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'read-ahead-'))
    for (let i = 0; i < 10; i++) writeFileSync(path.join(dir, `f${i}`), `file ${i}`)
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('reads at most `ahead` files in front of the sender, skips what it read, stops when told', async () => {
    const paths = Array.from({ length: 10 }, (_, i) => path.join(dir, `f${i}`))
    const progress = new Int32Array(new SharedArrayBuffer(8))
    // The real program, with an fs that says which files it opens.
    const source =
      "const { workerData, parentPort } = require('node:worker_threads');\n" +
      "const fs = require('node:fs');\n" +
      'const spy = { ...fs, openSync: (p, f) => { parentPort.postMessage(p); return fs.openSync(p, f) } };\n' +
      `(${readAheadThread.toString()})(spy, workerData)`
    const opened: string[] = []
    const worker = new Worker(source, { eval: true, workerData: { progress, paths, ahead: 3 } })
    worker.on('message', (p: string) => opened.push(path.basename(p)))
    const exited = new Promise(resolve => worker.once('exit', resolve))
    const settle = () => new Promise(resolve => setTimeout(resolve, 400))
    try {
      await settle()
      expect(opened).toEqual(['f0', 'f1', 'f2'])
      // The sender has read five: f3 and f4 are behind it, the next three are read.
      Atomics.store(progress, 0, 5)
      Atomics.notify(progress, 0)
      await settle()
      expect(opened).toEqual(['f0', 'f1', 'f2', 'f5', 'f6', 'f7'])
      Atomics.store(progress, 1, 1)
      Atomics.notify(progress, 0)
      await exited
      expect(opened).toHaveLength(6)
    } finally {
      await worker.terminate()
    }
  })
})
