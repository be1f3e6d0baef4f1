import type ssh2 from 'ssh2'
import { authHandlerFor } from '../../src/connection/keyboard.js'
import { AuthenticationError } from '../../src/errors.js'
import type { Endpoint } from '../../src/inputs/endpoints.js'

const endpoint = (credentials: Endpoint['credentials']): Endpoint => ({
  host: 'web.example.com',
  port: 22,
  username: 'deploy',
  pins: [],
  credentials,
  hostInput: 'host',
  pinInput: 'fingerprint'
})

type Chosen = ssh2.AuthenticationType | ssh2.KeyboardInteractiveAuthMethod | false

/** Calls the handler as ssh2 does, once per server answer; returns what it chose each time. */
function drive(
  ep: Endpoint,
  answers: Array<ssh2.AuthenticationType[] | null>,
  refused: AuthenticationError[] = []
): Chosen[] {
  const handler = authHandlerFor(ep, err => refused.push(err))
  const chosen: Chosen[] = []
  for (const left of answers) {
    handler(left as ssh2.AuthenticationType[], false, m => chosen.push(m as Chosen))
  }
  return chosen
}

/** Runs the keyboard-interactive prompt the handler chose; returns the answers it sent. */
function ask(method: Chosen, prompts: ssh2.Prompt[]): { answers: string[] | undefined } {
  const result: { answers: string[] | undefined } = { answers: undefined }
  if (typeof method !== 'object' || !method) throw new Error('not keyboard-interactive')
  method.prompt('', '', '', prompts, answers => (result.answers = answers))
  return result
}

describe('keyboard-interactive login', () => {
  it('answers a PAM password prompt when the server takes keyboard-interactive but not password', () => {
    const refused: AuthenticationError[] = []
    const ep = endpoint({ password: 's3cret' })
    const chosen = drive(ep, [null, ['publickey', 'keyboard-interactive']], refused)
    expect(chosen[0]).toBe('password')
    const kbd = chosen[1] as ssh2.KeyboardInteractiveAuthMethod
    expect(kbd).toMatchObject({ type: 'keyboard-interactive', username: 'deploy' })
    expect(ask(kbd, [{ prompt: 'Password: ', echo: false }]).answers).toEqual(['s3cret'])
    expect(refused).toEqual([])
  })

  it('after the key, goes straight to keyboard-interactive when password is not offered', () => {
    const ep = endpoint({
      privateKey: { key: 'K', secrets: [], keyType: 'ssh-ed25519' },
      password: 's3cret'
    })
    const chosen = drive(ep, [null, ['publickey', 'keyboard-interactive']])
    expect(chosen[0]).toBe('publickey')
    expect(chosen[1]).toMatchObject({ type: 'keyboard-interactive' })
  })

  it('never tries keyboard-interactive when the server takes password (a wrong one is not sent twice)', () => {
    const ep = endpoint({ password: 'wrong' })
    expect(drive(ep, [null, ['password', 'keyboard-interactive']])).toEqual(['password', false])
  })

  it('never tries keyboard-interactive without a password, nor twice', () => {
    const key = { privateKey: { key: 'K', secrets: [], keyType: 'ssh-ed25519' } }
    expect(drive(endpoint(key), [null, ['keyboard-interactive']])).toEqual(['publickey', false])
    const twice = drive(endpoint({ password: 'p' }), [
      null,
      ['keyboard-interactive'],
      ['keyboard-interactive']
    ])
    expect(twice[2]).toBe(false)
  })

  it.each([
    ['a visible prompt', [{ prompt: 'Password: ', echo: true }]],
    ['a one-time code', [{ prompt: 'Verification code: ', echo: false }]],
    ['two prompts', [{ prompt: 'Password: ' }, { prompt: 'OTP: ' }]]
  ])('refuses %s, naming it, and sends nothing', (_what, prompts) => {
    const refused: AuthenticationError[] = []
    const [, kbd] = drive(
      endpoint({ password: 's3cret' }),
      [null, ['keyboard-interactive']],
      refused
    )
    expect(ask(kbd, prompts).answers).toBeUndefined()
    expect(refused).toHaveLength(1)
    expect(refused[0]).toBeInstanceOf(AuthenticationError)
    expect(refused[0].message).toContain(prompts[prompts.length - 1].prompt.trim())
    expect(refused[0].message).not.toContain('s3cret')
  })

  it('answers one round only: a second prompt after the password is refused', () => {
    const refused: AuthenticationError[] = []
    const [, kbd] = drive(
      endpoint({ password: 's3cret' }),
      [null, ['keyboard-interactive']],
      refused
    )
    expect(ask(kbd, [{ prompt: 'Password:', echo: false }]).answers).toEqual(['s3cret'])
    expect(ask(kbd, [{ prompt: 'Password:', echo: false }]).answers).toBeUndefined()
    expect(refused[0].message).toMatch(/after the password was given/)
  })

  it('shows a hostile prompt as data: no raw newline or control character, no workflow command', () => {
    const refused: AuthenticationError[] = []
    const [, kbd] = drive(
      endpoint({ password: 's3cret' }),
      [null, ['keyboard-interactive']],
      refused
    )
    ask(kbd, [{ prompt: 'Token:\n::error::owned\u001b[31m\r', echo: false }])
    const message = refused[0].message
    expect([...message].filter(c => c.charCodeAt(0) < 0x20)).toEqual([])
    expect(message.split('\n').some(line => line.startsWith('::'))).toBe(false)
    expect(message).toContain('Token:\\n::error::owned')
  })
})
