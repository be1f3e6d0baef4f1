import { InputError } from '../errors.js'
import { printableName as printable } from '../plans/safe-names.js'

/** Which of the source's attributes a transfer carries over, and the modes `chmod` forces. */
export interface AttributeSettings {
  /** Access and modification times of files, from the source. */
  times: boolean
  /** Permission bits (0777 only) of files and of the folders the action creates, from the source. */
  mode: boolean
  /** `chmod`: modes that win over the source's; either may be absent. */
  chmod: ChmodSettings
}

export interface ChmodSettings {
  /** `D…`: folders the action creates. */
  dirs?: number
  /** `F…`: files the action writes. */
  files?: number
}

const PRESERVABLE = ['times', 'mode'] as const

/** `preserve`: a comma list of `times` and `mode`, or `none`; empty means the default, `times`. */
export function parsePreserve(raw: string, input = 'preserve'): { times: boolean; mode: boolean } {
  const items = raw
    .split(',')
    .map(s => s.trim().toLowerCase())
    .filter(Boolean)
  if (items.length === 0) return { times: true, mode: false }
  if (items.length === 1 && items[0] === 'none') return { times: false, mode: false }
  for (const item of items) {
    if (!(PRESERVABLE as readonly string[]).includes(item)) {
      throw new InputError(
        input,
        `'${printable(item)}' is not allowed. Use a comma list of times and mode ` +
          '(e.g. preserve: times,mode), or none.'
      )
    }
  }
  return { times: items.includes('times'), mode: items.includes('mode') }
}

const CHMOD_PART = /^([DF])([0-7]{3,4})$/i
const CHMOD_EXAMPLE =
  'Use octal modes as in rsync, e.g. chmod: D755,F644 (either part may be left out).'

/**
 * `chmod` in rsync's octal form: `D755,F644`, `F600`, `D750`. Only the permission bits: a
 * setuid, setgid or sticky bit (a fourth digit other than 0) is refused, not silently dropped.
 */
export function parseChmod(raw: string, input = 'chmod'): ChmodSettings {
  const parts = raw
    .split(',')
    .map(s => s.trim())
    .filter(Boolean)
  const result: ChmodSettings = {}
  for (const part of parts) {
    const match = CHMOD_PART.exec(part)
    if (!match) {
      throw new InputError(input, `'${printable(part)}' is not understood. ${CHMOD_EXAMPLE}`)
    }
    const key = match[1].toUpperCase() === 'D' ? 'dirs' : 'files'
    if (result[key] !== undefined) {
      throw new InputError(input, `'${match[1].toUpperCase()}' is given twice. ${CHMOD_EXAMPLE}`)
    }
    const mode = parseInt(match[2], 8)
    if (mode > 0o777) {
      throw new InputError(
        input,
        `'${part}' sets a setuid, setgid or sticky bit; only permission bits (up to 777) are ` +
          `allowed. ${CHMOD_EXAMPLE}`
      )
    }
    result[key] = mode
  }
  return result
}

/** Both inputs, read together: `chmod` overrides `preserve: mode` where it names a mode. */
export function readAttributes(preserve: string, chmod: string): AttributeSettings {
  return { ...parsePreserve(preserve), chmod: parseChmod(chmod) }
}

/** One line for the job summary: what the written files and folders got. */
export function describeAttributes(settings: AttributeSettings): string {
  const octal = (mode: number) => mode.toString(8).padStart(3, '0')
  const { files, dirs } = settings.chmod
  const parts = [
    settings.times ? 'times kept from the source' : 'times not kept (set when written)',
    files !== undefined
      ? `files set to ${octal(files)} (chmod)`
      : settings.mode
        ? 'file modes kept from the source'
        : "file modes left to the receiving side's default",
    dirs !== undefined
      ? `new folders set to ${octal(dirs)} (chmod)`
      : settings.mode
        ? "new folders given their source folder's mode"
        : "new folders left to the receiving side's default"
  ]
  return `${parts.join('; ')}.`
}
