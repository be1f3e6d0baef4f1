import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { hasWriteHeadroom, WRITE_HEADROOM } from '../../src/engine/buffer-pool.js'
import { LocalFileWriter, openLocalFile } from '../../src/engine/local-file.js'
import { TransferError } from '../../src/errors.js'
import { rejected } from './real-keys.js'

let dir: string
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'unit-local-file-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('openLocalFile', () => {
  for (const size of [10, 256 * 1024, 256 * 1024 + 1, 3 * 1024 * 1024]) {
    it(`reads any range of a ${size}-byte file exactly`, async () => {
      const file = path.join(dir, `f${size}`)
      const content = Buffer.alloc(size, 0).map((_, i) => i % 251)
      writeFileSync(file, content)
      const reader = await openLocalFile(file, size)
      try {
        expect(await reader.read(0, size)).toEqual(content)
        const from = Math.floor(size / 3)
        expect(await reader.read(from, 7)).toEqual(content.subarray(from, from + 7))
      } finally {
        await reader.close()
      }
    })
  }

  for (const size of [1000, 600 * 1024]) {
    it(`fails a ${size}-byte file that shrank after it was planned, naming it`, async () => {
      const file = path.join(dir, `shrinks${size}`)
      writeFileSync(file, Buffer.alloc(size, 1))
      truncateSync(file, size - 100)
      const reader = await openLocalFile(file, size)
      try {
        const error = await rejected(() => reader.read(0, size))
        expect(error).toBeInstanceOf(TransferError)
        expect((error as Error).message).toBe(
          `${file} changed while it was being sent (it got shorter).`
        )
      } finally {
        await reader.close()
      }
    })
  }

  it('rejects a file that is gone', async () => {
    const opened = await openLocalFile(path.join(dir, 'missing'), 5).then(
      reader => ({ reader }),
      (error: unknown) => ({ error })
    )
    // A large file is refused when opened; a small one when its bytes are asked for.
    const error = 'error' in opened ? opened.error : await rejected(() => opened.reader.read(0, 5))
    expect((error as Error).message).toMatch(/ENOENT/)
  })

  // The bundle's ssh2 builds each WRITE request in the room in front of a chunk and sends the
  // chunk from where it lies (writeInPlace), instead of copying every byte into a request first.
  it("reads a big file's chunks with room in front for the WRITE header", async () => {
    const size = 3 * 261_120 + 5
    const file = path.join(dir, 'roomy')
    const content = randomBytes(size)
    writeFileSync(file, content)
    const reader = await openLocalFile(file, size)
    try {
      for (const [from, length] of [
        [0, 261_120],
        [261_120, 261_120],
        [3 * 261_120, 5]
      ]) {
        const chunk = await reader.read(from, length)
        expect(chunk).toEqual(content.subarray(from, from + length))
        expect(hasWriteHeadroom(chunk)).toBe(true)
        expect(chunk.byteOffset).toBeGreaterThanOrEqual(WRITE_HEADROOM)
      }
    } finally {
      await reader.close()
    }
  })

  it('reads a small file when its bytes are asked for, not when it is opened', async () => {
    // Bytes read at open would be held while the remote handle takes a round trip to arrive,
    // for hundreds of files at once.
    const file = path.join(dir, 'late')
    writeFileSync(file, 'before')
    const reader = await openLocalFile(file, 5)
    writeFileSync(file, 'after')
    expect((await reader.read(0, 5)).toString()).toBe('after')
    await reader.close()
  })
})

describe('LocalFileWriter', () => {
  it('flushes to disk in the background as it goes, not only when closed', async () => {
    const file = path.join(dir, 'flushed-as-it-goes')
    const chunk = Buffer.alloc(64 * 1024, 7)
    const writer = await LocalFileWriter.open(file, false, 256 * 1024)
    try {
      for (let i = 0; i < 16; i++) await writer.write(i * chunk.length, chunk)
      // The flushes run beside the writes; the first one started after 256 KiB.
      for (let waited = 0; writer.flushed === 0 && waited < 5000; waited += 10) {
        await new Promise(resolve => setTimeout(resolve, 10))
      }
      expect(writer.flushed).toBeGreaterThanOrEqual(256 * 1024)
      expect(writer.flushed).toBeLessThanOrEqual(16 * chunk.length)
    } finally {
      await writer.close()
    }
    expect(readFileSync(file)).toEqual(Buffer.alloc(16 * chunk.length, 7))
  })

  it('does not flush a file smaller than the flush interval before it is closed', async () => {
    const file = path.join(dir, 'small-unflushed')
    const writer = await LocalFileWriter.open(file, false, 1024 * 1024)
    try {
      await writer.write(0, Buffer.alloc(1000, 1))
      await new Promise(resolve => setTimeout(resolve, 50))
      expect(writer.flushed).toBe(0)
    } finally {
      await writer.close()
    }
    expect(readFileSync(file)).toEqual(Buffer.alloc(1000, 1))
  })
})
