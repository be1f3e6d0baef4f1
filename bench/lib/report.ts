/** Results of one scenario, as printed in the table and written to the JSON file. */
export interface ToolRuns {
  /** Wall time of each run, in the order run. */
  runsMs: number[]
  medianMs?: number
  /** Peak RSS of each run, KiB (when measured). */
  maxRssKiB: number[]
  /** The tool's own CPU time per run (children included), when measured. */
  cpuMs: number[]
  /** Busy CPU time of the whole machine per run (sshd and kernel included), when measured. */
  machineBusyMs: number[]
  cpuMedianMs?: number
  machineBusyMedianMs?: number
}

export function emptyRuns(): ToolRuns {
  return { runsMs: [], maxRssKiB: [], cpuMs: [], machineBusyMs: [] }
}

/** One measured run of a tool. */
export interface RunMeasures {
  wallMs: number
  maxRssKiB: number | undefined
  cpuMs: number | undefined
  machineBusyMs: number | undefined
}

export function recordRun(runs: ToolRuns, run: RunMeasures): void {
  runs.runsMs.push(run.wallMs)
  if (run.maxRssKiB !== undefined) runs.maxRssKiB.push(run.maxRssKiB)
  if (run.cpuMs !== undefined) runs.cpuMs.push(run.cpuMs)
  if (run.machineBusyMs !== undefined) runs.machineBusyMs.push(run.machineBusyMs)
}

export interface ScenarioResult {
  id: string
  title: string
  kind: 'time' | 'memory'
  /** Payload bytes per run and file count. */
  bytes: number
  files: number
  /** 'n/a': not applicable (e.g. relay not implemented); see note. */
  status: 'ok' | 'failed' | 'n/a'
  note?: string
  /** Time scenarios: action median / OpenSSH median must be at most this. */
  targetRatio?: number
  /** Memory scenarios: the action's peak RSS must be at most this. */
  targetRssMiB?: number
  action: ToolRuns
  openssh: ToolRuns
  /** action / OpenSSH (medians); lower is better. */
  ratio?: number
  /** Action peak RSS over all runs, MiB. */
  actionPeakRssMiB?: number
  opensshPeakRssMiB?: number
  meetsTarget?: boolean
  errors: string[]
}

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  const digits = unit === 0 || value >= 100 || Number.isInteger(value) ? 0 : 1
  return `${value.toFixed(digits)} ${units[unit]}`
}

export const formatSeconds = (ms: number | undefined): string =>
  ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`

export const formatMiB = (mib: number | undefined): string =>
  mib === undefined ? '-' : `${mib.toFixed(1)} MiB`

export const mibPerSecond = (bytes: number, ms: number): string =>
  ms > 0 ? `${(bytes / 1024 ** 2 / (ms / 1000)).toFixed(1)} MiB/s` : '-'

/** Fills in medians, ratio, peaks and the verdict. */
export function summarize(result: ScenarioResult): void {
  for (const tool of [result.action, result.openssh]) {
    tool.medianMs = median(tool.runsMs)
    tool.cpuMedianMs = median(tool.cpuMs)
    tool.machineBusyMedianMs = median(tool.machineBusyMs)
  }
  const peak = (runs: ToolRuns): number | undefined =>
    runs.maxRssKiB.length > 0 ? Math.max(...runs.maxRssKiB) / 1024 : undefined
  result.actionPeakRssMiB = peak(result.action)
  result.opensshPeakRssMiB = peak(result.openssh)
  if (result.status !== 'ok') return
  if (result.kind === 'time') {
    const { medianMs: a } = result.action
    const { medianMs: o } = result.openssh
    if (a !== undefined && o !== undefined && o > 0) result.ratio = a / o
    if (result.ratio !== undefined && result.targetRatio !== undefined) {
      result.meetsTarget = result.ratio <= result.targetRatio
    }
  } else if (result.actionPeakRssMiB !== undefined && result.targetRssMiB !== undefined) {
    result.meetsTarget = result.actionPeakRssMiB <= result.targetRssMiB
  }
}

function verdict(result: ScenarioResult): string {
  if (result.status === 'failed') return 'FAILED'
  if (result.status === 'n/a') return result.note ?? 'n/a'
  if (result.meetsTarget === undefined) return '-'
  return result.meetsTarget ? 'ok' : 'MISSED'
}

/** The results as a plain-text table. */
export function renderTable(results: ScenarioResult[]): string {
  const header = ['Scenario', 'Size', 'Action', 'Other', 'Ratio', 'Target', 'Result']
  const rows = results.map(r => {
    const size = r.files > 1 ? `${r.files} files, ${formatBytes(r.bytes)}` : formatBytes(r.bytes)
    if (r.kind === 'memory') {
      return [
        r.title,
        size,
        formatMiB(r.actionPeakRssMiB),
        formatMiB(r.opensshPeakRssMiB),
        '-',
        r.targetRssMiB === undefined ? '-' : `<= ${r.targetRssMiB} MiB`,
        verdict(r)
      ]
    }
    return [
      r.title,
      size,
      formatSeconds(r.action.medianMs),
      formatSeconds(r.openssh.medianMs),
      r.ratio === undefined ? '-' : r.ratio.toFixed(2),
      r.targetRatio === undefined ? '-' : `<= ${r.targetRatio.toFixed(2)}`,
      verdict(r)
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(row => row[i].length)))
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i >= 2 && i <= 5 ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map(w => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/**
 * Where the CPU went, for the time scenarios: each tool's own CPU time and the whole machine's
 * (sshd and the kernel included), medians. "Cores busy" is machine CPU over wall time: near the
 * core count, the run was bound by CPU, not by the network or by waiting.
 */
export function renderCpuTable(results: ScenarioResult[], cores: number): string | undefined {
  const timed = results.filter(r => r.kind === 'time' && r.status === 'ok')
  if (!timed.some(r => r.action.cpuMedianMs !== undefined)) return undefined
  const busy = (runs: ToolRuns): string =>
    runs.machineBusyMedianMs === undefined || !runs.medianMs
      ? '-'
      : `${(runs.machineBusyMedianMs / runs.medianMs).toFixed(2)} of ${cores}`
  const header = ['Scenario', 'Action CPU', 'OpenSSH CPU', 'Machine CPU (a/o)', 'Cores busy (a/o)']
  const rows = timed.map(r => [
    r.title,
    formatSeconds(r.action.cpuMedianMs),
    formatSeconds(r.openssh.cpuMedianMs),
    `${formatSeconds(r.action.machineBusyMedianMs)} / ${formatSeconds(r.openssh.machineBusyMedianMs)}`,
    `${busy(r.action)} / ${busy(r.openssh)}`
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(row => row[i].length)))
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map(w => '-'.repeat(w))), ...rows.map(line)].join('\n')
}
