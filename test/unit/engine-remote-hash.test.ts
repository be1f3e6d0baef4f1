import { EventEmitter } from 'node:events'
import { jest } from '@jest/globals'
import { ChannelBudget } from '../../src/engine/channel-budget.js'
import { remoteSha256 } from '../../src/engine/remote-hash.js'
import type { SftpSession } from '../../src/engine/session.js'

type ExecCallback = (err: Error | undefined, channel?: EventEmitter) => void

/** A session whose server answers `exec` only when the test says so. */
function slowServer(name: string) {
  const answers: ExecCallback[] = []
  const sessions = new ChannelBudget(1)
  const session = {
    server: name,
    dead: false,
    channels: [],
    sessions,
    connection: { client: { exec: (_command: string, cb: ExecCallback) => answers.push(cb) } },
    lanesFor: () => {
      throw new Error('no read-back in this test')
    }
  } as unknown as SftpSession
  return { session, sessions, answers }
}

/** Whether a slot can be taken now (or only after one is released, which never comes). */
async function slotFree(budget: ChannelBudget): Promise<boolean> {
  let got = false
  void budget.take().then(() => (got = true))
  for (let i = 0; i < 5; i++) await Promise.resolve()
  return got
}

describe('sha256sum answered after its deadline', () => {
  beforeEach(() => jest.useFakeTimers())
  afterEach(() => jest.useRealTimers())

  const late = async (name: string, answer: (cb: ExecCallback) => void) => {
    const { session, sessions, answers } = slowServer(name)
    const hashed = remoteSha256(session, '/srv/site/a.txt', 10)
    hashed.catch(() => undefined)
    for (let i = 0; i < 5; i++) await Promise.resolve()
    expect(answers).toHaveLength(1)
    jest.advanceTimersByTime(31_000)
    await expect(hashed).rejects.toThrow('no read-back')
    answer(answers[0])
    return sessions
  }

  test('a refused channel gives its reserved slot back', async () => {
    const sessions = await late('late-refused:22', cb =>
      cb(Object.assign(new Error('open failed'), { reason: 2 }))
    )
    expect(await slotFree(sessions)).toBe(true)
  })

  test('a failed command gives its reserved slot back', async () => {
    const sessions = await late('late-failed:22', cb => cb(new Error('exec request failed')))
    expect(await slotFree(sessions)).toBe(true)
  })

  test('a channel that opens late is closed, and its slot freed', async () => {
    const channel = Object.assign(new EventEmitter(), { stderr: new EventEmitter(), closed: false })
    const close = () => {
      channel.closed = true
      channel.emit('close', null)
    }
    Object.assign(channel, { close })
    const sessions = await late('late-opened:22', cb => cb(undefined, channel))
    expect(channel.closed).toBe(true)
    expect(await slotFree(sessions)).toBe(true)
  })
})
