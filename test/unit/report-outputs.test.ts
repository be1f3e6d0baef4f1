import { escapeHtml, totals } from '../../src/report/outputs.js'
import type { FileResult, RunReport } from '../../src/report/types.js'

function report(files: FileResult[]): RunReport {
  return { direction: 'upload', hosts: [], files, durationMs: 1000 }
}

describe('totals', () => {
  it('counts only files that were transferred', () => {
    const files: FileResult[] = [
      { source: 'a', target: '/t/a', size: 100, status: 'transferred' },
      { source: 'b', target: '/t/b', size: 2000, status: 'failed', error: 'boom' },
      { source: 'c', target: '', size: 30000, status: 'refused', error: 'hostile' },
      { source: 'd', target: '/t/d', size: 5, status: 'transferred' }
    ]
    expect(totals(report(files))).toMatchObject({ files: 2, bytes: 105, skipped: 0, deleted: 0 })
  })

  it('is zero for an empty run', () => {
    expect(totals(report([]))).toEqual({ files: 0, bytes: 0, skipped: 0, deleted: 0 })
  })

  it('counts empty files as files', () => {
    const files: FileResult[] = [{ source: 'e', target: '/t/e', size: 0, status: 'transferred' }]
    expect(totals(report(files))).toMatchObject({ files: 1, bytes: 0 })
  })
})

describe('escapeHtml', () => {
  it('turns markup characters into numeric entities', () => {
    expect(escapeHtml('<img src=x onerror="alert(1)">')).toBe(
      '&#60;img src=x onerror=&#34;alert(1)&#34;&#62;'
    )
    expect(escapeHtml("a & b's")).toBe('a &#38; b&#39;s')
  })

  it('escapes & too, so entities in names stay literal', () => {
    expect(escapeHtml('&lt;')).toBe('&#38;lt;')
  })

  it('leaves ordinary text alone', () => {
    expect(escapeHtml('dist/app.js (ünïcode) [1]')).toBe('dist/app.js (ünïcode) [1]')
  })
})
