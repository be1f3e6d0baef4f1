import { jest } from '@jest/globals'

const warning = jest.fn<(message: string) => void>()
jest.unstable_mockModule('@actions/core', () => ({ warning }))

const { withRetries, summarizeFaults } = await import('../../src/connection/retry-policy.js')
const { AuthenticationError, ConnectionError, HostKeyError } = await import('../../src/errors.js')

const lost = () => new ConnectionError('The connection was lost.', true)
const isTransient = (err: unknown) => err instanceof ConnectionError && err.transient

/** Runs withRetries over scripted outcomes, recording attempts and waits. */
async function script(outcomes: Array<Error | string>, retries = 3) {
  const delays: number[] = []
  let attempts = 0
  const result = withRetries({
    what: 'listing /backups on backup.example.com:22',
    retries,
    attempt: async () => {
      const outcome = outcomes[attempts++]
      if (outcome instanceof Error) throw outcome
      return outcome
    },
    transient: isTransient,
    sleep: async ms => {
      delays.push(ms)
    }
  })
  return { result, delays, attempts: () => attempts }
}

beforeEach(() => warning.mockClear())

describe('withRetries (the one retry policy of a step)', () => {
  it('retries a transient fault with backoff and logs each retry as it happens', async () => {
    const run = await script([lost(), lost(), 'listed'])
    await expect(run.result).resolves.toBe('listed')
    expect(run.attempts()).toBe(3)
    expect(run.delays).toEqual([1000, 2000])
    expect(warning.mock.calls.map(c => c[0])).toEqual([
      'Connection lost while listing /backups on backup.example.com:22 (The connection was ' +
        'lost.). Trying again in 1 s (retry 1 of 3).',
      'Connection lost while listing /backups on backup.example.com:22 (The connection was ' +
        'lost.). Trying again in 2 s (retry 2 of 3).'
    ])
  })

  it('after the last retry, one error names the phase, the host and the number of tries', async () => {
    const run = await script([lost(), lost(), lost(), lost(), 'never'])
    const err = await run.result.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConnectionError)
    expect((err as Error).message).toBe(
      'listing /backups on backup.example.com:22: connection lost 4 times; gave up. ' +
        'Last error: The connection was lost.'
    )
    // Final: an outer loop must not start the count again.
    expect((err as InstanceType<typeof ConnectionError>).transient).toBe(false)
    expect(run.attempts()).toBe(4)
    expect(warning).toHaveBeenCalledTimes(3)
  })

  it.each([
    ['a host-key mismatch', () => new HostKeyError('no pin matches')],
    ['a rejected login', () => new AuthenticationError('rejected')],
    ['a refusal the server meant', () => new ConnectionError('refused to start SFTP', false)]
  ])('never retries %s', async (_, make) => {
    const thrown = make()
    const run = await script([thrown, 'never'])
    await expect(run.result).rejects.toBe(thrown)
    expect(run.attempts()).toBe(1)
    expect(warning).not.toHaveBeenCalled()
  })

  it('with retries 0, the first transient fault ends it, still naming phase and host', async () => {
    const run = await script([lost()], 0)
    await expect(run.result).rejects.toThrow(
      'listing /backups on backup.example.com:22: connection lost once; gave up.'
    )
  })

  it('sums up mixed faults', () => {
    const timeout = new ConnectionError('Timed out after 5 s connecting to x.', true)
    expect(summarizeFaults([lost(), timeout, lost()])).toBe(
      'failed 3 times (connection lost 2 times, timed out once)'
    )
  })
})
