import * as core from '@actions/core'
import { writeFile } from 'node:fs/promises'
import { formatBytes } from './progress.js'
import type { RunReport } from './types.js'

/** Totals over the files that really arrived. */
export function totals(report: RunReport): { files: number; bytes: number } {
  const moved = report.files.filter(f => f.status === 'transferred')
  return { files: moved.length, bytes: moved.reduce((sum, f) => sum + f.size, 0) }
}

/** Writes the manifest and sets the step outputs. Runs on failure too: it says what moved. */
export async function writeOutputs(report: RunReport, manifestPath: string): Promise<void> {
  const { files, bytes } = totals(report)
  const manifest = {
    direction: report.direction,
    server: report.server,
    hostKey: { type: report.keyType, fingerprint: report.fingerprint },
    files: report.files
  }
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`)
  core.setOutput('files', files)
  core.setOutput('bytes', bytes)
  core.setOutput('manifest', manifestPath)
}

/** The job summary: what moved, where, and which pinned key the server proved it holds. */
export async function writeSummary(report: RunReport): Promise<void> {
  const { files, bytes } = totals(report)
  const seconds = report.durationMs / 1000
  const rate = seconds > 0 ? `${formatBytes(bytes / seconds)}/s` : '-'
  const failed = report.files.filter(f => f.status !== 'transferred')
  core.summary
    .addHeading(`SFTP ${report.direction}: ${failed.length ? 'FAILED' : 'done'}`, 3)
    .addTable([
      [
        { data: 'Files', header: true },
        { data: 'Bytes', header: true },
        { data: 'Server', header: true },
        { data: 'Host key matched', header: true },
        { data: 'Duration', header: true },
        { data: 'Throughput', header: true }
      ],
      [
        String(files),
        `${bytes} (${formatBytes(bytes)})`,
        escapeHtml(report.server),
        report.fingerprint ? `${report.keyType} ${report.fingerprint}` : 'not verified',
        `${seconds.toFixed(1)} s`,
        rate
      ]
    ])
  if (failed.length) {
    core.summary.addHeading('Not transferred', 4).addTable([
      [
        { data: 'File', header: true },
        { data: 'Status', header: true },
        { data: 'Reason', header: true }
      ],
      ...failed.slice(0, 200).map(f => [escapeHtml(f.source), f.status, escapeHtml(f.error ?? '')])
    ])
  }
  // Outside a runner (local runs, some tests) there is no summary file to write to.
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.write()
}

/** Summary cells are HTML; file names come from servers and must not become markup. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}
