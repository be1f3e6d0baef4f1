import type ssh2 from 'ssh2'
import { AuthenticationError } from '../errors.js'
import type { Endpoint } from '../inputs/endpoints.js'
import { printableName } from '../plans/safe-names.js'

/**
 * A password prompt, in the words PAM and common servers use. Anything else (a one-time code,
 * "Verification code:", a Duo menu) is not something `password` answers.
 */
const PASSWORD_PROMPT = /password|passwort|passwd|mot de passe|contrase/i

/**
 * The login methods, in order: the key, then the password. Keyboard-interactive is tried only
 * when the server takes it but not `password` (as PAM-only servers do), and then only to answer
 * one password prompt with `password`. ssh2 runs this after the host key was verified, on the
 * pinned connection only: a host-key probe gets no handler and no credential at all.
 * `refuse` ends the attempt with an error naming a prompt that was not answered.
 */
export function authHandlerFor(
  endpoint: Endpoint,
  refuse: (err: AuthenticationError) => void
): ssh2.AuthHandlerMiddleware {
  const { privateKey, password } = endpoint.credentials
  const planned: ssh2.AuthenticationType[] = []
  if (privateKey) planned.push('publickey')
  if (password) planned.push('password')
  let turn = 0
  let keyboardTried = false
  return (methodsLeft, _partialSuccess, next) => {
    // ssh2 takes `false` for "no more methods"; its types leave that out.
    const done = next as (method: ssh2.AuthenticationType | ssh2.AnyAuthMethod | false) => void
    // Before the first answer the server's list is unknown (null): try the first method.
    const offered = (method: ssh2.AuthenticationType) =>
      !methodsLeft || methodsLeft.includes(method)
    while (turn < planned.length) {
      const method = planned[turn++]
      if (offered(method)) return done(method)
    }
    const keyboardOnly =
      !!methodsLeft &&
      methodsLeft.includes('keyboard-interactive') &&
      !methodsLeft.includes('password')
    if (password && keyboardOnly && !keyboardTried) {
      keyboardTried = true
      return done({
        type: 'keyboard-interactive',
        username: endpoint.username,
        prompt: answerPasswordPrompt(endpoint, password, refuse)
      })
    }
    return done(false)
  }
}

/** Answers exactly one round holding exactly one hidden password prompt; refuses anything else. */
function answerPasswordPrompt(
  endpoint: Endpoint,
  password: string,
  refuse: (err: AuthenticationError) => void
): ssh2.KeyboardInteractiveAuthMethod['prompt'] {
  let answered = false
  return (_name, _instructions, _lang, prompts, finish) => {
    const [only] = prompts
    if (!answered && prompts.length === 1 && !only.echo && PASSWORD_PROMPT.test(only.prompt)) {
      answered = true
      finish([password])
      return
    }
    refuse(unansweredPrompt(endpoint, prompts, answered))
  }
}

function unansweredPrompt(
  endpoint: Endpoint,
  prompts: ssh2.Prompt[],
  afterPassword: boolean
): AuthenticationError {
  const shown = prompts.map(p => `"${printableName(p.prompt.trim())}"`).join(', ')
  const what = prompts.length === 1 ? `the prompt ${shown}` : `${prompts.length} prompts (${shown})`
  return new AuthenticationError(
    `${endpoint.host} asked ${what} during keyboard-interactive login` +
      `${afterPassword ? ' after the password was given' : ''}. Only a single password prompt ` +
      "is answered (with 'password'); nothing was sent for this one. Use 'private-key', or a " +
      'server account that asks only for its password.'
  )
}
