// @ts-check
// Where OpenSSH's programs are. Plain JavaScript because jest's globalSetup (openssh-setup.mjs)
// loads its imports with Node's own loader, which runs no TypeScript.
import fs from 'node:fs'
import path from 'node:path'

/** @param {string} file */
function isExecutableFile(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/**
 * The first executable among `preferred`, then `name` in each absolute PATH entry.
 * @param {string} name
 * @param {string[]} preferred
 * @returns {string | undefined}
 */
export function findProgram(name, preferred) {
  const fromPath = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter(dir => path.isAbsolute(dir))
    .map(dir => path.join(dir, name))
  return [...preferred, ...fromPath].find(isExecutableFile)
}

/**
 * OpenSSH's sshd. SSHD_PATH, when set, is the only candidate: for an sshd installed elsewhere,
 * and to see the test setup's "sshd missing" path on a machine that has one.
 * @returns {string | undefined}
 */
export function findSshd() {
  const chosen = process.env.SSHD_PATH
  if (chosen) return isExecutableFile(chosen) ? path.resolve(chosen) : undefined
  return findProgram('sshd', ['/usr/sbin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd'])
}

/** @returns {string | undefined} */
export function findKeygen() {
  return findProgram('ssh-keygen', ['/usr/bin/ssh-keygen', '/usr/local/bin/ssh-keygen'])
}

/** @returns {string | undefined} */
export function findDropbear() {
  return findProgram('dropbear', ['/usr/sbin/dropbear', '/usr/local/sbin/dropbear'])
}

/** @returns {string | undefined} */
export function findProftpd() {
  return findProgram('proftpd', ['/usr/sbin/proftpd', '/usr/local/sbin/proftpd'])
}
