// `npm run demo`: compiles the demo (demo/*.ts and the test/support helpers it imports) with tsc,
// then runs it. Needs only `npm ci`: TypeScript is a devDependency.
//
// The JavaScript goes to node_modules/.cache/pinned-sftp-demo, as bench/run.mjs does for the
// benchmark: ignored by git, ESLint, Prettier and Jest alike. (Under .tmp/ it would be git-ignored
// but linted by `eslint .`, which would then fail on the compiled files.)
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const outDir = path.join(root, 'node_modules', '.cache', 'pinned-sftp-demo')
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')

if (!existsSync(tsc)) {
  process.stderr.write('demo: TypeScript is not installed here: run `npm ci` first.\n')
  process.exit(1)
}
process.stdout.write('Compiling the demo (tsc -p demo/tsconfig.json) ...\n')
const started = Date.now()
rmSync(outDir, { recursive: true, force: true })
const built = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'demo', 'tsconfig.json')], {
  cwd: root,
  stdio: 'inherit'
})
if (built.status !== 0) {
  process.stderr.write(
    `demo: compiling failed (${built.error?.message ?? `exit ${built.status}`})\n`
  )
  process.exit(built.status || 1)
}
// Below node_modules/ the project's "type": "module" no longer applies: say it again.
mkdirSync(outDir, { recursive: true })
writeFileSync(path.join(outDir, 'package.json'), '{ "type": "module" }\n')
process.env.DEMO_BUILD_MS = String(Date.now() - started)
await import(pathToFileURL(path.join(outDir, 'demo', 'demo.js')).href)
