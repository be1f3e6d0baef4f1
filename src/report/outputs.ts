import * as core from '@actions/core'
import { open } from 'node:fs/promises'
import { formatBytes } from './progress.js'
import { forSummary } from '../escape.js'
import type { HostReport, RunReport } from './types.js'

/** Totals over the files that really arrived (per server, for a fan-out). */
export function totals(report: RunReport): {
  files: number
  bytes: number
  skipped: number
  deleted: number
} {
  const sums = { files: 0, bytes: 0, skipped: 0, deleted: 0 }
  for (const f of report.files) {
    if (f.status === 'transferred') {
      sums.files++
      sums.bytes += f.size
    } else if (f.status === 'skipped') sums.skipped++
    else if (f.status === 'deleted') sums.deleted++
  }
  return sums
}

/** Writes the manifest and sets the step outputs. Runs on failure too: it says what moved. */
export async function writeOutputs(report: RunReport, manifestPath: string): Promise<void> {
  const { files, bytes, skipped, deleted } = totals(report)
  const manifest = {
    direction: report.direction,
    ...(report.dryRun ? { dryRun: true } : {}),
    ...(report.releasePath ? { releasePath: report.releasePath } : {}),
    ...(report.rollback ? { rollback: report.rollback } : {}),
    hosts: report.hosts,
    ...(report.selected ? { selected: report.selected } : {}),
    files: report.files
  }
  await writeManifest(manifestPath, manifest)
  core.setOutput('files', files)
  core.setOutput('bytes', bytes)
  core.setOutput('manifest', manifestPath)
  core.setOutput('selected', report.selected?.path ?? '')
  core.setOutput('skipped', skipped)
  core.setOutput('deleted', deleted)
  core.setOutput('release-path', report.releasePath ?? '')
}

/** Rows written at a time: the text of 50,000 rows at once would outweigh the rows themselves. */
const ROWS_PER_WRITE = 1000

/**
 * The same text as `JSON.stringify(manifest, null, 2)`, written a slice of rows at a time. `files`
 * is the last key, so everything before it is the object without it.
 */
async function writeManifest(file: string, manifest: { files: unknown[] }): Promise<void> {
  const handle = await open(file, 'w')
  try {
    const { files } = manifest
    const head = JSON.stringify({ ...manifest, files: [] }, null, 2)
    if (files.length === 0) return void (await handle.writeFile(`${head}\n`))
    // The head ends in `"files": []\n}`: open the array, then each row indented two levels.
    await handle.writeFile(`${head.slice(0, -4)}[\n`)
    for (let i = 0; i < files.length; i += ROWS_PER_WRITE) {
      const last = i + ROWS_PER_WRITE >= files.length
      await handle.writeFile(
        `${rowsText(files.slice(i, i + ROWS_PER_WRITE))}${last ? '\n' : ',\n'}`
      )
    }
    await handle.writeFile('  ]\n}\n')
  } finally {
    await handle.close()
  }
}

const ROWS_OPEN = '{\n  "files": [\n'
const ROWS_CLOSE = '\n  ]\n}'

/**
 * Rows as `JSON.stringify(manifest, null, 2)` shows them, two levels in: V8's own serializer
 * on `{ files: rows }`, less the lines around them, took 50,000 rows about two thirds of the
 * time of building the text row by row in JavaScript.
 */
function rowsText(rows: unknown[]): string {
  const text = JSON.stringify({ files: rows }, null, 2)
  return text.slice(ROWS_OPEN.length, text.length - ROWS_CLOSE.length)
}

/**
 * The job summary: what moved, where, and which pinned key each server proved it holds (or, for
 * a server refused, which key it presented). Everything from outside goes through forSummary,
 * and every line starts with an HTML block tag: with no blank line anywhere, GitHub reads the
 * whole summary as HTML and none of it as Markdown.
 */
export async function writeSummary(report: RunReport): Promise<void> {
  const { files, bytes } = totals(report)
  const seconds = report.durationMs / 1000
  const failed = report.files.filter(f => f.status === 'failed' || f.status === 'refused')
  const broken =
    report.failed === true ||
    failed.some(f => f.status === 'failed') ||
    report.hosts.some(h => h.error)
  const verdict = broken ? 'FAILED' : report.dryRun ? 'dry run, nothing changed' : 'done'
  core.summary
    .addHeading(`SFTP ${forSummary(report.direction)}: ${verdict}`, 3)
    .addTable([
      ['Files', 'Bytes', 'Duration', 'Throughput'].map(h => ({ data: h, header: true })),
      [
        String(files),
        `${bytes} (${formatBytes(bytes)})`,
        `${seconds.toFixed(1)} s`,
        seconds > 0 ? `${formatBytes(bytes / seconds)}/s` : '-'
      ]
    ])
    .addTable([
      ['Role', 'Server', 'Host key matched', 'Files'].map(h => ({ data: h, header: true })),
      ...report.hosts.map(h => [
        h.role,
        forSummary(h.via ? `${h.address} via ${h.via}` : h.address),
        forSummary(hostKeyCell(h)),
        String(
          report.files.filter(
            f => f.status === 'transferred' && (!f.server || f.server === h.address)
          ).length
        )
      ])
    ])
  if (report.dryRun) addPlan(report)
  if (report.releasePath) {
    core.summary.addRaw(`<p>Release: <code>${forSummary(report.releasePath)}</code></p>`, true)
  }
  if (report.rollback) {
    const { from, to } = report.rollback
    core.summary.addRaw(
      `<p>${report.dryRun ? 'Would roll back' : 'Rolled back'}: <code>current</code> from ` +
        `<code>${forSummary(from)}</code> to <code>${forSummary(to)}</code></p>`,
      true
    )
  }
  if (report.sync) core.summary.addRaw(`<p>${forSummary(report.sync)}</p>`, true)
  if (report.attributes) {
    core.summary.addRaw(`<p>Attributes: ${forSummary(report.attributes)}</p>`, true)
  }
  if (report.selected) {
    core.summary.addRaw(
      `<p>Selected newest: <code>${forSummary(report.selected.path)}</code></p>`,
      true
    )
  }
  if (failed.length) {
    core.summary
      .addHeading('Not transferred', 4)
      .addTable([
        ['File', 'Server', 'Status', 'Reason'].map(h => ({ data: h, header: true })),
        ...failed
          .slice(0, 200)
          .map(f => [
            forSummary(f.source),
            forSummary(f.server ?? ''),
            f.status,
            forSummary(f.error ?? '')
          ])
      ])
  }
  // Outside a runner (local runs, some tests) there is no summary file to write to.
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.write()
}

/** The key a server proved it holds, or why it has none: refused (and what it showed), failed. */
function hostKeyCell(h: HostReport): string {
  if (h.presented) {
    const keys = h.presented.length
      ? h.presented
          .map(k => `${k.keyType} ${k.fingerprint}${k.revoked ? ' (revoked)' : ''}`)
          .join('; ')
      : 'no key of a pinned type'
    return `refused, presented ${keys}. ${h.error ?? ''}`.trim()
  }
  if (!h.fingerprint) return `not connected: ${h.error ?? ''}`
  return `${h.keyType} ${h.fingerprint}${h.error ? `; failed: ${h.error}` : ''}`
}

/** The dry run's plan: every change it would make, with sizes. */
function addPlan(report: RunReport): void {
  const changes = report.files.filter(f => f.plan && f.plan !== 'skip')
  const unchanged = report.files.filter(f => f.plan === 'skip').length
  core.summary
    .addHeading(`Plan (${unchanged} unchanged files not listed)`, 4)
    .addTable([
      ['Action', 'Target', 'Bytes', 'Server'].map(h => ({ data: h, header: true })),
      ...changes
        .slice(0, 500)
        .map(f => [f.plan ?? '', forSummary(f.target), String(f.size), forSummary(f.server ?? '')])
    ])
}
