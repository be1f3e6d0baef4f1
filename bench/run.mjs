// Builds the benchmark (bench/*.ts and the test/support helpers it imports) with tsc and runs it.
// The JavaScript goes to node_modules/.cache/pinned-sftp-bench: ignored by git, ESLint, Prettier
// and Jest alike (compiled files under .tmp/ would be linted by `eslint .`).
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const outDir = path.join(root, 'node_modules', '.cache', 'pinned-sftp-bench')
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')

rmSync(outDir, { recursive: true, force: true })
const built = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'bench', 'tsconfig.json')], {
  cwd: root,
  stdio: 'inherit'
})
if (built.status !== 0) process.exit(built.status ?? 1)
// Below node_modules/ the project's "type": "module" no longer applies: say it again.
mkdirSync(outDir, { recursive: true })
writeFileSync(path.join(outDir, 'package.json'), '{ "type": "module" }\n')
await import(pathToFileURL(path.join(outDir, 'bench', 'bench.js')).href)
