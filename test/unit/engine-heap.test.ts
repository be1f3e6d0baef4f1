import { spawnSync } from 'node:child_process'
import { keepHeapClose, MANY_FILES, sizeHeapFor } from '../../src/engine/heap.js'

function recorder(): { set: (flags: string) => void; flags: string[] } {
  const flags: string[] = []
  return { set: f => void flags.push(f), flags }
}

describe('heap sizing', () => {
  it('starts every run with a fixed young generation and an old one grown by half', () => {
    const r = recorder()
    keepHeapClose(r.set)
    expect(r.flags).toEqual(['--semi-space-growth-factor=1', '--heap-growing-percent=50'])
  })

  it("gives a run of a few files V8's own growth back, and keeps it close for many", () => {
    const few = recorder()
    sizeHeapFor(1, few.set)
    sizeHeapFor(MANY_FILES - 1, few.set)
    expect(few.flags).toEqual(['--heap-growing-percent=0', '--heap-growing-percent=0'])
    const many = recorder()
    sizeHeapFor(MANY_FILES, many.set)
    sizeHeapFor(50_000, many.set)
    expect(many.flags).toEqual([])
  })

  it('uses only flags this V8 knows', () => {
    // An unknown flag does not stop a run: V8 only prints "unrecognized flag" and goes on.
    const r = recorder()
    keepHeapClose(r.set)
    sizeHeapFor(1, r.set)
    const script = `const v8 = require('node:v8'); for (const f of ${JSON.stringify(r.flags)}) v8.setFlagsFromString(f)`
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
    expect(child.status).toBe(0)
    expect(child.stderr).toBe('')
  })
})
