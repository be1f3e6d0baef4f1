/**
 * Starts dropbear on 127.0.0.1 for integration tests, with its compiled-in limits untouched.
 *
 * SFTP is OpenSSH's sftp-server: dropbear runs the path compiled into it (SFTPSERVER_PATH), which
 * Debian sets to /usr/lib/sftp-server, a link the openssh-sftp-server package installs. Fresh host
 * keys (made by ssh-keygen, converted with dropbearconvert) and a throwaway login user per server;
 * password logins off. If dropbear is missing the helpers throw: tests fail, they never skip.
 */
import fs from 'node:fs'
import path from 'node:path'
import { findDropbear, findProgram } from './programs.mjs'
import { runChecked, runCommand } from './run.js'
import { harnessKeys, requireKeygen, type HostKey, type HostKeyKind } from './sshd.js'
import { spawnDaemon, startOnFreePort, type Daemon, type SftpTestServer } from './daemon.js'
import { createThrowawayUser, writeOwned, type ThrowawayUser } from './throwaway-user.js'
import { makeTempDir, removeTempDir } from './tmp.js'

const MISSING =
  'dropbear not found: install the dropbear-bin package (apt-get install dropbear-bin)'
const SFTP_SERVER = '/usr/lib/sftp-server'

export interface DropbearOptions {
  /** Default: ['ed25519', 'ecdsa', 'rsa']. */
  hostKeyTypes?: HostKeyKind[]
}

export function requireDropbear(): { dropbear: string; convert: string } {
  const dropbear = findDropbear()
  const convert = findProgram('dropbearconvert', [
    '/usr/bin/dropbearconvert',
    '/usr/lib/dropbear/dropbearconvert'
  ])
  if (!dropbear || !convert) throw new Error(MISSING)
  if (!fs.existsSync(SFTP_SERVER)) {
    throw new Error(
      `dropbear runs ${SFTP_SERVER} for SFTP, and it is missing: install openssh-sftp-server`
    )
  }
  return { dropbear, convert }
}

async function dropbearVersion(dropbear: string): Promise<string> {
  const result = await runCommand(dropbear, ['-V'])
  const match = /Dropbear v(\S+)/.exec(`${result.stdout}${result.stderr}`)
  return `Dropbear ${match?.[1] ?? 'unknown'}`
}

export async function startDropbear(options: DropbearOptions = {}): Promise<SftpTestServer> {
  const { dropbear, convert } = requireDropbear()
  const keygen = requireKeygen()
  const kinds = options.hostKeyTypes ?? ['ed25519', 'ecdsa', 'rsa']
  const dir = makeTempDir('dropbear-harness-')
  let user: ThrowawayUser | undefined
  let daemon: Daemon | undefined
  try {
    user = await createThrowawayUser('dbt')
    const [{ hostKeys, clientKey }, version] = await Promise.all([
      harnessKeys(keygen, dir, kinds, 'dropbear-harness'),
      dropbearVersion(dropbear)
    ])
    const converted = await Promise.all(
      hostKeys.map(async (key: HostKey) => {
        const file = `${key.path}.dropbear`
        await runChecked(convert, ['openssh', 'dropbear', key.path, file])
        return file
      })
    )
    writeOwned(user, '.ssh/authorized_keys', `${clientKey.publicLine}\n`, 0o600)

    const started = await startOnFreePort(
      'dropbear',
      port =>
        spawnDaemon(dropbear, [
          '-F',
          '-E',
          '-s',
          '-P',
          path.join(dir, 'dropbear.pid'),
          '-p',
          `127.0.0.1:${port}`,
          ...converted.flatMap(file => ['-r', file])
        ]),
      /Address already in use/
    )
    const { daemon: running, port } = started
    daemon = running
    const owner = user
    let stopping: Promise<void> | undefined
    return {
      kind: 'dropbear',
      version,
      host: '127.0.0.1',
      port,
      username: owner.name,
      uid: owner.uid,
      gid: owner.gid,
      home: owner.home,
      hostKeys,
      clientKey,
      dir,
      log: () => running.log(),
      stop: () => {
        stopping ??= (async () => {
          await running.stop()
          await owner.remove()
          removeTempDir(dir)
        })()
        return stopping
      }
    }
  } catch (error) {
    await daemon?.stop()
    await user?.remove()
    removeTempDir(dir)
    throw error
  }
}
