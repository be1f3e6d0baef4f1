// @ts-check
/**
 * The bundle the integration tests run: built from the current src/ by scripts/bundle.mjs (the
 * script that builds dist/, its checks included) into a temporary folder, once per test run (jest
 * globalSetup), so a change to src/ is tested without `npm run bundle`, and the committed dist/
 * plays no part. Its path reaches the test workers in an environment variable.
 */
import { spawn } from 'node:child_process'
import { clearTimeout, setTimeout } from 'node:timers'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const BUNDLE_ENV = 'PINNED_SFTP_TEST_BUNDLE'
const PREFIX = 'pinned-sftp-bundle-'
const BUNDLE_TIMEOUT_MS = 10 * 60_000
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/**
 * Bundles src/ into a fresh temporary folder and publishes its entry to the test workers.
 * @returns {Promise<{ entry: string, ms: number }>}
 */
export async function buildBundle() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), PREFIX))
  const started = Date.now()
  const { code, output } = await new Promise(resolve => {
    const child = spawn(process.execPath, [path.join(root, 'scripts', 'bundle.mjs'), dir], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    /** @type {Buffer[]} */
    const chunks = []
    child.stdout.on('data', chunk => chunks.push(chunk))
    child.stderr.on('data', chunk => chunks.push(chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), BUNDLE_TIMEOUT_MS)
    child.on('error', error => chunks.push(Buffer.from(String(error))))
    child.on('close', (exit, signal) => {
      clearTimeout(timer)
      resolve({ code: exit ?? signal, output: Buffer.concat(chunks).toString('utf8').trim() })
    })
  })
  const entry = path.join(dir, 'index.js')
  if (code !== 0 || !fs.existsSync(entry)) {
    fs.rmSync(dir, { recursive: true, force: true })
    throw new Error(
      `Bundling src/ for the integration tests failed (node scripts/bundle.mjs, exit ${code}):\n${output}`
    )
  }
  process.env[BUNDLE_ENV] = entry
  return { entry, ms: Date.now() - started }
}

/**
 * The bundle built for this test run; throws outside a jest run that built one.
 * @returns {string}
 */
export function bundleEntry() {
  const entry = process.env[BUNDLE_ENV]
  if (!entry) {
    throw new Error(
      `${BUNDLE_ENV} is not set: run the integration tests with jest (jest.config.js), whose globalSetup bundles src/`
    )
  }
  return entry
}

/** Removes the folder buildBundle made, and only such a folder. */
export function removeBundle() {
  const entry = process.env[BUNDLE_ENV]
  if (!entry) return
  const dir = path.dirname(entry)
  if (path.dirname(dir) === os.tmpdir() && path.basename(dir).startsWith(PREFIX)) {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  delete process.env[BUNDLE_ENV]
}
