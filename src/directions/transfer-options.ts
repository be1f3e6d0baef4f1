import type { TransferOptions } from '../engine/options.js'
import type { Settings } from '../inputs/settings.js'
import type { Progress } from '../report/progress.js'

/** The engine's options every direction passes the same way. */
export function transferOptions(
  settings: Settings,
  progress: Progress,
  what?: string
): TransferOptions {
  return {
    what,
    concurrency: settings.concurrency,
    retries: settings.retries,
    verifySha256: settings.verify === 'sha256',
    preserve: settings.attributes,
    onBytes: n => progress.add(n)
  }
}

export function sumSizes(files: Array<{ size: number }>): number {
  return files.reduce((sum, f) => sum + f.size, 0)
}
