// @ts-check
/**
 * jest globalSetup of the integration tests (jest.config.js): OpenSSH's sshd and ssh-keygen,
 * dropbear and ProFTPD with mod_sftp, then
 * a bundle of the current src/ for runAction (test-bundle.mjs). jest runs it only when at least
 * one integration test is selected, so `npm run test:unit` builds nothing.
 */
import { ensureOpenSsh } from './openssh-setup.mjs'
import { ensureServerKinds } from './server-kinds-setup.mjs'
import { buildBundle } from './test-bundle.mjs'

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
    await ensureServerKinds()
    const { entry, ms } = await buildBundle()
    console.log(
      `Integration tests run src/ bundled just now (${(ms / 1000).toFixed(1)} s): ${entry}`
    )
  } catch (error) {
    throw setupFailure(error)
  }
}
