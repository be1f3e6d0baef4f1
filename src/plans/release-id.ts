import { randomBytes } from 'node:crypto'
import { InputError } from '../errors.js'
import { printableName } from './safe-names.js'

/**
 * Release directories are named so that plain string order is time order: the generated form is
 * `YYYYMMDDTHHMMSS.mmmZ-<random>` (UTC, fixed width), then `-<sha7>` with a commit. The random
 * part keeps two deploys of one commit in the same millisecond apart without changing the order
 * of different times. Pruning keeps the greatest names, so a user-given release-id must sort the
 * same way, e.g. by keeping a time prefix (`20261125T160102Z-hotfix`); a name like `v2` would
 * sort after every generated ID and be kept as "newest" forever.
 */

/** Longest release-id accepted; one path component stays far below NAME_MAX. */
export const MAX_RELEASE_ID_LENGTH = 100

const SAFE_ID = /^[A-Za-z0-9._-]+$/
const SHA_CHARS = /^[0-9A-Za-z]+$/

/** What makeReleaseId makes, and what versions before the random part made (`...SSZ-sha7`). */
const GENERATED = /^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}(?:-[0-9a-z]{7})?$/
const GENERATED_BEFORE = /^\d{8}T\d{6}Z(?:-[0-9a-z]{7})?$/

/**
 * Random parts already handed out by this process, per time stamp. Six hex digits keep separate
 * runs apart; within one process (fan-out to servers sharing a file system) a repeat is drawn
 * again, since 1,000 draws in one millisecond would repeat about 3% of the time.
 */
const issued = new Map<string, Set<string>>()

function freshRandom(stamp: string): string {
  let used = issued.get(stamp)
  if (!used) {
    used = new Set()
    issued.clear()
    issued.set(stamp, used)
  }
  let random = randomBytes(3).toString('hex')
  while (used.has(random)) random = randomBytes(3).toString('hex')
  used.add(random)
  return random
}

/** `20261125T160102.345Z-9f3a0c`, or `20261125T160102.345Z-9f3a0c-abc1234` with a commit sha. */
export function makeReleaseId(now: Date, sha: string | undefined, random?: string): string {
  // toISOString is always UTC and zero-padded: 2026-11-25T16:01:02.345Z.
  const stamp = now.toISOString().replace(/[-:]/g, '')
  random ??= freshRandom(stamp)
  const commit = sha?.trim() ?? ''
  if (commit === '') return `${stamp}-${random}`
  // GITHUB_SHA is hex; anything else would be a broken runner, not a user mistake.
  if (!SHA_CHARS.test(commit)) throw new Error(`Unexpected commit sha '${commit}'.`)
  return `${stamp}-${random}-${commit.slice(0, 7).toLowerCase()}`
}

/** True for a name this action generates (now or in earlier versions): pruning may remove it. */
export function isGeneratedReleaseId(name: string): boolean {
  return GENERATED.test(name) || GENERATED_BEFORE.test(name)
}

/**
 * Returns `id` when it can name one directory under `releases/`, else throws InputError naming
 * `input`. It becomes a path component on the server and the target of `current`, so nothing
 * that could climb out of `releases/` or need quoting is accepted.
 */
export function validateReleaseId(id: string, input: string): string {
  if (id === '') throw new InputError(input, 'the release ID is empty.')
  if (id.length > MAX_RELEASE_ID_LENGTH) {
    throw new InputError(
      input,
      `the release ID is ${id.length} characters long; at most ${MAX_RELEASE_ID_LENGTH} are allowed.`
    )
  }
  if (id === '.' || id === '..') {
    throw new InputError(input, `'${id}' is a directory reference, not a release ID.`)
  }
  if (!SAFE_ID.test(id)) {
    throw new InputError(
      input,
      `'${printableName(id)}' may only contain letters, digits, '.', '_' and '-' (it names one directory on the server).`
    )
  }
  // Hidden names are the action's temporary files, and pruning skips them: a hidden release
  // would be kept forever.
  if (id.startsWith('.')) throw new InputError(input, `'${id}' must not start with '.'.`)
  return id
}

/** True for a name `validateReleaseId` accepts: the only entries pruning may remove. */
export function isReleaseId(name: string): boolean {
  return name.length <= MAX_RELEASE_ID_LENGTH && SAFE_ID.test(name) && !name.startsWith('.')
}

/** Newest first. Code-unit order, not locale order, so every runner sorts the same way. */
export function sortReleases(names: string[]): string[] {
  return [...names].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))
}
