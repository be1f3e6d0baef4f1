import type { SftpSession } from '../../src/engine/session.js'
import { planUpload } from '../../src/directions/upload-plan.js'
import type { UploadSettings } from '../../src/inputs/settings.js'
import type { LocalFile } from '../../src/plans/local-files.js'

/** A channel on which every request is sent and never answered (a far, slow listing). */
function silentChannel(asked: string[]): unknown {
  return new Proxy(
    {},
    {
      get: (_target, name) => {
        if (name === 'then') return undefined
        if (name === 'maxOpenHandles') return 64
        if (name === 'processesInOrder') return true
        return (...args: unknown[]) => {
          asked.push(`${String(name)} ${String(args[0])}`)
          return new Promise(() => undefined)
        }
      }
    }
  )
}

const settings = {
  source: { patterns: ['site'], workspace: '/ws' },
  syncChanged: true,
  syncChecksum: false,
  deleteExtraneous: false,
  dryRun: false
} as unknown as UploadSettings

const files: LocalFile[] = [
  { rel: 'index.html', path: '/ws/site/index.html', size: 5 } as LocalFile
]

describe('planUpload', () => {
  it('fails with the hashing error at once, while the listing still waits for the server', async () => {
    const asked: string[] = []
    const main = silentChannel(asked)
    const session = { main, channels: [main] } as unknown as SftpSession
    const hashing = new Error('could not read site/index.html')
    let failHashing: (err: Error) => void = () => undefined
    const hashes = new Promise<void>((_resolve, reject) => (failHashing = reject))
    hashes.catch(() => undefined)
    const planned = planUpload(settings, session, '/srv/site', files, hashes)
    await new Promise(resolve => setImmediate(resolve))
    // The listing and the state's read went out and wait for their answers.
    expect(asked).toContain('readdir /srv/site')
    expect(asked).toContain('open /srv/site/.pinned-sftp-state.json')
    failHashing(hashing)
    await expect(planned).rejects.toBe(hashing)
  })
})
