// @ts-check
/**
 * dropbear and ProFTPD (mod_sftp) for the integration tests that run against servers other than
 * OpenSSH's sshd (test/support/dropbear.ts, proftpd.ts). Same rule as openssh-setup.mjs: as root
 * with apt-get the setup installs what is missing and says so in one line; anywhere else it stops
 * at once with the command to run. The tests fail without these servers, they never skip.
 */
import fs from 'node:fs'
import { findDropbear, findProgram, findProftpd } from './programs.mjs'
import { installCommand, runApt } from './openssh-setup.mjs'

/** dropbear runs this for SFTP (its compiled-in SFTPSERVER_PATH on Debian). */
export const SFTP_SERVER = '/usr/lib/sftp-server'
export const MOD_SFTP = '/usr/lib/proftpd/mod_sftp.so'
/** Debian's policy-rc.d hook: while it exits 101, installing a package starts no service. */
const POLICY_RC_D = '/usr/sbin/policy-rc.d'

/**
 * @typedef {object} ServerKindsProbe
 * @property {boolean} dropbear dropbear and dropbearconvert
 * @property {boolean} sftpServer
 * @property {boolean} proftpd
 * @property {boolean} modSftp
 * @property {string | undefined} aptGet
 * @property {boolean} root
 */

/**
 * @typedef {{ kind: 'ready' }
 *   | { kind: 'install', aptGet: string, pkgs: string[] }
 *   | { kind: 'fail', message: string }} ServerKindsPlan
 */

/** @returns {ServerKindsProbe} */
export function probeServerKinds() {
  return {
    dropbear:
      findDropbear() !== undefined &&
      findProgram('dropbearconvert', ['/usr/lib/dropbear/dropbearconvert']) !== undefined,
    sftpServer: fs.existsSync(SFTP_SERVER),
    proftpd: findProftpd() !== undefined,
    modSftp: fs.existsSync(MOD_SFTP),
    aptGet: findProgram('apt-get', []),
    root: process.getuid?.() === 0
  }
}

/**
 * @param {ServerKindsProbe} probe
 * @returns {ServerKindsPlan}
 */
export function planServerKinds(probe) {
  const pkgs = []
  if (!probe.dropbear) pkgs.push('dropbear-bin')
  if (!probe.sftpServer) pkgs.push('openssh-sftp-server')
  if (!probe.proftpd) pkgs.push('proftpd-core')
  if (!probe.modSftp) pkgs.push('proftpd-mod-crypto')
  if (pkgs.length === 0) return { kind: 'ready' }
  if (probe.aptGet && probe.root) return { kind: 'install', aptGet: probe.aptGet, pkgs }
  const what = `dropbear or ProFTPD's mod_sftp not found: the tests run them as well as OpenSSH.`
  return {
    kind: 'fail',
    message: probe.aptGet
      ? `${what} Install them with: ${installCommand(pkgs.join(' '))}`
      : `${what} Install ${pkgs.join(', ')} (Debian names) with the system's package manager; on Debian or Ubuntu: ${installCommand(pkgs.join(' '))}`
  }
}

/**
 * @typedef {object} ServerKindsDeps
 * @property {() => ServerKindsProbe} probe
 * @property {(file: string, args: string[]) => Promise<import('./openssh-setup.mjs').CommandResult>} run
 * @property {(line: string) => void} say
 * @property {() => () => void} holdServices keeps installed services from starting; returns the
 *   undo
 */

/**
 * proftpd-core's install starts an FTP server on every address unless policy-rc.d says no; the
 * tests listen on loopback only, so the install runs with a policy-rc.d that denies every start
 * (only where none exists, and removed afterwards).
 * @returns {() => void}
 */
function holdServices() {
  try {
    fs.writeFileSync(POLICY_RC_D, '#!/bin/sh\n# test/support/server-kinds-setup.mjs\nexit 101\n', {
      flag: 'wx',
      mode: 0o755
    })
  } catch {
    return () => undefined
  }
  return () => fs.rmSync(POLICY_RC_D, { force: true })
}

/** @type {ServerKindsDeps} */
const realDeps = {
  probe: probeServerKinds,
  run: runApt,
  say: line => console.log(line),
  holdServices
}

/**
 * Resolves once dropbear and ProFTPD with mod_sftp are there, installing them when this process
 * may; otherwise rejects with the fix.
 * @param {ServerKindsDeps} [deps]
 * @returns {Promise<void>}
 */
export async function ensureServerKinds(deps = realDeps) {
  const plan = planServerKinds(deps.probe())
  if (plan.kind === 'ready') return
  if (plan.kind === 'fail') throw new Error(plan.message)
  const { aptGet, pkgs } = plan
  const list = pkgs.join(' ')
  deps.say(`dropbear or ProFTPD's mod_sftp not found: installing ${list} (apt-get)`)
  const release = deps.holdServices()
  try {
    for (const args of [
      ['update', '-qq'],
      ['install', '-y', '-qq', '--no-install-recommends', ...pkgs]
    ]) {
      const result = await deps.run(aptGet, args)
      if (result.code !== 0) {
        const tail = result.output.trim().split('\n').slice(-10).join('\n')
        throw new Error(
          `apt-get ${args.join(' ')} failed (${result.code ?? 'killed'}); install them yourself: ${installCommand(list)}\n${tail}`
        )
      }
    }
  } finally {
    release()
  }
  const after = planServerKinds({ ...deps.probe(), aptGet: undefined })
  if (after.kind !== 'ready') {
    throw new Error(
      `${list} installed, but still not found. ${after.kind === 'fail' ? after.message : ''}`
    )
  }
}
