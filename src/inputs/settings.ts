import * as path from 'node:path'
import { InputError } from '../errors.js'
import { readAttributes, type AttributeSettings } from './attributes.js'
import { collectSecrets, readEndpoints, type Endpoint, type InputReader } from './endpoints.js'
import { parseBoolean, parseChoice, parseIntegerInput, parseSources } from './parse.js'
import type { SourceSpec } from '../plans/patterns.js'
import { makeReleaseId, validateReleaseId } from '../plans/release-id.js'
import { normalizeRemoteDir } from '../plans/remote-lister.js'

export type { Credentials, Endpoint, InputReader } from './endpoints.js'
export type { AttributeSettings, ChmodSettings } from './attributes.js'
export { formatHostPort, SECRET_INPUTS } from './endpoints.js'

/** Which way files move. */
export type Direction = 'upload' | 'download' | 'relay'

/** Which of the files matching `source` to move. */
export type Selection = 'all' | 'newest'

/** How each file is checked once it has landed. */
export type Verify = 'size' | 'sha256'

/** Upload only: atomic releases under `target`. */
export interface ReleaseSettings {
  /** The release directory's name, below `target/releases`. */
  id: string
  /** Releases kept after a deploy, the current one included. */
  keep: number
  /** Whether `release-id` named the ID (else it was generated). */
  given: boolean
}

/** What every direction needs, decided once from the inputs. */
interface CommonSettings {
  /**
   * The servers named by `host`: several for a fan-out upload, exactly one otherwise. For a
   * relay, the server files are read from.
   */
  servers: Endpoint[]
  /** What to transfer: include patterns and `!` excludes. */
  source: SourceSpec
  /** Destination directory: remote (POSIX) for upload and relay, absolute local for download. */
  target: string
  /** `size` (always) or `sha256` (hash while streaming, compare with the server's copy). */
  verify: Verify
  /** Connect, verify, plan and report; change nothing. */
  dryRun: boolean
  /** Times and modes carried over from the source, and the modes `chmod` forces. */
  attributes: AttributeSettings
  /** Milliseconds allowed for TCP connect, key exchange, host-key check and login. */
  timeoutMs: number
  /** Files transferred at once, per server. */
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

/** `direction: upload`, to every server named by `host`. */
export interface UploadSettings extends CommonSettings, UploadOptions {
  direction: 'upload'
  /** Upload targets using releases: switch `current` back to the release before it; send nothing. */
  rollback: boolean
}

/** `direction: download`, from the one server named by `host`. */
export interface DownloadSettings extends CommonSettings {
  direction: 'download'
  /** Every matching file, or only the most recently modified one. */
  select: Selection
}

/** `direction: relay`, from the server named by `host` to the one named by `target-host`. */
export interface RelaySettings extends CommonSettings {
  direction: 'relay'
  /** Every matching file, or only the most recently modified one. */
  select: Selection
  /** The server files are written to. */
  targetServer: Endpoint
}

/**
 * Everything the action does, decided once from the inputs. A union by direction, so what only
 * one direction has is there, typed, wherever that direction runs.
 */
export type Settings = UploadSettings | DownloadSettings | RelaySettings

/** Upload only: what `sync`, `delete` and `release` ask for. */
interface UploadOptions {
  /** Transfer only files whose content changed since the last deploy. */
  syncChanged: boolean
  /** With syncChanged: same-size files are compared by the server's SHA-256, not the state. */
  syncChecksum: boolean
  /** Remove remote files under `target` that are not in the source. */
  deleteExtraneous: boolean
  /** Deploy into `target/releases/ID` and switch `target/current` to it. */
  release?: ReleaseSettings
}

/** Where the action runs: the parts of the environment that settings depend on. */
export interface RunnerEnv {
  workspace: string
  tempDir: string
  /** The commit being deployed (GITHUB_SHA), for release names. */
  sha?: string
}

const DIRECTIONS: readonly Direction[] = ['upload', 'download', 'relay']
const SELECTIONS: readonly Selection[] = ['all', 'newest']
const VERIFIES: readonly Verify[] = ['size', 'sha256']
const SYNCS = ['off', 'changed', 'checksum'] as const

/** Builds and validates the settings; throws InputError naming the first bad input. */
export function readSettings(read: InputReader, env: RunnerEnv): Settings {
  const warnings: string[] = []
  const direction = parseChoice(read('direction'), 'direction', DIRECTIONS, 'upload')
  const servers = readEndpoints(read, '', {}, warnings)
  if (servers.length > 1 && direction !== 'upload') {
    throw new InputError(
      'host',
      `several servers are only supported for uploads, not ${direction}.`
    )
  }
  if (direction !== 'relay') warnIgnored(read, warnings, direction)
  const targetServer =
    direction === 'relay' ? readTargetServer(read, servers[0], warnings) : undefined
  const select = parseChoice(read('select'), 'select', SELECTIONS, 'all')
  if (select !== 'all' && direction === 'upload') {
    throw new InputError('select', 'applies to download and relay; leave it empty for uploads.')
  }
  const target = readTarget(read('target'), direction, env.workspace)
  const uploadOnly = readUploadOptions(read, direction, target, env)
  const rollback = readRollback(read, direction, uploadOnly, warnings)
  const common: CommonSettings = {
    servers,
    source: rollback ? { include: [], exclude: [] } : parseSources(read('source'), 'source'),
    target,
    verify: parseChoice(read('verify'), 'verify', VERIFIES, 'size'),
    dryRun: parseBoolean(read('dry-run'), 'dry-run'),
    attributes: readAttributes(read('preserve'), read('chmod')),
    timeoutMs:
      parseIntegerInput(read('timeout'), 'timeout', { fallback: 30, min: 1, max: 3600 }) * 1000,
    concurrency: parseIntegerInput(read('concurrency'), 'concurrency', {
      fallback: 1024,
      min: 1,
      max: 1024
    }),
    retries: parseIntegerInput(read('retries'), 'retries', { fallback: 3, min: 0, max: 20 }),
    workspace: env.workspace,
    manifestPath: path.join(env.tempDir, `sftp-manifest-${process.pid}-${Date.now()}.json`),
    warnings,
    secrets: collectSecrets(targetServer ? [...servers, targetServer] : servers)
  }
  if (targetServer) return { direction: 'relay', ...common, select, targetServer }
  if (direction === 'upload') return { direction, ...common, ...uploadOnly, rollback }
  return { direction: 'download', ...common, select }
}

const RELAY_ONLY = ['host', 'port', 'username', 'fingerprint', 'private-key', 'password'].map(
  name => `target-${name}`
)

/** A relay-only input set on another direction is a likely mistake: say so rather than ignore it. */
function warnIgnored(read: InputReader, warnings: string[], direction: Direction): void {
  const set = RELAY_ONLY.filter(
    name => read(name) !== '' && !(name === 'target-port' && read(name) === '22')
  )
  if (set.length) {
    warnings.push(
      `Input${set.length > 1 ? 's' : ''} ${set.map(n => `'${n}'`).join(', ')} only apply to direction: relay; ignored for ${direction}.`
    )
  }
}

function readUploadOptions(
  read: InputReader,
  direction: Direction,
  target: string,
  env: RunnerEnv
): UploadOptions {
  const sync = parseChoice(read('sync'), 'sync', SYNCS, 'off')
  // checksum is changed with a stricter comparison: state, local hashes and skips work alike.
  const syncChanged = sync !== 'off'
  const syncChecksum = sync === 'checksum'
  const deleteExtraneous = parseBoolean(read('delete'), 'delete')
  const release = parseBoolean(read('release'), 'release')
  const options = {
    syncChanged,
    syncChecksum,
    deleteExtraneous,
    ...(release ? { release: readRelease(read, env) } : {})
  }
  const used = [
    ['sync', syncChanged],
    ['delete', deleteExtraneous],
    ['release', release]
  ] as const
  for (const [input, on] of used) {
    if (on && direction !== 'upload')
      throw new InputError(input, `applies to uploads only, not ${direction}.`)
  }
  if (release && (syncChanged || deleteExtraneous)) {
    throw new InputError(
      'release',
      "cannot be combined with 'sync' or 'delete': each release is a complete, fresh directory."
    )
  }
  if (deleteExtraneous && ['.', '/', ''].includes(target)) {
    throw new InputError(
      'delete',
      `refused for target '${target}': deleting toward the root or the login directory could remove ` +
        'everything there. Point target at the directory the site lives in, e.g. /var/www/site.'
    )
  }
  return options
}

/** `rollback` sends nothing: it needs no source, and options about sending contradict it. */
function readRollback(
  read: InputReader,
  direction: Direction,
  upload: UploadOptions,
  warnings: string[]
): boolean {
  if (!parseBoolean(read('rollback'), 'rollback')) return false
  if (direction !== 'upload') {
    throw new InputError(
      'rollback',
      `applies to upload targets that use releases, not ${direction}. Use direction: upload.`
    )
  }
  const contradicting = upload.syncChanged ? 'sync' : upload.deleteExtraneous ? 'delete' : ''
  if (contradicting || read('release-id')) {
    throw new InputError(
      'rollback',
      `cannot be combined with '${contradicting || 'release-id'}': a rollback uploads nothing, ` +
        "it switches 'current' back to the release before the live one."
    )
  }
  if (read('source').trim()) warnings.push("Input 'source' is ignored with rollback: true.")
  return true
}

function readRelease(read: InputReader, env: RunnerEnv): ReleaseSettings {
  const given = read('release-id')
  const id = given ? validateReleaseId(given, 'release-id') : makeReleaseId(new Date(), env.sha)
  const keep = parseIntegerInput(read('keep-releases'), 'keep-releases', {
    fallback: 5,
    min: 1,
    max: 100
  })
  return { id, keep, given: given !== '' }
}

/** The relay's destination: its own pins always; login details default to the source's. */
function readTargetServer(read: InputReader, source: Endpoint, warnings: string[]): Endpoint {
  if (!read('target-host')) {
    throw new InputError(
      'target-host',
      'a relay needs the destination server, e.g. target-host: web.example.com.'
    )
  }
  const targets = readEndpoints(
    read,
    'target-',
    { username: source.username, credentials: source.credentials },
    warnings
  )
  if (targets.length > 1) throw new InputError('target-host', 'name one destination server only.')
  return targets[0]
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
