import type { StateEntry, SyncState } from './sync.js'

/**
 * The state file's text. Version 2 keeps one short array per file (path, base64 digest, size,
 * mtime): about 70 bytes plus the path, where version 1's object per file took about 120, so
 * 50,000 files fit in under 4 MB. Version 1 is still read, so a target deployed by an older
 * release keeps its state; it is rewritten as version 2 the next time anything changes.
 */
type Row = [rel: string, digest: string, size: number, mtime: number]

export function serializeState(state: SyncState): string {
  const rows: Row[] = []
  for (const [rel, e] of state.files) {
    rows.push([rel, Buffer.from(e.sha256, 'hex').toString('base64'), e.size, e.mtime])
  }
  return `${JSON.stringify({ version: 2, files: rows })}\n`
}

/** Why a state text can't be used, for the warning that says everything will be sent. */
export class StateFormatError extends Error {}

/** Reads a state file's text; entries that don't make sense are dropped, the rest kept. */
export function parseState(text: string): SyncState {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    throw new StateFormatError('it is not valid JSON')
  }
  const { version, files } = (data ?? {}) as { version?: unknown; files?: unknown }
  const state: SyncState = { files: new Map() }
  if (version === 2 && Array.isArray(files)) {
    for (const row of files) {
      const entry = fromRow(row)
      if (entry) state.files.set(entry[0], entry[1])
    }
    return state
  }
  if (version === 1 && files && typeof files === 'object' && !Array.isArray(files)) {
    for (const [rel, value] of Object.entries(files as Record<string, unknown>)) {
      if (isEntry(value)) {
        state.files.set(rel, { sha256: value.sha256, size: value.size, mtime: value.mtime })
      }
    }
    return state
  }
  throw new StateFormatError(
    `its format (version ${JSON.stringify(version)}) is not one this action reads`
  )
}

/** `=`, which ends a SHA-256 digest in base64 (43 characters of 6 bits, then one pad). */
const PAD = 0x3d

/**
 * One row, checked field by field. The digest must be 43 base64 characters and `=`: Node's
 * decoder skips any other character, so exactly 32 bytes come out only when all 43 are base64
 * (a test per row with a regular expression cost 50,000 rows as much as the decoding). `-` and
 * `_`, which Node also reads (as base64url), are refused as the written format never has them.
 */
function fromRow(row: unknown): [string, StateEntry] | undefined {
  if (!Array.isArray(row) || row.length !== 4) return undefined
  const [rel, digest, size, mtime] = row as unknown[]
  if (typeof rel !== 'string' || typeof digest !== 'string') return undefined
  if (digest.length !== 44 || digest.charCodeAt(43) !== PAD) return undefined
  if (!Number.isSafeInteger(size) || (size as number) < 0) return undefined
  if (typeof mtime !== 'number' || !Number.isFinite(mtime)) return undefined
  const bytes = Buffer.from(digest, 'base64')
  if (bytes.length !== 32 || digest.includes('-') || digest.includes('_')) return undefined
  return [rel, { sha256: bytes.toString('hex'), size: size as number, mtime }]
}

function isEntry(value: unknown): value is StateEntry {
  const e = value as Partial<StateEntry> | null
  return (
    !!e &&
    typeof e.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(e.sha256) &&
    Number.isSafeInteger(e.size) &&
    (e.size as number) >= 0 &&
    typeof e.mtime === 'number' &&
    Number.isFinite(e.mtime)
  )
}
