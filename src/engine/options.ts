import type { AttributeSettings } from '../inputs/attributes.js'
import type { PhaseTimes } from '../report/timings.js'
import type { Delivered } from './deliver.js'

/** How every direction's transfer runs: upload, download and relay take the same options. */
export interface TransferOptions {
  concurrency: number
  /** Reconnections allowed after network failures. */
  retries: number
  /** What the transfer does where, for the log and errors ("uploading to HOST:PORT"). */
  what?: string
  onBytes: (n: number) => void
  /** Hash every file as it streams and check the server's copy against it. */
  verifySha256: boolean
  /** Hash every file as it streams (for the manifest or the sync state) without checking. */
  hash?: boolean
  /** Where time goes, per phase, for the debug log. */
  times?: PhaseTimes
  /** Called as each file lands under its final name. */
  onLanded?: (rel: string, delivered: Delivered) => void
  /** Called as each file passed its checks on the server and its rename was sent. */
  onChecked?: (rel: string, delivered: Delivered) => void
  /** Times and modes carried from the source (`preserve`) or forced (`chmod`). */
  preserve?: AttributeSettings
  /**
   * Folders below the target that the plan's listing found (so the target exists): they are not
   * created again, which spares a re-deploy the round trip before its first file.
   */
  listedDirs?: ReadonlySet<string>
}
