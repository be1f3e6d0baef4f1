import * as core from '@actions/core'
import * as github from '@actions/github'
import { runDownload } from './directions/download.js'
import { runRelay } from './directions/relay.js'
import { runUpload } from './directions/upload.js'
import { ActionError, TransferError } from './errors.js'
import { readSettings, SECRET_INPUTS, type RunnerEnv, type Settings } from './inputs/settings.js'
import { writeOutputs, writeSummary } from './report/outputs.js'
import type { RunReport } from './report/types.js'

/** The action's entry point. The only place that fails the step. */
export async function run(): Promise<void> {
  try {
    for (const name of SECRET_INPUTS) maskAll(core.getInput(name))
    const settings = readSettings(name => core.getInput(name), runnerEnv())
    settings.secrets.forEach(maskAll)
    settings.warnings.forEach(w => core.warning(w))
    await transfer(settings)
  } catch (err) {
    fail(err)
  }
}

function runnerEnv(): RunnerEnv {
  const workspace = process.env.GITHUB_WORKSPACE || process.cwd()
  // The context reads GITHUB_SHA; outside a workflow it is empty and release names go without it.
  const sha = github.context.sha || undefined
  return { workspace, tempDir: process.env.RUNNER_TEMP || workspace, ...(sha ? { sha } : {}) }
}

const DIRECTIONS = { upload: runUpload, download: runDownload, relay: runRelay }

async function transfer(settings: Settings): Promise<void> {
  const started = Date.now()
  const report: RunReport = {
    direction: settings.direction,
    hosts: [],
    files: [],
    durationMs: 0,
    ...(settings.dryRun ? { dryRun: true } : {})
  }
  try {
    await DIRECTIONS[settings.direction](settings, report)
  } finally {
    // Written on failure too, once any server was reached: it says exactly what moved.
    if (report.hosts.length > 0) {
      report.durationMs = Date.now() - started
      await writeOutputs(report, settings.manifestPath)
      await writeSummary(report)
    }
  }
  const unreached = report.hosts.find(h => h.error)
  if (unreached) {
    throw new TransferError(`${unreached.address} failed: ${unreached.error}`)
  }
  const bad = report.files.filter(f => f.status === 'failed')
  if (bad.length > 0) {
    throw new TransferError(
      `${bad.length} of ${report.files.length} transfers failed; first: ${bad[0].source}` +
        `${bad[0].server ? ` to ${bad[0].server}` : ''}: ${bad[0].error}. ` +
        `See the job summary and the manifest (${settings.manifestPath}).`
    )
  }
}

const masked = new Set<string>()

/** Masks a secret and each of its lines: the runner matches masks line by line in logs. */
function maskAll(secret: string): void {
  const lines = secret.split(/\r?\n/).map(l => l.trim())
  // The whole value is masked however short; of its lines, the very short ones (a key's last
  // line, say) are not, or ordinary words would be blanked all over the log. Armor lines such
  // as -----BEGIN OPENSSH PRIVATE KEY----- are public text, not secrets.
  const pieces = lines.filter(v => v.length >= 4 && !/^-----[A-Z0-9 ]+-----$/.test(v))
  for (const value of [secret, ...pieces]) {
    if (!value || masked.has(value)) continue
    masked.add(value)
    core.setSecret(value)
  }
}

function fail(err: unknown): void {
  if (err instanceof ActionError) {
    core.setFailed(err.message)
    return
  }
  const message = err instanceof Error ? err.message : String(err)
  core.setFailed(`Unexpected error: ${message}`)
}
