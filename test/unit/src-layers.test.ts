import { readdirSync, readFileSync } from 'node:fs'
import * as path from 'node:path'
import ts from 'typescript'
import { fileURLToPath } from 'node:url'

/**
 * The layers of src/, bottom up (CONTRIBUTING.md, "Layering"). A module imports from its own
 * folder or from a lower layer, never up or sideways: every name here is its own unit.
 */
const LAYERS: string[][] = [
  ['errors.ts', 'escape.ts', 'heap.ts', 'settle.ts'],
  ['report'],
  ['identity', 'plans'],
  ['inputs'],
  ['connection'],
  ['engine'],
  ['directions'],
  ['main.ts'],
  ['index.ts']
]

/** A module past this is split by responsibility (CONTRIBUTING.md, "Layering"). */
const MODULE_LINES = 300

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(full)
    return entry.name.endsWith('.ts') ? [full] : []
  })
}

/** The folder below src/, or the file itself for a module directly in src/. */
function unitOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0]
}

function layerOf(unit: string): number {
  const layer = LAYERS.findIndex(names => names.includes(unit))
  if (layer < 0) throw new Error(`src/${unit} is in no layer: add it to LAYERS and CONTRIBUTING.md`)
  return layer
}

/** Every module a file imports or re-exports from within src/, type-only ones included. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
  return info.importedFiles
    .map(f => f.fileName)
    .filter(name => name.startsWith('.'))
    .map(name => path.resolve(path.dirname(file), name.replace(/\.js$/, '.ts')))
}

/** `from -> to` for each import that goes up a layer or sideways into another unit. */
function layerViolations(graph: Map<string, string[]>): string[] {
  const found: string[] = []
  for (const [file, targets] of graph) {
    const unit = unitOf(file)
    for (const target of targets) {
      const other = unitOf(target)
      if (other !== unit && layerOf(other) >= layerOf(unit)) {
        found.push(`${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`)
      }
    }
  }
  return found
}

/** Each import cycle between modules, once, as the path around it. */
function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = []
  const done = new Set<string>()
  const stack: string[] = []
  const visit = (file: string): void => {
    const at = stack.indexOf(file)
    if (at >= 0) {
      found.push([...stack.slice(at), file].map(f => path.relative(SRC, f)).join(' -> '))
      return
    }
    if (done.has(file)) return
    stack.push(file)
    for (const target of graph.get(file) ?? []) visit(target)
    stack.pop()
    done.add(file)
  }
  for (const file of graph.keys()) visit(file)
  return found
}

function srcGraph(): Map<string, string[]> {
  return new Map(sourceFiles(SRC).map(file => [file, importsOf(file)]))
}

describe('src/ layering', () => {
  const graph = srcGraph()

  it('reads the imports of every module, type-only ones too', () => {
    const pins = graph.get(path.join(SRC, 'identity', 'pins.ts')) ?? []
    expect(pins).toContain(path.join(SRC, 'errors.ts'))
    expect(graph.size).toBeGreaterThan(50)
    for (const targets of graph.values()) {
      for (const target of targets) expect(graph.has(target)).toBe(true)
    }
  })

  it('imports only downward: no module imports a higher layer or a sibling folder', () => {
    expect(layerViolations(graph)).toEqual([])
  })

  it('has no import cycle between modules', () => {
    expect(cycles(graph)).toEqual([])
  })

  it('keeps every module within 300 lines (CONTRIBUTING.md)', () => {
    const long = [...graph.keys()]
      .map(file => ({ file, lines: readFileSync(file, 'utf8').split('\n').length - 1 }))
      .filter(m => m.lines > MODULE_LINES)
      .map(m => `${path.relative(SRC, m.file)}: ${m.lines} lines`)
    expect(long).toEqual([])
  })

  it('catches an upward import and a cycle', () => {
    const at = (rel: string) => path.join(SRC, rel)
    const bad = new Map([
      [at('plans/a.ts'), [at('inputs/b.ts'), at('plans/c.ts')]],
      [at('inputs/b.ts'), []],
      [at('plans/c.ts'), [at('plans/a.ts')]]
    ])
    expect(layerViolations(bad)).toEqual(['plans/a.ts -> inputs/b.ts'])
    expect(cycles(bad)).toEqual(['plans/a.ts -> plans/c.ts -> plans/a.ts'])
  })
})
