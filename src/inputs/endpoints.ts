import { InputError } from '../errors.js'
import { parsePins, pinsForHost, type Pin } from '../identity/pins.js'
import { preparePrivateKey, type PreparedKey } from './keys.js'
import { parseHostList, parseIntegerInput } from './parse.js'

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
  /** Host-key pins that apply to this host and port; at least one is not revoked. */
  pins: Pin[]
  /** Login credentials. */
  credentials: Credentials
  /** Name of the input the host came from, for messages (e.g. `host`). */
  hostInput: string
  /** Name of the input the pins came from, for messages (e.g. `fingerprint`). */
  pinInput: string
  /** A bastion to reach this server through, itself verified against its own pins. */
  jump?: Endpoint
}

/** Reads one input by name; returns '' when unset. Matches `core.getInput` semantics. */
export type InputReader = (name: string) => string

/** Input-name prefixes of the server roles: `host`, `target-host`, `jump-host`, ... */
export type Role = '' | 'target-' | 'jump-' | 'target-jump-'

/** Settings shared by a role when its own inputs are empty. */
export interface Fallback {
  username?: string
  credentials?: Credentials
}

/**
 * Reads the servers of one role (`host` may list several for fan-out), their pins, credentials
 * and jump host. Each server keeps only the pins that apply to it.
 */
export function readEndpoints(
  read: InputReader,
  role: Role,
  fallback: Fallback,
  warnings: string[]
): Endpoint[] {
  const port = parseIntegerInput(read(`${role}port`), `${role}port`, {
    fallback: 22,
    min: 1,
    max: 65535
  })
  const servers = parseHostList(read(`${role}host`), `${role}host`, port)
  const username = read(`${role}username`) || fallback.username || ''
  checkUsername(username, `${role}username`)
  const credentials = readCredentials(read, role, fallback.credentials)
  const allPins = parsePins(read(`${role}fingerprint`), `${role}fingerprint`)
  const jump =
    role === '' || role === 'target-'
      ? readJump(read, role, username, credentials, warnings)
      : undefined
  if (servers.length > 1 && allPins.some(p => p.hosts === undefined && !p.revoked)) {
    // Each server would accept every other server's key: one stolen key opens them all.
    warnings.push(
      `Input '${role}fingerprint': pins without a host name apply to all ${servers.length} ` +
        'servers, so each accepts any of those keys. Use known_hosts lines ' +
        `([host]:port key) to tie each key to its server.`
    )
  }
  return servers.map(({ host, port }) => {
    const pins = pinsFor(allPins, host, port, `${role}fingerprint`, warnings)
    const endpoint: Endpoint = {
      host,
      port,
      username,
      pins,
      credentials,
      hostInput: `${role}host`,
      pinInput: `${role}fingerprint`
    }
    if (jump) endpoint.jump = jump
    return endpoint
  })
}

function readJump(
  read: InputReader,
  role: '' | 'target-',
  username: string,
  credentials: Credentials,
  warnings: string[]
): Endpoint | undefined {
  const jumpRole: Role = role === '' ? 'jump-' : 'target-jump-'
  if (!read(`${jumpRole}host`)) return undefined
  const jumps = readEndpoints(read, jumpRole, { username, credentials }, warnings)
  if (jumps.length > 1) {
    throw new InputError(`${jumpRole}host`, 'name one jump host only.')
  }
  return jumps[0]
}

function checkUsername(username: string, input: string): void {
  if (!username) {
    throw new InputError(input, 'the user to log in as is required, e.g. username: deploy.')
  }
  if (/[\s:@]/.test(username)) {
    throw new InputError(input, 'must be a plain user name without spaces, ":" or "@".')
  }
}

function pinsFor(
  allPins: Pin[],
  host: string,
  port: number,
  input: string,
  warnings: string[]
): Pin[] {
  const pins = pinsForHost(allPins, host, port)
  if (pins.filter(p => !p.revoked).length === 0) {
    throw new InputError(
      input,
      `no pin applies to ${formatHostPort(host, port)}. The lines given name other hosts ` +
        `(known_hosts lines apply only to the hosts they name; use [${host}]:${port} for a ` +
        'non-standard port), or add a bare SHA256 fingerprint.'
    )
  }
  if (pins.some(p => p.form === 'md5' && !p.revoked)) {
    const weak =
      `Input '${input}': an MD5 fingerprint is accepted, but MD5 is weak. Prefer the SHA256 ` +
      'form (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the server).'
    if (!warnings.includes(weak)) warnings.push(weak)
  }
  return pins
}

function readCredentials(read: InputReader, role: Role, fallback?: Credentials): Credentials {
  const rawKey = read(`${role}private-key`)
  const password = read(`${role}password`) || undefined
  if (!rawKey && !password) {
    if (fallback) return fallback
    throw new InputError(
      `${role}private-key`,
      `no credentials given. Set '${role}private-key' (recommended) or '${role}password' from a ` +
        'secret, e.g. private-key: ${{ secrets.SSH_PRIVATE_KEY }}.'
    )
  }
  const credentials: Credentials = {}
  if (rawKey) {
    const passphrase = read(`${role}passphrase`) || undefined
    credentials.privateKey = preparePrivateKey(
      rawKey,
      passphrase,
      `${role}private-key`,
      `${role}passphrase`
    )
  }
  if (password) credentials.password = password
  return credentials
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** Every secret and value derived from one, across all servers, to mask in logs. */
export function collectSecrets(endpoints: Endpoint[]): string[] {
  const secrets = new Set<string>()
  const visit = (endpoint: Endpoint | undefined): void => {
    if (!endpoint) return
    const { privateKey, password } = endpoint.credentials
    privateKey?.secrets.forEach(s => secrets.add(s))
    if (privateKey?.passphrase) secrets.add(privateKey.passphrase)
    if (password) secrets.add(password)
    visit(endpoint.jump)
  }
  endpoints.forEach(visit)
  return [...secrets]
}

/** Inputs whose raw values are secrets: masked before anything else reads them. */
export const SECRET_INPUTS = (['', 'target-', 'jump-', 'target-jump-'] as const).flatMap(role => [
  `${role}private-key`,
  `${role}passphrase`,
  `${role}password`
])
