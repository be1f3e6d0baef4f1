import { unreachable, type Source } from '../../src/directions/upload.js'
import type { Endpoint } from '../../src/inputs/endpoints.js'
import type { RunReport } from '../../src/report/types.js'

const server: Endpoint = {
  host: 'web2.example.com',
  port: 22,
  username: 'deploy',
  pins: [],
  credentials: { password: 'x' },
  hostInput: 'host',
  pinInput: 'fingerprint'
}
const ADDRESS = 'web2.example.com:22'

const source: Source = {
  files: [
    { path: '/ws/site/a.html', rel: 'a.html', size: 1 },
    { path: '/ws/site/b.html', rel: 'b.html', size: 2 }
  ]
}

describe('unreachable (a fan-out server that failed)', () => {
  // core.error writes a workflow command to stdout; on a runner it would become an annotation.
  const write = process.stdout.write.bind(process.stdout)
  let printed: string[] = []
  beforeEach(() => {
    printed = []
    process.stdout.write = (chunk: string | Uint8Array): boolean => {
      printed.push(String(chunk))
      return true
    }
  })
  afterEach(() => {
    process.stdout.write = write
  })

  it('fails every file of a server that was never reached, and records why', () => {
    const report: RunReport = { direction: 'upload', hosts: [], files: [], durationMs: 0 }
    unreachable(server, source, report, new Error('Connection refused'))
    expect(report.hosts).toMatchObject([{ address: ADDRESS, error: 'Connection refused' }])
    expect(printed.join('')).toContain(
      '::error title=Server skipped::web2.example.com:22: Connection refused'
    )
    expect(report.files.map(f => [f.source, f.status, f.server])).toEqual([
      ['/ws/site/a.html', 'failed', ADDRESS],
      ['/ws/site/b.html', 'failed', ADDRESS]
    ])
  })

  it('keeps the rows of files already sent when a later step fails (no duplicate rows)', () => {
    const report: RunReport = {
      direction: 'upload',
      hosts: [
        {
          role: 'server',
          address: ADDRESS,
          keyType: 'ssh-ed25519',
          fingerprint: 'SHA256:abc',
          pinLabel: 'line 1'
        }
      ],
      files: [
        {
          source: '/ws/site/a.html',
          target: '/var/www/a.html',
          size: 1,
          status: 'transferred',
          server: ADDRESS
        },
        // Another server's row for the same file is not this server's.
        {
          source: '/ws/site/b.html',
          target: '/var/www/b.html',
          size: 2,
          status: 'transferred',
          server: 'web1.example.com:22'
        }
      ],
      durationMs: 0
    }
    unreachable(server, source, report, new Error('current is a real directory'))
    const mine = report.files.filter(f => f.server === ADDRESS)
    expect(mine.map(f => [f.source, f.status])).toEqual([
      ['/ws/site/a.html', 'transferred'],
      ['/ws/site/b.html', 'failed']
    ])
    expect(report.hosts[0].error).toBe('current is a real directory')
  })
})
