// Builds dist/ with ncc and refuses a bundle that carries native addons: those would be
// built for whatever machine ran the build, so dist/ would differ between machines.
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

rmSync('dist', { recursive: true, force: true })
execFileSync(
  'npx',
  ['ncc', 'build', 'src/index.ts', '-o', 'dist', '--license', 'licenses.txt', '--quiet'],
  { stdio: 'inherit' }
)

// ssh2's bundled poly1305 (emscripten) reads `__dirname`, which ES modules do not define.
const banner =
  "import { dirname as __bundleDirname } from 'node:path'\n" +
  "import { fileURLToPath as __bundleFileURLToPath } from 'node:url'\n" +
  'const __dirname = __bundleDirname(__bundleFileURLToPath(import.meta.url))\n'
writeFileSync('dist/index.js', banner + readFileSync('dist/index.js', 'utf8'))

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* walk(path)
    else yield path
  }
}
// ssh2 ships a Windows Pageant helper (util/pagent.exe) that ncc copies as an asset. This action
// never uses an SSH agent, so the bundle leaves it out and stays pure JavaScript.
rmSync('dist/pagent.exe', { force: true })

const native = [...walk('dist')].filter(p => /\.(node|exe|dll|so|dylib)$/.test(p))
if (native.length > 0) {
  console.error(`dist/ contains native binaries: ${native.join(', ')}`)
  console.error('Reinstall with `npm ci --ignore-scripts` and bundle again.')
  process.exit(1)
}
