// Builds dist/ with ncc and refuses a bundle that carries native addons: those would be
// built for whatever machine ran the build, so dist/ would differ between machines.
//
// `node scripts/bundle.mjs [out-dir]`: the tests build into a temporary folder with this same
// script (test/support/test-bundle.mjs), so what they run is built exactly as dist/ is.
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { applyLazyModules } from './lazy-modules.mjs'
import { applySsh2Patches } from './ssh2-patches.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const outDir = resolve(process.argv[2] ?? join(root, 'dist'))
// The folder is emptied first: never one that holds the sources.
const up = relative(outDir, root)
if (up === '' || !up.startsWith('..')) {
  console.error(`bundle: refusing to empty ${outDir}: it holds the project itself`)
  process.exit(1)
}

rmSync(outDir, { recursive: true, force: true })
try {
  execFileSync(
    'npx',
    ['ncc', 'build', 'src/index.ts', '-o', outDir, '--license', 'licenses.txt', '--quiet'],
    { stdio: 'inherit', cwd: root }
  )
} catch {
  // ncc has printed why; a trace of this script would only bury it.
  console.error('bundle: ncc failed (see above)')
  process.exit(1)
}

// ssh2's bundled poly1305 (emscripten) reads `__dirname`, which ES modules do not define.
const banner =
  "import { dirname as __bundleDirname } from 'node:path'\n" +
  "import { fileURLToPath as __bundleFileURLToPath } from 'node:url'\n" +
  'const __dirname = __bundleDirname(__bundleFileURLToPath(import.meta.url))\n'
const entry = join(outDir, 'index.js')
let patched
try {
  patched = applyLazyModules(applySsh2Patches(readFileSync(entry, 'utf8')))
} catch (err) {
  console.error(`bundle: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
}
writeFileSync(entry, banner + patched)

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* walk(path)
    else yield path
  }
}
// ssh2 ships a Windows Pageant helper (util/pagent.exe) that ncc copies as an asset. This action
// never uses an SSH agent, so the bundle leaves it out and stays pure JavaScript.
rmSync(join(outDir, 'pagent.exe'), { force: true })

const native = [...walk(outDir)].filter(p => /\.(node|exe|dll|so|dylib)$/.test(p))
if (native.length > 0) {
  console.error(`${outDir} contains native binaries: ${native.join(', ')}`)
  console.error('Reinstall with `npm ci --ignore-scripts` and bundle again.')
  process.exit(1)
}
