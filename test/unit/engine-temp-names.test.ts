import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import {
  isTempName,
  newRunToken,
  RUN_TOKEN,
  TEMP_SUFFIX,
  tempNameFor
} from '../../src/engine/temp-names.js'

/** Linux NAME_MAX, and what most SFTP servers' file systems allow: 255 bytes per name. */
const NAME_MAX = 255

describe('temp names', () => {
  it('uses a hex run token', () => {
    expect(RUN_TOKEN).toMatch(/^[0-9a-f]{8}$/)
  })

  it('hides the name and marks it with the token and suffix', () => {
    expect(tempNameFor('index.html')).toBe(`.index.html.${RUN_TOKEN}${TEMP_SUFFIX}`)
    expect(TEMP_SUFFIX).toBe('.sftp-part')
  })

  it('recognises its own temporary names and nothing else', () => {
    for (const name of ['a', 'index.html', '.env', 'x'.repeat(255)]) {
      expect(isTempName(tempNameFor(name))).toBe(true)
      expect(isTempName(name)).toBe(false)
    }
    expect(isTempName(`report${TEMP_SUFFIX}`)).toBe(false)
    expect(isTempName('.report.sftp-partial')).toBe(false)
  })

  it('recognises only the exact pattern: hidden name, 8 hex digit token, suffix', () => {
    expect(isTempName('.index.html.0ddba11a.sftp-part')).toBe(true)
    expect(isTempName('.index.html~1a2b3c4d.0ddba11a.sftp-part')).toBe(true)
    for (const name of [
      `.notes${TEMP_SUFFIX}`,
      '.index.html.0DDBA11A.sftp-part',
      '.index.html.0ddba11.sftp-part',
      '.index.html.0ddba11ab.sftp-part',
      '..0ddba11a.sftp-part',
      'index.html.0ddba11a.sftp-part',
      '.x\n::error::pwned.0ddba11a.sftp-part',
      '.x.0ddba11a.sftp-part\n'
    ]) {
      expect(isTempName(name)).toBe(false)
    }
  })

  it('takes a token, so each server of a fan-out writes its own temporary file', () => {
    const [a, b] = [newRunToken(), newRunToken()]
    expect(a).toMatch(/^[0-9a-f]{8}$/)
    expect(a).not.toBe(b)
    expect(tempNameFor('index.html', a)).toBe(`.index.html.${a}${TEMP_SUFFIX}`)
    expect(tempNameFor('index.html', a)).not.toBe(tempNameFor('index.html', b))
    expect(isTempName(tempNameFor('x'.repeat(255), b))).toBe(true)
  })

  it('gives different names different temporary names', () => {
    expect(tempNameFor('a.txt')).not.toBe(tempNameFor('b.txt'))
  })

  it('keeps the temporary name of a long ASCII name within NAME_MAX', () => {
    const temp = tempNameFor('x'.repeat(255))
    expect(Buffer.byteLength(temp)).toBeLessThanOrEqual(NAME_MAX)
    expect(temp.startsWith('.xxxx')).toBe(true)
  })

  it('keeps the temporary name of a long multi-byte name within NAME_MAX bytes', () => {
    // 127 two-byte characters: a legal 254-byte file name, but only 127 UTF-16 units long.
    for (const name of ['é'.repeat(127), '文'.repeat(85), `${'😀'.repeat(63)}.x`]) {
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(NAME_MAX)
      const temp = tempNameFor(name)
      expect(Buffer.byteLength(temp)).toBeLessThanOrEqual(NAME_MAX)
      expect(isTempName(temp)).toBe(true)
      // Cut on a character boundary: no lone surrogate, so no U+FFFD on disk.
      expect(Buffer.from(temp).toString()).toBe(temp)
    }
  })

  it('gives a long name the same temporary name every time, so a retry can resume it', () => {
    const name = 'z'.repeat(240)
    expect(tempNameFor(name)).toBe(tempNameFor(name))
  })

  it('keeps long names that share a prefix apart', () => {
    const prefix = 'report-'.repeat(30)
    expect(tempNameFor(`${prefix}2024.csv`)).not.toBe(tempNameFor(`${prefix}2025.csv`))
  })

  it('makes names the local file system accepts', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unit-temp-'))
    try {
      const names = ['plain.txt', 'y'.repeat(255), 'é'.repeat(127), '文'.repeat(85)]
      for (const name of names) writeFileSync(path.join(dir, tempNameFor(name)), name)
      expect(readdirSync(dir).filter(isTempName)).toHaveLength(names.length)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
