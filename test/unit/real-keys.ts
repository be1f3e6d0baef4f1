import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const KEYGEN = '/usr/bin/ssh-keygen'

/** A key pair made by ssh-keygen, with what OpenSSH itself says about it. */
export interface RealKey {
  /** The private key file's text, as a user would paste it into a secret. */
  privateText: string
  /** `keytype base64`, as in a .pub or known_hosts line (no comment). */
  publicLine: string
  /** The wire-format public key blob, as ssh2 hands it to a host verifier. */
  blob: Buffer
  keyType: string
  /** `SHA256:` + 43 base64 characters, from `ssh-keygen -lf`. */
  sha256: string
  /** `MD5:aa:bb:…`, from `ssh-keygen -E md5 -lf`. */
  md5: string
  /** The whole `ssh-keygen -lf` line, e.g. `256 SHA256:… comment (ED25519)`. */
  listing: string
}

/** A scratch directory holding keys made on demand; call cleanup() when done. */
export class KeyMaker {
  private readonly dir = mkdtempSync(join(tmpdir(), 'unit-keys-'))
  private count = 0

  make(args: string[], passphrase = ''): RealKey {
    const file = join(this.dir, `k${this.count++}`)
    execFileSync(KEYGEN, ['-q', ...args, '-N', passphrase, '-C', 'unit@example', '-f', file])
    const [keyType, base64] = readFileSync(`${file}.pub`, 'utf8').trim().split(' ')
    const listing = keygen(['-lf', `${file}.pub`]).trim()
    const md5 = keygen(['-E', 'md5', '-lf', `${file}.pub`])
      .trim()
      .split(' ')[1]
    return {
      privateText: readFileSync(file, 'utf8'),
      publicLine: `${keyType} ${base64}`,
      blob: Buffer.from(base64, 'base64'),
      keyType,
      sha256: listing.split(' ')[1],
      md5,
      listing
    }
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}

function keygen(args: string[]): string {
  return execFileSync(KEYGEN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Runs fn and returns the error it throws; fails when it returns normally. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected an error, but none was thrown')
}

/** Awaits fn and returns the error it rejects with; fails when it resolves. */
export async function rejected(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection, but the promise resolved')
}
