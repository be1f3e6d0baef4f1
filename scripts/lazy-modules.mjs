// @ts-check
// Build-time change to the bundle's text, applied by scripts/bundle.mjs after ncc: modules that
// the action never uses but that a dependency imports at the top are loaded on first use instead
// of at every start. Pinned by test/unit/scripts-lazy-modules.test.ts.

/**
 * @actions/core imports its OIDC client, which imports @actions/http-client, which imports
 * undici (for a proxy agent). The action never asks for an OIDC token, yet evaluating undici
 * cost about 45 ms of CPU at every start (a third of the whole start-up). ncc keeps the import
 * as `var undici = __nccwpck_require__(ID);`; it becomes an object that loads the module the
 * first time any of its properties is read, so every use still gets the real export.
 */
export const LAZY_MODULES = ['undici']

/**
 * Rewrites each of LAZY_MODULES' top-level imports in `text`. A module whose import is not found
 * exactly once fails the build: a change in how ncc or a dependency writes it must be looked at.
 * @param {string} text
 * @returns {string}
 */
export function applyLazyModules(text) {
  let out = text
  for (const name of LAZY_MODULES) {
    const pattern = new RegExp(`^var ${name} = __nccwpck_require__\\((\\d+)\\);$`, 'gm')
    const found = [...out.matchAll(pattern)]
    if (found.length !== 1) {
      throw new Error(
        `lazy module "${name}": expected its import once, found ${found.length}. ` +
          'Has ncc or @actions/core changed?'
      )
    }
    out = out.replace(pattern, (_, id) => lazyImport(name, id))
  }
  return out
}

/**
 * @param {string} name
 * @param {string} id
 */
function lazyImport(name, id) {
  return (
    `// pinned-sftp (scripts/lazy-modules.mjs): ${name} is loaded on first use, not at start.\n` +
    `var ${name} = new Proxy({}, {\n` +
    `  get: (_, key) => __nccwpck_require__(${id})[key],\n` +
    `  has: (_, key) => key in __nccwpck_require__(${id}),\n` +
    `  ownKeys: () => Reflect.ownKeys(__nccwpck_require__(${id})),\n` +
    `  getOwnPropertyDescriptor: (_, key) => {\n` +
    `    const d = Reflect.getOwnPropertyDescriptor(__nccwpck_require__(${id}), key);\n` +
    `    return d && { ...d, configurable: true };\n` +
    `  }\n` +
    `});`
  )
}
