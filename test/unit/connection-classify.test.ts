import {
  classifyError,
  faultOf,
  isNetworkMessage,
  sftpStartFailure,
  type SftpStartContext
} from '../../src/connection/classify.js'
import { AuthenticationError, ConnectionError } from '../../src/errors.js'
import type { Endpoint } from '../../src/inputs/endpoints.js'

const endpoint: Endpoint = {
  host: 'deploy.example.com',
  port: 2222,
  username: 'deploy',
  pins: [],
  credentials: { password: 'x' },
  hostInput: 'host',
  pinInput: 'fingerprint'
}

const sshError = (message: string, fields: { level?: string; code?: string | number }) =>
  Object.assign(new Error(message), fields)

describe('classifyError', () => {
  it('a host that does not resolve names the input and is not retried', () => {
    const err = classifyError(
      sshError('getaddrinfo ENOTFOUND deploy.example.com', {
        level: 'client-dns',
        code: 'ENOTFOUND'
      }),
      endpoint,
      30_000
    )
    expect(err).toBeInstanceOf(ConnectionError)
    expect(err.message).toMatch(
      /Host 'deploy\.example\.com' \(input 'host'\) could not be resolved/
    )
    expect((err as ConnectionError).transient).toBe(false)
  })

  it('a refused connection names both inputs and is not retried on a first connection', () => {
    const err = classifyError(
      sshError('connect ECONNREFUSED', { level: 'client-socket', code: 'ECONNREFUSED' }),
      endpoint,
      30_000
    )
    expect(err.message).toMatch(/refused.*Check 'host' and 'port'/)
    expect((err as ConnectionError).transient).toBe(false)
  })

  it('a reset during login may be retried', () => {
    const err = classifyError(
      sshError('read ECONNRESET', { level: 'client-socket', code: 'ECONNRESET' }),
      endpoint,
      30_000
    )
    expect((err as ConnectionError).transient).toBe(true)
  })

  it('a timeout says how long and which input raises it', () => {
    const err = classifyError(sshError('Timed out', { level: 'client-timeout' }), endpoint, 7000)
    expect(err.message).toMatch(/Timed out after 7 s.*raise 'timeout'/)
  })

  it('rejected credentials are an authentication error naming the user', () => {
    const err = classifyError(
      sshError('All configured authentication methods failed', { level: 'client-authentication' }),
      endpoint,
      30_000
    )
    expect(err).toBeInstanceOf(AuthenticationError)
    expect(err.message).toContain("user 'deploy'")
  })

  it('a server DISCONNECT during login (too many failures) is final, never retried', () => {
    const err = classifyError(
      sshError('Too many authentication failures', { code: 2 }),
      endpoint,
      30_000
    )
    expect((err as ConnectionError).transient).toBe(false)
  })
})

describe('sftpStartFailure: what happened decides, not the phase', () => {
  const context = (fields: Partial<SftpStartContext>): SftpStartContext => ({
    address: 'backup.example.com:22',
    timeoutMs: 5000,
    lost: false,
    timedOut: false,
    answers: true,
    ...fields
  })
  // ssh2 answers a subsystem request cut off by a closing connection with these very words.
  const refusedWords = new Error('Unable to start subsystem: sftp')

  it('a subsystem request cut off by a dropped connection is transient, not a refusal', () => {
    const err = sftpStartFailure(refusedWords, context({ lost: true, answers: false }))
    expect(err.transient).toBe(true)
    expect(err.message).toBe(
      'SFTP could not start on backup.example.com:22: the connection was lost.'
    )
    expect(err.message).not.toMatch(/refused|Subsystem sftp/)
  })

  it("ssh2's no-response and termination errors on a dropped connection are transient too", () => {
    for (const message of [
      'No response from server',
      'Received unexpected SFTP session termination'
    ]) {
      expect(sftpStartFailure(new Error(message), context({ lost: true })).transient).toBe(true)
    }
  })

  it('a subsystem refused on a connection that still answers is a configuration error', () => {
    const err = sftpStartFailure(refusedWords, context({}))
    expect(err.transient).toBe(false)
    expect(err.message).toMatch(
      /refused to start SFTP: Unable to start subsystem: sftp.*'Subsystem sftp' line/
    )
  })

  it('a channel open refused on a live connection is a configuration error', () => {
    const err = sftpStartFailure(new Error('(SSH) Channel open failure: open failed'), context({}))
    expect(err.transient).toBe(false)
  })

  it('a subsystem that exits with a status on a live connection is a configuration error', () => {
    const exited = Object.assign(
      new Error('Received exit code 127 while establishing SFTP session'),
      { code: 127 }
    )
    expect(sftpStartFailure(exited, context({})).transient).toBe(false)
  })

  it('a channel that ends before SFTP started, with no status, is retried', () => {
    const err = sftpStartFailure(
      new Error('Received unexpected SFTP session termination'),
      context({})
    )
    expect(err.transient).toBe(true)
    expect(err.message).toMatch(/ended before SFTP started/)
  })

  it('text on the channel (a MOTD) is a configuration error with its own advice', () => {
    const err = sftpStartFailure(
      new Error('Packet length 1701999215 exceeds max length of 262144'),
      context({})
    )
    expect(err.transient).toBe(false)
    expect(err.message).toMatch(/MOTD/)
  })

  it('silent SFTP on a connection that answers a keepalive names the timeout and is final', () => {
    const err = sftpStartFailure(new Error('in time'), context({ timedOut: true }))
    expect(err.transient).toBe(false)
    expect(err.message).toMatch(/SFTP subsystem did not answer within 5 s \('timeout'\)/)
  })

  it('silence on a connection that stopped answering altogether is a dead link, retried', () => {
    const err = sftpStartFailure(new Error('in time'), context({ timedOut: true, answers: false }))
    expect(err.transient).toBe(true)
    expect(err.message).toMatch(/no answer within 5 s \('timeout'\), and the connection stopped/)
  })
})

describe('faultOf and isNetworkMessage', () => {
  it('names the fault in a few words', () => {
    expect(faultOf(new ConnectionError('The connection was lost.', true))).toBe('connection lost')
    expect(faultOf(sshError('read ECONNRESET', { code: 'ECONNRESET' }))).toBe('connection lost')
    expect(faultOf(sshError('Keepalive timeout', { level: 'client-timeout' }))).toBe('timed out')
    expect(faultOf(new Error('No answer from the server for 30 s.'))).toBe('timed out')
    expect(faultOf(sshError('connect ECONNREFUSED', { code: 'ECONNREFUSED' }))).toBe(
      'connection refused'
    )
    expect(
      faultOf(new ConnectionError('X closed the connection before login completed.', true))
    ).toBe('closed before login')
  })

  it("knows ssh2's and Node's words for a connection gone, and nothing else", () => {
    for (const m of ['No response from server', 'write EPIPE', 'Not connected', 'socket hang up']) {
      expect(isNetworkMessage(m)).toBe(true)
    }
    for (const m of ['Permission denied', 'No such file', 'Failure']) {
      expect(isNetworkMessage(m)).toBe(false)
    }
  })
})
