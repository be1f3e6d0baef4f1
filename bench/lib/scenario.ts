import type { TimedResult } from './proc.js'

export interface ToolRun {
  wallMs: number
  maxRssKiB: number | undefined
  /** The tool's own CPU time (its children included). */
  cpuMs: number | undefined
  /** Busy CPU time of the whole machine during the run: the tool, sshd and the kernel. */
  machineBusyMs: number | undefined
}

export const measuredRun = (result: TimedResult): ToolRun => ({
  wallMs: result.wallMs,
  maxRssKiB: result.maxRssKiB,
  cpuMs: result.cpuMs,
  machineBusyMs: result.machineBusyMs
})

/** One side of a scenario: runs the tool once into fresh directories and checks the result. */
export type Runner = (runDir: string) => Promise<ToolRun>

export interface Scenario {
  id: string
  title: string
  kind: 'time' | 'memory'
  bytes: number
  files: number
  runs: number
  /** The other tool, as the table's header names it: 'sftp' unless said. */
  anchor?: string
  targetRatio?: number
  targetRssMiB?: number
  /** Set when the scenario cannot run; shown in the Result column. */
  unavailable?: string
  action?: Runner
  openssh?: Runner
}
