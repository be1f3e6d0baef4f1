import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** Create a fresh, private (0700) directory under os.tmpdir(). */
export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

/** Remove a directory created by makeTempDir (or any other scratch directory). Never throws. */
export function removeTempDir(dir: string | undefined): void {
  if (!dir) return
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
}
