import { jest } from '@jest/globals'

const debug = jest.fn<(message: string) => void>()
let debugOn = false
jest.unstable_mockModule('@actions/core', () => ({ debug, isDebug: () => debugOn }))

const { SshTrace, sshDebug, endSshTrace, TRACE_LINES } =
  await import('../../src/report/ssh-trace.js')

/** What ssh2 1.17 writes for one small file's upload on OpenSSH (test/integration checks it). */
const ONE_FILE = [
  'SFTP: Outbound: Buffered OPEN',
  'SFTP: Inbound: Received HANDLE (id:7)',
  'SFTP: Outbound: Sent WRITE (id:8)',
  'SFTP: Outbound: Buffered FSETSTAT',
  'SFTP: Outbound: Buffered CLOSE',
  'Outbound: Sending CHANNEL_DATA (r:0, 4133)',
  'Inbound: CHANNEL_DATA (r:0, 84)',
  'SFTP: Inbound: Received STATUS (id:8, 0, "Success")',
  'SFTP: Outbound: Buffered posix-rename@openssh.com',
  'Inbound: CHANNEL_WINDOW_ADJUST (r:0, 1048576)'
]

/** Lines about the connection and its channels: few, and what a debug log is read for. */
const SETUP = [
  'Handshake: KEX algorithm: curve25519-sha256@libssh.org',
  'Outbound: Sending CHANNEL_OPEN (r:3, session)',
  'Inbound: CHANNEL_OPEN_CONFIRMATION (r:3, s:3)',
  'SFTP: Outbound: Buffered limits@openssh.com',
  'SFTP: Inbound: Received VERSION (v3, exts:posix-rename@openssh.com)',
  'SFTP: Inbound: Received EXTENDED_REPLY (id:0, limits@openssh.com)',
  'Outbound: Sending CHANNEL_CLOSE (r:3)'
]

function traced(limit: number) {
  const lines: string[] = []
  return { lines, trace: new SshTrace(line => lines.push(line), limit) }
}

describe('SshTrace', () => {
  it('logs per-request lines up to its limit, says once that it stops, and counts the rest', () => {
    const { lines, trace } = traced(20)
    for (let i = 0; i < 5; i++) ONE_FILE.forEach(trace.line)
    expect(lines.slice(0, 20)).toEqual([...ONE_FILE, ...ONE_FILE])
    expect(lines).toHaveLength(21)
    expect(lines[20]).toMatch(/after 20 lines about single requests.*left out/)
    trace.summary()
    expect(lines[21]).toBe(
      'ssh2 trace: left out 30 per-request lines and 0 refused requests after the first 20 of each.'
    )
  })

  it('keeps every line about the connection and its channels past the limit', () => {
    const { lines, trace } = traced(3)
    for (let i = 0; i < 10; i++) ONE_FILE.forEach(trace.line)
    SETUP.forEach(trace.line)
    expect(lines.slice(-SETUP.length)).toEqual(SETUP)
  })

  it('keeps refused requests past the per-request limit, with a limit of their own', () => {
    const { lines, trace } = traced(2)
    ONE_FILE.forEach(trace.line)
    const refused = (id: number) =>
      `SFTP: Inbound: Received STATUS (id:${id}, 3, "Permission denied")`
    for (let id = 1; id <= 4; id++) trace.line(refused(id))
    expect(lines.filter(l => l.includes('Permission denied'))).toEqual([refused(1), refused(2)])
    expect(lines.some(l => /after 2 refused requests/.test(l))).toBe(true)
    trace.summary()
    expect(lines.at(-1)).toMatch(/left out 8 per-request lines and 2 refused requests/)
  })

  it("counts a listing's end and other routine answers as routine, not as refused", () => {
    const { lines, trace } = traced(2)
    for (let id = 1; id <= 5; id++)
      trace.line(`SFTP: Inbound: Received STATUS (id:${id}, 1, "EOF")`)
    trace.line('SFTP: Inbound: Received STATUS (id:9, 3, "Permission denied")')
    expect(lines.filter(l => l.includes('EOF'))).toHaveLength(2)
    expect(lines).toContain('SFTP: Inbound: Received STATUS (id:9, 3, "Permission denied")')
    expect(lines.some(l => /refused requests/.test(l))).toBe(false)
  })

  it('says nothing at the end when nothing was left out', () => {
    const { lines, trace } = traced(100)
    ONE_FILE.forEach(trace.line)
    trace.summary()
    expect(lines).toEqual(ONE_FILE)
  })

  it('escapes what a server wrote, kept or not counted', () => {
    const { lines, trace } = traced(1)
    trace.line("Remote ident: 'SSH-2.0-x\n::error::forged'")
    trace.line('Debug output from server: "::add-mask::x ##[group]"')
    trace.line('SFTP: Inbound: Received STATUS (id:1, 4, "no\n::error::forged")')
    expect(lines).toHaveLength(3)
    expect(lines.filter(l => l.includes('forged'))).toHaveLength(2)
    for (const line of lines) {
      expect(line).not.toMatch(/\n/)
      expect(line).not.toMatch(/^\s*::/)
      expect(line).not.toContain('##[')
    }
  })
})

describe('sshDebug', () => {
  beforeEach(() => debug.mockClear())

  it('is undefined without step debug, so ssh2 builds no strings', () => {
    debugOn = false
    expect(sshDebug()).toBeUndefined()
  })

  it('shares one limit across every connection of the step, and ends with the count', () => {
    debugOn = true
    const first = sshDebug()
    const second = sshDebug()
    expect(first).toBeDefined()
    for (let i = 0; i < TRACE_LINES; i++) first?.('SFTP: Outbound: Buffered OPEN')
    second?.('SFTP: Outbound: Buffered CLOSE')
    second?.('Outbound: Sending CHANNEL_OPEN (r:9, session)')
    endSshTrace()
    const calls = debug.mock.calls.map(c => c[0])
    expect(calls.filter(c => c.startsWith('SFTP: '))).toHaveLength(TRACE_LINES)
    expect(calls.slice(-3, -1)).toEqual([
      expect.stringMatching(/rest are left out/),
      'Outbound: Sending CHANNEL_OPEN (r:9, session)'
    ])
    expect(calls.at(-1)).toMatch(/left out 1 per-request lines/)
  })
})
