import { jest } from '@jest/globals'
import type { RetryPlan } from '../../src/engine/retry.js'
import type { FileResult } from '../../src/report/types.js'

const warning = jest.fn<(message: string) => void>()
const debug = jest.fn<(message: string) => void>()
jest.unstable_mockModule('@actions/core', () => ({ warning, debug }))

const { isTransient, killIfNetwork, runWithRetries } = await import('../../src/engine/retry.js')
const { backoffMs } = await import('../../src/connection/backoff.js')
const {
  ActionError,
  AuthenticationError,
  ConnectionError,
  ExtraConnectionLost,
  HostKeyError,
  TransferError
} = await import('../../src/errors.js')
/** A connection as the retry loop sees it. */
class FakeSession {
  dead = false
  fatal: Error | undefined
  kills = 0
  closes = 0
  constructor(readonly id: number) {}
  kill(): void {
    this.kills++
    this.dead = true
  }
  close(): void {
    this.closes++
  }
}

const ok = (job: string): FileResult => ({
  source: job,
  target: `/t/${job}`,
  size: 1,
  status: 'transferred'
})

/** A plan over jobs named by strings, with every call recorded. */
function harness(
  jobs: string[],
  run: (session: FakeSession, job: string, release: () => void) => Promise<FileResult>,
  overrides: Partial<RetryPlan<string, FakeSession>> = {}
) {
  const sessions: FakeSession[] = []
  const delays: number[] = []
  const runs: Array<[number, string]> = []
  const prepared: Array<[number, string[]]> = []
  const finished: number[] = []
  const plan: RetryPlan<string, FakeSession> = {
    jobs,
    retries: 3,
    concurrency: 1,
    connect: async () => {
      const session = new FakeSession(sessions.length + 1)
      sessions.push(session)
      return session
    },
    prepare: async (session, pending) => {
      prepared.push([session.id, [...pending]])
    },
    run: (session, job, release) => {
      runs.push([session.id, job])
      return run(session, job, release)
    },
    finish: async session => {
      finished.push(session.id)
    },
    abandoned: (job, reason) => ({
      source: job,
      target: `/t/${job}`,
      size: 1,
      status: 'failed',
      error: reason
    }),
    sleep: async ms => {
      delays.push(ms)
    },
    ...overrides
  }
  return { plan, sessions, delays, runs, prepared, finished }
}

const transient = () => new ConnectionError('x', true)

function bySource(results: FileResult[]): Map<string, FileResult> {
  const map = new Map<string, FileResult>()
  for (const r of results) {
    expect(map.has(r.source)).toBe(false) // one row per job
    map.set(r.source, r)
  }
  return map
}

beforeEach(() => warning.mockClear())

describe('runWithRetries', () => {
  it('does every job in one round on one connection', async () => {
    const h = harness(['a', 'b', 'c'], async (_, job) => ok(job))
    const results = await runWithRetries(h.plan)
    expect(results).toEqual([ok('a'), ok('b'), ok('c')])
    expect(h.sessions).toHaveLength(1)
    expect(h.delays).toEqual([])
    expect(h.prepared).toEqual([[1, ['a', 'b', 'c']]])
    expect(h.finished).toEqual([1])
    expect(warning).not.toHaveBeenCalled()
  })

  it('returns more results than a spread call takes arguments', async () => {
    // push(...rows) throws "Maximum call stack size exceeded" past roughly 125,000 rows.
    const jobs = Array.from({ length: 200_000 }, (_, i) => String(i))
    const h = harness(jobs, async (_, job) => ok(job), { concurrency: 64 })
    const results = await runWithRetries({ ...h.plan, run: async (_, job) => ok(job) })
    expect(results).toHaveLength(200_000)
  })

  it('leaves a healthy connection open for the caller', async () => {
    const h = harness(['a'], async (_, job) => ok(job))
    await runWithRetries(h.plan)
    expect(h.sessions[0].closes).toBe(0)
    expect(h.sessions[0].kills).toBe(0)
  })

  it('re-runs a job hit by a transient error on a new connection, never redoing done jobs', async () => {
    const h = harness(['a', 'b', 'c', 'd'], async (session, job) => {
      if (session.id === 1 && job === 'b') throw transient()
      return ok(job)
    })
    const results = await runWithRetries(h.plan)
    expect(h.runs).toEqual([
      [1, 'a'],
      [1, 'b'],
      [2, 'b'],
      [2, 'c'],
      [2, 'd']
    ])
    expect(bySource(results)).toEqual(new Map(['a', 'b', 'c', 'd'].map(job => [job, ok(job)])))
    expect(h.prepared).toEqual([
      [1, ['a', 'b', 'c', 'd']],
      [2, ['b', 'c', 'd']]
    ])
    expect(h.finished).toEqual([2])
    expect(h.delays).toEqual([1000])
    // The dropped connection is killed and closed; the one that finished is left open.
    expect(h.sessions[0].kills).toBe(1)
    expect(h.sessions[0].closes).toBe(1)
    expect(h.sessions[1].closes).toBe(0)
    expect(warning).toHaveBeenCalledTimes(1)
    expect(warning.mock.calls[0][0]).toBe(
      'Connection lost while transferring files (x). Trying again in 1 s (retry 1 of 3).'
    )
  })

  it('with parallel jobs, each finishes exactly once across reconnections', async () => {
    const jobs = Array.from({ length: 20 }, (_, i) => `f${i}`)
    const successes = new Map<string, number>()
    const h = harness(
      jobs,
      async (session, job) => {
        await new Promise(r => setTimeout(r, (Number(job.slice(1)) * 7) % 5))
        if (session.dead) throw new Error('Not connected')
        if (session.id < 3 && job === `f${session.id * 6}`) throw transient()
        successes.set(job, (successes.get(job) ?? 0) + 1)
        return ok(job)
      },
      { concurrency: 4 }
    )
    const results = await runWithRetries(h.plan)
    expect([...bySource(results).keys()].sort()).toEqual([...jobs].sort())
    expect(results.every(r => r.status === 'transferred')).toBe(true)
    for (const job of jobs) expect(successes.get(job)).toBe(1)
    expect(h.sessions).toHaveLength(3)
    expect(h.delays).toEqual([1000, 2000])
  })

  it('gives up after `retries` reconnections and reports the rest abandoned', async () => {
    const h = harness(
      ['a', 'b', 'c'],
      async (_, job) => {
        if (job === 'a') return ok(job)
        throw transient()
      },
      { retries: 2 }
    )
    const results = await runWithRetries(h.plan)
    expect(h.sessions).toHaveLength(3)
    expect(h.delays).toEqual([1000, 2000])
    const rows = bySource(results)
    expect(rows.get('a')).toEqual(ok('a'))
    for (const job of ['b', 'c']) {
      expect(rows.get(job)?.status).toBe('failed')
      expect(rows.get(job)?.error).toBe(
        'transferring files: connection lost 3 times; gave up. Last error: x'
      )
      expect(rows.get(job)?.error).toContain('x')
    }
    expect(h.runs.filter(([, job]) => job === 'a')).toHaveLength(1)
    for (const session of h.sessions) expect(session.closes).toBe(1)
    expect(h.finished).toEqual([])
  })

  it('with retries 0, gives up after the first connection', async () => {
    const h = harness(['a'], async () => Promise.reject(transient()), { retries: 0 })
    const results = await runWithRetries(h.plan)
    expect(h.sessions).toHaveLength(1)
    expect(h.delays).toEqual([])
    expect(results).toHaveLength(1)
    expect(results[0].error).toContain('connection lost once; gave up')
  })

  it('backs off 1 s, 2 s, 4 s, 8 s, then 10 s between attempts', async () => {
    const h = harness(['a'], async () => Promise.reject(transient()), { retries: 6 })
    await runWithRetries(h.plan)
    expect(h.delays).toEqual([1000, 2000, 4000, 8000, 10000, 10000])
  })

  it('passes through failed rows for a file fault without reconnecting', async () => {
    const failed: FileResult = { ...ok('b'), status: 'failed', error: 'Permission denied' }
    const h = harness(['a', 'b', 'c'], async (_, job) => (job === 'b' ? failed : ok(job)))
    const results = await runWithRetries(h.plan)
    expect(results).toEqual([ok('a'), failed, ok('c')])
    expect(h.sessions).toHaveLength(1)
    expect(h.delays).toEqual([])
  })

  it.each([
    ['an ActionError', () => new TransferError('checksum mismatch')],
    ['a plain bug', () => new TypeError('undefined is not a function')]
  ])('propagates %s thrown by run() without reconnecting', async (_, make) => {
    const thrown = make()
    const h = harness(['a', 'b'], async (_, job) => {
      if (job === 'b') throw thrown
      return ok(job)
    })
    await expect(runWithRetries(h.plan)).rejects.toBe(thrown)
    expect(h.sessions).toHaveLength(1)
    expect(h.sessions[0].closes).toBe(1)
    expect(h.delays).toEqual([])
    expect(h.finished).toEqual([])
  })

  it('treats any error as network trouble once the session is dead', async () => {
    const h = harness(['a'], async (session, job) => {
      if (session.id === 1) {
        session.dead = true
        throw new Error('some odd failure')
      }
      return ok(job)
    })
    const results = await runWithRetries(h.plan)
    expect(results).toEqual([ok('a')])
    expect(h.sessions).toHaveLength(2)
    expect(h.sessions[0].closes).toBe(1)
    expect(h.sessions[1].closes).toBe(0)
  })

  it.each([
    ['HostKeyError', () => new HostKeyError('key changed')],
    ['AuthenticationError', () => new AuthenticationError('denied')]
  ])('propagates a %s from the first connect at once', async (_, make) => {
    const thrown = make()
    let connects = 0
    const h = harness(['a'], async job => ok(String(job)), {
      connect: async () => {
        connects++
        throw thrown
      }
    })
    await expect(runWithRetries(h.plan)).rejects.toBe(thrown)
    expect(connects).toBe(1)
    expect(h.delays).toEqual([])
  })

  it('propagates a HostKeyError on a reconnection without trying again', async () => {
    const thrown = new HostKeyError('key changed after the drop')
    let connects = 0
    const first = new FakeSession(1)
    const h = harness(['a'], async () => Promise.reject(transient()), {
      connect: async () => {
        connects++
        if (connects === 1) return first
        throw thrown
      }
    })
    await expect(runWithRetries(h.plan)).rejects.toBe(thrown)
    expect(connects).toBe(2)
    expect(h.delays).toEqual([1000])
    expect(first.closes).toBe(1)
  })

  it('never reconnects once the session ended for good (host key changed); what landed stays', async () => {
    const changed = new HostKeyError('The host key changed during the session')
    let calls = 0
    const h = harness(
      ['a', 'b', 'c'],
      async (session, job) => {
        calls++
        if (calls === 1) return ok(job)
        // The session learns of the change; this job only saw its request fail.
        session.fatal = changed
        session.dead = true
        throw transient()
      },
      { retries: 3 }
    )
    const results = bySource(await runWithRetries(h.plan))
    expect(h.sessions).toHaveLength(1)
    expect(h.delays).toEqual([])
    expect(results.get('a')?.status).toBe('transferred')
    for (const job of ['b', 'c']) {
      expect(results.get(job)).toMatchObject({ status: 'failed', error: changed.message })
    }
  })

  it('retries a refused or timed-out reconnection after a drop', async () => {
    let connects = 0
    const sessions: FakeSession[] = []
    const h = harness(
      ['a', 'b'],
      async (session, job) => {
        if (session.id === 1 && job === 'b') throw transient()
        return ok(job)
      },
      {
        connect: async () => {
          connects++
          if (connects === 2) throw new ConnectionError('Connection refused', false)
          const session = new FakeSession(connects)
          sessions.push(session)
          return session
        }
      }
    )
    const results = await runWithRetries(h.plan)
    expect(results).toEqual([ok('a'), ok('b')])
    expect(connects).toBe(3)
    expect(h.delays).toEqual([1000, 2000])
    expect(h.runs).toEqual([
      [1, 'a'],
      [1, 'b'],
      [3, 'b']
    ])
  })

  it('retries a transient failure in prepare with every pending job, closing that session', async () => {
    let prepares = 0
    const h = harness(['a', 'b'], async (_, job) => ok(job), {
      prepare: async () => {
        prepares++
        if (prepares === 1) throw new Error('read ECONNRESET')
      }
    })
    const results = await runWithRetries(h.plan)
    expect(results).toEqual([ok('a'), ok('b')])
    expect(h.sessions).toHaveLength(2)
    expect(h.sessions[0].closes).toBe(1)
    expect(h.sessions[1].closes).toBe(0)
    expect(h.runs).toEqual([
      [2, 'a'],
      [2, 'b']
    ])
  })

  it('propagates a non-transient failure in prepare', async () => {
    const thrown = new Error('Permission denied')
    const h = harness(['a'], async (_, job) => ok(job), {
      prepare: async () => {
        throw thrown
      }
    })
    await expect(runWithRetries(h.plan)).rejects.toBe(thrown)
    expect(h.runs).toEqual([])
    expect(h.sessions[0].closes).toBe(1)
  })

  it('takes jobs one at a time as workers free up, never all of them up front', async () => {
    // 50,000 files: a promise and closure per job made at once cost memory by the file.
    const names = Array.from({ length: 1000 }, (_, i) => `f${i}`)
    const touched = new Set<number>()
    const jobs = new Proxy(names, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) touched.add(Number(key))
        return Reflect.get(target, key, receiver) as unknown
      }
    })
    let touchedAtFirstRun = -1
    const h = harness(jobs, async (_, job) => {
      if (touchedAtFirstRun < 0) touchedAtFirstRun = touched.size
      await new Promise(r => setImmediate(r))
      return ok(job)
    })
    h.plan.prepare = undefined
    h.plan.concurrency = 4
    const results = await runWithRetries(h.plan)
    expect(results).toHaveLength(1000)
    expect(new Set(results.map(r => r.source)).size).toBe(1000)
    expect(touchedAtFirstRun).toBeGreaterThan(0)
    expect(touchedAtFirstRun).toBeLessThanOrEqual(4)
  })

  it('starts the next job once a running one gave its place back (its rename left)', async () => {
    let startB = (): void => undefined
    const bStarted = new Promise<void>(resolve => (startB = resolve))
    const h = harness(['a', 'b'], async (_, job, release) => {
      if (job === 'b') {
        startB()
        return ok(job)
      }
      release()
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        bStarted,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('b waited for a')), 2000)
        })
      ]).finally(() => clearTimeout(timer))
      return ok(job)
    })
    h.plan.concurrency = 1
    const results = bySource(await runWithRetries(h.plan))
    expect(results.get('a')?.status).toBe('transferred')
    expect(results.get('b')?.status).toBe('transferred')
    expect(h.sessions).toHaveLength(1)
  })

  it('runs a job again on a new connection when it fails on the network after giving its place back', async () => {
    const h = harness(['a', 'b', 'c'], async (session, job, release) => {
      if (job === 'a' && session.id === 1) {
        release()
        await new Promise(r => setImmediate(r))
        throw transient()
      }
      return ok(job)
    })
    h.plan.concurrency = 1
    const results = bySource(await runWithRetries(h.plan))
    expect([...results.values()].every(r => r.status === 'transferred')).toBe(true)
    expect(results.size).toBe(3)
    expect(h.runs.filter(([, job]) => job === 'a')).toEqual([
      [1, 'a'],
      [2, 'a']
    ])
    expect(h.sessions[0].kills).toBe(1)
  })

  it('returns nothing and connects nowhere for no jobs', async () => {
    const h = harness([], async (_, job) => ok(job))
    expect(await runWithRetries(h.plan)).toEqual([])
    expect(h.sessions).toHaveLength(0)
  })
})

describe('runWithRetries: a lost extra connection', () => {
  const extraLost = () =>
    new ExtraConnectionLost('An extra connection through the jump host was lost.')

  it('runs the file again on the same session, which it neither kills nor closes', async () => {
    let lost = 0
    const h = harness(['a', 'b', 'c'], async (_, job) => {
      if (job === 'b' && lost++ === 0) throw extraLost()
      return ok(job)
    })
    const results = await runWithRetries(h.plan)
    expect(results).toEqual([ok('a'), ok('b'), ok('c')])
    expect(h.runs).toEqual([
      [1, 'a'],
      [1, 'b'],
      [1, 'b'],
      [1, 'c']
    ])
    expect(h.sessions).toHaveLength(1)
    expect(h.sessions[0].kills).toBe(0)
    expect(h.sessions[0].closes).toBe(0)
    expect(h.delays).toEqual([])
  })

  it('gives up on the session as for any network fault once there are no extras left', async () => {
    const h = harness(['a'], async session => {
      if (session.id === 1) throw extraLost()
      return ok('a')
    })
    const results = await runWithRetries(h.plan)
    expect(results).toEqual([ok('a')])
    // Three extras at most, each dropped once it is lost: a fourth loss is not the extras'.
    expect(h.runs.filter(([id]) => id === 1)).toHaveLength(4)
    expect(h.sessions).toHaveLength(2)
    expect(h.sessions[0].kills).toBe(1)
  })

  it('reconnects as before when the session itself is down too', async () => {
    const h = harness(['a'], async session => {
      if (session.id === 1) {
        session.dead = true
        throw extraLost()
      }
      return ok('a')
    })
    await runWithRetries(h.plan)
    expect(h.runs).toEqual([
      [1, 'a'],
      [2, 'a']
    ])
  })
})

describe('isTransient', () => {
  const healthy = new FakeSession(1)
  const dead = Object.assign(new FakeSession(2), { dead: true })

  it('follows the ConnectionError flag, whatever the session', () => {
    expect(isTransient(new ConnectionError('reset', true), undefined)).toBe(true)
    expect(isTransient(new ConnectionError('refused', false), undefined)).toBe(false)
    expect(isTransient(new ConnectionError('refused', false), dead)).toBe(false)
  })

  it('never retries other ActionErrors, even on a dead session', () => {
    expect(isTransient(new ActionError('t', 'm'), undefined)).toBe(false)
    expect(isTransient(new TransferError('ECONNRESET in the message'), healthy)).toBe(false)
    expect(isTransient(new HostKeyError('changed'), dead)).toBe(false)
  })

  it('counts any other error on a dead session as network trouble', () => {
    expect(isTransient(new Error('Permission denied'), dead)).toBe(true)
    expect(isTransient(new Error('Permission denied'), healthy)).toBe(false)
    expect(isTransient(new Error('Permission denied'), undefined)).toBe(false)
  })

  it('recognises ssh2 socket and timeout levels', () => {
    const withLevel = (level: string) => Object.assign(new Error('boom'), { level })
    expect(isTransient(withLevel('client-socket'), healthy)).toBe(true)
    expect(isTransient(withLevel('client-timeout'), undefined)).toBe(true)
    expect(isTransient(withLevel('client-authentication'), healthy)).toBe(false)
    expect(isTransient(withLevel('protocol'), healthy)).toBe(false)
  })

  it.each([
    'No response from server',
    'read ECONNRESET',
    'write EPIPE',
    'connect ETIMEDOUT 10.0.0.1:22',
    'ECONNABORTED',
    'Not connected',
    'Channel not open',
    'connection lost',
    'Connection closed by peer',
    'socket hang up',
    'Keepalive timeout'
  ])('recognises network message %p', message => {
    expect(isTransient(new Error(message), healthy)).toBe(true)
  })

  it.each(['Permission denied', 'No such file', 'Failure', 'Quota exceeded'])(
    'does not retry file fault %p',
    message => {
      expect(isTransient(new Error(message), healthy)).toBe(false)
    }
  )

  it('reads messages of non-Error values too', () => {
    expect(isTransient('ECONNRESET', undefined)).toBe(true)
    expect(isTransient({ message: 'ignored' }, undefined)).toBe(false)
  })
})

describe('killIfNetwork', () => {
  it('kills the session on network trouble and rethrows', () => {
    const session = new FakeSession(1)
    const err = new Error('No response from server')
    expect(() => killIfNetwork(session)(err)).toThrow(err)
    expect(session.kills).toBe(1)
  })

  it('leaves the session alone when only an extra connection was lost, and rethrows', () => {
    const session = new FakeSession(1)
    const err = new ExtraConnectionLost('An extra connection through the jump host was lost.')
    expect(() => killIfNetwork(session)(err)).toThrow(err)
    expect(session.kills).toBe(0)
  })

  it('leaves the session alone for a file fault and rethrows', () => {
    const session = new FakeSession(1)
    const err = new Error('Permission denied')
    expect(() => killIfNetwork(session)(err)).toThrow(err)
    expect(session.kills).toBe(0)
  })
})

describe('backoffMs', () => {
  it('doubles from 1 s and caps at 10 s', () => {
    expect([1, 2, 3, 4, 5, 6, 20].map(backoffMs)).toEqual([
      1000, 2000, 4000, 8000, 10000, 10000, 10000
    ])
  })
})
