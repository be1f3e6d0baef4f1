import * as core from '@actions/core'
import type ssh2 from 'ssh2'
import { ConnectionError } from '../errors.js'
import { forLog } from '../escape.js'
import type { SftpSession } from './session.js'

/** Single quotes for a POSIX shell: nothing inside is interpreted. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`
}

/** What one command on the server gave. */
export type ExecOutcome<T> =
  | { ran: T }
  /** The command did not run as hoped (no such program, an SFTP-only account): never will. */
  | { unusable: string }
  /** No session slot beside the SFTP channels on this connection, or no answer in time. */
  | { noRoom: true }

export interface ExecRequest<T> {
  /** The whole command line; every foreign part already passed through shellQuote. */
  command: string
  deadlineMs: number
  /** Output kept, in characters: more than the answer can be is not the answer. */
  maxOut: number
  maxErr: number
  /** The program run, for an error when the connection is lost. */
  program: string
  /** What runs, for the debug log when it is late. */
  what: string
  /** What the command's answer means, or undefined when it did not do its job. */
  answer: (code: number | null, out: string, errText: string) => T | undefined
  /** Why the command is no use here, for an exit without an answer. */
  failure: (code: number | null, errText: string) => string
  /**
   * Told, before the slot is handed on, that the server refused the command: ssh2 1.17 leaves a
   * channel whose exec request failed open on the server, so no caller waiting for a slot may
   * open yet another one (mod_sftp drops the connection past its channel limit). Returns false
   * where the server already ran this command for us: then the refusal is a passing one (dropbear
   * refuses some under load), this command alone falls back, and the slot stays taken.
   */
  noCommands: (reason: string) => boolean
  /** Whether the command is still wanted once a slot is free (undefined: always). */
  wanted?: () => boolean
}

/** Tries for a free session slot before the caller falls back. */
const SLOT_TRIES = 30

/**
 * Runs a command on an exec channel taken from the connection's session budget, which the SFTP
 * channels share: a refused channel means the server's MaxSessions is reached, so it waits for a
 * slot and tries again. At most EXEC_CHANNELS commands run at once per connection
 * (ChannelBudget.execs), whatever the budget allows: some servers never refuse, they fail.
 * `prepare` is called once a command may start, so callers can gather work while others run;
 * when it gives nothing, nothing runs (and the answer is undefined).
 */
export function execOnBudget<T>(
  session: SftpSession,
  prepare: () => ExecRequest<T> | undefined
): Promise<ExecOutcome<T> | undefined> {
  return session.sessions.execs(async () => {
    const request = prepare()
    if (!request) return undefined
    const held = session.channels.length
    for (let attempt = 1; attempt <= SLOT_TRIES; attempt++) {
      if (!session.sessions.roomBeyond(held)) break
      await session.sessions.take()
      if (request.wanted && !request.wanted()) {
        session.sessions.cancel()
        break
      }
      const outcome = await runExec(session, request)
      if (!('refused' in outcome)) return outcome
      session.sessions.refused()
      await new Promise(resolve => setTimeout(resolve, Math.min(1000, 20 * attempt)))
    }
    return { noRoom: true as const }
  })
}

function runExec<T>(
  session: SftpSession,
  request: ExecRequest<T>
): Promise<ExecOutcome<T> | { refused: true }> {
  const { client } = session.connection
  return new Promise((resolve, reject) => {
    let stream: ssh2.ClientChannel | undefined
    let late = false
    // A slow answer says little about the server (a login script may be slow under load): the
    // caller falls back for this command, and the server keeps its commands.
    const timer = setTimeout(() => {
      late = true
      stream?.close()
      core.debug(`${forLog(request.what)} did not finish in time; reading back instead`)
      resolve({ noRoom: true })
    }, request.deadlineMs)
    timer.unref()
    const settle = (outcome: ExecOutcome<T>): void => {
      clearTimeout(timer)
      resolve(outcome)
    }
    try {
      client.exec(request.command, (err, channel) => {
        const refusedOpen = typeof (err as { reason?: unknown } | undefined)?.reason === 'number'
        // An answer after the deadline: the caller has moved on, but the slot it reserved must be
        // given back (or the channel closed), or every later command waits for it.
        if (late) {
          if (!err) {
            session.sessions.opened()
            channel.on('close', () => session.sessions.closed())
            channel.close()
          } else if (refusedOpen) session.sessions.refused()
          else session.sessions.cancel()
          return
        }
        if (err) {
          clearTimeout(timer)
          if (session.dead) {
            session.sessions.cancel()
            return reject(err)
          }
          // A channel open failure carries the server's reason code; a refused command does not.
          if (refusedOpen) return resolve({ refused: true })
          const reason = `the server runs no commands for us (${err.message})`
          session.sessions.opened()
          if (!request.noCommands(reason)) {
            core.debug(
              `the server refused ${forLog(request.what)} (${forLog(err.message)}); reading back instead`
            )
            return settle({ noRoom: true })
          }
          session.sessions.closed()
          return settle({ unusable: reason })
        }
        stream = channel
        session.sessions.opened()
        let out = ''
        let errText = ''
        channel.on('data', (d: Buffer) => {
          if (out.length < request.maxOut) out += d.toString('utf8')
        })
        channel.stderr.on('data', (d: Buffer) => {
          if (errText.length < request.maxErr) errText += d.toString('utf8')
        })
        channel.on('close', (code: number | null) => {
          session.sessions.closed()
          const answer = request.answer(code, out, errText)
          if (answer !== undefined) return settle({ ran: answer })
          if (session.dead) {
            clearTimeout(timer)
            return reject(
              new ConnectionError(`The connection was lost during ${request.program}.`, true)
            )
          }
          settle({ unusable: request.failure(code, errText) })
        })
        // A forced SFTP-only server starts internal-sftp instead; end its input so it exits.
        channel.end()
      })
    } catch (err) {
      clearTimeout(timer)
      reject(err)
    }
  })
}
