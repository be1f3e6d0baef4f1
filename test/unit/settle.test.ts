import { unlessFailed } from '../../src/settle.js'

const never = new Promise<never>(() => undefined)

describe('unlessFailed', () => {
  it("gives the work's value when the other promise succeeds or never settles", async () => {
    await expect(unlessFailed(Promise.resolve(1), Promise.resolve('ok'))).resolves.toBe(1)
    await expect(unlessFailed(Promise.resolve(2), never)).resolves.toBe(2)
  })

  it("rejects with the other promise's error without waiting for the work", async () => {
    const failed = new Error('hashing failed')
    await expect(unlessFailed(never, Promise.reject(failed))).rejects.toBe(failed)
  })

  it("rejects with the work's own error, and ignores its failure after the other's", async () => {
    const listing = new Error('listing failed')
    await expect(unlessFailed(Promise.reject(listing), never)).rejects.toBe(listing)
    let failLate: (err: Error) => void = () => undefined
    const late = new Promise<never>((_resolve, reject) => (failLate = reject))
    const first = new Error('first')
    const both = unlessFailed(late, Promise.reject(first))
    await expect(both).rejects.toBe(first)
    // Handled by unlessFailed: jest fails the run on an unhandled rejection.
    failLate(listing)
    await new Promise(resolve => setImmediate(resolve))
  })
})
