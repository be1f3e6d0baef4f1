import type { VerifiedConnection } from '../../src/connection/connect.js'
import { ChannelBudget } from '../../src/engine/channel-budget.js'
import { ExtraConnections, type Lanes } from '../../src/engine/extra-connections.js'
import { Liveness } from '../../src/engine/liveness.js'
import { SftpSession, SPREAD_THRESHOLD } from '../../src/engine/session.js'
import type { SftpChannel } from '../../src/engine/sftp.js'

const channel = (name: string): SftpChannel =>
  ({ name, end: () => undefined }) as unknown as SftpChannel
const names = (channels: SftpChannel[]): string[] =>
  channels.map(c => (c as unknown as { name: string }).name)

class FakeLanes implements Lanes {
  dead = false
  fatal: Error | undefined
  constructor(readonly channels: SftpChannel[]) {}
  kill(): void {}
  close(): void {}
}

type SessionParts = [
  VerifiedConnection,
  SftpChannel[],
  Liveness,
  number,
  number,
  ChannelBudget,
  string,
  ExtraConnections<FakeLanes>
]

/** A session with two channels of its own and two extra connections of two channels each. */
async function sessionWithExtras(roundTripMs: number, liveness = new Liveness()) {
  const extras: FakeLanes[] = []
  const widened = new ExtraConnections<FakeLanes>(
    { count: 2, connect: async () => ({}) as VerifiedConnection },
    async () => {
      const n = extras.length
      const lanes = new FakeLanes([channel(`x${n}/0`), channel(`x${n}/1`)])
      extras.push(lanes)
      return lanes
    },
    () => undefined
  )
  await widened.widen()
  const connection = { client: { end: () => undefined, destroy: () => undefined } }
  // The constructor is private: SftpSession.open needs a live server (see the integration tests).
  const Session = SftpSession as unknown as new (...parts: SessionParts) => SftpSession
  const session = new Session(
    connection as unknown as VerifiedConnection,
    [channel('own/0'), channel('own/1')],
    liveness,
    60_000,
    roundTripMs,
    new ChannelBudget(10),
    'server',
    widened
  )
  return { session, extras }
}

describe('SftpSession lanes over extra connections', () => {
  it('is not dead when an extra connection is lost, and leaves that one out of the lanes', async () => {
    const { session, extras } = await sessionWithExtras(100)
    try {
      expect(names(session.lanesFor(SPREAD_THRESHOLD, 0))).toHaveLength(6)
      extras[0].dead = true
      expect(session.dead).toBe(false)
      expect(session.fatal).toBeUndefined()
      const lanes = names(session.lanesFor(SPREAD_THRESHOLD, 0))
      expect(lanes.sort()).toEqual(['own/0', 'own/1', 'x1/0', 'x1/1'])
    } finally {
      session.close()
    }
  })

  it('still reports a host-key failure on an extra connection as fatal', async () => {
    const { session, extras } = await sessionWithExtras(100)
    try {
      const mismatch = new Error('host key changed')
      extras[1].dead = true
      extras[1].fatal = mismatch
      expect(session.fatal).toBe(mismatch)
    } finally {
      session.close()
    }
  })

  it("puts every big file's first lane on the session's own connection", async () => {
    const { session } = await sessionWithExtras(10)
    try {
      for (let turn = 0; turn < 6; turn++) {
        const lanes = names(session.lanesFor(SPREAD_THRESHOLD, turn))
        expect(lanes).toHaveLength(2)
        expect(lanes[0]).toMatch(/^own\//)
      }
    } finally {
      session.close()
    }
  })
})

/** A session on a stand-in connection that counts how often its link was torn down. */
function bareSession(liveness: Liveness) {
  const torn = { destroyed: 0, ended: 0 }
  const client = { end: () => torn.ended++, destroy: () => torn.destroyed++ }
  const Session = SftpSession as unknown as new (...parts: SessionParts) => SftpSession
  const session = new Session(
    { client } as unknown as VerifiedConnection,
    [channel('own/0')],
    liveness,
    60_000,
    10,
    new ChannelBudget(10),
    'server',
    new ExtraConnections<FakeLanes>(undefined, () => Promise.reject(new Error('none')))
  )
  return { session, torn }
}

describe('SftpSession on an extra connection', () => {
  it('ends its own link once it is lost, and only once', () => {
    const liveness = new Liveness(true)
    const { session, torn } = bareSession(liveness)
    const failed: Error[] = []
    liveness.begin(err => failed.push(err))
    liveness.abortAll('An extra connection through the jump host was lost.')
    expect(failed).toHaveLength(1)
    expect(session.dead).toBe(true)
    expect(torn.destroyed).toBeGreaterThan(0)
    const after = torn.destroyed
    liveness.abortAll('The connection was lost.')
    session.close()
    expect(torn.destroyed).toBe(after)
  })

  it("leaves a session's own lost connection to its retry loop", () => {
    const liveness = new Liveness()
    const { session, torn } = bareSession(liveness)
    liveness.abortAll('The connection was lost.')
    expect(session.dead).toBe(true)
    expect(torn.destroyed).toBe(0)
    session.close()
  })
})

describe('SftpSession lanes for a big file', () => {
  it('spreads over fewer lanes once a request was answered quicker than the setup took', async () => {
    // A setup that seemed a far link (it waited for the server to start its processes)...
    const liveness = new Liveness()
    const { session } = await sessionWithExtras(100, liveness)
    try {
      expect(session.lanesFor(SPREAD_THRESHOLD, 0)).toHaveLength(6)
      // ...then an answer that was not the server's does not say how far the server is...
      const abort = () => undefined
      liveness.begin(abort)
      liveness.answered(abort)
      expect(session.lanesFor(SPREAD_THRESHOLD, 0)).toHaveLength(6)
      // ...but the server answering at once does: a near link needs the two lanes at least.
      liveness.answered(abort, liveness.begin(abort))
      expect(session.lanesFor(SPREAD_THRESHOLD, 0)).toHaveLength(2)
    } finally {
      session.close()
    }
  })
})
