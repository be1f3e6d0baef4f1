import { applyLazyModules, LAZY_MODULES } from '../../scripts/lazy-modules.mjs'

// ncc writes a CommonJS dependency of a concatenated ES module as one top-level line; the build
// turns it into an object that loads the module on first use (scripts/lazy-modules.mjs).
const IMPORT = 'var undici = __nccwpck_require__(6752);'

class ProxyAgent {
  constructor(readonly uri: string) {}
}

/** Runs `text` the way the bundle runs it: loads are counted, `undici` is handed back. */
function evaluate(text: string): { undici: Record<string, unknown>; loads: () => number } {
  let loads = 0
  const exports = { ProxyAgent, Agent: class Agent {} }
  const require = (id: number) => {
    if (id !== 6752) throw new Error(`unexpected module ${id}`)
    loads++
    return exports
  }
  const run = new Function('__nccwpck_require__', `${text}\nreturn undici`) as (
    r: typeof require
  ) => Record<string, unknown>
  return { undici: run(require), loads: () => loads }
}

describe('lazy modules in the bundle', () => {
  it('names undici, the module @actions/core pulls in through its OIDC client', () => {
    expect(LAZY_MODULES).toEqual(['undici'])
  })

  it('loads undici only when something reads from it, and then gives the real exports', () => {
    const stock = evaluate(`${IMPORT}\n`)
    expect(stock.loads()).toBe(1)

    const { undici, loads } = evaluate(applyLazyModules(`const before = 1;\n${IMPORT}\n`))
    expect(loads()).toBe(0)
    const Agent = undici.ProxyAgent as typeof ProxyAgent
    expect(Agent).toBe(ProxyAgent)
    expect(new Agent('http://127.0.0.1:3128').uri).toBe('http://127.0.0.1:3128')
    expect('Agent' in undici).toBe(true)
    expect('Missing' in undici).toBe(false)
    expect(Object.keys(undici).sort()).toEqual(['Agent', 'ProxyAgent'])
    expect(loads()).toBeGreaterThan(0)
  })

  it('fails the build when the import is missing or written more than once', () => {
    expect(() => applyLazyModules('var other = __nccwpck_require__(1);\n')).toThrow(
      /lazy module "undici": expected its import once, found 0/
    )
    expect(() => applyLazyModules(`${IMPORT}\n${IMPORT}\n`)).toThrow(/found 2/)
    // Only the whole top-level line counts, not a use of the name elsewhere.
    expect(() => applyLazyModules(`  ${IMPORT}\n`)).toThrow(/found 0/)
  })
})
