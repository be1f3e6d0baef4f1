import { deliveryFor } from '../../src/engine/deliver.js'
import { TransferError } from '../../src/errors.js'

describe('deliveryFor', () => {
  it('puts the temporary file beside the final one', () => {
    const d = deliveryFor('/var/www', 'a/b.html', 5, 0, false, 'a1b2c3d4')
    expect(d.finalPath).toBe('/var/www/a/b.html')
    expect(d.tempPath).toBe('/var/www/a/.b.html.a1b2c3d4.sftp-part')
  })

  it('refuses any path that would climb out of the target', () => {
    for (const rel of ['..', '../x', 'a/../../x', 'a//b', '.', 'nul\0byte']) {
      expect(() => deliveryFor('/var/www', rel, 5, 0, false, 'a1b2c3d4')).toThrow(TransferError)
    }
  })

  it('keeps names that are odd but stay inside (a local file may hold a backslash)', () => {
    expect(deliveryFor('/var/www', 'a\\b.txt', 1, 0, false, 'a1b2c3d4').finalPath).toBe(
      '/var/www/a\\b.txt'
    )
  })
})
