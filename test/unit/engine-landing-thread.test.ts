import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import * as path from 'node:path'
import { Worker } from 'node:worker_threads'
import { keepHeapClose } from '../../src/heap.js'
import {
  landingThreadSource,
  LandingStopped,
  LandingThread
} from '../../src/engine/landing-thread.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const temp = (dir: string, name: string) => path.join(dir, `.${name}.0123abcd.sftp-part`)

/** A thread that runs `source` instead of the landing program (fault injection). */
const thread = (source: string) => () => new Worker(source, { eval: true })

describe('LandingThread: small downloads landed on a thread of their own', () => {
  let dir: string
  let landing: LandingThread | undefined
  beforeEach(() => {
    dir = makeTempDir('landing-thread-')
  })
  afterEach(async () => {
    await landing?.close()
    landing = undefined
    removeTempDir(dir)
  })

  it('lands many files, in several batches, with their bytes, times and mode', async () => {
    landing = new LandingThread(undefined)
    const files = Array.from({ length: 300 }, (_, i) => ({
      name: `f${i}`,
      // Some bigger than what one batch holds after the small ones: they start a new batch.
      data: randomBytes(i % 50 === 0 ? 200 * 1024 : i % 7)
    }))
    await Promise.all(
      files.map(f =>
        landing?.land(temp(dir, f.name), path.join(dir, f.name), f.data, {
          atime: 1_600_000_000,
          mtime: 1_500_000_000,
          mode: 0o640
        })
      )
    )
    expect(readdirSync(dir).sort()).toEqual(files.map(f => f.name).sort())
    for (const f of files) {
      const info = statSync(path.join(dir, f.name))
      expect(info.mtimeMs).toBe(1_500_000_000_000)
      expect(info.mode & 0o777).toBe(0o640)
      expect(readFileSync(path.join(dir, f.name)).equals(f.data)).toBe(true)
    }
  })

  it('copies the bytes when called: the caller may reuse its buffer at once', async () => {
    landing = new LandingThread(undefined)
    const data = Buffer.from('first')
    const landed = landing.land(temp(dir, 'a'), path.join(dir, 'a'), data, undefined)
    data.write('XXXXX')
    await landed
    expect(readFileSync(path.join(dir, 'a'), 'utf8')).toBe('first')
  })

  it("fails a file whose landing fails with the file system's error, leaving no temporary file", async () => {
    landing = new LandingThread(undefined)
    // A final name that is a non-empty folder: the temporary file is written, the rename fails.
    mkdirSync(path.join(dir, 'b', 'inside'), { recursive: true })
    const failed = landing.land(temp(dir, 'b'), path.join(dir, 'b'), Buffer.from('x'), undefined)
    const fine = landing.land(temp(dir, 'c'), path.join(dir, 'c'), Buffer.from('y'), undefined)
    await expect(failed).rejects.toMatchObject({ code: expect.stringMatching(/^E/) })
    await expect(failed).rejects.not.toBeInstanceOf(LandingStopped)
    await fine
    expect(readdirSync(dir).sort()).toEqual(['b', 'c'])
  })

  it('a thread that exits fails every waiting file and every later one with one clear error', async () => {
    landing = new LandingThread(undefined, thread('process.exit(7)'))
    const waiting = [1, 2, 3].map(i =>
      landing?.land(temp(dir, `${i}`), path.join(dir, `${i}`), Buffer.from('x'), undefined)
    )
    for (const w of waiting) {
      await expect(w).rejects.toThrow(LandingStopped)
      await expect(w).rejects.toThrow(/stopped \(it exited with code 7\)/)
    }
    await expect(
      landing.land(temp(dir, '4'), path.join(dir, '4'), Buffer.from('x'), undefined)
    ).rejects.toThrow(LandingStopped)
  })

  it('a thread that throws while landing fails the files it holds, not leaving them waiting', async () => {
    // It starts a temporary file, then dies before finishing it.
    const source = `
      const fs = require('node:fs')
      require('node:worker_threads').parentPort.on('message', batch => {
        fs.writeFileSync(batch.jobs[0].temp, 'half')
        throw new Error('disk on fire')
      })`
    landing = new LandingThread(undefined, thread(source))
    const landed = landing.land(temp(dir, 'd'), path.join(dir, 'd'), Buffer.from('xx'), undefined)
    await expect(landed).rejects.toThrow(/stopped \(disk on fire\)/)
    expect(existsSync(path.join(dir, 'd'))).toBe(false)
  })

  it('a thread that cannot start fails the files with one clear error', async () => {
    landing = new LandingThread(undefined, () => {
      throw new Error('no threads left')
    })
    await expect(
      landing.land(temp(dir, 'e'), path.join(dir, 'e'), Buffer.from('x'), undefined)
    ).rejects.toThrow(/stopped \(no threads left\)/)
  })
})

describe('the landing thread and the heap settings of the main thread', () => {
  /** The main thread's young generation after a burst of surviving objects, in a fresh node. */
  const flags: string[] = []
  // What every run asks for at its start; the thread's source is read after it, as in a run.
  keepHeapClose(f => void flags.push(f))
  const youngAfterBurst = (threadSource: string): number => {
    const script = `
      const v8 = require('node:v8')
      const { Worker } = require('node:worker_threads')
      for (const flag of JSON.parse(process.env.FLAGS)) v8.setFlagsFromString(flag)
      const worker = new Worker(process.env.SOURCE, { eval: true })
      worker.once('online', () => setTimeout(() => {
        let keep = []
        for (let i = 0; i < 3e6; i++) {
          keep.push({ a: i, b: [i] })
          if (keep.length > 200000) keep = []
        }
        const young = v8.getHeapSpaceStatistics().find(s => s.space_name === 'new_space')
        console.log(young.space_size)
        process.exit(0)
      }, 300))`
    const out = execFileSync(process.execPath, ['-e', script], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        FLAGS: JSON.stringify(flags),
        SOURCE: threadSource
      }
    })
    return Number(out.toString().trim())
  }

  it('keeps the young generation at its first size after the thread starts', () => {
    // Starting an isolate puts V8's process-wide semi-space growth factor back to its default;
    // a thread that did not set it again let the main thread's young generation grow 16-fold.
    expect(youngAfterBurst(landingThreadSource())).toBeLessThan(4 * 1024 * 1024)
  }, 30_000)
})
