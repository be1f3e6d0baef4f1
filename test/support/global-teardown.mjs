// @ts-check
import { removeBundle } from './test-bundle.mjs'

// jest globalTeardown of the integration tests: the bundle global-setup.mjs built goes.
export default function globalTeardown() {
  removeBundle()
}
