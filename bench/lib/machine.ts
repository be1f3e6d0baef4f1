import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import { runCommand } from '../../test/support/run.js'

export interface Machine {
  nproc: number
  cpuModel: string
  memoryGiB: number
  kernel: string
  node: string
  openssh: string
  gitCommit: string
  /** sha256 of dist/index.js, first 16 hex digits: which bundle was measured. */
  distSha256: string
}

function cpuModel(): string {
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8')
    const match = /^model name\s*:\s*(.+)$/m.exec(info)
    if (match) return match[1].trim()
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown'
}

async function nproc(): Promise<number> {
  const result = await runCommand('nproc', []).catch(() => undefined)
  const value = Number(result?.stdout.trim())
  return Number.isInteger(value) && value > 0 ? value : os.availableParallelism()
}

export async function describeMachine(root: string, distEntry: string): Promise<Machine> {
  const ssh = await runCommand('ssh', ['-V']).catch(() => undefined)
  const git = await runCommand('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root }).catch(
    () => undefined
  )
  const dirty = await runCommand('git', ['status', '--porcelain', '--', 'dist'], {
    cwd: root
  }).catch(() => undefined)
  return {
    nproc: await nproc(),
    cpuModel: cpuModel(),
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    openssh: (ssh ? `${ssh.stderr}${ssh.stdout}`.trim() : '') || 'not found',
    gitCommit: `${git?.stdout.trim() || 'unknown'}${dirty?.stdout.trim() ? ' (dist/ modified)' : ''}`,
    distSha256: createHash('sha256').update(fs.readFileSync(distEntry)).digest('hex').slice(0, 16)
  }
}
