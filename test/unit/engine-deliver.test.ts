import * as path from 'node:path'
import { deliveryFor } from '../../src/engine/deliver.js'
import { tempNameFor } from '../../src/engine/temp-names.js'
import { TransferError } from '../../src/errors.js'

describe('deliveryFor', () => {
  it('puts the temporary file beside the final one', () => {
    const d = deliveryFor('/var/www', 'a/b.html', 5, 0, false, 'a1b2c3d4')
    expect(d.finalPath).toBe('/var/www/a/b.html')
    expect(d.tempPath).toBe('/var/www/a/.b.html.a1b2c3d4.sftp-part')
  })

  it('refuses any path that would climb out of the target', () => {
    for (const rel of [
      '..',
      '../x',
      'a/../../x',
      'a//b',
      '.',
      'nul\0byte',
      '',
      '/abs',
      'a/',
      'a/./b',
      'a/..',
      './a'
    ]) {
      expect(() => deliveryFor('/var/www', rel, 5, 0, false, 'a1b2c3d4')).toThrow(TransferError)
    }
  })

  it('keeps names that are odd but stay inside (a local file may hold a backslash)', () => {
    expect(deliveryFor('/var/www', 'a\\b.txt', 1, 0, false, 'a1b2c3d4').finalPath).toBe(
      '/var/www/a\\b.txt'
    )
  })

  it('joins as path.posix.join would, whatever shape the target has', () => {
    const targets = [
      '/var/www',
      '/var/www/',
      '/',
      '.',
      './',
      '',
      'site',
      'a/../b',
      '~',
      '~/x/',
      '//srv//x',
      '../up',
      'a/..',
      '/x/./y/'
    ]
    const rels = ['f', 'a/b.html', 'A/B.TXT', 'd/e/f/g', 'a\\b.txt', '..x', '.hidden/.f']
    for (const target of targets) {
      for (const rel of rels) {
        const d = deliveryFor(target, rel, 1, 0, false, 'a1b2c3d4')
        const final = path.posix.join(target, rel)
        expect([target, rel, d.finalPath]).toEqual([target, rel, final])
        const temp = path.posix.join(
          path.posix.dirname(final),
          tempNameFor(path.posix.basename(final), 'a1b2c3d4')
        )
        expect([target, rel, d.tempPath]).toEqual([target, rel, temp])
      }
    }
  })
})
