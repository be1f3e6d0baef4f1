import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { jest } from '@jest/globals'
import { ChannelBudget, EXEC_CHANNELS } from '../../src/engine/channel-budget.js'
import { hashRemoteFiles, type BatchHashes } from '../../src/engine/remote-hash-batch.js'
import { decideReadBack, hashBatches, remoteSha256 } from '../../src/engine/remote-hash.js'
import { shellQuote } from '../../src/engine/remote-exec.js'
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

/** A channel that answers like `sha256sum` over the files a command names (hash = name's digest). */
function answeringChannel(command: string, unreadable: Set<string>) {
  const channel = Object.assign(new EventEmitter(), { stderr: new EventEmitter(), close() {} })
  const names = unquoteAll(command.replace(/^sha256sum -- /, ''))
  const end = () => {
    for (const name of names) {
      if (unreadable.has(name))
        channel.stderr.emit('data', Buffer.from(`sha256sum: ${name}: Permission denied\n`))
      else channel.emit('data', Buffer.from(`${digestOf(name)}  ${name}\n`))
    }
    channel.emit('close', unreadable.size > 0 ? 1 : 0)
  }
  Object.assign(channel, { end: () => setImmediate(end) })
  return channel
}

const digestOf = (name: string) => createHash('sha256').update(name).digest('hex')

/** Undoes shellQuote for a list of single-quoted words, as a POSIX shell would. */
function unquoteAll(words: string): string[] {
  const out: string[] = []
  for (const m of words.matchAll(/'((?:[^']|'\\'')*)'(?: |$)/g))
    out.push(m[1].replace(/'\\''/g, "'"))
  return out
}

/** A session whose server runs sha256sum; `answer: false` leaves every command unanswered. */
function hashingServer(name: string, options: { answer?: boolean; unreadable?: string[] } = {}) {
  const commands: string[] = []
  const unreadable = new Set(options.unreadable ?? [])
  const session = {
    server: name,
    dead: false,
    channels: [],
    sessions: new ChannelBudget(),
    connection: {
      client: {
        exec: (command: string, cb: ExecCallback) => {
          commands.push(command)
          if (options.answer !== false) cb(undefined, answeringChannel(command, unreadable))
        }
      }
    },
    lanesFor: () => {
      throw new Error('no read-back in this test')
    }
  } as unknown as SftpSession
  return { session, commands }
}

const settled = async () => {
  for (let i = 0; i < 20; i++) await new Promise(resolve => setImmediate(resolve))
}

describe('sha256sum shared by the files waiting on one connection', () => {
  test('files asked for together are hashed by one command that names each, quoted', async () => {
    const { session, commands } = hashingServer('batch:22')
    const names = Array.from({ length: 40 }, (_, i) => `/srv/site/it's $(touch x) ${i}.txt`)
    const hashed = await Promise.all(names.map(n => remoteSha256(session, n, 10)))
    expect(hashed).toEqual(names.map(n => ({ hash: digestOf(n), method: 'sha256sum' })))
    expect(commands).toHaveLength(1)
    expect(unquoteAll(commands[0].replace(/^sha256sum -- /, ''))).toEqual(names)
  })

  test('a file sha256sum could not read is read back; the others keep their hashes', async () => {
    const { session, commands } = hashingServer('unreadable:22', { unreadable: ['/srv/b'] })
    const [a, b, c] = await Promise.allSettled(
      ['/srv/a', '/srv/b', '/srv/c'].map(n => remoteSha256(session, n, 1))
    )
    expect(a).toEqual({
      status: 'fulfilled',
      value: { hash: digestOf('/srv/a'), method: 'sha256sum' }
    })
    expect(c).toEqual({
      status: 'fulfilled',
      value: { hash: digestOf('/srv/c'), method: 'sha256sum' }
    })
    expect(b).toMatchObject({ status: 'rejected', reason: new Error('no read-back in this test') })
    expect(commands).toHaveLength(1)
  })

  test(`never more than ${EXEC_CHANNELS} commands at once on one connection`, async () => {
    const { session, commands } = hashingServer('silent:22', { answer: false })
    for (let i = 0; i < 3 * EXEC_CHANNELS; i++) {
      void remoteSha256(session, `/srv/${i}`, 1).catch(() => undefined)
      await settled()
    }
    expect(commands).toHaveLength(EXEC_CHANNELS)
  })
})

test("every sha256sum command fits dropbear's MAX_CMD_LEN (9000 bytes)", () => {
  const files = Array.from({ length: 2000 }, (_, i) => ({
    path: `/srv/sïte/ünïcödé-földer/${"it's ".repeat(4)}${i}.txt`,
    size: 1
  }))
  const batches = hashBatches(files)
  expect(batches.flat()).toEqual(files)
  for (const batch of batches) {
    const command = `sha256sum -- ${batch.map(f => shellQuote(f.path)).join(' ')}`
    expect(Buffer.byteLength(command)).toBeLessThan(9000)
  }
})

/** Every stdout line written while `run` runs (core.debug and core.info write there). */
async function stdoutOf(run: () => Promise<unknown>): Promise<string[]> {
  const written: string[] = []
  const write = jest.spyOn(process.stdout, 'write').mockImplementation(chunk => {
    written.push(String(chunk))
    return true
  })
  try {
    await run()
  } finally {
    write.mockRestore()
  }
  return written.join('').split('\n')
}

test("a server's reason for refusing commands reaches the log as one escaped line", async () => {
  const lines = await stdoutOf(async () => {
    const { session } = slowServer('hostile-reason:22')
    const exec = (_command: string, cb: ExecCallback) =>
      cb(new Error('denied\n::error::injected ##[warning]x'))
    Object.assign(session.connection.client, { exec })
    await expect(remoteSha256(session, '/srv/a', 1)).rejects.toThrow('no read-back')
  })
  const said = lines.filter(line => line.includes('hashing by reading files back'))
  expect(said).toHaveLength(1)
  expect(said[0]).toContain('injected')
  expect(lines.some(line => /^\s*::error::/.test(line) || line.includes('##['))).toBe(false)
})

/** A name or message that would forge commands, and ESC that would redraw the log's lines. */
const HOSTILE = 'x\n::error::PWNED ##[warning]PWNED \u001b[2K'

/** The one line holding `marker`, checked to carry no command and no raw ESC. */
function theEscapedLine(lines: string[], marker: string): string {
  const said = lines.filter(line => line.includes(marker))
  expect(said).toHaveLength(1)
  expect(said[0]).toContain('PWNED')
  expect(said[0]).toContain('#\\u0023[warning]')
  expect(lines.some(line => line.includes('##[') || line.includes('\u001b'))).toBe(false)
  expect(lines.filter(line => /^\s*::error::/.test(line))).toEqual([])
  return said[0]
}

describe('names and server messages in the hashing debug lines', () => {
  test('a file sha256sum could not read', async () => {
    const name = `/srv/${HOSTILE}`
    const { session } = hashingServer('debug-unreadable:22', { unreadable: [name] })
    const lines = await stdoutOf(() =>
      expect(remoteSha256(session, name, 1)).rejects.toThrow('no read-back')
    )
    theEscapedLine(lines, 'could not hash')
  })

  // This line's name and the refusal's are escaped twice (printableName where the request is
  // built, forLog where it is printed): these tests keep the result, not either step, honest.
  test('a command that did not finish in time names its file', async () => {
    jest.useFakeTimers()
    try {
      const { session, answers } = slowServer('debug-late:22')
      const lines = await stdoutOf(async () => {
        const hashed = remoteSha256(session, `/srv/${HOSTILE}`, 10)
        hashed.catch(() => undefined)
        for (let i = 0; i < 5; i++) await Promise.resolve()
        // The command went out, so its deadline is set.
        expect(answers).toHaveLength(1)
        jest.advanceTimersByTime(31_000)
        await expect(hashed).rejects.toThrow('no read-back')
      })
      theEscapedLine(lines, 'did not finish in time')
    } finally {
      jest.useRealTimers()
    }
  })

  test('a passing refusal, on a server that ran sha256sum before, with its message', async () => {
    const { session } = hashingServer('debug-passing:22')
    await remoteSha256(session, '/srv/ran', 1)
    Object.assign(session.connection.client, {
      exec: (_command: string, cb: ExecCallback) => cb(new Error(`busy ${HOSTILE}`))
    })
    const lines = await stdoutOf(() =>
      expect(remoteSha256(session, `/srv/${HOSTILE}`, 1)).rejects.toThrow('no read-back')
    )
    const line = theEscapedLine(lines, 'the server refused')
    expect(line).toContain('busy x')
  })

  test('a file that could not be read back, with the reason', async () => {
    const { session } = hashingServer('debug-read-back:22')
    Object.assign(session, {
      lanesFor: () => {
        throw new Error(`unreadable ${HOSTILE}`)
      }
    })
    let hashed: BatchHashes | undefined
    const lines = await stdoutOf(async () => {
      decideReadBack(session.server, 'this test reads back')
      hashed = await hashRemoteFiles(session, [{ path: `/srv/${HOSTILE}`, size: 1 }])
    })
    expect(hashed?.hashes.size).toBe(0)
    const line = theEscapedLine(lines, 'could not read back')
    expect(line).toContain('unreadable x')
  })
})
