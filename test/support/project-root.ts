import fs from 'node:fs'
import path from 'node:path'

/**
 * The repository root above `start` (a compiled script may sit deep in a build folder): the
 * first directory holding both action.yml and package.json.
 */
export function findProjectRoot(start: string): string {
  let dir = start
  for (;;) {
    if (
      fs.existsSync(path.join(dir, 'action.yml')) &&
      fs.existsSync(path.join(dir, 'package.json'))
    ) {
      return dir
    }
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error('cannot find the project root (action.yml)')
    dir = parent
  }
}
