import { spawnSync } from 'node:child_process'
import {
  keepHeapClose,
  MANY_FILES,
  reapplyHeapFlags,
  sizeHeapFor,
  threadPrelude,
  YOUNG_BYTES
} from '../../src/heap.js'

function recorder(): { set: (flags: string) => void; flags: string[] } {
  const flags: string[] = []
  return { set: f => void flags.push(f), flags }
}

/** Enough short-lived garbage, with some of it kept for a while, for a few scavenges. */
async function churn(): Promise<void> {
  const kept: unknown[] = []
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 100_000; i++) {
      const o = { i, list: [i] }
      if (i % 10 === 0) kept.push(o)
    }
    kept.length = 0
    await new Promise(resolve => setImmediate(resolve))
  }
}

describe('heap sizing', () => {
  it('starts with a young generation held at its first size and an old one grown by half', () => {
    const r = recorder()
    keepHeapClose(r.set)
    expect(r.flags).toEqual(['--semi-space-growth-factor=1', '--heap-growing-percent=50'])
  })

  it("gives a run of a few files V8's own old-generation growth back", () => {
    const few = recorder()
    expect(sizeHeapFor(1, few.set, () => 2)).toBeUndefined()
    sizeHeapFor(MANY_FILES - 1, few.set, () => 2)
    expect(few.flags).toEqual(['--heap-growing-percent=0', '--heap-growing-percent=0'])
  })

  it('lets the young generation of a run of many files grow once, then holds it', async () => {
    const r = recorder()
    // Grown once already while the bundle loaded: 4 MiB, so one step of 4 reaches 16 MiB.
    let newSpace = YOUNG_BYTES / 4
    const observer = sizeHeapFor(MANY_FILES, r.set, () => newSpace)
    try {
      expect(r.flags).toEqual(['--semi-space-growth-factor=4'])
      // Collections that find it at its first size change nothing.
      await churn()
      expect(r.flags).toHaveLength(1)
      newSpace = YOUNG_BYTES
      await churn()
      expect(r.flags.slice(1)).toEqual(['--semi-space-growth-factor=1'])
      // Held: later collections set nothing more.
      newSpace = 2 * YOUNG_BYTES
      await churn()
      expect(r.flags).toHaveLength(2)
    } finally {
      observer?.disconnect()
    }
  })

  it('leaves a young generation alone that is already as big', () => {
    const r = recorder()
    expect(sizeHeapFor(MANY_FILES, r.set, () => YOUNG_BYTES)).toBeUndefined()
    expect(r.flags).toEqual([])
  })

  it("starts a thread's source with the latest of each flag the run asked for", () => {
    keepHeapClose(recorder().set)
    sizeHeapFor(1, recorder().set)
    const set: string[] = []
    const v8 = { setFlagsFromString: (f: string) => void set.push(f) }
    new Function('require', threadPrelude())(() => v8)
    expect(set).toEqual(['--semi-space-growth-factor=1', '--heap-growing-percent=0'])
  })

  it('sets again, once a thread is online, the latest of each flag the run asked for', () => {
    keepHeapClose(recorder().set)
    sizeHeapFor(1, recorder().set)
    const again = recorder()
    reapplyHeapFlags(again.set)
    expect(again.flags).toEqual(['--semi-space-growth-factor=1', '--heap-growing-percent=0'])
  })

  it('uses only flags this V8 knows', () => {
    // An unknown flag does not stop a run: V8 only prints "unrecognized flag" and goes on.
    const r = recorder()
    keepHeapClose(r.set)
    sizeHeapFor(1, r.set)
    sizeHeapFor(MANY_FILES, r.set, () => YOUNG_BYTES / 4)?.disconnect()
    const flags = r.flags
    const script = `const v8 = require('node:v8'); for (const f of ${JSON.stringify(flags)}) v8.setFlagsFromString(f)`
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
    expect(child.status).toBe(0)
    expect(child.stderr).toBe('')
  })
})
