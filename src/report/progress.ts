import * as core from '@actions/core'

/** Logs progress of long transfers: at most once per interval, never for short ones. */
export class Progress {
  private done = 0
  private lastLog: number
  private readonly started: number

  private total: number | undefined

  constructor(
    /** Bytes to move, or how to count them once the first bytes moved. */
    private readonly totalOf: number | (() => number),
    private readonly intervalMs = 5000,
    private readonly now: () => number = Date.now
  ) {
    this.started = now()
    this.lastLog = this.started
  }

  /** Counts bytes moved; logs when the interval has passed. */
  add(bytes: number): void {
    this.done += bytes
    const t = this.now()
    if (t - this.lastLog < this.intervalMs) return
    this.lastLog = t
    core.info(this.line(t))
  }

  line(t: number): string {
    const total = (this.total ??= typeof this.totalOf === 'number' ? this.totalOf : this.totalOf())
    const seconds = Math.max((t - this.started) / 1000, 0.001)
    const rate = this.done / seconds
    const left = rate > 0 ? (total - this.done) / rate : 0
    const pct = total > 0 ? Math.floor((this.done / total) * 100) : 100
    return `${formatBytes(this.done)} of ${formatBytes(total)} (${pct}%), ${formatBytes(rate)}/s, about ${Math.ceil(left)} s left`
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  // Rates are fractional; a fraction of a byte is noise in a log line.
  let value = Math.round(n)
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}
