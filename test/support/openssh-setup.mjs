// @ts-check
/**
 * OpenSSH for the tests, checked once before any test file runs (jest globalSetup): the unit tests
 * need ssh-keygen, the integration tests sshd as well. On a fresh Debian or Ubuntu machine, as
 * root, the setup installs the package; anywhere else it stops at once with the command to run,
 * rather than letting every test that starts a server fail on its own.
 *
 * Plain JavaScript, like everything a globalSetup imports: jest transforms the globalSetup file
 * itself, but Node loads its imports, and Node runs no TypeScript.
 */
import { spawn } from 'node:child_process'
import { clearTimeout, setTimeout } from 'node:timers'
import { findKeygen, findProgram, findSshd } from './programs.mjs'

/**
 * 'client': ssh-keygen (unit tests); 'server': sshd and ssh-keygen (integration tests).
 * @typedef {'client' | 'server'} OpenSshNeed
 */

/**
 * @typedef {object} OpenSshProbe
 * @property {string | undefined} sshd
 * @property {string | undefined} keygen
 * @property {string | undefined} sshdPathSetting SSHD_PATH as set: then it is the only sshd
 *   looked at, and installing would not help.
 * @property {string | undefined} aptGet
 * @property {boolean} root
 */

/**
 * @typedef {{ kind: 'ready' }
 *   | { kind: 'install', aptGet: string, pkg: string, missing: string[] }
 *   | { kind: 'fail', message: string }} OpenSshPlan
 */

/**
 * @typedef {object} CommandResult
 * @property {number | null} code
 * @property {string} output stdout and stderr
 */

/**
 * @typedef {object} OpenSshSetupDeps
 * @property {() => OpenSshProbe} probe
 * @property {(file: string, args: string[]) => Promise<CommandResult>} run
 * @property {(line: string) => void} say
 */

const APT_TIMEOUT_MS = 15 * 60_000

/** @returns {OpenSshProbe} */
export function probeOpenSsh() {
  return {
    sshd: findSshd(),
    keygen: findKeygen(),
    sshdPathSetting: process.env.SSHD_PATH || undefined,
    aptGet: findProgram('apt-get', []),
    root: process.getuid?.() === 0
  }
}

/** @param {string} pkg */
export function installCommand(pkg) {
  return `sudo apt-get install -y ${pkg}`
}

/**
 * @param {OpenSshNeed} need
 * @param {OpenSshProbe} probe
 * @returns {OpenSshPlan}
 */
export function planOpenSsh(need, probe) {
  const missing = []
  if (need === 'server' && !probe.sshd) missing.push('sshd')
  if (!probe.keygen) missing.push('ssh-keygen')
  if (missing.length === 0) return { kind: 'ready' }
  if (!probe.sshd && probe.sshdPathSetting) {
    return {
      kind: 'fail',
      message: `SSHD_PATH=${probe.sshdPathSetting} is not an executable file: point it at OpenSSH's sshd, or unset it.`
    }
  }
  const pkg = need === 'server' ? 'openssh-server' : 'openssh-client'
  if (probe.aptGet && probe.root) return { kind: 'install', aptGet: probe.aptGet, pkg, missing }
  const what = `OpenSSH ${missing.join(' and ')} not found: the tests run real OpenSSH.`
  return {
    kind: 'fail',
    message: probe.aptGet
      ? `${what} Install it with: ${installCommand(pkg)}`
      : `${what} Install OpenSSH (${need === 'server' ? 'server and client' : 'client'}) with the system's package manager; on Debian or Ubuntu: ${installCommand(pkg)}`
  }
}

/**
 * @param {string} file
 * @param {string[]} args
 * @returns {Promise<CommandResult>}
 */
export function runApt(file, args) {
  return new Promise(resolve => {
    const child = spawn(file, args, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    /** @type {Buffer[]} */
    const output = []
    child.stdout.on('data', chunk => output.push(chunk))
    child.stderr.on('data', chunk => output.push(chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), APT_TIMEOUT_MS)
    child.on('error', error => output.push(Buffer.from(String(error))))
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code, output: Buffer.concat(output).toString('utf8') })
    })
  })
}

/** @type {OpenSshSetupDeps} */
const realDeps = { probe: probeOpenSsh, run: runApt, say: line => console.log(line) }

/**
 * Resolves once OpenSSH is there, installing it when this process may; otherwise rejects with
 * the fix.
 * @param {OpenSshNeed} need
 * @param {OpenSshSetupDeps} [deps]
 * @returns {Promise<void>}
 */
export async function ensureOpenSsh(need, deps = realDeps) {
  const plan = planOpenSsh(need, deps.probe())
  if (plan.kind === 'ready') return
  if (plan.kind === 'fail') throw new Error(plan.message)
  const { aptGet, pkg, missing } = plan
  deps.say(
    `OpenSSH ${missing.join(' and ')} not found: installing ${pkg} (apt-get update, apt-get install -y ${pkg})`
  )
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', pkg]
  ]) {
    const result = await deps.run(aptGet, args)
    if (result.code !== 0) {
      const tail = result.output.trim().split('\n').slice(-10).join('\n')
      throw new Error(
        `apt-get ${args.join(' ')} failed (${result.code ?? 'killed'}); install ${pkg} yourself: ${installCommand(pkg)}\n${tail}`
      )
    }
  }
  if (planOpenSsh(need, deps.probe()).kind !== 'ready') {
    throw new Error(`${pkg} is installed, but still not found: ${missing.join(', ')}.`)
  }
}
