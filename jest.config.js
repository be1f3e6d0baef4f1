/** @type {import('jest').Config} */
const shared = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }]
  },
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  setupFilesAfterEnv: ['<rootDir>/test/support/cleanup.ts']
}

// Two projects because jest runs a project's globalSetup only when one of its tests is selected:
// the unit tests need ssh-keygen; everything else also needs sshd and a bundle of src/ (built in
// a temporary folder, about 15 s), which `npm run test:unit` should not wait for.
/** @type {import('jest').Config} */
export default {
  testTimeout: 60000,
  verbose: false,
  projects: [
    {
      ...shared,
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/unit-setup.mjs'
    },
    {
      ...shared,
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: [...shared.testPathIgnorePatterns, '<rootDir>/test/unit/'],
      globalSetup: '<rootDir>/test/support/global-setup.mjs',
      globalTeardown: '<rootDir>/test/support/global-teardown.mjs'
    }
  ]
}
