// @ts-check
import { setupFailure } from './global-setup.mjs'
import { ensureOpenSsh } from './openssh-setup.mjs'

// jest globalSetup of the unit tests: several compare with what OpenSSH's ssh-keygen says.
export default async function unitSetup() {
  await ensureOpenSsh('client').catch(error => {
    throw setupFailure(error)
  })
}
