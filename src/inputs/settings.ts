import * as path from 'node:path'
import { InputError } from '../errors.js'
import { parsePins, pinsForHost, type Pin } from '../identity/pins.js'
import { preparePrivateKey, type PreparedKey } from './keys.js'
import { parseHost, parseIntegerInput, parseSources, type SourceSpec } from './parse.js'

/** Which way files move. */
export type Direction = 'upload' | 'download'

/** How to log in. At least one of the two is set. */
export interface Credentials {
  /** Normalized private key, ready for ssh2. */
  privateKey?: PreparedKey
  /** Password for password authentication. */
  password?: string
}

/** One SSH server and everything needed to reach it safely. */
export interface Endpoint {
  /** Host name or IP address, as given. */
  host: string
  /** TCP port, 1 to 65535. */
  port: number
  /** Login user. */
  username: string
  /** Host-key pins that apply to this host and port; never empty. */
  pins: Pin[]
  /** Login credentials. */
  credentials: Credentials
  /** Name of the input the host came from, for messages (e.g. `host`). */
  hostInput: string
  /** Name of the input the pins came from, for messages (e.g. `fingerprint`). */
  pinInput: string
}

/** Everything the action does, decided once from the inputs. */
export interface Settings {
  /** Which way files move. */
  direction: Direction
  /** The server to connect to. */
  server: Endpoint
  /** What to transfer: include patterns and `!` excludes. */
  source: SourceSpec
  /** Destination directory: remote (POSIX) for upload, absolute local for download. */
  target: string
  /** Milliseconds allowed for TCP connect, key exchange, host-key check and login. */
  timeoutMs: number
  /** Files transferred at once. */
  concurrency: number
  /** Reconnections allowed after a dropped connection; 0 turns retrying off. */
  retries: number
  /** Absolute local directory that relative local paths are resolved against. */
  workspace: string
  /** Absolute path where the JSON manifest is written. */
  manifestPath: string
  /** Non-fatal remarks about the inputs, to show as warnings. */
  warnings: string[]
  /** Every secret and value derived from one, to mask in logs. */
  secrets: string[]
}

/** Reads one input by name; returns '' when unset. Matches `core.getInput` semantics. */
export type InputReader = (name: string) => string

/** Where the action runs: the parts of the environment that settings depend on. */
export interface RunnerEnv {
  workspace: string
  tempDir: string
}

const DIRECTIONS: readonly Direction[] = ['upload', 'download']

/** Builds and validates the settings; throws InputError naming the first bad input. */
export function readSettings(read: InputReader, env: RunnerEnv): Settings {
  const warnings: string[] = []
  const direction = parseDirection(read('direction'))
  const credentials = readCredentials(read)
  const server = readEndpoint(read, credentials, warnings)
  const source = parseSources(read('source'), 'source')
  const target = readTarget(read('target'), direction, env.workspace)
  const timeoutS = parseIntegerInput(read('timeout'), 'timeout', {
    fallback: 30,
    min: 1,
    max: 3600
  })
  const concurrency = parseIntegerInput(read('concurrency'), 'concurrency', {
    fallback: 8,
    min: 1,
    max: 64
  })
  const retries = parseIntegerInput(read('retries'), 'retries', { fallback: 3, min: 0, max: 20 })
  return {
    direction,
    server,
    source,
    target,
    timeoutMs: timeoutS * 1000,
    concurrency,
    retries,
    workspace: env.workspace,
    manifestPath: path.join(env.tempDir, `sftp-manifest-${process.pid}-${Date.now()}.json`),
    warnings,
    secrets: collectSecrets(credentials)
  }
}

function parseDirection(raw: string): Direction {
  const value = (raw || 'upload').toLowerCase()
  const found = DIRECTIONS.find(d => d === value)
  if (!found) {
    throw new InputError('direction', `'${raw}' is not a direction. Use one of: upload, download.`)
  }
  return found
}

function readCredentials(read: InputReader): Credentials {
  const rawKey = read('private-key')
  const passphrase = read('passphrase') || undefined
  const password = read('password') || undefined
  if (!rawKey && !password) {
    throw new InputError(
      'private-key',
      "no credentials given. Set 'private-key' (recommended) or 'password' from a secret, e.g. " +
        'private-key: ${{ secrets.SSH_PRIVATE_KEY }}.'
    )
  }
  const credentials: Credentials = {}
  if (rawKey)
    credentials.privateKey = preparePrivateKey(rawKey, passphrase, 'private-key', 'passphrase')
  if (password) credentials.password = password
  return credentials
}

function readEndpoint(read: InputReader, credentials: Credentials, warnings: string[]): Endpoint {
  const host = parseHost(read('host'), 'host')
  const port = parseIntegerInput(read('port'), 'port', { fallback: 22, min: 1, max: 65535 })
  const username = read('username')
  if (!username) {
    throw new InputError('username', 'the user to log in as is required, e.g. username: deploy.')
  }
  if (/[\s:@]/.test(username)) {
    throw new InputError('username', 'must be a plain user name without spaces, ":" or "@".')
  }
  const allPins = parsePins(read('fingerprint'), 'fingerprint')
  const pins = pinsForHost(allPins, host, port)
  if (pins.filter(p => !p.revoked).length === 0) {
    throw new InputError(
      'fingerprint',
      `no pin applies to ${formatHostPort(host, port)}. The lines given name other hosts ` +
        `(known_hosts lines apply only to the hosts they name; use [${host}]:${port} for a non-standard port), ` +
        'or add a bare SHA256 fingerprint.'
    )
  }
  if (pins.some(p => p.form === 'md5' && !p.revoked)) {
    warnings.push(
      "Input 'fingerprint': an MD5 fingerprint is accepted, but MD5 is weak. Prefer the SHA256 form " +
        '(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the server).'
    )
  }
  return { host, port, username, pins, credentials, hostInput: 'host', pinInput: 'fingerprint' }
}

function readTarget(raw: string, direction: Direction, workspace: string): string {
  const value = raw.trim()
  if (!value) {
    throw new InputError(
      'target',
      'the destination directory is required, e.g. target: /var/www/site.'
    )
  }
  if (value.includes('\0')) throw new InputError('target', 'must not contain a NUL character.')
  if (direction === 'download') return path.resolve(workspace, value)
  return normalizeRemoteDir(value)
}

/** SFTP does not expand `~`; paths relative to the login directory mean the same thing. */
export function normalizeRemoteDir(value: string): string {
  let dir = value.replace(/\\/g, '/')
  if (dir === '~') return '.'
  if (dir.startsWith('~/')) dir = dir.slice(2)
  const normalized = path.posix.normalize(dir)
  return normalized.length > 1 ? normalized.replace(/\/+$/, '') : normalized
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** Inputs whose raw values are secrets: masked before anything else reads them. */
export const SECRET_INPUTS = ['private-key', 'passphrase', 'password'] as const

function collectSecrets(credentials: Credentials): string[] {
  const secrets: string[] = []
  if (credentials.privateKey) {
    secrets.push(...credentials.privateKey.secrets)
    if (credentials.privateKey.passphrase) secrets.push(credentials.privateKey.passphrase)
  }
  if (credentials.password) secrets.push(credentials.password)
  return secrets
}
