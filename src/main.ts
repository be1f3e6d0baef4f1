import * as core from '@actions/core'
import { connectVerified } from './connection/connect.js'
import { downloadFiles } from './engine/download.js'
import { SftpSession } from './engine/session.js'
import { uploadFiles } from './engine/upload.js'
import { ActionError, TransferError } from './errors.js'
import { readSettings, SECRET_INPUTS, formatHostPort, type Settings } from './inputs/settings.js'
import { listLocalFiles, type LocalFile } from './plans/local-files.js'
import { listRemoteFiles } from './plans/remote-files.js'
import { writeOutputs, writeSummary } from './report/outputs.js'
import { Progress, formatBytes } from './report/progress.js'
import type { FileResult, RunReport } from './report/types.js'

/** SFTP channels opened per connection; servers that allow fewer get fewer. */
const CHANNELS = 4

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

function runnerEnv(): { workspace: string; tempDir: string } {
  const workspace = process.env.GITHUB_WORKSPACE || process.cwd()
  return { workspace, tempDir: process.env.RUNNER_TEMP || workspace }
}

async function transfer(settings: Settings): Promise<void> {
  const started = Date.now()
  const { server } = settings
  // Local sources are checked before connecting: a typo in 'source' should not cost a login.
  const localFiles =
    settings.direction === 'upload'
      ? await core.group('Plan', () => planUpload(settings))
      : undefined
  const first = await core.group(
    `Connect to ${formatHostPort(server.host, server.port)} and verify its host key`,
    () => openSession(settings)
  )
  const report: RunReport = {
    direction: settings.direction,
    server: formatHostPort(server.host, server.port),
    keyType: first.connection.keyType,
    fingerprint: first.connection.fingerprint,
    pinLabel: first.connection.pinLabel,
    files: [],
    durationMs: 0
  }
  const connect = reusing(first, () => openSession(settings))
  try {
    report.files = localFiles
      ? await runUpload(settings, connect, localFiles)
      : await runDownload(settings, first, connect)
  } finally {
    first.close()
    report.durationMs = Date.now() - started
    await writeOutputs(report, settings.manifestPath)
    await writeSummary(report)
  }
  const bad = report.files.filter(f => f.status === 'failed')
  if (bad.length > 0) {
    throw new TransferError(
      `${bad.length} of ${report.files.length} files did not arrive; first: ${bad[0].source}: ${bad[0].error}. ` +
        `See the job summary and the manifest (${settings.manifestPath}).`
    )
  }
}

/** Connects, verifies the host key, logs in and opens the SFTP channels. */
async function openSession(settings: Settings): Promise<SftpSession> {
  const connection = await connectVerified(settings.server, {
    timeoutMs: settings.timeoutMs,
    retries: settings.retries,
    debug: core.isDebug() ? (m: string) => core.debug(m) : undefined
  })
  core.info(
    `Host key verified: ${connection.keyType} ${connection.fingerprint} matches pin ${connection.pinLabel}.`
  )
  core.info(`Logged in as ${settings.server.username}.`)
  return SftpSession.open(connection, CHANNELS)
}

/** Hands out `first` while it is alive, then fresh sessions: the plan's connection is not wasted. */
function reusing(first: SftpSession, open: () => Promise<SftpSession>): () => Promise<SftpSession> {
  let spare: SftpSession | undefined = first
  return async () => {
    const session = spare
    spare = undefined
    return session && !session.dead ? session : open()
  }
}

const warn = (message: string): void => core.warning(message)

async function planUpload(settings: Settings): Promise<LocalFile[]> {
  const found = await listLocalFiles(settings.source, settings.workspace, warn)
  logPlan(found.length, sumSizes(found), settings.target)
  return found
}

type Connect = () => Promise<SftpSession>

function runUpload(settings: Settings, connect: Connect, files: LocalFile[]) {
  const progress = new Progress(sumSizes(files))
  return core.group('Upload', () =>
    uploadFiles(connect, settings.target, files, {
      concurrency: settings.concurrency,
      retries: settings.retries,
      onBytes: n => progress.add(n)
    })
  )
}

async function runDownload(
  settings: Settings,
  first: SftpSession,
  connect: Connect
): Promise<FileResult[]> {
  const listed = await core.group('Plan', async () => {
    const result = await listRemoteFiles(settings.source, first.main, warn)
    logPlan(result.files.length, sumSizes(result.files), settings.target)
    return result
  })
  const progress = new Progress(sumSizes(listed.files))
  const results = await core.group('Download', () =>
    downloadFiles(connect, settings.target, listed.files, {
      concurrency: settings.concurrency,
      retries: settings.retries,
      onBytes: n => progress.add(n)
    })
  )
  const refused: FileResult[] = listed.refused.map(r => ({
    source: r.path,
    target: '',
    size: 0,
    status: 'refused',
    error: r.reason
  }))
  return [...results, ...refused]
}

function sumSizes(files: Array<{ size: number }>): number {
  return files.reduce((sum, f) => sum + f.size, 0)
}

function logPlan(count: number, bytes: number, target: string): void {
  core.info(`${count} files, ${formatBytes(bytes)}, into ${target}`)
}

const masked = new Set<string>()

/** Masks a secret and each of its lines: the runner matches masks line by line in logs. */
function maskAll(secret: string): void {
  for (const value of [secret, ...secret.split(/\r?\n/).map(l => l.trim())]) {
    // Armor lines such as -----BEGIN OPENSSH PRIVATE KEY----- are public text, not secrets.
    if (value.length < 4 || /^-----[A-Z0-9 ]+-----$/.test(value) || masked.has(value)) continue
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
