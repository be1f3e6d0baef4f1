import type { VerifiedConnection } from '../../src/connection/connect.js'
import {
  ExtraConnections,
  interleave,
  type Lanes,
  type Widening
} from '../../src/engine/extra-connections.js'
import type { SftpChannel } from '../../src/engine/sftp.js'
import { AuthenticationError, ConnectionError, HostKeyError } from '../../src/errors.js'

const channel = (name: string): SftpChannel => ({ name }) as unknown as SftpChannel
const names = (channels: SftpChannel[]): string[] =>
  channels.map(c => (c as unknown as { name: string }).name)

class FakeLanes implements Lanes {
  closed = 0
  killed = 0
  dead = false
  fatal: Error | undefined
  constructor(readonly channels: SftpChannel[]) {}
  kill(): void {
    this.killed++
  }
  close(): void {
    this.closed++
  }
}

const connection = (address: string): VerifiedConnection =>
  ({ address }) as unknown as VerifiedConnection

/** Extra connections whose n-th connect gives `outcomes[n]` (an Error rejects). */
function setup(outcomes: Array<string | Error>) {
  let n = 0
  const started: FakeLanes[] = []
  const failures: Error[] = []
  const widening: Widening = {
    count: outcomes.length,
    connect: async () => {
      const outcome = outcomes[n++]
      if (outcome instanceof Error) throw outcome
      return connection(outcome)
    }
  }
  const extras = new ExtraConnections(
    widening,
    async c => {
      const lanes = new FakeLanes([channel(`${c.address}/0`), channel(`${c.address}/1`)])
      started.push(lanes)
      return lanes
    },
    (_reason, err) => failures.push(err)
  )
  return { extras, started, failures, connects: () => n }
}

describe('interleave', () => {
  it('takes the channels of each connection in turns, so consecutive lanes differ', () => {
    const groups = [
      [channel('a0'), channel('a1'), channel('a2')],
      [channel('b0')],
      [channel('c0'), channel('c1')]
    ]
    expect(names(interleave(groups))).toEqual(['a0', 'b0', 'c0', 'a1', 'c1', 'a2'])
  })
})

describe('ExtraConnections', () => {
  it('opens the connections once, however many big files ask at once', async () => {
    const { extras, connects } = setup(['x', 'y', 'z'])
    await Promise.all([extras.widen(), extras.widen(), extras.widen()])
    await extras.widen()
    expect(connects()).toBe(3)
    expect(extras.sessions).toHaveLength(3)
  })

  it('uses fewer when connections, forwards or logins are refused', async () => {
    const { extras, failures } = setup([
      new ConnectionError('closed before login', true),
      'y',
      new AuthenticationError('no')
    ])
    await expect(extras.widen()).resolves.toBeUndefined()
    expect(extras.sessions.map(s => names(s.channels))).toEqual([['y/0', 'y/1']])
    expect(failures).toEqual([])
  })

  it('fails closed on a host key that matches no pin, and keeps none of the others', async () => {
    const mismatch = new HostKeyError('127.0.0.1:22 presented ssh-ed25519 SHA256:x')
    const { extras, started, failures } = setup(['x', mismatch, 'z'])
    await expect(extras.widen()).rejects.toBe(mismatch)
    // Later big files see the same refusal, never a quiet fallback.
    await expect(extras.widen()).rejects.toBe(mismatch)
    expect(failures).toEqual([mismatch])
    expect(extras.sessions).toHaveLength(0)
    expect(started.map(s => s.closed)).toEqual([1, 1])
  })

  it('closes connections that arrive after their session ended', async () => {
    const { extras, started } = setup(['x', 'y'])
    const opening = extras.widen()
    extras.close()
    await opening
    expect(extras.sessions).toHaveLength(0)
    expect(started.map(s => s.closed)).toEqual([1, 1])
  })

  it('dies with any of its connections, and ends them all with the session', async () => {
    const { extras, started } = setup(['x', 'y'])
    await extras.widen()
    expect(extras.dead).toBe(false)
    started[1].dead = true
    expect(extras.dead).toBe(true)
    extras.kill()
    expect(started.map(s => s.killed)).toEqual([1, 1])
  })

  it('does nothing without a jump host', async () => {
    const extras = new ExtraConnections<FakeLanes>(
      undefined,
      () => Promise.reject(new Error('never')),
      () => undefined
    )
    await extras.widen()
    expect(extras.sessions).toHaveLength(0)
  })
})
