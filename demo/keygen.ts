/**
 * A stand-in for `ssh-keygen` on machines without OpenSSH at all.
 *
 * test/support/embedded-server.ts makes its host key with `ssh-keygen -q -t TYPE [-b BITS]
 * [-m PEM] -N '' -C COMMENT -f FILE`. When no ssh-keygen exists, the demo puts a small executable
 * named ssh-keygen first on PATH that does exactly that with ssh2's own key generator (OpenSSH
 * format, which ssh2's server reads). Nothing else of ssh-keygen is imitated.
 */
import fs from 'node:fs'
import path from 'node:path'
import ssh2 from 'ssh2'

const KEYGEN_DIRS = ['/usr/bin', '/usr/local/bin', '/bin']

/** True when a real ssh-keygen is installed (where the test helpers look for it). */
export function hasSshKeygen(): boolean {
  const dirs = [...KEYGEN_DIRS, ...(process.env.PATH ?? '').split(path.delimiter)]
  return dirs
    .filter(dir => path.isAbsolute(dir))
    .some(dir => {
      try {
        fs.accessSync(path.join(dir, 'ssh-keygen'), fs.constants.X_OK)
        return true
      } catch {
        return false
      }
    })
}

/**
 * Writes an executable `ssh-keygen` into binDir that runs keygenMain() below, and puts binDir
 * first on this process's PATH (children spawned from now on find it).
 */
export function installKeygenStandIn(binDir: string): void {
  fs.mkdirSync(binDir, { recursive: true })
  if (/\s/.test(process.execPath)) {
    throw new Error(`cannot write a #! line for a node path with spaces: ${process.execPath}`)
  }
  // A file without extension outside any package is CommonJS: import() loads this ES module.
  const script =
    `#!${process.execPath}\n` +
    `import(${JSON.stringify(import.meta.url)}).then(m => m.keygenMain(process.argv.slice(2)))\n`
  fs.writeFileSync(path.join(binDir, 'ssh-keygen'), script, { mode: 0o755 })
  process.env.PATH = [binDir, process.env.PATH ?? ''].filter(Boolean).join(path.delimiter)
}

type KeyType = 'ed25519' | 'ecdsa' | 'rsa'

/**
 * A key pair in OpenSSH format from ssh2.utils.generateKeyPairSync, checked: in ssh2 1.17 about
 * one ed25519 key in 256 comes out malformed (a public key starting with a zero byte loses that
 * byte, and neither half parses any more). Such a pair is thrown away and generated again.
 */
export function generateKeyPair(
  type: KeyType,
  bits?: number,
  comment = ''
): { private: string; public: string } {
  for (let attempt = 1; ; attempt++) {
    const pair =
      type === 'ed25519'
        ? ssh2.utils.generateKeyPairSync('ed25519', { comment })
        : type === 'rsa'
          ? ssh2.utils.generateKeyPairSync('rsa', { bits: bits ?? 3072, comment })
          : ssh2.utils.generateKeyPairSync('ecdsa', { bits: ecdsaBits(bits ?? 256), comment })
    const pub = ssh2.utils.parseKey(pair.public)
    const priv = ssh2.utils.parseKey(pair.private)
    if (
      !(pub instanceof Error) &&
      !(priv instanceof Error) &&
      pub.getPublicSSH().equals(priv.getPublicSSH())
    ) {
      return pair
    }
    if (attempt >= 20) throw new Error(`could not generate a valid ${type} key pair`)
  }
}

function ecdsaBits(bits: number): 256 | 384 | 521 {
  if (bits === 256 || bits === 384 || bits === 521) return bits
  throw new Error(`ssh-keygen stand-in: ECDSA keys have 256, 384 or 521 bits, not ${bits}`)
}

/** `ssh-keygen -q -t TYPE [-b BITS] [-m FORMAT] -N '' -C COMMENT -f FILE`, nothing more. */
export function keygenMain(args: string[]): void {
  let type: KeyType = 'ed25519'
  let bits: number | undefined
  let comment = ''
  let file: string | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    const value = (): string => {
      const v = args[++i]
      if (v === undefined) throw new Error(`ssh-keygen stand-in: ${arg} needs a value`)
      return v
    }
    if (arg === '-q') continue
    else if (arg === '-t') {
      const t = value()
      if (t !== 'ed25519' && t !== 'ecdsa' && t !== 'rsa') {
        throw new Error(`ssh-keygen stand-in: unsupported key type ${t}`)
      }
      type = t
    } else if (arg === '-b') bits = Number(value())
    else if (arg === '-m') value()
    else if (arg === '-N') {
      if (value() !== '') throw new Error('ssh-keygen stand-in: only empty passphrases')
    } else if (arg === '-C') comment = value()
    else if (arg === '-f') file = value()
    else throw new Error(`ssh-keygen stand-in: unsupported option ${arg} (only key generation)`)
  }
  if (!file) throw new Error('ssh-keygen stand-in: -f FILE is required')
  const pair = generateKeyPair(type, bits, comment)
  fs.writeFileSync(file, pair.private, { mode: 0o600 })
  fs.writeFileSync(`${file}.pub`, `${pair.public}\n`, { mode: 0o644 })
}
