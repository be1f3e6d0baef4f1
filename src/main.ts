import * as core from '@actions/core'
import { runDownload } from './directions/download.js'
import { runRelay } from './directions/relay.js'
import { runRollback } from './directions/rollback.js'
import { runUpload } from './directions/upload.js'
import { ActionError, TransferError } from './errors.js'
import { forLog } from './escape.js'
import { describeAttributes } from './inputs/attributes.js'
import { pastedKeyError, pastedKeys, plainInputs } from './inputs/key-material.js'
import { readSettings, SECRET_INPUTS, type RunnerEnv, type Settings } from './inputs/settings.js'
import { writeOutputs, writeSummary } from './report/outputs.js'
import { endSshTrace } from './report/ssh-trace.js'
import { refusedHostReport, type RunReport } from './report/types.js'

/** The action's entry point. The only place that fails the step. */
export async function run(): Promise<void> {
  try {
    for (const name of SECRET_INPUTS) maskAll(core.getInput(name), true)
    // A key pasted into a plain input is a secret all the same: masked before anything can print
    // it (a one-line paste with literal \n is masked piece by piece too), then refused.
    const pasted = pastedKeys(plainInputs(process.env))
    for (const { value } of pasted) {
      maskAll(value, true)
      maskAll(value.replace(/\\r\\n|\\n|\\r/g, '\n'), false)
    }
    if (pasted.length > 0) throw pastedKeyError(pasted)
    const settings = readSettings(name => core.getInput(name), runnerEnv())
    settings.secrets.forEach(secret => maskAll(secret, false))
    settings.warnings.forEach(w => core.warning(forLog(w)))
    await transfer(settings)
  } catch (err) {
    fail(err)
  }
}

function runnerEnv(): RunnerEnv {
  const workspace = process.env.GITHUB_WORKSPACE || process.cwd()
  // Outside a workflow GITHUB_SHA is unset and release names go without it. Read directly, not
  // through @actions/github's context: that package brought octokit into the bundle, about a
  // tenth of the start-up time of every run, for this one variable.
  const sha = process.env.GITHUB_SHA || undefined
  return { workspace, tempDir: process.env.RUNNER_TEMP || workspace, ...(sha ? { sha } : {}) }
}

/** The one place the settings are narrowed by direction; each direction gets its own shape. */
function dispatch(settings: Settings, report: RunReport): Promise<void> {
  switch (settings.direction) {
    case 'upload':
      return (settings.rollback ? runRollback : runUpload)(settings, report)
    case 'download':
      return runDownload(settings, report)
    case 'relay':
      return runRelay(settings, report)
  }
}

async function transfer(settings: Settings): Promise<void> {
  const started = Date.now()
  const rollback = settings.direction === 'upload' && settings.rollback
  const report: RunReport = {
    direction: settings.direction,
    hosts: [],
    files: [],
    durationMs: 0,
    ...(settings.dryRun ? { dryRun: true } : {}),
    ...(rollback ? {} : { attributes: describeAttributes(settings.attributes) })
  }
  try {
    await dispatch(settings, report)
  } catch (err) {
    report.failed = true
    // A server refused for its host key was reached too: the summary names the key it showed.
    const refused = refusedHostReport(err, settings.direction)
    if (refused && !report.hosts.some(h => h.address === refused.address))
      report.hosts.push(refused)
    throw err
  } finally {
    endSshTrace()
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

/** Armor lines such as -----BEGIN OPENSSH PRIVATE KEY----- are public text, not secrets. */
const ARMOR = /^-----[A-Z0-9 ]+-----$/

/**
 * Masks a secret and each of its lines: the runner matches masks line by line in logs. A value
 * as the user gave it (`whole`) is masked however short; of everything else (its lines, pieces
 * derived from it) the very short ones are not, or a key's last line (`=`, say) would blank
 * that character all over the log.
 */
function maskAll(secret: string, whole: boolean): void {
  const lines = secret.split(/\r?\n/).map(l => l.trim())
  const pieces = [secret, ...lines].filter(v => v.trim().length >= 4 && !ARMOR.test(v.trim()))
  for (const value of whole && secret.trim() ? [secret, ...pieces] : pieces) {
    if (masked.has(value)) continue
    masked.add(value)
    core.setSecret(value)
  }
}

function fail(err: unknown): void {
  if (err instanceof ActionError) {
    // setFailed takes no annotation properties: the same failure, with the error's title on it.
    process.exitCode = core.ExitCode.Failure
    core.error(forLog(err.message), { title: forLog(err.title) })
    return
  }
  const message = err instanceof Error ? err.message : String(err)
  core.setFailed(`Unexpected error: ${forLog(message)}`)
}
