// @ts-check
/**
 * jest globalSetup of the integration tests (jest.config.js): OpenSSH's sshd and ssh-keygen.
 * jest runs it only when at least one integration test is selected.
 */
import { ensureOpenSsh } from './openssh-setup.mjs'

/**
 * jest prints a failed globalSetup's `stack`: a missing sshd or a broken bundle should read as
 * one message, not a trace through jest's internals.
 * @param {unknown} error
 */
export function setupFailure(error) {
  const failure = new Error(error instanceof Error ? error.message : String(error))
  failure.stack = failure.message
  return failure
}

export default async function globalSetup() {
  try {
    await ensureOpenSsh('server')
  } catch (error) {
    throw setupFailure(error)
  }
}
