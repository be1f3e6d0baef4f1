import { readFileSync } from 'node:fs'
import { bundleEntry } from '../support/test-bundle.mjs'

// The bundle the runner starts (built by scripts/bundle.mjs, as dist/ is): undici, which only
// @actions/core's OIDC client needs, must not be evaluated at every start.
describe('the bundle loads undici on first use only', () => {
  it('has no top-level load of undici, and the lazy one in its place', () => {
    const text = readFileSync(bundleEntry(), 'utf8')
    expect(text).not.toMatch(/^var undici = __nccwpck_require__\(\d+\);$/m)
    expect(text).toMatch(
      /^var undici = new Proxy\(\{\}, \{\n {2}get: \(_, key\) => __nccwpck_require__\(\d+\)\[key\],$/m
    )
  })
})
