/**
 * A system user that exists for one test server only. dropbear has no AuthorizedKeysFile option
 * (it reads ~user/.ssh/authorized_keys), and the tests must not touch the real users' homes, so
 * the servers log in a fresh user whose home is a temp dir. Needs root; removed by remove(), or
 * when the test process exits should a test forget to.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { runCommand } from './run.js'
import { makeTempDir, removeTempDir } from './tmp.js'

export interface ThrowawayUser {
  name: string
  uid: number
  gid: number
  /** The user's home: a temp dir the user owns (mode 0755), removed with the user. */
  home: string
  remove(): Promise<void>
}

const ATTEMPTS = 5
const live = new Set<string>()
let exitHookInstalled = false

function forgetOnExit(name: string): void {
  live.add(name)
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const user of live) spawnSync('userdel', [user], { stdio: 'ignore' })
  })
}

const delay = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** useradd and userdel take a lock on /etc/passwd: a parallel one may hold it for a moment. */
async function retried(file: string, args: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const result = await runCommand(file, args)
    if (result.code === 0) return
    if (attempt >= ATTEMPTS) {
      throw new Error(`${file} ${args.join(' ')} exited with ${result.code}: ${result.stderr}`)
    }
    await delay(200 * attempt)
  }
}

export async function createThrowawayUser(prefix: string): Promise<ThrowawayUser> {
  if (process.getuid?.() !== 0) {
    throw new Error(`${prefix} harness: needs root to create a throwaway login user`)
  }
  const name = `${prefix}${randomBytes(4).toString('hex')}`
  const home = makeTempDir(`${prefix}-home-`)
  try {
    await retried('useradd', ['-M', '-U', '-d', home, '-s', '/bin/sh', name])
    forgetOnExit(name)
    const entry = fs
      .readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find(line => line.startsWith(`${name}:`))
    const [, , uid, gid] = entry?.split(':') ?? []
    if (uid === undefined || gid === undefined) throw new Error(`useradd made no entry for ${name}`)
    const ids = { uid: Number(uid), gid: Number(gid) }
    fs.chownSync(home, ids.uid, ids.gid)
    fs.chmodSync(home, 0o755)
    let removing: Promise<void> | undefined
    return {
      name,
      ...ids,
      home,
      remove: () => {
        removing ??= (async () => {
          live.delete(name)
          await retried('userdel', [name])
          removeTempDir(home)
        })()
        return removing
      }
    }
  } catch (error) {
    removeTempDir(home)
    throw error
  }
}

/** Writes a file into the user's home (creating parents), owned by the user. */
export function writeOwned(
  user: ThrowawayUser,
  relative: string,
  text: string,
  mode: number
): string {
  const file = path.join(user.home, relative)
  let dir = path.dirname(file)
  const made: string[] = []
  while (!fs.existsSync(dir)) {
    made.unshift(dir)
    dir = path.dirname(dir)
  }
  for (const d of made) {
    fs.mkdirSync(d, { mode: 0o700 })
    fs.chownSync(d, user.uid, user.gid)
  }
  fs.writeFileSync(file, text, { mode })
  fs.chownSync(file, user.uid, user.gid)
  return file
}
